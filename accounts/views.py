import logging
import math
import time

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from rest_framework.settings import api_settings

from accounts import services
from accounts.forms import LoginForm, PasswordChangeForm, ProfileForm, SignupForm
from nuvio.errors import Invalid
from nuvio.outage import log_outage
from nuvio.throttling import ScopedThrottle, hit, parse_rate

logger = logging.getLogger("nuvio.throttling")


class _IpBudget:
    """The per-IP counter of a throttle scope (``auth``, ``register``) for this
    request: the very key the API's ``ScopedThrottle`` counts, so the HTML
    forms and the API share one budget per client and window. If the counter
    store (Redis) is away, nothing is limited, as in the API."""

    def __init__(self, request, scope: str):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        self.limit, self.period = parse_rate(rate) if rate else (0, 1)
        now = time.time()
        window = int(now // self.period)
        ident = ScopedThrottle().get_ident(request)
        self.key = f"throttle:{scope}:ip{ident}:{window}"
        self.retry_after = max(1, math.ceil((window + 1) * self.period - now))

    def used(self) -> int:
        try:
            return int(cache.get(self.key) or 0)
        except Exception:  # the store is away: do not lock everyone out
            return 0

    def exhausted(self) -> bool:
        return bool(self.limit) and self.used() >= self.limit

    def spend(self) -> int:
        try:
            return hit(self.key, self.period)[0]
        except Exception as exc:
            log_outage(logger, "throttle store unavailable; rate limits not enforced", exc)
            return 0


def _wait_words(seconds: int) -> str:
    if seconds <= 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST":
        # Every sign-up attempt counts against the `register` rate, per IP, as
        # the API's does: it slows down probing which addresses have accounts.
        budget = _IpBudget(request, "register")
        if budget.limit and budget.spend() > budget.limit:
            form = SignupForm(
                initial={
                    "name": request.POST.get("name", "")[:150],
                    "email": request.POST.get("email", "")[:254],
                }
            )
            messages.error(
                request,
                "Too many sign-up attempts from your network. Please wait "
                f"{_wait_words(budget.retry_after)} and try again.",
            )
            response = render(request, "accounts/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(budget.retry_after)
            return response
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
    """Log in by e-mail. Failed attempts count per IP against the `auth` rate
    (the counter of the API's token login): past it, the form refuses without
    checking the password, says so in plain words and answers 429. Unknown
    e-mail and wrong password get the very same message."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and self.get_redirect_url():
            # Sent here by a page this account may not open (the staff door
            # page): bouncing back to `next` would loop. Offer another login.
            self.redirect_authenticated_user = False
            if request.method == "GET":
                messages.warning(
                    request,
                    f"You are signed in as {request.user.email}, and that page needs a "
                    "staff account. Log in with one to go on.",
                )
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        budget = _IpBudget(request, "auth")
        if not budget.exhausted():
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.throttled_message = (
            "Too many failed log-in attempts from your network. Please wait "
            f"{_wait_words(budget.retry_after)} and try again."
        )
        form.is_valid()  # shows that message and keeps the e-mail typed
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(budget.retry_after)
        return response

    def form_invalid(self, form):
        _IpBudget(self.request, "auth").spend()
        return super().form_invalid(form)


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
