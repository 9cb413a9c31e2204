"""Caching of the analytics figures.

Figures are cached in the default cache (Redis in production) under a
*figures version*: every roll-up refresh bumps it, so the next request
computes from the fresh roll-ups. Entries also carry a short TTL, because one
figure moves with time alone: a hold lapses (``held`` becomes ``expired``)
without any booking changing. Staff therefore never see figures older than
the roll-up refresh interval (about 2 s in production, none in the embedded
mode) or ``FIGURES_TTL_SECONDS`` for lapsed holds. If Redis is down the cache
answers nothing and the figures come straight from the database.
"""

from django.core.cache import cache

VERSION_KEY = "analytics:version"
FIGURES_TTL_SECONDS = 5


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


def figures_key(kind: str, *parts: object) -> str:
    """``analytics:<kind>:<version>:<part>:<part>...``; parts are filter values."""
    values = ":".join("" if part is None else str(part) for part in parts)
    return f"analytics:{kind}:{figures_version()}:{values}"
