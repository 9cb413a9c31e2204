"""The busiest reads, answered early: an anonymous ``GET /api/events/`` and
``GET /api/events/{id}/``, and a waiting room's poll,
``GET /api/events/{id}/queue/`` with a token.

The first page of the catalog is what a crowd reloads before a sale opens,
and the event page is what every buyer reloads during one. Their JSON is
shared by everyone who is not staff (``events.cache``: availability at most
2 s old), so for an anonymous client asking for JSON this middleware serves
the stored page before the rest of the stack runs (sessions, CSRF,
authentication, DRF's dispatch): one Redis round trip counts the request
against the `read` rate limit and fetches the page together. An event page
that is too old has what moved since (availability, what is on sale) brought
up to date from one precompiled query (``public_event_refresh``); one that is
not stored is rendered here too (``public_event_json``); either is stored.

Anything else goes the usual way, through the API view, which gives the
same answer (a test compares the two): a request that is signed in (token
or session cookie), asks for another format (the browsable API), would be
throttled (the view answers the 429, without counting the request twice),
misses the list cache (the view renders and stores the page), names an
event that is not published (the view's 404; such a page is never stored)
or meets a database error (the view's 503). Only in production mode:
without Redis there is no round trip to save.

A waiting room's poll is what every buyer in the room repeats every few
seconds. With a token (``Authorization: Token ...``) and a JSON answer
wanted, it is answered here when it can be (``events.api.queue.
queue_poll_early``): with Redis, one round trip checks the token's cache
entry, counts the request against the `read` rate limit and reads the place
together; the room's settings come from this process's memory. Anything
else (a session, no place: the 404, an outage: the 503, the shuffle at the
opening, a throttled client, a user changed since the room saw the token)
goes through the API view, which gives the same answer. In both modes:
without Redis the saving is the stack's CPU.
"""

import functools
import re
import uuid

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from django.urls.converters import UUIDConverter

from events import cache as catalog_cache
from events.api.queue import queue_poll_early
from events.api.serializers import public_event_json, public_event_refresh
from nuvio.throttling import VERDICT, ScopedThrottle

JSON_ACCEPTS = {"", "*/*", "application/json"}
# What the API view adds to its answers (rest_framework's finalize_response).
ALLOW = "GET, POST, HEAD, OPTIONS"
DETAIL_ALLOW = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
QUEUE_SUFFIX = "/queue/"
# Set in the WSGI environment by ``nuvio.front`` once it has tried the early
# answer: the request then goes the usual way, without trying it again.
TRIED = "nuvio.early_answer_tried"


class CatalogListMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = bool(settings.REDIS_URL)  # the catalog's pages
        self.api = True  # False: a URLconf without the API
        self._list_path = None
        self._detail_path = None
        self._queue_path = None

    def __call__(self, request):
        if self.api and request.method == "GET" and TRIED not in request.META:
            response = self._early_answer(request)
            if response is not None:
                return response
        return self.get_response(request)

    def may_answer(self, path: str) -> bool:
        """Whether a GET of ``path`` is one the early answers serve."""
        if self._list_path is None and not self._find_paths():
            return False
        return path.startswith(self._list_path)

    def _early_answer(self, request) -> HttpResponse | None:
        if self._list_path is None and not self._find_paths():
            return None
        path = request.path_info
        if path.endswith(QUEUE_SUFFIX):
            match = self._queue_path.fullmatch(path)
            if match and _token_json(request):
                return queue_poll_early(request, uuid.UUID(match[1]))
            return None
        if not self.enabled:
            return None
        if path == self._list_path:
            return self._list_page(request) if _anonymous_json(request) else None
        match = self._detail_path.fullmatch(path)
        if match and _anonymous_json(request):
            return self._event_page(request, uuid.UUID(match[1]))
        return None

    def _find_paths(self) -> bool:
        try:
            self._list_path = reverse("event-list")
            stand_in = uuid.UUID(int=0)
            queue_path = reverse("api-event-queue", args=[stand_in])
        except NoReverseMatch:  # a URLconf without the API
            self.api = False
            return False
        # The router's detail route: the list's path, the id, a slash.
        pattern = re.escape(self._list_path) + f"({UUIDConverter.regex})/"
        self._detail_path = re.compile(pattern)
        before, after = queue_path.split(str(stand_in))
        pattern = f"{re.escape(before)}({UUIDConverter.regex}){re.escape(after)}"
        self._queue_path = re.compile(pattern)
        return True

    def _list_page(self, request) -> HttpResponse | None:
        try:
            host = request.get_host()
        except DisallowedHost:
            return None  # the usual path answers it
        page = catalog_cache.list_page(host, catalog_cache.list_query(request.GET))
        lookup = catalog_cache.shared_page_lookup(page)
        if lookup is None:
            return None
        keys, read = lookup
        allowed, extra = _count(request, also=[("MGET", *keys)])
        if not allowed or not extra:
            return None
        _, body, _ = read(extra[0])
        if body is None:
            return None
        return _json(body, ALLOW)

    def _event_page(self, request, event_id: uuid.UUID) -> HttpResponse | None:
        page = catalog_cache.event_page(event_id)
        lookup = catalog_cache.shared_page_lookup(page)
        also = [] if lookup is None else [("MGET", *lookup[0])]
        allowed, extra = _count(request, also=also)
        if not allowed:
            return None
        version, body, stale = lookup[1](extra[0]) if lookup and extra else (None, None, None)
        if body is None:
            # A miss: brought up to date (public_event_refresh) or rendered
            # here too (public_event_json), and stored under the version just
            # read when there is one.
            render = functools.partial(public_event_json, event_id)
            refresh = functools.partial(public_event_refresh, event_id)
            try:
                if version is None:
                    body = catalog_cache.cached_page(page, render, refresh)
                else:
                    body = catalog_cache.render_page(
                        page, version, render, refresh=refresh, stale=stale
                    )
            except DatabaseError:
                return None  # the view answers in the API's envelope (503)
        if body is None:
            return None  # not published, or no such event: the view's 404
        return _json(body, DETAIL_ALLOW)


def _token_json(request) -> bool:
    meta = request.META
    return (
        meta.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
        and meta.get("HTTP_ACCEPT", "").strip() in JSON_ACCEPTS
        # (A poll names no parameters: its query string is rarely parsed.)
        and (not meta.get("QUERY_STRING") or "format" not in request.GET)
    )


def _anonymous_json(request) -> bool:
    meta = request.META
    return (
        "HTTP_AUTHORIZATION" not in meta
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and meta.get("HTTP_ACCEPT", "").strip() in JSON_ACCEPTS
        and "format" not in request.GET
    )


def _count(request, also: list[tuple] = ()) -> tuple[bool, list]:
    """Count the request against the `read` limit, with ``also``'s Redis
    commands in the same round trip; the view's throttle reuses the verdict,
    so the request is counted once whoever answers it."""
    allowed, wait, extra = ScopedThrottle().check(request, "read", also=also)
    request.META[VERDICT] = ("read", allowed, wait)
    return allowed, extra


def _json(body: bytes, allow: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response["Vary"] = "Accept, Cookie"
    response["Allow"] = allow
    response["Content-Length"] = str(len(body))
    return response
