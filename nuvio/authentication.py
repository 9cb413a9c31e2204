"""DRF token authentication without a database query per request.

The token -> user lookup is cached (Redis in production, so every web process
shares it) as the user's public fields; the password hash never enters the
cache (it is a deferred field, loaded from the database only if something
asks for it, e.g. a password change). An entry is dropped when its token is
deleted or its user is saved (see ``accounts.apps``), and lives at most
NUVIO_TOKEN_CACHE_SECONDS otherwise. A miss costs one query, and its cache
write joins the request's other deferred Redis writes (``nuvio.redis_batch``):
in a sale most buyers send only a few requests, so misses are the common case.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from nuvio import redis_batch

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
            row = Token.objects.filter(key=key).values_list(*[f"user__{f}" for f in fields])[:1]
            if not row:
                raise AuthenticationFailed("Invalid token.")
            values = list(row[0])
            _remember(key, values)
        user = user_model.from_db("default", fields, values)
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return user, key


def _remember(key: str, values: list) -> None:
    ttl = settings.NUVIO_TOKEN_CACHE_SECONDS
    batch = redis_batch.current()
    if batch is None:
        cache.set(token_cache_key(key), values, ttl)
        return
    cache_key, value = cache.make_key(token_cache_key(key)), cache.client.encode(values)
    batch.add(lambda pipe: pipe.set(cache_key, value, ex=ttl))


def forget_tokens(*keys: str) -> None:
    names = [token_cache_key(key) for key in keys]
    cache.delete_many(names)
    batch = redis_batch.current()
    if batch is not None and names:
        # Also after this request's deferred writes, one of which may be a
        # cache entry for the same token made from what was true before.
        full = [cache.make_key(name) for name in names]
        batch.add(lambda pipe: pipe.delete(*full))
