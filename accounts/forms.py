from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import PasswordChangeForm as BasePasswordChangeForm

from accounts.models import User, UserManager
from nuvio.forms import StyledFormMixin


class SignupForm(StyledFormMixin, forms.Form):
    name = forms.CharField(max_length=150, label="Your name")
    email = forms.EmailField(max_length=254, label="E-mail address")
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )

    def clean_email(self):
        email = UserManager.normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this e-mail address already exists.")
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), name=cleaned.get("name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class LoginForm(StyledFormMixin, AuthenticationForm):
    username = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": "That e-mail address and password do not match an account.",
        "inactive": "This account is inactive.",
    }
    # Set by the view when this network made too many failed attempts: the form
    # then refuses without checking the password (the e-mail typed is kept).
    throttled_message: str | None = None

    def clean(self):
        if self.throttled_message:
            raise forms.ValidationError(self.throttled_message, code="throttled")
        return super().clean()


class ProfileForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ["name"]


class PasswordChangeForm(StyledFormMixin, BasePasswordChangeForm):
    pass
