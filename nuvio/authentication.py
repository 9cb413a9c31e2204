"""DRF token authentication without a database query per request.

The token -> user lookup is cached (Redis in production, so every web process
shares it) as the user's public fields; the password hash never enters the
cache (it is a deferred field, loaded from the database only if something
asks for it, e.g. a password change). An entry is dropped when its token is
deleted or its user is saved (see ``accounts.apps``), and lives at most
NUVIO_TOKEN_CACHE_SECONDS otherwise.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

PUBLIC_FIELDS = {"id", "email", "name", "is_staff", "is_superuser", "is_active", "date_joined"}


def _cached_fields(user_model) -> list[str]:
    # Model.from_db wants the values in the model's field order.
    return [f.attname for f in user_model._meta.concrete_fields if f.attname in PUBLIC_FIELDS]


def token_cache_key(key: str) -> str:
    return f"auth:token:{key}"


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        user_model = get_user_model()
        fields = _cached_fields(user_model)
        values = cache.get(token_cache_key(key))
        if values is None:
            try:
                token = Token.objects.select_related("user").get(key=key)
            except Token.DoesNotExist:
                raise AuthenticationFailed("Invalid token.") from None
            values = [getattr(token.user, field) for field in fields]
            cache.set(token_cache_key(key), values, settings.NUVIO_TOKEN_CACHE_SECONDS)
        user = user_model.from_db("default", fields, values)
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return user, key


def forget_tokens(*keys: str) -> None:
    cache.delete_many([token_cache_key(key) for key in keys])
