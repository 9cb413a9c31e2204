"""Redis writes that can wait until a request's answer is ready, sent together.

A booking write ends with small Redis writes (its idempotency answer, its
analytics mark). Each alone is a network round trip; inside
``deferred_writes()`` they are collected and sent as one pipeline when the
block ends. Each write names what to do if Redis cannot take it (the same
fallback it has when it is sent alone). Nothing is deferred outside a block,
or without Redis (the embedded mode's local-memory cache has no round trips
to save). ``RequestBatchMiddleware`` opens a block around every request, so
a request's deferred writes (the token cache, the idempotency answer, the
analytics mark) share one round trip after its answer is ready.
"""

import logging
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

from nuvio.outage import log_outage

logger = logging.getLogger("nuvio.redis")
_current: ContextVar["Batch | None"] = ContextVar("nuvio_redis_batch", default=None)


class Batch:
    def __init__(self):
        self._writes: list[tuple[Callable, Callable | None]] = []

    def add(self, write: Callable, on_error: Callable | None = None) -> None:
        """``write(pipeline)`` queues its commands; ``on_error()`` runs if the
        pipeline fails."""
        self._writes.append((write, on_error))

    def flush(self) -> None:
        writes, self._writes = self._writes, []
        if not writes:
            return
        from django_redis import get_redis_connection
        from redis.exceptions import RedisError

        try:
            pipe = get_redis_connection("default").pipeline(transaction=False)
            for write, _ in writes:
                write(pipe)
            pipe.execute()
        except (RedisError, OSError) as exc:
            log_outage(logger, "deferred Redis writes failed; running their fallbacks", exc)
            for _, on_error in writes:
                if on_error is not None:
                    on_error()


def current() -> Batch | None:
    """The open batch, if any."""
    return _current.get()


@contextmanager
def deferred_writes():
    """Collect deferred writes made inside the block; flush them at its end
    (also when it raises). Nested blocks share the outermost batch."""
    if not settings.REDIS_URL or _current.get() is not None:
        yield _current.get()
        return
    batch = Batch()
    token = _current.set(batch)
    try:
        yield batch
    finally:
        _current.reset(token)
        batch.flush()


class RequestBatchMiddleware:
    """One batch of deferred Redis writes per request, sent when the view
    has answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with deferred_writes():
            return self.get_response(request)
