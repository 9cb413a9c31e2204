"""``/api/events/{id}/queue/``: a user's place in an event's waiting room
(``events.queue``). Joining is a write; asking where one stands is a read,
and the read that a crowd repeats: ``events.middleware`` answers a poll with
a token before the rest of the stack (the same answer as this view's, which
answers everything else: sessions, the browsable API, errors)."""

import hashlib
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from events import queue
from events.models import EventStatus
from events.queue import (
    MAX_RETRY,
    MIN_RETRY,
    STATUSES,
    PollToken,
    QueuePlace,
    WaitingRoom,
    iso,
    queue_join,
    queue_leave,
    queue_place,
    queue_place_from,
    waiting_room,
)
from nuvio.authentication import PUBLIC_FIELDS, CachedTokenAuthentication, token_cache_key
from nuvio.errors import NotFound
from nuvio.schema import ErrorSerializer
from nuvio.throttling import VERDICT, ScopedThrottle, parse_rate

ALLOW = "GET, POST, DELETE, HEAD, OPTIONS"  # what the view's answers say


# The answer's shape, for the schema: the views write ``QueuePlace.as_dict``.
class QueuePlaceSerializer(serializers.Serializer):
    """Your place in an event's waiting room, now."""

    position = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        help_text="Your place in the order of admission; null for an early arrival until "
        "`opens_at`, when early arrivals are shuffled into random places.",
    )
    ahead = serializers.IntegerField(
        allow_null=True,
        min_value=0,
        help_text="People ahead of you still waiting (null with `position`).",
    )
    status = serializers.ChoiceField(
        choices=STATUSES,
        help_text="`admitted`: you may book until `admitted_until`; `expired`: your time "
        "ran out, join again (at the back).",
    )
    opens_at = serializers.DateTimeField(help_text="When admission starts.")
    estimated_wait_seconds = serializers.IntegerField(
        min_value=0, help_text="Until your admission at the current rate; 0 once admitted."
    )
    admitted_until = serializers.DateTimeField(
        allow_null=True, help_text="While `admitted`: when the admission ends."
    )
    retry_after = serializers.IntegerField(
        min_value=MIN_RETRY,
        max_value=MAX_RETRY,
        help_text="Seconds before asking again (add a little random jitter); "
        "shorter when your admission is near.",
    )


NOT_IN = OpenApiResponse(
    ErrorSerializer,
    description="`not_found`: no such event, or you have no place in its waiting room.",
)


# ``QueuePlace.as_dict`` as compact JSON; its values are whole numbers, null
# and ASCII words and times, which JSON writes as they are.
_BODY = (
    '{"position":%s,"ahead":%s,"status":"%s","opens_at":%s,'
    '"estimated_wait_seconds":%d,"admitted_until":%s,"retry_after":%d}'
)


def _number(value: int | None) -> int | str:
    return "null" if value is None else value


def _time(moment) -> str:
    return "null" if moment is None else f'"{iso(moment)}"'


def place_body(place: QueuePlace) -> bytes:
    """The answer as compact JSON: the bytes DRF's ``JSONRenderer`` writes
    for ``place.as_dict()``."""
    return (
        _BODY
        % (
            _number(place.position),
            _number(place.ahead),
            place.status,
            _time(place.opens_at),
            place.estimated_wait_seconds,
            _time(place.admitted_until),
            place.retry_after,
        )
    ).encode()


def room_visible(room: WaitingRoom | None, user) -> bool:
    """The event exists and ``user`` may see it (staff: any; others: published)."""
    return room is not None and (room.status == EventStatus.PUBLISHED or user.is_staff)


def _token(request) -> str | None:
    """The API token the request was authenticated with (None: a session)."""
    return request.auth if isinstance(request.auth, str) else None


def _room_or_404(event_id: uuid.UUID, user) -> WaitingRoom:
    room = waiting_room(event_id)
    if not room_visible(room, user):
        raise NotFound("No such event.")
    return room


class EventQueueView(APIView):
    """Join, poll and leave an event's waiting room (any signed-in user)."""

    permission_classes = [IsAuthenticated]

    @property
    def throttle_scope(self) -> str:
        return "read" if self.request.method in ("GET", "HEAD") else "write"

    @extend_schema(
        summary="Where you stand in an event's waiting room",
        description=(
            "Your place now: `waiting` (with the people ahead and the estimated wait), "
            "`admitted` (book before `admitted_until`) or `expired` (join again). Poll "
            "no faster than `retry_after`. 404 when you are not in the room (or the "
            "event has no room open)."
        ),
        responses={200: QueuePlaceSerializer, 404: NOT_IN},
    )
    def get(self, request, event_id):
        room = _room_or_404(event_id, request.user)
        place = queue_place(room=room, user=request.user, token=_token(request))
        if place is None:
            raise NotFound("You are not in this event's waiting room.")
        return Response(place.as_dict())

    @extend_schema(
        summary="Join an event's waiting room",
        description=(
            "201 with your new place; 200 with the place you have (one place per user per "
            "event). Before `opens_at` you are an early arrival: at `opens_at` the early "
            "arrivals are shuffled into random places; after it places are first come, "
            "first served. Once an admission has expired, joining again takes a new place "
            "at the back. 409 `invalid_state` when the event has no waiting room open; "
            "503 `unavailable` when the waiting room cannot be reached."
        ),
        request=None,
        responses={200: QueuePlaceSerializer, 201: QueuePlaceSerializer},
    )
    def post(self, request, event_id):
        room = _room_or_404(event_id, request.user)
        place, created = queue_join(room=room, user=request.user, token=_token(request))
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(place.as_dict(), status=code)

    @extend_schema(
        summary="Leave an event's waiting room",
        description="204 whether or not you had a place; joining again starts at the back.",
        request=None,
        responses={204: OpenApiResponse(description="You have no place any more.")},
    )
    def delete(self, request, event_id):
        room = _room_or_404(event_id, request.user)
        queue_leave(room=room, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- a poll answered early (events.middleware) -------------------------------------

# The token cache's entry is the user's public fields in this order
# (``nuvio.authentication``).
_CACHED = tuple(
    f.attname for f in get_user_model()._meta.concrete_fields if f.attname in PUBLIC_FIELDS
)


def _token(request) -> PollToken | None:
    """The API token the request was authenticated with, with the digest of
    the token cache entry it was authenticated with (``PollToken``). None
    for a session, and without Redis (no poll is answered from the store)."""
    if not isinstance(request.auth, str) or not settings.REDIS_URL:
        return None
    user = request.user
    entry = caches["default"].client.encode([getattr(user, name) for name in _CACHED])
    return PollToken(request.auth, hashlib.sha1(entry, usedforsecurity=False).hexdigest())


def queue_poll_early(request, event_id: uuid.UUID) -> HttpResponse | None:
    """``GET /api/events/{id}/queue/`` with ``Authorization: Token ...``,
    answered before the rest of the stack when it can be: the answer the
    view would give, or None for the view to answer (a token unknown to the
    token cache or to this room, a token cache entry that changed since the
    room saw it, no place, the shuffle due at the opening, a throttled
    client, a draft, an outage, a database error).

    With Redis: one round trip (``RedisStore.poll``) checks the token's
    cache entry, counts the request against the user's `read` limit (the
    view then reuses the verdict: counted once) and reads the place; the
    room's settings come from this process's memory. Without Redis the same
    steps, each in this process."""
    auth = request.META["HTTP_AUTHORIZATION"].split()
    if len(auth) != 2:
        return None
    try:
        room = waiting_room(event_id)
    except DatabaseError:
        return None
    if room is None or not room.ready:
        return None
    moment = time.time()
    now_us = int(moment * 1_000_000)
    if settings.REDIS_URL:
        found = _redis_poll(request, room, auth[1], moment, now_us)
    else:
        found = _local_poll(request, room, auth[1], now_us)
    if found is None:
        return None
    staff, result = found
    if room.status != EventStatus.PUBLISHED and not staff:
        return None  # the view's 404
    place = queue_place_from(room, result, now_us)
    if place is None:
        return None
    body = place_body(place)
    response = HttpResponse(body, content_type="application/json")
    response["Vary"] = "Accept"
    response["Allow"] = ALLOW
    response["Content-Length"] = str(len(body))
    return response


def _redis_poll(request, room: WaitingRoom, token: str, moment: float, now_us: int):
    rate = api_settings.DEFAULT_THROTTLE_RATES.get("read")
    limit, period = parse_rate(rate) if rate else (0, 60)
    window = int(moment // period)
    backend = caches["default"]
    # ``ScopedThrottle``'s counter of this user in this window: its key
    # around the user id, and its expiry.
    counter = (backend.make_key("throttle:read:u"), f":{window}", period + 1) if rate else None
    try:
        answer = queue.redis_store.poll(
            queue.Keys.of(room.event_id, backend),
            token=token,
            token_cache_key=backend.make_key(token_cache_key(token)),
            floor=room.admitted_by(now_us),
            before_open=now_us < room.opens_us,
            counter=counter,
            client=backend.client.get_client(write=True),
        )
    except (RedisError, OSError):
        return None  # the view answers 503
    if answer[0] == 0:
        return None  # not counted: the view counts
    allowed = not rate or answer[1] <= limit
    request.META[VERDICT] = ("read", allowed, (window + 1) * period - moment)
    if answer[0] != 1 or not allowed:
        return None  # the view's answer (a changed user: maybe a 401), or its 429
    return answer[2] == b"1", answer[3:]


def _local_poll(request, room: WaitingRoom, token: str, now_us: int) -> tuple | None:
    try:
        user, _ = CachedTokenAuthentication().authenticate_credentials(token)
    except (AuthenticationFailed, DatabaseError):
        return None
    request.user = user  # counted per user, as the view counts
    allowed, wait, _ = ScopedThrottle().check(request, "read")
    request.META[VERDICT] = ("read", allowed, wait)
    if not allowed:
        return None
    keys, member = queue.Keys.of(room.event_id), queue.member(user)
    floor, before_open = room.admitted_by(now_us), now_us < room.opens_us
    return user.is_staff, queue.local_store.read(keys, member, floor=floor, before_open=before_open)
