"""DRF token authentication without a database query per request.

The token -> user lookup is cached (Redis in production, so every web process
shares it) as the user's public fields; the password hash never enters the
cache (it is a deferred field, loaded from the database only if something
asks for it, e.g. a password change). An entry is dropped when its token is
deleted or its user is saved (see ``accounts.apps``), and lives at most
NUVIO_TOKEN_CACHE_SECONDS otherwise. A miss costs one query, compiled once
per process (``nuvio.db.precompiled``), and its cache write joins the
request's other deferred Redis writes (``nuvio.redis_batch``): in a sale most
buyers send only a few requests, so misses are the common case.
"""

from functools import cache as once

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from nuvio import redis_batch
from nuvio.db.precompiled import precompiled

PUBLIC_FIELDS = {"id", "email", "name", "is_staff", "is_superuser", "is_active", "date_joined"}


@once
def _cached_fields(user_model) -> tuple[str, ...]:
    # Model.from_db wants the values in the model's field order.
    return tuple(f.attname for f in user_model._meta.concrete_fields if f.attname in PUBLIC_FIELDS)


def token_cache_key(key: str) -> str:
    return f"auth:token:{key}"


# What stands for the key while the ORM writes the lookup's SQL.
_KEY_STAND_IN = ("stand-in-for-a-token-key", Token._meta.get_field("key"))


def _token_user_queryset(key: str):
    fields = _cached_fields(get_user_model())
    return Token.objects.filter(key=key).values_list(*[f"user__{f}" for f in fields])[:1]


def token_user_values(key: str) -> list | None:
    """The public fields of the user of the token ``key`` (in the order of
    ``_cached_fields``), or None if there is no such token. One query, its
    queryset compiled once per process: building it cost twice what running
    it does, on every cache miss."""
    rows = precompiled(_token_user_queryset, key=_KEY_STAND_IN).rows(key=key)
    return rows[0] if rows else None


class CachedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        user_model = get_user_model()
        fields = _cached_fields(user_model)
        values = cache.get(token_cache_key(key))
        if values is None:
            values = token_user_values(key)
            if values is None:
                raise AuthenticationFailed("Invalid token.")
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
