"""Caching of the public catalog.

List pages and facets are cached under a *catalog version*: any change to an
event bumps the version after commit, so staff edits show at once. List pages
also carry a short TTL because bookings move `available` without touching the
event's public facts; that bounds how stale availability can be on a list
(the detail endpoint is never cached). If Redis is down the cache answers
nothing (django-redis logs it) and pages come straight from the database.
"""

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "catalog:version"
LIST_TTL_SECONDS = 2
FACETS_TTL_SECONDS = 300


def catalog_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = 1
        cache.add(VERSION_KEY, version, timeout=None)
    return int(version)


def _bump_version() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.add(VERSION_KEY, 2, timeout=None)


def catalog_changed() -> None:
    """Call inside the transaction that changed an event: invalidates after commit."""
    transaction.on_commit(_bump_version)


def list_key(host: str, query: str) -> str:
    digest = hashlib.sha1(f"{host}?{query}".encode(), usedforsecurity=False).hexdigest()
    return f"catalog:list:{catalog_version()}:{digest}"


def cached(key: str, ttl: int, compute: Callable[[], Any]) -> Any:
    """``compute()``'s value, shared through the cache for ``ttl`` seconds.

    The entry carries the time it was computed and is judged by that, so the
    bound on staleness holds whatever the cache server's own expiry does.
    """
    entry = cache.get(key)
    now = time.time()
    if entry is not None and 0 <= now - entry[0] < ttl:
        return entry[1]
    value = compute()
    cache.set(key, (now, value), ttl + 1)
    return value


def facets_key() -> str:
    return f"catalog:facets:{catalog_version()}"
