"""An event's seat map: every seat with its status, and the JSON of it that
``GET /api/events/{id}/seats/`` serves.

A seat's status comes from its live ``bookings.SeatHold`` (at most one per
seat): ``blocked`` when the hold has no booking, ``sold`` when its booking is
confirmed, ``held`` while its booking is a hold whose time has not run out,
and ``free`` otherwise: no live hold, a lapsed hold (free at once, worker or
not), or a booking expired or cancelled whose hold is not released yet.

A 50,000-seat arena's map is 10 MB of JSON (1.6 MB gzipped) that every buyer
loads, again and again during a sale. So the answer is kept as bytes
(``SeatMap``): built every ``REFRESH_AFTER`` seconds by one web process,
shared through the cache, and served by each process from its memory.
Statuses are at most ``MAX_AGE`` seconds old: a map is stamped before the
database is read and never served once that old.

A build costs little more than reading which seats are taken: the plan's
JSON (everything but the statuses) is kept in the building process until the
event changes (``seating_replace`` and ``seats_block`` touch its
``updated_at``), and the answer is gzipped in pieces of ``PIECE_SEATS``
seats, each piece compressed again only when one of its seats changed.
"""

import datetime as dt
import hashlib
import operator
import struct
import threading
import time
import uuid
import zlib
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import accumulate
from json.encoder import encode_basestring_ascii

from django.core.cache import cache
from django.db import models
from django.db.models import Case, FilteredRelation, Q, Value, When
from django.utils import timezone
from rest_framework.fields import DateTimeField

from bookings.models import BookingStatus, SeatHold
from events.models import Event, EventStatus, Seat
from nuvio.db.precompiled import precompiled

FREE, HELD, SOLD, BLOCKED = "free", "held", "sold", "blocked"
SEAT_STATUSES = (FREE, HELD, SOLD, BLOCKED)

# --- the queries ----------------------------------------------------------------


class _UUIDText(models.Func):
    """A UUID column as its text, ``8-4-4-4-12``: reading 50,000 seats, text
    costs the database nothing and spares Python making 100,000 UUID objects
    to print them again. PostgreSQL casts its ``uuid``; the other databases
    store 32 hex digits, cut here into their groups."""

    output_field = models.CharField()

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        groups = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        text = " || '-' || ".join(f"substr({sql}, {start}, {size})" for start, size in groups)
        return f"lower({text})", list(params) * len(groups)

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql})::text", params


def _status(now, hold: str = "") -> Case:
    """A seat's status (see the module) from its live hold, reached by the
    path ``hold`` ("": the hold itself)."""
    return Case(
        When(**{f"{hold}id__isnull": True}, then=Value(FREE)),
        When(**{f"{hold}booking__isnull": True}, then=Value(BLOCKED)),
        When(**{f"{hold}booking__status": BookingStatus.CONFIRMED}, then=Value(SOLD)),
        When(
            **{
                f"{hold}booking__status": BookingStatus.HELD,
                f"{hold}booking__expires_at__gt": now,
            },
            then=Value(HELD),
        ),
        default=Value(FREE),
        output_field=models.CharField(),
    )


# Stand-ins for the values that change from call to call (nuvio.db.precompiled).
_STAND_INS = {
    "event_id": (uuid.UUID("0e7e0000-0000-4000-8000-00000005ea75"), Event._meta.pk),
    "now": (dt.datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC), models.DateTimeField()),
}


def _seat_statuses_queryset(event_id, now):
    # The live hold joined in the ON clause, so that seats without one stay.
    live = FilteredRelation("holds", condition=Q(holds__released_at__isnull=True))
    return (
        Seat.objects.filter(event_id=event_id)
        .annotate(
            live_hold=live,
            seat_status=_status(now, "live_hold__"),
            seat_id=_UUIDText("id"),
            seat_type=_UUIDText("ticket_type_id"),
        )
        .values_list(
            "seat_id", "section", "row", "number", "label", "seat_type", "x", "y", "seat_status"
        )
        .order_by("position")
    )


def seat_statuses(*, event_id: uuid.UUID, now: dt.datetime | None = None) -> list[list]:
    """Every seat of the event ``event_id`` at ``now``, in plan order
    (``position``), as ``[id, section, row, number, label, ticket_type_id,
    x, y, status]``: the ids as text, ``status`` one of ``SEAT_STATUSES`` (see
    the module). One query, compiled once per process; [] when the event has
    no seats or does not exist."""
    query = precompiled(_seat_statuses_queryset, **_STAND_INS)
    return query.rows(event_id=event_id, now=now or timezone.now())


def _seats_taken_queryset(event_id, now):
    return (
        SeatHold.objects.filter(seat__event_id=event_id, released_at__isnull=True)
        .annotate(hold_seat=_UUIDText("seat_id"), hold_status=_status(now))
        .values_list("hold_seat", "hold_status")
        .order_by()
    )


def seats_taken(*, event_id: uuid.UUID, now: dt.datetime | None = None) -> list[list]:
    """``[seat id, status]`` of the event's seats that have a live hold, by
    the rules of ``seat_statuses`` (so a lapsed hold's seat is ``free``); the
    other seats are free. One query, compiled once per process."""
    query = precompiled(_seats_taken_queryset, **_STAND_INS)
    return query.rows(event_id=event_id, now=now or timezone.now())


# --- the answer -------------------------------------------------------------------

MAX_AGE = 2.0  # seconds: a map is never served older than this
# A map this old is rebuilt by one process while the others keep serving it.
REFRESH_AFTER = 1.0
# How long a map stays in the cache: the next build reuses its pieces.
KEEP_SECONDS = 60
BUILD_LOCK_SECONDS = 10  # in case the process building a map dies
# A process whose map is too old waits for another's build, looking this often.
WAIT_STEP_SECONDS = 0.02
WAIT_STEPS = int(BUILD_LOCK_SECONDS / WAIT_STEP_SECONDS)
LOCAL_EVENTS = 4  # events whose map (and plan) a process keeps in memory
# A plan is read again after this long even if its event did not change.
PLAN_KEEP_SECONDS = 300
PIECE_SEATS = 1000  # seats per separately compressed piece: +0.8 % in size
GZIP_LEVEL = 6
# Answers with a filter are made in each process from its map, and gzipped fast.
FILTERED_GZIP_LEVEL = 1

_PREFIX = b'{"seats":['
# A seat's JSON up to its status, then the status and the end.
_SEAT_START = (
    '{"id":"%s","section":%s,"row":%s,"number":%s,"label":%s,'
    '"ticket_type":"%s","x":%r,"y":%r,"status":"'
)
_STATUS_ENDS = tuple(f'{status}"}}' for status in SEAT_STATUSES)
_STATUS_INDEX = {status: index for index, status in enumerate(SEAT_STATUSES)}
# A gzip member's header: deflate, no name, no time, unknown system.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(eq=False)
class SeatMap:
    """An event's seat map as ``GET /api/events/{id}/seats/`` answers it.

    ``gzip`` is the whole answer gzipped as pigz writes parallel parts: each
    piece of the seats is a deflate stream of its own ended by a sync flush
    (``pieces``: its digest and where it is), and the rest
    (``],"updated_at":"..."}``) is the last; so a build reuses the pieces
    whose seats did not change. ``ends``, ``statuses`` and ``types`` index
    the seats (where each one's object ends in the plain answer, its status
    and its type) for the filtered answers.
    """

    stamp: float  # time.time() before the database was read
    published: bool  # anyone may see it; otherwise staff only
    etag: str  # a weak ETag of the seats, whatever the time of the map
    gzip: bytes
    pieces: tuple[tuple[bytes, int, int], ...]
    seats_size: int  # the length of ``{"seats":[...``, plain
    ends: array  # array("I")
    statuses: bytes  # indexes in SEAT_STATUSES
    types: array  # array("H"): indexes in type_ids
    type_ids: tuple[str, ...]
    # What this process made of it: the plain answer, the filtered ones.
    answers: dict = field(default_factory=dict, repr=False)

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["answers"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state, answers={})

    def filtered_etag(self, *, status: str | None, ticket_type: str | None) -> str:
        if status is None and ticket_type is None:
            return self.etag
        return f'{self.etag[:-1]}-{status or ""}-{ticket_type or ""}"'

    def body(self, *, gzipped: bool, status: str | None = None, ticket_type: str | None = None):
        """The answer as bytes, gzipped or not, with only the seats that have
        ``status`` and are of ``ticket_type`` (an id) when those are given."""
        if status is None and ticket_type is None:
            return self.gzip if gzipped else self._plain()
        if ticket_type is not None and ticket_type not in self.type_ids:
            ticket_type = ""  # no seat has it (the one key for all such ids)
        key = (status, ticket_type, gzipped)
        answer = self.answers.get(key)
        if answer is None:
            answer = self._filtered(status, ticket_type)
            if gzipped:
                answer = _gzip(answer, FILTERED_GZIP_LEVEL)
            self.answers[key] = answer
        return answer

    def _plain(self) -> bytes:
        plain = self.answers.get("plain")
        if plain is None:
            plain = self.answers["plain"] = zlib.decompress(self.gzip, wbits=31)
        return plain

    def _filtered(self, status: str | None, ticket_type: str | None) -> bytes:
        plain = self._plain()
        want_status = None if status is None else _STATUS_INDEX[status]
        want_type = None
        if ticket_type is not None:
            want_type = self.type_ids.index(ticket_type) if ticket_type else -1
        statuses, types = self.statuses, self.types
        parts = []
        start = len(_PREFIX)
        for i, end in enumerate(self.ends):
            if (want_status is None or statuses[i] == want_status) and (
                want_type is None or types[i] == want_type
            ):
                parts.append(plain[start:end])
            start = end + 1  # past the comma
        return _PREFIX + b",".join(parts) + plain[self.seats_size :]


@dataclass(eq=False)
class _Plan:
    """An event's seats as JSON up to their statuses, in plan order, with
    what the map indexes; kept by the process that builds the event's map."""

    version: dt.datetime  # the event's ``updated_at`` when it was read
    read_at: float
    index: dict[str, int]  # seat id -> place in the plan
    starts: list[str]  # each seat's JSON (ASCII) up to its status
    types: array  # array("H"): indexes in type_ids
    type_ids: tuple[str, ...]


def _plan(rows: list[list], *, version: dt.datetime, read_at: float) -> _Plan:
    """The plan of ``rows`` (``seat_statuses``)."""
    escaped: dict[str, str] = {}  # sections, rows and numbers repeat

    def escape(text: str) -> str:
        json_text = escaped.get(text)
        if json_text is None:
            json_text = escaped[text] = encode_basestring_ascii(text)
        return json_text

    starts = [
        _SEAT_START
        % (
            row[0],
            escape(row[1]),
            escape(row[2]),
            escape(row[3]),
            encode_basestring_ascii(row[4]),
            row[5],
            row[6],
            row[7],
        )
        for row in rows
    ]
    type_index: dict[str, int] = {}
    types = array("H", [type_index.setdefault(row[5], len(type_index)) for row in rows])
    return _Plan(
        version=version,
        read_at=read_at,
        index={row[0]: i for i, row in enumerate(rows)},
        starts=starts,
        types=types,
        type_ids=tuple(type_index),
    )


def _gzip(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _deflate(data: bytes, mode: int) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(mode)


def _encode(
    plan: _Plan, statuses: bytes, *, stamp: float, published: bool, previous: SeatMap | None
) -> SeatMap:
    """The ``SeatMap`` of ``plan`` with ``statuses`` (indexes in
    SEAT_STATUSES, in plan order), read at ``stamp``; ``previous``, a map of
    the same event, lends the compressed pieces that did not change."""
    # All ASCII (encode_basestring_ascii): characters and bytes line up.
    seats = list(map(operator.add, plan.starts, map(_STATUS_ENDS.__getitem__, statuses)))
    reusable = {}
    if previous is not None:
        reusable = {digest: (start, end) for digest, start, end in previous.pieces}
    compressed, pieces = [_GZIP_HEADER], []
    offset, crc, size = len(_GZIP_HEADER), 0, 0
    for first in range(0, max(len(seats), 1), PIECE_SEATS):
        text = ",".join(seats[first : first + PIECE_SEATS]).encode("ascii")
        piece = _PREFIX + text if first == 0 else b"," + text
        digest = hashlib.sha1(piece, usedforsecurity=False).digest()
        if digest in reusable:
            start, end = reusable[digest]
            packed = previous.gzip[start:end]
        else:
            packed = _deflate(piece, zlib.Z_SYNC_FLUSH)
        compressed.append(packed)
        pieces.append((digest, offset, offset + len(packed)))
        offset += len(packed)
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    updated_at = DateTimeField().to_representation(dt.datetime.fromtimestamp(stamp, dt.UTC))
    tail = b'],"updated_at":"' + updated_at.encode("ascii") + b'"}'
    compressed.append(_deflate(tail, zlib.Z_FINISH))
    compressed.append(struct.pack("<II", zlib.crc32(tail, crc), (size + len(tail)) & 0xFFFFFFFF))
    digests = b"".join(digest for digest, _, _ in pieces)
    ends = array("I", accumulate((len(seat) + 1 for seat in seats), initial=len(_PREFIX) - 1))
    del ends[0]
    return SeatMap(
        stamp=stamp,
        published=published,
        etag=f'W/"{hashlib.sha1(digests, usedforsecurity=False).hexdigest()}"',
        gzip=b"".join(compressed),
        pieces=tuple(pieces),
        seats_size=size,
        ends=ends,
        statuses=statuses,
        types=plan.types,
        type_ids=plan.type_ids,
    )


_local: OrderedDict[uuid.UUID, SeatMap] = OrderedDict()  # this process's maps
_plans: OrderedDict[uuid.UUID, _Plan] = OrderedDict()  # the plans it built them from
_remembering = threading.Lock()  # for threaded servers (runserver, gthread)


def _remember(store: OrderedDict, event_id: uuid.UUID, value):
    with _remembering:
        store[event_id] = value
        store.move_to_end(event_id)
        while len(store) > LOCAL_EVENTS:
            store.popitem(last=False)
    return value


def seat_map_build(event_id: uuid.UUID, *, previous: SeatMap | None = None) -> SeatMap | None:
    """The seat map of the event ``event_id`` now, whatever the event's
    status; None if there is no such event. Two queries: which seats are
    taken, then the event (read after them: a plan replaced meanwhile shows
    as a changed event). When this process has no plan of the event as it
    is, every seat with its status instead (``seat_statuses``): two queries
    again, or three when the plan it had turns out to be old."""
    stamp = time.time()  # before the database is read, so the bound holds
    now = dt.datetime.fromtimestamp(stamp, dt.UTC)
    plan = _plans.get(event_id)
    taken = None
    if plan is not None and 0 <= stamp - plan.read_at < PLAN_KEEP_SECONDS:
        taken = seats_taken(event_id=event_id, now=now)
    event = Event.objects.filter(pk=event_id).values_list("status", "updated_at").first()
    if event is None:
        _plans.pop(event_id, None)
        return None
    status, version = event
    statuses = None
    if taken is not None and plan.version == version:
        statuses = bytearray(len(plan.starts))  # all free
        for seat_id, seat_status in taken:
            place = plan.index.get(seat_id)
            if place is None:  # a seat of another plan: read it again
                statuses = None
                break
            statuses[place] = _STATUS_INDEX[seat_status]
    if statuses is None:
        rows = seat_statuses(event_id=event_id, now=now)
        plan = _remember(_plans, event_id, _plan(rows, version=version, read_at=stamp))
        statuses = [_STATUS_INDEX[row[8]] for row in rows]
    return _encode(
        plan,
        bytes(statuses),
        stamp=stamp,
        published=status == EventStatus.PUBLISHED,
        previous=previous,
    )


def _fresh(seat_map: SeatMap | None, clock: float, seconds: float) -> bool:
    return seat_map is not None and 0 <= clock - seat_map.stamp < seconds


def _keys(event_id) -> tuple[str, str, str]:
    """The cache's keys of an event's map, its stamp, and its build."""
    return f"seatmap:{event_id}", f"seatmap:{event_id}:stamp", f"seatmap:{event_id}:build"


def seat_map_get(event_id: uuid.UUID) -> SeatMap | None:
    """The seat map of the event ``event_id`` (whatever its status; None if
    there is no such event), read less than ``MAX_AGE`` seconds ago.

    Served from this process's memory while it is younger than
    ``REFRESH_AFTER``; then the newest one that any process stored, if
    younger; else one process (the one that takes the cache's build lock)
    builds a new one and stores it, while the others keep serving theirs
    until ``MAX_AGE``, then wait for it (and build it themselves if that
    build ends without one). With the cache away, each process builds its own.
    """
    clock = time.time()
    mine = _local.get(event_id)
    if _fresh(mine, clock, REFRESH_AFTER):
        return mine
    return _refresh(event_id, mine, clock)


def _refresh(event_id: uuid.UUID, mine: SeatMap | None, clock: float) -> SeatMap | None:
    map_key, stamp_key, lock_key = _keys(event_id)
    current = _newer_shared(event_id, mine) or mine
    if _fresh(current, clock, REFRESH_AFTER):
        return _remember(_local, event_id, current)
    locked = cache.add(lock_key, 1, BUILD_LOCK_SECONDS)
    if locked is False:  # another process is building it (None: the cache is away)
        if _fresh(current, clock, MAX_AGE):
            return _remember(_local, event_id, current)
        shared = _wait_for_build(event_id, current)
        if shared is not None:
            return _remember(_local, event_id, shared)
    try:
        built = seat_map_build(event_id, previous=current)
        if built is None:
            _local.pop(event_id, None)
            cache.delete_many([map_key, stamp_key])
            return None
        # The map before its stamp, and both before the lock goes: whoever
        # sees the stamp finds the map, and whoever waited finds both.
        cache.set(map_key, built, KEEP_SECONDS)
        cache.set(stamp_key, built.stamp, KEEP_SECONDS)
    finally:
        if locked:
            cache.delete(lock_key)
    return _remember(_local, event_id, built)


def _wait_for_build(event_id: uuid.UUID, than: SeatMap | None) -> SeatMap | None:
    """The map another process is building, once stored; None if its build
    ends (or its lock lapses) without one younger than ``MAX_AGE``."""
    _, stamp_key, lock_key = _keys(event_id)
    for _ in range(WAIT_STEPS):
        time.sleep(WAIT_STEP_SECONDS)
        got = cache.get_many([stamp_key, lock_key])
        stamp = got.get(stamp_key)
        if stamp is not None and (than is None or stamp > than.stamp):
            shared = _newer_shared(event_id, than)
            if _fresh(shared, time.time(), MAX_AGE):
                return shared
        if lock_key not in got:
            return None
    return None


def _newer_shared(event_id: uuid.UUID, than: SeatMap | None) -> SeatMap | None:
    """The map stored in the cache, if it is newer than ``than``."""
    map_key, stamp_key, _ = _keys(event_id)
    stamp = cache.get(stamp_key)
    if stamp is None or (than is not None and stamp <= than.stamp):
        return None
    shared = cache.get(map_key)
    if shared is None or (than is not None and shared.stamp <= than.stamp):
        return None
    return shared


def seat_maps_forget() -> None:
    """Drop the maps and plans this process holds (tests)."""
    _local.clear()
    _plans.clear()
