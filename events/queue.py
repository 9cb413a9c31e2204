"""The waiting room of a flash sale (API.md "Waiting room").

**Places.** Each user has at most one place per event, a whole number kept in
Redis (a sorted set: user -> place). Whoever joins before the room opens is an
*early arrival*, kept in a set without a place; the first request after
``opens_at`` shuffles them (``secrets.SystemRandom``: a uniform permutation)
into consecutive places, and from then on a join takes the next place
(``INCR``): first come, first served. Every step that decides a place is one
Lua script, so it is atomic across web processes: two joins of one user get
one place; the shuffle is written only if nobody wrote it yet and only if the
early arrivals are still those that were shuffled (else it is tried again).

**Admission follows from the clock.** At time t the first ``admitted_by(t)``
places are admitted: ``admit_per_minute`` places a minute from ``opens_at``,
or piecewise when staff changed the rate during the sale (each change starts
from the places admitted by then: ``Event.queue_rate_changes``). No worker or
timer moves the queue. A place is admitted at ``admitted_at(place)`` and its
admission lasts ``pass_minutes`` from then; after that it is *expired* and
its user may join again, at the back.

The early arrivals take places 1..n. A place taken after the opening is
never one that the clock admitted already: when the queue has drained
(nobody waits and the clock ran ahead of the last place), the next place is
the first one not yet admitted, so its admission starts after it was taken
and lasts its full ``pass_minutes``, and admissions never come faster than
the rate, however long the room stood empty. Place numbers may therefore
skip; ``ahead`` counts the people ahead who still wait.

**Stores.** Production keeps the places in Redis (the default cache's server,
under the cache's key prefix): ``RedisStore``, one round trip per operation
(a poll answered early included: ``RedisStore.poll``).
The embedded mode (no ``REDIS_URL``: one process, local-memory cache) keeps
them in this process: ``LocalStore``, the same operations under a lock, the
scripts' logic in Python. If Redis cannot be reached the room fails closed:
its endpoints and the reserves of queued events answer 503 ``unavailable``,
so nobody skips the queue (other events keep selling).
"""

import datetime as dt
import logging
import math
import secrets
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisError

from events.models import Event, EventStatus
from nuvio import redis_raw
from nuvio.errors import Busy, InvalidState, QueueRequired, Unavailable
from nuvio.outage import log_outage

logger = logging.getLogger("nuvio.queue")

WAITING, ADMITTED, EXPIRED = "waiting", "admitted", "expired"
STATUSES = (WAITING, ADMITTED, EXPIRED)
# Clients poll no faster than every MIN_RETRY seconds and no slower than
# every MAX_RETRY seconds; sooner when their admission is near.
MIN_RETRY, MAX_RETRY = 2, 30
# How long a web process keeps an event's waiting-room settings (a poll
# reads no database row); a staff change applies within this time.
ROOM_TTL_SECONDS = 1.0
# The places outlive the event by this much, then Redis drops them.
KEEP_AFTER_END_SECONDS = 86_400
SHUFFLE_TRIES = 5

_US_PER_MINUTE = 60_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_random = secrets.SystemRandom()


def _us(moment: dt.datetime) -> int:
    """Microseconds since the epoch: admission arithmetic is exact in integers."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _moment(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def iso(moment: dt.datetime | None) -> str | None:
    """A time as the API writes it (DRF's ISO 8601, UTC as ``Z``)."""
    if moment is None:
        return None
    text = moment.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- the room's settings and its clock -------------------------------------------


@dataclass(frozen=True)
class WaitingRoom:
    """An event's waiting-room settings and the clock that follows from them.

    ``segments`` are ``(from, admitted by then, rate)`` with ``from`` in
    microseconds: one from ``opens_at`` at ``admit_per_minute``, or those of
    ``queue_rate_changes`` when the rate changed during the sale."""

    event_id: uuid.UUID
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    enabled: bool
    opens_at: dt.datetime | None
    admit_per_minute: int | None
    pass_minutes: int | None
    segments: tuple[tuple[int, int, int], ...]
    opens_us: int = 0  # ``opens_at`` in microseconds

    @classmethod
    def of(cls, event: Event) -> "WaitingRoom":
        opens_at = event.queue_opens_at
        return cls(
            event_id=event.pk,
            status=event.status,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            enabled=event.queue_enabled,
            opens_at=event.queue_opens_at,
            admit_per_minute=event.queue_admit_per_minute,
            pass_minutes=event.queue_pass_minutes,
            segments=rate_segments(
                event.queue_opens_at, event.queue_admit_per_minute, event.queue_rate_changes
            ),
            opens_us=_us(opens_at) if opens_at is not None else 0,
        )

    @property
    def configured(self) -> bool:
        """Staff ever set this event's waiting room (its settings are shown)."""
        return self.enabled or self.opens_at is not None

    @property
    def ready(self) -> bool:
        """Enabled with every setting: places can be taken and admitted."""
        return bool(self.enabled and self.opens_at and self.admit_per_minute and self.pass_minutes)

    def admitted_by(self, at_us: int) -> int:
        """How many places are admitted at ``at_us``."""
        return admitted_by(self.segments, at_us)

    def admitted_at(self, place: int) -> int:
        """When ``place`` is admitted (microseconds)."""
        return admitted_at(self.segments, place)

    def keep_seconds(self, now: dt.datetime) -> int:
        """How long Redis keeps the places: until a day after the event ends."""
        return max(0, int((self.ends_at - now).total_seconds())) + KEEP_AFTER_END_SECONDS

    @property
    def pass_us(self) -> int:
        return (self.pass_minutes or 0) * _US_PER_MINUTE


def rate_segments(
    opens_at: dt.datetime | None, admit_per_minute: int | None, changes: list | None
) -> tuple[tuple[int, int, int], ...]:
    """The admission clock's pieces; none without an opening time and a rate."""
    if changes:
        return tuple((_us(parse_datetime(at)), int(base), int(rate)) for at, base, rate in changes)
    if opens_at is None or not admit_per_minute:
        return ()
    return ((_us(opens_at), 0, admit_per_minute),)


def admitted_by(segments, at_us: int) -> int:
    """How many places the clock of ``segments`` admits at ``at_us``."""
    admitted = 0
    for start, base, rate in segments:
        if at_us < start:
            break
        admitted = base + rate * (at_us - start) // _US_PER_MINUTE
    return admitted


def admitted_at(segments, place: int) -> int:
    """When the clock of ``segments`` admits ``place`` (microseconds): the
    first instant at which ``admitted_by`` reaches it."""
    for i, (start, base, rate) in enumerate(segments):
        if i + 1 == len(segments) or place <= segments[i + 1][1]:
            return start + max(0, -(-(place - base) * _US_PER_MINUTE // rate))
    raise ValueError("a room without an opening time and a rate admits nobody")


def rate_changes_after(
    *, opens_at: dt.datetime, old_rate: int, new_rate: int, changes: list, now: dt.datetime
) -> list:
    """``queue_rate_changes`` once the rate goes from ``old_rate`` to
    ``new_rate`` at ``now`` (after the opening): the new rate starts from the
    places admitted by ``now``, so nobody admitted is taken back and nobody
    is skipped. The first change also records the opening rate."""
    changes = list(changes) if changes else [[iso(opens_at), 0, old_rate]]
    now_us = _us(now)
    admitted = admitted_by(rate_segments(opens_at, old_rate, changes), now_us)
    return [*changes, [iso(_moment(now_us)), admitted, new_rate]]


_rooms: dict[uuid.UUID, tuple[float, WaitingRoom | None]] = {}
_rooms_lock = threading.Lock()
_ROOM_FIELDS = (
    "id",
    "status",
    "starts_at",
    "ends_at",
    "queue_enabled",
    "queue_opens_at",
    "queue_admit_per_minute",
    "queue_pass_minutes",
    "queue_rate_changes",
)


def waiting_room(event_id: uuid.UUID) -> WaitingRoom | None:
    """The event's room as this process saw it at most ROOM_TTL_SECONDS ago
    (one small query when older); None for no such event."""
    now = time.monotonic()
    seen = _rooms.get(event_id)
    if seen is not None and now < seen[0]:
        return seen[1]
    event = Event.objects.filter(pk=event_id).only(*_ROOM_FIELDS).first()
    room = WaitingRoom.of(event) if event is not None else None
    with _rooms_lock:
        if len(_rooms) > 10_000:  # unknown ids must not grow it without bound
            _rooms.clear()
        _rooms[event_id] = (now + ROOM_TTL_SECONDS, room)
    return room


def waiting_room_forget(event_id: uuid.UUID) -> None:
    """Drop this process's copy of the room (after staff changed it)."""
    _rooms.pop(event_id, None)


# --- the stores ----------------------------------------------------------------------
#
# Keys per event: ``order`` (sorted set, user -> place), ``early`` (set of early
# arrivals, until the shuffle), ``seq`` (the last place given), ``shuffled``
# (set once the early arrivals have places: how many there were) and
# ``tokens`` (hash, API token -> what a poll answered early needs to know of
# it: ``PollToken.seen``). Results: ``(code, place, extra)``, code 0 not in
# the room / already in, 1 in / newly in, 2 the early arrivals must be
# shuffled first.
# Place 0 is an early arrival's before the shuffle, with ``extra`` the number
# of early arrivals; otherwise ``extra`` is how many places between the
# admitted ones and this one are held.

_PLACE_OF = """
local function early_place(early, user, before_open)
  if redis.call('SISMEMBER', early, user) == 0 then return {0, 0, 0} end
  if before_open == '1' then return {1, 0, redis.call('SCARD', early)} end
  return {2, 0, 0}
end
local function place_of(order, early, shuffled, user, floor, before_open)
  -- Places are in the order only once the early arrivals have theirs: before
  -- the opening ask whether they have, after it ask for the place first.
  if before_open == '1' and redis.call('EXISTS', shuffled) == 0 then
    return early_place(early, user, before_open)
  end
  local place = redis.call('ZSCORE', order, user)
  if place then
    place = tonumber(place)
    if place <= floor + 1 then return {1, place, 0} end  -- nobody between
    return {1, place, redis.call('ZCOUNT', order, floor + 1, place - 1)}
  end
  if before_open == '1' or redis.call('EXISTS', shuffled) == 1 then return {0, 0, 0} end
  return early_place(early, user, before_open)
end
local function remember(tokens, token, seen, ttl)
  if token ~= '' then
    redis.call('HSET', tokens, token, seen)
    redis.call('EXPIRE', tokens, ttl)
  end
end
"""

_READ = (
    _PLACE_OF
    + """
remember(KEYS[4], ARGV[4], ARGV[5], ARGV[6])
return place_of(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), ARGV[3])
"""
).encode()

_JOIN = (
    _PLACE_OF
    + """
local user = ARGV[1]
local floor = tonumber(ARGV[2])
local ttl = tonumber(ARGV[5])
remember(KEYS[5], ARGV[6], ARGV[7], ttl)
if redis.call('EXISTS', KEYS[4]) == 0 then
  if ARGV[4] ~= '1' then return {2, 0, 0} end
  local added = redis.call('SADD', KEYS[2], user)
  redis.call('EXPIRE', KEYS[2], ttl)
  return {added, 0, redis.call('SCARD', KEYS[2])}
end
local place = redis.call('ZSCORE', KEYS[1], user)
if place and tonumber(place) > tonumber(ARGV[3]) then
  place = tonumber(place)
  return {0, place, redis.call('ZCOUNT', KEYS[1], floor + 1, place - 1)}
end
local n = redis.call('INCR', KEYS[3])
if n <= floor then
  n = floor + 1
  redis.call('SET', KEYS[3], n)
end
redis.call('ZADD', KEYS[1], n, user)
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ttl) end
return {1, n, redis.call('ZCOUNT', KEYS[1], floor + 1, n - 1)}
"""
).encode()

# A poll answered early (``events.api.queue.queue_poll_early``), all in one
# round trip: the token's entry in the token cache, what this room remembered
# of the token (``seen``: see ``PollToken``), the request counted against the
# user's `read` limit (``nuvio.throttling``'s counter: ARGV 4 and 5 around the
# user id make its key; its expiry set by the request that starts it), and
# the place. ``{0}`` when the token is not in the cache or not known to the
# room, ``{2, count}`` when its cache entry is no longer the one the room saw
# (the user changed, was deactivated or the token was deleted and made
# again): the view answers (and counts, or reuses the count) then. It touches
# keys that are not the event's (the token cache, the counter): one Redis
# server, as the cache is.
_POLL = (
    _PLACE_OF
    + """
local entry = redis.call('GET', KEYS[5])
if not entry then return {0} end
local seen = redis.call('HGET', KEYS[4], ARGV[1])
if not seen then return {0} end
local split = string.find(seen, ' ', 42, true)
if not split then return {0} end
local counted = 0
if ARGV[4] ~= '' then
  local counter = ARGV[4] .. string.sub(seen, split + 1) .. ARGV[5]
  counted = redis.call('INCR', counter)
  if counted == 1 then redis.call('EXPIRE', counter, ARGV[6]) end
end
if redis.sha1hex(entry) ~= string.sub(seen, 2, 41) then return {2, counted} end
local user = string.sub(seen, 42, split - 1)
local found = place_of(KEYS[1], KEYS[2], KEYS[3], user, tonumber(ARGV[2]), ARGV[3])
return {1, counted, string.sub(seen, 1, 1), found[1], found[2], found[3]}
"""
).encode()

_SHUFFLE = b"""
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local n = #ARGV - 1
if redis.call('SCARD', KEYS[2]) ~= n then return -1 end
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then return -1 end
end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], i - 1, ARGV[i]) end
redis.call('SET', KEYS[3], n)
redis.call('SET', KEYS[4], n)
redis.call('DEL', KEYS[2])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1])) end
return 1
"""

_FIGURES = b"""
local floor = tonumber(ARGV[1])
local upto = tonumber(ARGV[2])
local early = 0
if redis.call('EXISTS', KEYS[3]) == 0 then early = redis.call('SCARD', KEYS[2]) end
return {
  early + redis.call('ZCOUNT', KEYS[1], floor + 1, '+inf'),
  redis.call('ZCOUNT', KEYS[1], upto + 1, floor),
  redis.call('ZCOUNT', KEYS[1], '-inf', upto),
}
"""

SCRIPTS = {
    name: Script(None, source)
    for name, source in (
        ("read", _READ),
        ("join", _JOIN),
        ("poll", _POLL),
        ("shuffle", _SHUFFLE),
        ("figures", _FIGURES),
    )
}
_POLL_SHA = SCRIPTS["poll"].sha


_KEY_PARTS = ("order", "early", "seq", "shuffled", "tokens")
_keys: dict[tuple, "Keys"] = {}


@dataclass(frozen=True)
class Keys:
    order: str
    early: str
    seq: str
    shuffled: str
    tokens: str

    @classmethod
    def of(cls, event_id: uuid.UUID, backend=None) -> "Keys":
        """The keys of the event's room; ``backend``: the default cache, when
        the caller has it at hand."""
        backend = backend or caches["default"]
        # Remembered: a poll names its keys without making them again.
        memo = (event_id, backend.key_prefix, backend.version)
        keys = _keys.get(memo)
        if keys is None:
            base = f"queue:{{{event_id}}}"
            keys = cls(*(backend.make_key(f"{base}:{part}") for part in _KEY_PARTS))
            if len(_keys) > 10_000:
                _keys.clear()
            _keys[memo] = keys
        return keys

    @property
    def all(self) -> tuple[str, ...]:
        return (self.order, self.early, self.seq, self.shuffled, self.tokens)


def _flag(value: bool) -> str:
    return "1" if value else "0"


class PollToken(NamedTuple):
    """The API token a request was authenticated with, as a room remembers
    it for the polls answered early (``RedisStore.poll``): its key and the
    SHA-1 (hex) of the token cache entry (``nuvio.authentication``) it was
    authenticated with. A poll is answered early only while that entry is
    the same: the entry is dropped when the token is deleted or its user
    saved (deactivated, made staff or not), and made anew from the database
    by the next request, so a changed entry sends the poll to the view."""

    key: str
    entry_sha1: str

    def seen(self, user) -> str:
        """What the room keeps: the user's staff flag, the entry's digest,
        the user as the store names them (``member``), a space, the user id
        (as the `read` counter's key names it)."""
        return f"{_flag(user.is_staff)}{self.entry_sha1}{member(user)} {user.pk}"


class RedisStore:
    """The places in Redis: every operation one round trip (a script).
    ``token`` and ``seen``: an API token the user was authenticated with and
    what the room keeps of it (``PollToken``), for the polls answered early
    (``poll``)."""

    @staticmethod
    def client():
        return caches["default"].client.get_client(write=True)

    def _run(self, name: str, keys, args: list) -> list | int:
        return SCRIPTS[name](keys=list(keys), args=args, client=self.client())

    def read(
        self, keys: Keys, user: str, *, floor: int, before_open: bool, token="", seen="", ttl=0
    ) -> tuple:
        args = [user, floor, _flag(before_open), token or "", seen, ttl]
        return tuple(self._run("read", [keys.order, keys.early, keys.shuffled, keys.tokens], args))

    def join(
        self,
        keys: Keys,
        user: str,
        *,
        floor: int,
        expired_upto: int,
        before_open: bool,
        ttl: int,
        token="",
        seen="",
    ) -> tuple:
        args = [user, floor, expired_upto, _flag(before_open), ttl, token or "", seen]
        return tuple(self._run("join", keys.all, args))

    def poll(
        self,
        keys: Keys,
        *,
        token: str,
        token_cache_key: str,
        floor: int,
        before_open: bool,
        counter: tuple[str, str, int] | None,
        client=None,
    ) -> list:
        """One round trip for a poll: ``[1, count, staff ("1" or "0"), code,
        place, extra]``, ``[2, count]`` or ``[0]`` (see ``_POLL``).
        ``counter``: the `read` counter's key before and after the user id,
        and its expiry. ``client``: the cache's Redis client, when the caller
        has it at hand."""
        head, tail, expiry = counter or ("", "", 0)
        args = (token, floor, _flag(before_open), head, tail, expiry)
        keys = (keys.order, keys.early, keys.shuffled, keys.tokens, token_cache_key)
        pool = (client or self.client()).connection_pool
        try:
            return redis_raw.run(pool, [("EVALSHA", _POLL_SHA, 5, *keys, *args)])[0]
        except NoScriptError:  # not loaded yet (or the server restarted)
            return self._run("poll", keys, list(args))

    def early_arrivals(self, keys: Keys) -> list[str]:
        return [member.decode() for member in self.client().smembers(keys.early)]

    def shuffle(self, keys: Keys, users: list[str], *, ttl: int) -> int:
        args = [ttl, *users]
        return self._run("shuffle", [keys.order, keys.early, keys.seq, keys.shuffled], args)

    def leave(self, keys: Keys, user: str) -> None:
        pipe = self.client().pipeline(transaction=True)
        pipe.zrem(keys.order, user)
        pipe.srem(keys.early, user)
        pipe.execute()

    def figures(self, keys: Keys, *, floor: int, expired_upto: int) -> tuple[int, int, int]:
        args = [floor, expired_upto]
        return tuple(self._run("figures", [keys.order, keys.early, keys.shuffled], args))

    def drop(self, keys: Keys) -> None:
        self.client().delete(*keys.all)


class _LocalRoom:
    def __init__(self):
        self.order: dict[str, int] = {}
        self.early: dict[str, None] = {}  # in the order they came: only the shuffle mixes them
        self.seq = 0
        self.shuffled: int | None = None

    def count(self, low: float, high: float) -> int:
        return sum(1 for place in self.order.values() if low <= place <= high)


class LocalStore:
    """The places in this process, for the embedded mode: ``RedisStore``'s
    operations, each under one lock (as each script runs alone in Redis)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rooms: dict[str, _LocalRoom] = {}

    def _room(self, keys: Keys) -> _LocalRoom:
        room = self._rooms.get(keys.order)
        if room is None:
            room = self._rooms[keys.order] = _LocalRoom()
        return room

    def read(self, keys: Keys, user: str, *, floor: int, before_open: bool, **_) -> tuple:
        with self._lock:
            room = self._room(keys)
            if room.shuffled is None:
                if user in room.early:
                    return (1, 0, len(room.early)) if before_open else (2, 0, 0)
                return (0, 0, 0)
            place = room.order.get(user)
            if place is None:
                return (0, 0, 0)
            return (1, place, room.count(floor + 1, place - 1))

    def join(
        self, keys: Keys, user: str, *, floor: int, expired_upto: int, before_open: bool, **_
    ) -> tuple:
        with self._lock:
            room = self._room(keys)
            if room.shuffled is None:
                if not before_open:
                    return (2, 0, 0)
                added = int(user not in room.early)
                room.early[user] = None
                return (added, 0, len(room.early))
            place = room.order.get(user)
            if place is not None and place > expired_upto:
                return (0, place, room.count(floor + 1, place - 1))
            room.seq = max(room.seq + 1, floor + 1)
            room.order[user] = room.seq
            return (1, room.seq, room.count(floor + 1, room.seq - 1))

    def early_arrivals(self, keys: Keys) -> list[str]:
        with self._lock:
            return list(self._room(keys).early)

    def shuffle(self, keys: Keys, users: list[str], *, ttl: int) -> int:
        with self._lock:
            room = self._room(keys)
            if room.shuffled is not None:
                return 0
            if len(users) != len(room.early) or set(users) != room.early.keys():
                return -1
            for i, user in enumerate(users, start=1):
                room.order[user] = i
            room.seq = len(users)
            room.shuffled = len(users)
            room.early = {}
            return 1

    def leave(self, keys: Keys, user: str) -> None:
        with self._lock:
            room = self._room(keys)
            room.order.pop(user, None)
            room.early.pop(user, None)

    def figures(self, keys: Keys, *, floor: int, expired_upto: int) -> tuple[int, int, int]:
        with self._lock:
            room = self._room(keys)
            early = len(room.early) if room.shuffled is None else 0
            return (
                early + room.count(floor + 1, math.inf),
                room.count(expired_upto + 1, floor),
                room.count(-math.inf, expired_upto),
            )

    def drop(self, keys: Keys) -> None:
        with self._lock:
            self._rooms.pop(keys.order, None)

    def clear(self) -> None:
        with self._lock:
            self._rooms.clear()


redis_store = RedisStore()
local_store = LocalStore()


def store() -> RedisStore | LocalStore:
    """The store the settings give: Redis in production, this process without."""
    return redis_store if settings.REDIS_URL else local_store


@contextmanager
def outage():
    """Turn a Redis failure into 503 ``unavailable``: the room fails closed."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log_outage(logger, "waiting room store unavailable; refusing its requests", exc)
        raise Unavailable(
            "The waiting room cannot be reached right now; nobody gets in meanwhile. "
            "Try again shortly."
        ) from exc


# --- places and answers ------------------------------------------------------------


@dataclass(frozen=True)
class QueuePlace:
    """A user's place as the API answers it."""

    position: int | None
    ahead: int | None
    status: str
    opens_at: dt.datetime
    estimated_wait_seconds: int
    admitted_until: dt.datetime | None
    retry_after: int

    def as_dict(self) -> dict:
        return {
            "position": self.position,
            "ahead": self.ahead,
            "status": self.status,
            "opens_at": iso(self.opens_at),
            "estimated_wait_seconds": self.estimated_wait_seconds,
            "admitted_until": iso(self.admitted_until),
            "retry_after": self.retry_after,
        }


def _retry(seconds: float) -> int:
    return max(MIN_RETRY, min(MAX_RETRY, math.ceil(seconds)))


def _wait(seconds_us: int) -> int:
    return max(0, math.ceil(seconds_us / 1_000_000))


def place_status(room: WaitingRoom, place: int, now_us: int) -> tuple[str, int, int]:
    """``(status, admitted at, admitted until)`` of ``place`` at ``now_us``."""
    admitted_at = room.admitted_at(place)
    until = admitted_at + room.pass_us
    if now_us < admitted_at:
        return WAITING, admitted_at, until
    return (ADMITTED if now_us < until else EXPIRED), admitted_at, until


def _answer(room: WaitingRoom, place: int, extra: int, now_us: int) -> QueuePlace:
    if place == 0:  # an early arrival: a random place among ``extra`` at the opening
        expected = room.admitted_at(max(1, (extra + 1) // 2))
        return QueuePlace(
            position=None,
            ahead=None,
            status=WAITING,
            opens_at=room.opens_at,
            estimated_wait_seconds=_wait(expected - now_us),
            admitted_until=None,
            retry_after=_retry((room.opens_us - now_us) / 1_000_000),
        )
    status, admitted_at, until = place_status(room, place, now_us)
    if status == WAITING:
        wait, retry = admitted_at - now_us, (admitted_at - now_us) / 1_000_000
    elif status == ADMITTED:
        wait, retry = 0, (until - now_us) / 1_000_000
    else:
        wait, retry = 0, MAX_RETRY
    return QueuePlace(
        position=place,
        ahead=extra if status == WAITING else 0,
        status=status,
        opens_at=room.opens_at,
        estimated_wait_seconds=_wait(wait),
        admitted_until=_moment(until) if status == ADMITTED else None,
        retry_after=_retry(retry),
    )


def _clock(room: WaitingRoom, now: dt.datetime) -> tuple[int, int, int, bool]:
    """``(now, admitted now, expired up to, before the opening)``: what the
    scripts need to judge places; places up to ``expired up to`` have had
    their whole admission."""
    now_us = _us(now)
    floor = room.admitted_by(now_us)
    expired_upto = room.admitted_by(now_us - room.pass_us)
    return now_us, floor, expired_upto, now_us < room.opens_us


def _shuffle(room: WaitingRoom, keys: Keys, now: dt.datetime) -> None:
    """Give the early arrivals their random places (the first request after
    the opening does it; any later one finds it done)."""
    target = store()
    for _ in range(SHUFFLE_TRIES):
        users = target.early_arrivals(keys)
        _random.shuffle(users)
        if target.shuffle(keys, users, ttl=room.keep_seconds(now)) >= 0:
            return
        # Someone left (or a late clock added someone) meanwhile: shuffle anew.
    raise Busy("The waiting room is opening; try again in a moment.")


def member(user) -> str:
    """How a user is named in the store."""
    return user.pk.hex if isinstance(user.pk, uuid.UUID) else str(user.pk)


def _placed(room: WaitingRoom, keys: Keys, now: dt.datetime, operation) -> tuple:
    """Run ``operation()`` (a read or a join), shuffling the early arrivals
    first when it says the room opened without them having places."""
    result = operation()
    if result[0] == 2:
        _shuffle(room, keys, now)
        result = operation()
    return result


def queue_join(
    *, room: WaitingRoom, user, now: dt.datetime | None = None, token: PollToken | None = None
) -> tuple[QueuePlace, bool]:
    """Take a place for ``user`` in ``room``; returns ``(place, created)``.

    Before the opening the user is an early arrival (no position yet); after
    it, the next place at the back. A user already in keeps their place
    (``created`` False), unless their admission has run out: then they get a
    new place at the back (decided in the same atomic step, so concurrent
    joins of one user take one place). ``token``: the API token the request
    was authenticated with, remembered so that its polls can be answered
    early (``PollToken``). Raises ``InvalidState`` when the room is not
    enabled or the event cannot be booked, ``Unavailable`` when the store
    cannot be reached."""
    now = now or timezone.now()
    if not room.ready:
        raise InvalidState("This event has no waiting room open.")
    if room.status == EventStatus.CANCELLED or room.starts_at <= now:
        raise InvalidState("This event is not on sale.")
    keys, user_key = Keys.of(room.event_id), member(user)
    now_us, floor, expired_upto, before_open = _clock(room, now)
    target = store()
    with outage():
        code, place, extra = _placed(
            room,
            keys,
            now,
            lambda: target.join(
                keys,
                user_key,
                floor=floor,
                expired_upto=expired_upto,
                before_open=before_open,
                ttl=room.keep_seconds(now),
                token=token and token.key,
                seen=token.seen(user) if token else "",
            ),
        )
    return _answer(room, place, extra, now_us), code == 1


def queue_place(
    *, room: WaitingRoom, user, now: dt.datetime | None = None, token: PollToken | None = None
) -> QueuePlace | None:
    """``user``'s place in ``room`` now, or None when they have none. One
    round trip (two more, once, for the shuffle at the opening). ``token``
    as for ``queue_join``. Raises ``Unavailable`` when the store cannot be
    reached."""
    now = now or timezone.now()
    if not room.ready:
        return None
    keys, user_key = Keys.of(room.event_id), member(user)
    now_us, floor, _, before_open = _clock(room, now)
    target = store()
    with outage():
        code, place, extra = _placed(
            room,
            keys,
            now,
            lambda: target.read(
                keys,
                user_key,
                floor=floor,
                before_open=before_open,
                token=token and token.key,
                seen=token.seen(user) if token else "",
                ttl=room.keep_seconds(now),
            ),
        )
    return _answer(room, place, extra, now_us) if code else None


def queue_place_from(room: WaitingRoom, result, now_us: int) -> QueuePlace | None:
    """A place from a read that another caller made (``RedisStore.poll``,
    ``LocalStore.read``); None when the user has none or the early arrivals
    still need their shuffle (``queue_place`` then does it)."""
    code, place, extra = result
    return _answer(room, place, extra, now_us) if code == 1 else None


def queue_leave(*, room: WaitingRoom, user) -> None:
    """Give up ``user``'s place in ``room`` (nothing when they have none)."""
    with outage():
        store().leave(Keys.of(room.event_id), member(user))


def queue_path(event_id) -> str:
    return reverse("api-event-queue", args=[event_id])


def queue_admission_check(*, event: Event, user, now: dt.datetime) -> None:
    """Refuse a reserve on a queued event without a live admission:
    ``QueueRequired`` (details ``queue``: where to join). Nothing for an
    event without an enabled room (no store is asked); otherwise one round
    trip. Staff queue like everyone. Raises ``Unavailable`` when the store
    cannot be reached: nobody skips the queue."""
    if not event.queue_enabled:
        return
    place = queue_place(room=WaitingRoom.of(event), user=user, now=now)
    if place is not None and place.status == ADMITTED:
        return
    path = queue_path(event.pk)
    if place is None:
        message = "This sale goes through its waiting room: join the queue first."
    elif place.status == WAITING:
        message = "Your turn in the waiting room has not come yet."
    else:
        message = "Your time to book has run out: join the queue again."
    raise QueueRequired(message, details={"queue": path})


def queue_figures(*, room: WaitingRoom, now: dt.datetime | None = None) -> dict | None:
    """``{waiting, admitted, expired, admit_per_minute}`` now, or None for an
    event whose room was never set. One round trip. Raises ``Unavailable``."""
    if not room.configured:
        return None
    figures = {"waiting": 0, "admitted": 0, "expired": 0}
    if room.opens_at is not None and room.segments:
        now = now or timezone.now()
        _, floor, expired_upto, _ = _clock(room, now)
        with outage():
            waiting, admitted, expired = store().figures(
                Keys.of(room.event_id), floor=floor, expired_upto=expired_upto
            )
        figures = {"waiting": waiting, "admitted": admitted, "expired": expired}
    return {**figures, "admit_per_minute": room.admit_per_minute}


def queue_drop(event_id: uuid.UUID) -> None:
    """Forget every place of the event's room (its settings were removed).
    Best effort: a store that cannot be reached keeps them until they expire."""
    try:
        with outage():
            store().drop(Keys.of(event_id))
    except Unavailable:
        pass
    waiting_room_forget(event_id)
