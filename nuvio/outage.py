"""Logging a dependency's outage once, not once per request.

While Redis is away every request meets the same failure, in the cache, the
throttles and the deferred writes alike. Logged each time with its traceback,
a two-second outage under load wrote some 51,000 lines. ``log_outage`` writes
one warning line, without traceback, per cause (the logger, what failed, the
exception's class) and per ``INTERVAL_SECONDS`` in each process; the next line
for that cause says how many were left out meanwhile.

django-redis logs the failures it swallows (``DJANGO_REDIS_LOGGER``) itself,
with a traceback each time: ``OutageFilter``, set on that logger in
``LOGGING``, sends them through the same limit.
"""

import logging
import threading
import time

from django_redis.exceptions import ConnectionInterrupted

INTERVAL_SECONDS = 30.0

_lock = threading.Lock()
# cause -> [time of its last line, repeats left out since]
_last: dict[tuple[str, str, str], list] = {}


def _admit(cause: tuple[str, str, str], now: float) -> int | None:
    """None to stay quiet; otherwise the repeats left out since the last line."""
    with _lock:
        entry = _last.get(cause)
        if entry is not None and 0 <= now - entry[0] < INTERVAL_SECONDS:
            entry[1] += 1
            return None
        _last[cause] = [now, 0]
        return entry[1] if entry is not None else 0


def _root_cause(exc: BaseException) -> BaseException:
    # django-redis wraps the client's error (the real cause) in its own.
    if isinstance(exc, ConnectionInterrupted) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def _line(what: str, exc: BaseException, left_out: int) -> str:
    line = f"{what} ({type(exc).__name__}: {exc})"
    if left_out:
        line += f"; {left_out} more since the last report"
    return line


def log_outage(logger: logging.Logger, what: str, exc: BaseException) -> bool:
    """Log ``what`` failed because of ``exc``, at most once per interval for
    the same logger, ``what`` and exception class. ``what`` must not vary
    per request (no keys, ids or addresses in it). True if a line was written."""
    exc = _root_cause(exc)
    left_out = _admit((logger.name, what, type(exc).__qualname__), time.time())
    if left_out is None:
        return False
    logger.warning("%s", _line(what, exc, left_out))
    return True


class OutageFilter(logging.Filter):
    """Limit a library's outage records (those with a traceback) as
    ``log_outage`` does, each rewritten as one warning line saying ``what``
    failed, without traceback."""

    def __init__(self, what: str = ""):
        super().__init__()
        self.what = what

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        exc = _root_cause(record.exc_info[1])
        what = self.what or record.getMessage()
        left_out = _admit((record.name, what, type(exc).__qualname__), time.time())
        if left_out is None:
            return False
        record.msg, record.args = _line(what, exc, left_out), ()
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
