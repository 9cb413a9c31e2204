"""Account state changes: registration, profile and password updates."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from accounts.models import User, UserManager
from nuvio.errors import Invalid


def _password_errors(password: str, user: User) -> list[str]:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def user_register(*, email: str, password: str, name: str) -> tuple[User, Token]:
    """Create a customer account and its API token.

    Raises ``Invalid`` (details by field) when the e-mail is taken or the
    password fails Django's validators; nothing is written then.
    """
    email = UserManager.normalize_email(email)
    user = User(email=email, name=name.strip())
    problems = _password_errors(password, user)
    if problems:
        raise Invalid(problems[0], details={"password": problems})
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            token = Token.objects.create(user=user)
    except IntegrityError:
        # The unique index decides, so two concurrent sign-ups cannot both win.
        raise Invalid(
            "An account with this e-mail address already exists.",
            details={"email": ["An account with this e-mail address already exists."]},
        ) from None
    return user, token


def user_token(*, user: User) -> Token:
    """The user's API token, created on first use."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def user_update_profile(*, user: User, name: str) -> User:
    """Change what a user may change about themselves: their name."""
    with transaction.atomic():
        user.name = name.strip()
        user.save(update_fields=["name"])
    return user


def user_change_password(*, user: User, old_password: str, new_password: str) -> User:
    """Set a new password after checking the old one and the validators.

    Raises ``Invalid`` with ``old_password`` or ``new_password`` in details.
    """
    if not user.check_password(old_password):
        raise Invalid(
            "The current password is not correct.",
            details={"old_password": ["The current password is not correct."]},
        )
    problems = _password_errors(new_password, user)
    if problems:
        raise Invalid(problems[0], details={"new_password": problems})
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
    return user
