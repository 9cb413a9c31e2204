"""Caching of the analytics figures.

Figures are cached in the default cache (Redis in production) under a
*figures version*: every roll-up refresh bumps it, so the next request
computes from the fresh roll-ups. An entry is also served for at most
``FIGURES_TTL_SECONDS``, judged by the time its computation started, because
figures move without any refresh: a hold lapses (``held`` becomes ``expired``)
with time alone, and a booking change is only *marked* for the roll-ups
(``analytics.services``) until a drain or a computation applies it.

That TTL is what keeps the promise of API.md: staff see a booking in the
figures within ``FRESHNESS_SECONDS``. A computation first applies every mark
made before it started (``rollups_catch_up``), so an entry misses only the
changes marked after its start, and stops being served ``FIGURES_TTL_SECONDS``
later. A change is marked right after its commit, when its request has
answered; the second between the TTL and the promise is for that. If Redis is
down the cache answers nothing and the figures come straight from the database
(the changes then refresh the roll-ups at once).
"""

from django.core.cache import cache

VERSION_KEY = "analytics:version"
FRESHNESS_SECONDS = 5  # API.md: a booking shows in the figures within 5 s
FIGURES_TTL_SECONDS = FRESHNESS_SECONDS - 1


def figures_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        # Someone else may be setting it at the same moment: read it back.
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY) or 1
    return int(version)


def bump_figures_version() -> None:
    """Make every cached figure stale at once (call after roll-ups changed)."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version yet (or evicted): start above the default
        cache.add(VERSION_KEY, 2, timeout=None)


# The shape of the stored figures: raise it when a field is added or changes
# meaning, so that a new release never reads what an older one stored.
FIGURES_SHAPE = 4


def figures_key(kind: str, *parts: object) -> str:
    """``analytics:<kind>:s<shape>:<version>:<part>:<part>...``; parts are filter values."""
    values = ":".join("" if part is None else str(part) for part in parts)
    return f"analytics:{kind}:s{FIGURES_SHAPE}:{figures_version()}:{values}"
