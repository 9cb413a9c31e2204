"""Rate limits by scope, as NUVIO_THROTTLE_RATES names them.

`auth` (token login) and `register` count per client IP; `write` (booking,
payment and waitlist writes) and `read` (everything else) count per user, or
per IP for anonymous clients. A view names its scope with ``throttle_scope``
(a viewset may set it per action in ``get_throttles``); views that name none
are `read`. Counters live in the cache (Redis in production), so every web
process shares them; if Redis is away the limits are not enforced rather than
taking the site down.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

PER_IP_SCOPES = {"auth", "register"}


class ScopedThrottle(SimpleRateThrottle):
    cache_format = "throttle:%(scope)s:%(ident)s"

    def allow_request(self, request, view):
        self.scope = getattr(view, "throttle_scope", None) or "read"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def __init__(self):
        # The scope is only known per request (allow_request); skip the
        # parent's eager rate lookup.
        pass

    def get_rate(self):
        # Read at call time so a changed setting (tests, reload) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if self.scope not in PER_IP_SCOPES and request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
