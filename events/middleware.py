"""The busiest read, answered early: an anonymous ``GET /api/events/``.

The first page of the catalog is what a crowd reloads before a sale opens.
Its JSON is shared by everyone who is not staff (``events.cache``), so for an
anonymous client asking for JSON this middleware serves the stored page
before the rest of the stack runs: one Redis round trip that counts the
request against the `read` rate limit and fetches the page together.

Anything else goes the usual way, through the API view, which gives the
same answer (a test compares the two): a request that is signed in (token
or session cookie), asks for another format (the browsable API), would be
throttled (the view answers the 429,
without counting the request twice), or misses the cache (the view renders
and stores the page). Only in production mode: without Redis there is no
round trip to save.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse

from events import cache as catalog_cache
from nuvio.throttling import ScopedThrottle

JSON_ACCEPTS = {"", "*/*", "application/json"}
# What the API view adds to its answer (rest_framework's finalize_response).
ALLOW = "GET, POST, HEAD, OPTIONS"


class CatalogListMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = bool(settings.REDIS_URL)
        self._path = None

    def __call__(self, request):
        if self.enabled and self._eligible(request):
            response = self._from_cache(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _eligible(self, request) -> bool:
        if self._path is None:
            try:
                self._path = reverse("event-list")
            except NoReverseMatch:  # a URLconf without the API
                return False
        meta = request.META
        return (
            request.method == "GET"
            and request.path_info == self._path
            and "HTTP_AUTHORIZATION" not in meta
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
            and meta.get("HTTP_ACCEPT", "").strip() in JSON_ACCEPTS
            and "format" not in request.GET
        )

    def _from_cache(self, request) -> HttpResponse | None:
        try:
            host = request.get_host()
        except DisallowedHost:
            return None  # the usual path answers it
        lookup = catalog_cache.shared_list_page_lookup(host, catalog_cache.list_query(request.GET))
        if lookup is None:
            return None
        keys, page = lookup
        allowed, wait, extra = ScopedThrottle().check(
            request, "read", also=lambda pipe: pipe.mget(keys)
        )
        # Counted once: the view's throttle reuses this verdict.
        request.throttle_verdict = ("read", allowed, wait)
        if not allowed or not extra:
            return None
        body = page(extra[0])
        if body is None:
            return None
        response = HttpResponse(body, content_type="application/json")
        response["Vary"] = "Accept, Cookie"
        response["Allow"] = ALLOW
        response["Content-Length"] = str(len(body))
        return response
