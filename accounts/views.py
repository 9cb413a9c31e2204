from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.forms import LoginForm, PasswordChangeForm, ProfileForm, SignupForm
from nuvio.errors import Invalid


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, _ = services.user_register(**form.cleaned_data)
        except Invalid as exc:
            for field, problems in exc.details.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to Nuvio, {user.get_short_name()}!")
            target = request.GET.get("next", "")
            safe = url_has_allowed_host_and_scheme(
                target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            return redirect(target if safe else "home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    profile_form = ProfileForm(instance=request.user)
    password_form = PasswordChangeForm(request.user)
    if request.method == "POST" and request.POST.get("action") == "profile":
        profile_form = ProfileForm(request.POST, instance=request.user)
        if profile_form.is_valid():
            services.user_update_profile(user=request.user, name=profile_form.cleaned_data["name"])
            messages.success(request, "Your name was saved.")
            return redirect("accounts:profile")
    elif request.method == "POST" and request.POST.get("action") == "password":
        password_form = PasswordChangeForm(request.user, request.POST)
        if password_form.is_valid():
            services.user_change_password(
                user=request.user,
                old_password=password_form.cleaned_data["old_password"],
                new_password=password_form.cleaned_data["new_password1"],
            )
            update_session_auth_hash(request, request.user)
            messages.success(request, "Your password was changed.")
            return redirect("accounts:profile")
    return render(
        request,
        "accounts/profile.html",
        {"profile_form": profile_form, "password_form": password_form},
    )
