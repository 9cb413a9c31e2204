"""Rate limits by scope, as NUVIO_THROTTLE_RATES names them.

`auth` (token login) and `register` count per client IP; `write` (booking,
payment and waitlist writes) and `read` (everything else) count per user, or
per IP for anonymous clients. A view names its scope with ``throttle_scope``
(a viewset may make it a property of the action); views that name none are
`read`.

Counting is a fixed window per scope and client: one ``INCR`` (with its
expiry, pipelined) per request on Redis, so every web process shares the
counts and a request costs one round trip whatever the rate. (DRF's own
throttle keeps a list of timestamps per client and rewrites it on every
request: at thousands of requests a minute that list is the cost.) A client
may burst up to twice the rate across a window boundary. In the embedded mode
the local-memory cache counts. If Redis is away, limits are not enforced
rather than taking the site down.
"""

import functools
import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from nuvio import redis_raw
from nuvio.outage import log_outage

logger = logging.getLogger("nuvio.throttling")
PER_IP_SCOPES = {"auth", "register"}
# Where an early answer (events.middleware, nuvio.front) leaves its count of
# the request, (scope, allowed, wait), for the view's throttle: in the WSGI
# environment, which every request object made of it shares (and no client
# can write to: headers arrive as HTTP_* keys).
VERDICT = "nuvio.throttle_verdict"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.cache  # a handful of rates, parsed on every request
def parse_rate(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


def hit(key: str, window_seconds: int, also: list[tuple] = ()) -> tuple[int, list]:
    """Count one request against ``key``; returns the count in this window.
    On Redis, ``also`` may name more commands (``("MGET", key, ...)``) for the
    same round trip (``nuvio.redis_raw``); their replies come back as the
    second item."""
    if settings.REDIS_URL:
        full_key = cache.make_key(key)
        commands = [("INCR", full_key), ("EXPIRE", full_key, window_seconds + 1, "NX"), *also]
        replies = redis_raw.run(cache.client.get_client(write=True).connection_pool, commands)
        return replies[0], replies[2:]
    if cache.add(key, 1, window_seconds + 1):
        return 1, []
    try:
        return cache.incr(key), []
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window_seconds + 1)
        return 1, []


class ScopedThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None) or "read"
        verdict = request.META.get(VERDICT)  # counted earlier on
        if verdict is not None and verdict[0] == scope:
            _, allowed, self._wait = verdict
            return allowed
        allowed, self._wait, _ = self.check(request, scope)
        return allowed

    def check(self, request, scope: str, also: list[tuple] = ()) -> tuple[bool, float, list]:
        """Count ``request`` in ``scope``: (allowed, seconds to wait, replies
        to ``also``'s commands, sent in the same round trip; see ``hit``)."""
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate and not also:
            return True, 0.0, []
        limit, period = parse_rate(rate) if rate else (0, 60)
        user = getattr(request, "user", None)
        if scope not in PER_IP_SCOPES and user and user.is_authenticated:
            ident = f"u{user.pk}"
        else:
            ident = f"ip{self.get_ident(request)}"
        now = time.time()
        window = int(now // period)
        try:
            count, extra = hit(f"throttle:{scope}:{ident}:{window}", period, also)
        except Exception as exc:  # Redis away: serve rather than refuse everyone
            log_outage(logger, "throttle store unavailable; rate limits not enforced", exc)
            return True, 0.0, []
        return not rate or count <= limit, (window + 1) * period - now, extra

    def wait(self) -> float:
        return self._wait
