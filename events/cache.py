"""Caching of the public catalog.

Public pages (a list page, an event page) and facets are cached under a
*catalog version*: any change to an event bumps the version after commit, so
staff edits (publishing, unpublishing, cancelling) show at once. Pages also
carry a short TTL because bookings move `available` without touching the
event's public facts: availability on a page is at most PAGE_TTL_SECONDS old.
Only what everyone but staff sees is stored: staff pages are never cached.
If Redis is down the cache answers nothing (django-redis logs it) and pages
come straight from the database.
"""

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "catalog:version"
PAGE_TTL_SECONDS = 2
# How long a page that can be refreshed (``render_page``) stays in Redis.
REFRESHABLE_KEEP_SECONDS = 300
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


_seen_version: int | None = None  # the catalog version this process last saw


def _page_key(version: int, name: str) -> str:
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()
    return f"catalog:page:{version}:{digest}"


def list_query(params) -> str:
    """A list request's query string in a canonical order (the page's key)."""
    return "&".join(sorted(f"{k}={v}" for k, v in params.lists()))


def list_page(host: str, query: str) -> str:
    """The name of a list page (its links are absolute: the host is part of it)."""
    return f"list:{host}?{query}"


def event_page(event_id) -> str:
    """The name of an event's page."""
    return f"event:{event_id}"


def cached_page(
    name: str,
    render: Callable[[], bytes | None],
    refresh: Callable[[bytes], bytes | None] | None = None,
) -> bytes | None:
    """A public page as rendered JSON, shared for PAGE_TTL_SECONDS; None
    (not stored) when ``render`` finds no such page.

    One cache round trip on a hit: the catalog version and the page stored
    under the version this process saw last come back together (MGET). A
    different version means the catalog changed: the page is rendered anew.
    A page too old under the same version is given to ``refresh`` when
    there is one (``render_page``).
    """
    seen = _seen_version
    page_key = _page_key(seen, name) if seen is not None else None
    got = cache.get_many([VERSION_KEY, page_key] if page_key else [VERSION_KEY])
    version = got.get(VERSION_KEY)
    if version is None:
        version = catalog_version()
    entry = got.get(page_key) if version == seen else None
    body = _fresh(entry)
    if body is not None:
        return body
    return render_page(name, version, render, refresh=refresh, stale=_body(entry))


def render_page(
    name: str,
    version: int,
    render: Callable[[], bytes | None],
    *,
    refresh: Callable[[bytes], bytes | None] | None = None,
    stale: bytes | None = None,
) -> bytes | None:
    """Render a page and store it under the catalog ``version`` read before
    rendering (a change committed meanwhile has bumped it: the page is never
    found under the new one).

    With ``refresh``, ``stale`` (the page last stored under ``version``, too
    old to serve) is brought up to date by ``refresh(stale)`` rather than
    rendered again, unless that gives None: a page whose catalog facts have
    not changed only needs what moves without a catalog change (an event
    page's availability: one query instead of a render). Such pages are kept
    REFRESHABLE_KEEP_SECONDS for that, still served for PAGE_TTL_SECONDS.
    """
    global _seen_version
    _seen_version = version
    # Stamped before the database is read, so the bound holds for what it read.
    rendered_at = time.time()
    body = refresh(stale) if refresh is not None and stale is not None else None
    if body is None:
        body = render()
    if body is not None:
        keep = REFRESHABLE_KEEP_SECONDS if refresh is not None else PAGE_TTL_SECONDS + 1
        cache.set(_page_key(version, name), (rendered_at, body), keep)
    return body


def _fresh(entry) -> bytes | None:
    if entry is not None and 0 <= time.time() - entry[0] < PAGE_TTL_SECONDS:
        return entry[1]
    return None


def _body(entry) -> bytes | None:
    return None if entry is None else entry[1]


def shared_page_lookup(name: str):
    """For a caller that reads Redis in its own round trip (the catalog
    middleware, with its rate-limit count): the keys to MGET, and a function
    that turns their raw values into (the catalog version, the fresh page or
    None, the page stored under that version whatever its age or None): a
    miss or a changed catalog; ``render_page`` then renders it under that
    version, or, if the version was not there, ``cached_page``. None when
    this process has not seen the catalog yet."""
    seen = _seen_version
    if seen is None:
        return None
    keys = [cache.make_key(VERSION_KEY), cache.make_key(_page_key(seen, name))]

    def read(raw: list) -> tuple[int | None, bytes | None, bytes | None]:
        version, entry = (None if value is None else cache.client.decode(value) for value in raw)
        if version != seen:
            return version, None, None
        return version, _fresh(entry), _body(entry)

    return keys, read


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
