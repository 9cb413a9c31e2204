"""The ground floor of the booking services: what every other module of the
package uses, importing nothing of the package itself.

- **Taking tickets** (``tickets_take_locked``): event capacity, each ticket
  type's quota and the promo code's uses move together, each by a conditional
  ``UPDATE ... WHERE <room>`` whose row count is checked, in the lock order
  (the event's row, then the types in ascending id order, then the code).
- **Creating a hold** (``NewHold``, ``booking_hold_locked``): the booking
  row, with the per-user limit counted in its ``INSERT``, and its items.
- The statements that run under an event's row lock are plain SQL prepared
  at import, so the lock waits for the database only (see "plain SQL under
  the event's row lock" below).
- **Seats** of a seated event: which are free, the best available ones
  (``seats_pick_best_locked``), and the ``SeatHold`` rows a hold inserts
  with its booking (``NewHold``), all under the event's row lock.
- Small shared helpers: the per-user limit, announcing a change, looking up a
  user's booking, retrying a transaction PostgreSQL aborted.

Giving tickets back is one floor up (``returns.tickets_return_locked``): it
serves the waiting list, which takes tickets with the functions here.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, wraps

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q, Sum

from accounts.models import User
from bookings.models import Booking, BookingItem, BookingStatus, SeatHold
from bookings.pricing import ZERO, totals
from bookings.signals import bookings_changed
from events.models import Event, EventStatus, PromoCode, Seat, TicketType
from nuvio.errors import Invalid, LimitExceeded, NotFound, SeatTaken, SoldOut

logger = logging.getLogger("nuvio.bookings")

MAX_QUANTITY = 100  # tickets of one type in one booking
MAX_ITEMS = 10  # ticket types in one booking
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def retry_on_conflict(func, attempts: int = 3):
    """Run ``func`` again when PostgreSQL aborts it for a deadlock or a
    serialization failure (its transaction was rolled back, so it is safe).
    Inside an outer transaction there is nothing to retry: the error goes up."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except DatabaseError as exc:
                sqlstate = getattr(exc.__cause__, "sqlstate", None)
                if (
                    sqlstate not in _RETRYABLE_SQLSTATES
                    or attempt == attempts
                    or connection.in_atomic_block
                ):
                    raise
                logger.info("retrying %s after %s (attempt %d)", func.__name__, sqlstate, attempt)
        raise AssertionError("unreachable")

    return wrapper


def bookings_announce(event_id, booking_ids, change: str, now: dt.datetime) -> None:
    """Tell the followers of bookings (analytics, notifications) what changed.
    No booking rule depends on it: whatever must happen in the same
    transaction is an explicit call."""
    bookings_changed.send(
        sender=Booking, event_id=event_id, booking_ids=booking_ids, change=change, now=now
    )


# --- errors and lookups --------------------------------------------------------


def no_such_event() -> Invalid:
    return Invalid("No such event.", details={"event": ["No such event."]})


def limit_exceeded(limit: int, already: int) -> LimitExceeded:
    return LimitExceeded(
        f"You may hold at most {limit} tickets for this event; you already have {already}.",
        details={"limit": limit, "already_held": already},
    )


def sold_out(available: int, ticket_type: TicketType | None = None, *, waiting=False) -> SoldOut:
    """``sold_out`` with ``available`` (and the type, when it is the type that
    is short); ``waiting``: people wait on the list for what is free."""
    available = max(available, 0)
    if waiting and available == 0:
        message = "Sold out: returned tickets go to the waiting list."
    elif available == 0:
        message = f"{ticket_type.name} is sold out." if ticket_type else "Sold out."
    else:
        what = f"{ticket_type.name} ticket" if ticket_type else "ticket"
        message = f"Only {available} {what}{'s' if available != 1 else ''} left."
    details = {"available": available}
    if ticket_type is not None:
        details["ticket_type"] = str(ticket_type.pk)
    return SoldOut(message, details=details)


def own_booking(user: User, booking_id, *, staff_ok: bool = False) -> Booking:
    """The user's booking; another user's is "not found" (staff may act on any
    booking only where ``staff_ok``: admin actions, event cancellation)."""
    booking = Booking.objects.select_related("event").filter(pk=booking_id).first()
    if booking is None or (booking.user_id != user.pk and not (staff_ok and user.is_staff)):
        raise NotFound("No such booking.")
    return booking


def live_quantity(*, user: User, event_id, now: dt.datetime) -> int:
    """Tickets a user holds (unexpired) or has confirmed for an event, all types."""
    live = Booking.objects.filter(user=user, event_id=event_id).filter(
        Q(status=BookingStatus.CONFIRMED) | Q(status=BookingStatus.HELD, expires_at__gt=now)
    )
    return live.aggregate(n=Sum("quantity"))["n"] or 0


# --- plain SQL under the event's row lock --------------------------------------
#
# Every reserve of an event waits for its row lock, so the lock must be held
# for the database's work and the round trips only. The ORM spends 0.5-0.8 ms
# of Python building each statement; a hot event's reserves would queue behind
# that. The statements that run under the lock (and the inserts right before
# it) are therefore plain SQL, written once here from the models' metadata,
# and run with a cursor; their parameters are computed before the lock is
# taken. The same text runs on PostgreSQL and on SQLite (which both quote
# names with double quotes; Django turns %s into SQLite's ?). The helpers
# below write model instances (``insert_sql``, ``insert_row``) and read them
# back (``model_from_row``) as the ORM would, with no query compiled.


def _quoted(model) -> str:
    return f'"{model._meta.db_table}"'


def db_value(value):
    """``value`` as a plain cursor must pass it: SQLite stores UUIDs as hex
    text and aware datetimes as naive UTC text (the ORM does this itself)."""
    if isinstance(value, uuid.UUID):
        return value if connection.features.has_native_uuid_field else value.hex
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _execute(cursor, sql: str, params: Sequence) -> int:
    """Run one statement; the number of rows it wrote."""
    cursor.execute(sql, params)
    return cursor.rowcount


@cache
def _insert_fields(model) -> list:
    """The columns an ``INSERT`` of ``model`` writes: all but an
    auto-incremented id (which the database numbers)."""
    return [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]


@cache
def insert_sql(model, *, rows: int = 1, select: bool = False) -> str:
    """``INSERT INTO <table> (<columns>) VALUES (%s, ...), ...`` for ``rows``
    rows of ``model`` (built once per process); with ``select``,
    ``INSERT ... SELECT %s, ...`` for a ``WHERE`` to follow."""
    fields = _insert_fields(model)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    row = ", ".join(["%s"] * len(fields))
    if select:
        return f"INSERT INTO {_quoted(model)} ({columns}) SELECT {row}"
    values = ", ".join([f"({row})"] * rows)
    return f"INSERT INTO {_quoted(model)} ({columns}) VALUES {values}"  # noqa: S608


def insert_row(obj) -> list:
    """The values ``insert_sql`` writes for the model instance ``obj``, as
    the database takes them."""
    return [
        f.get_db_prep_save(getattr(obj, f.attname), connection) for f in _insert_fields(type(obj))
    ]


@cache
def _converters(fields: tuple, vendor: str) -> list:
    """For each field, its column and what the ORM applies to the values this
    kind of database returns for it: nothing on PostgreSQL; on SQLite, UUIDs
    from text, booleans from integers, aware datetimes, decimals from floats."""
    converters = []
    for field in fields:
        column = field.get_col(field.model._meta.db_table)
        found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        converters.append((column, found))
    return converters


def model_from_row(model, fields: tuple, values: Sequence):
    """An instance of ``model`` from a plain cursor's ``values`` of
    ``fields`` (the others are deferred), as the ORM would have loaded it."""
    converted = []
    for value, (column, converters) in zip(
        values, _converters(fields, connection.vendor), strict=True
    ):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


# The conditional UPDATEs that take tickets (``tickets_take_locked``): each
# matches its row only if there is room, and its row count is checked. Table
# names come from model metadata; every value is a parameter.
_TAKE_EVENT_SQL = f"""
UPDATE {_quoted(Event)}
   SET tickets_taken = tickets_taken + %s
 WHERE id = %s AND status = %s AND booking_enabled AND starts_at > %s
   AND tickets_taken + %s <= capacity
"""  # noqa: S608
_TAKE_TYPE_SQL = f"""
UPDATE {_quoted(TicketType)}
   SET tickets_taken = tickets_taken + %s
 WHERE id = %s AND event_id = %s
   AND (sale_starts_at IS NULL OR sale_starts_at <= %s)
   AND (sale_ends_at IS NULL OR sale_ends_at > %s)
   AND (quota IS NULL OR tickets_taken + %s <= quota)
"""  # noqa: S608
# What comes back to a type while people wait for it is theirs.
_TAKE_TYPE_GATED_SQL = _TAKE_TYPE_SQL + "   AND waitlist_waiting = 0\n"
_TAKE_PROMO_SQL = f"""
UPDATE {_quoted(PromoCode)}
   SET uses = uses + %s
 WHERE id = %s AND event_id = %s AND active
   AND (valid_from IS NULL OR valid_from <= %s)
   AND (valid_until IS NULL OR valid_until > %s)
   AND (max_uses IS NULL OR uses + %s <= max_uses)
"""  # noqa: S608

# The hold is inserted only if its user stays within the event's per-user
# limit, counted in the same statement: one round trip under the lock, not
# two. It runs while the transaction holds the event's row lock, so every
# other reserve of the event, by this user or anyone, waits: the sum it reads
# cannot change before the commit. (The new row is not in the sum: a
# statement does not see its own inserts.)
_WITHIN_LIMIT = f"""
 WHERE %s + (SELECT COALESCE(SUM(quantity), 0) FROM {_quoted(Booking)}
              WHERE user_id = %s AND event_id = %s
                AND (status = %s OR (status = %s AND expires_at > %s))) <= %s
"""  # noqa: S608
_INSERT_HOLD_SQL = insert_sql(Booking, select=True) + _WITHIN_LIMIT


# --- taking tickets ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """Tickets of one type in a hold being made, at their price and discount
    (per ticket)."""

    ticket_type: TicketType
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO


class NotEnough(Exception):
    """A conditional ``UPDATE`` of ``tickets_take_locked`` matched no row.
    Counters before it may have moved: the caller's transaction (or savepoint)
    must roll back, which raising this out of ``transaction.atomic()`` does."""

    def __init__(self, what: str, ticket_type: TicketType | None = None):
        super().__init__(what)
        self.what = what
        self.ticket_type = ticket_type


def tickets_take_locked(
    *,
    event: Event,
    lines: Sequence[Line],
    promo: PromoCode | None,
    now: dt.datetime,
    waitlist_gate: bool = True,
) -> None:
    """Take the tickets of ``lines`` for a hold: the event's capacity, each
    type's quota and, with ``promo``, one use of the code per ticket.

    In the lock order: the event's conditional ``UPDATE`` (open for booking,
    ``tickets_taken + n <= capacity``) takes its row lock, and every later
    statement of the transaction runs under it; then each type, in ascending
    id order (on sale, within its quota and, with ``waitlist_gate``, nobody
    waiting for it: what comes back is theirs); then the code (active, valid,
    within ``max_uses``). Raises ``NotEnough`` at the first ``UPDATE`` that
    matches nothing; the caller rolls back. The in-memory counters of
    ``event``, the types and ``promo`` move only when everything was taken.

    The waiting list offers its entries' holds with ``waitlist_gate=False``:
    those tickets are theirs."""
    quantity = sum(line.quantity for line in lines)
    # One UPDATE per type, in id order: the lock order, and each type's own
    # row count tells which type is short. (A single ``UPDATE ... FROM
    # (VALUES ...)`` would save round trips only for several types, and only
    # on PostgreSQL.)
    ordered = sorted(lines, key=lambda line: line.ticket_type.pk)
    # Every parameter is ready before the first UPDATE takes the lock.
    event_id, at = db_value(event.pk), db_value(now)
    take_event = [quantity, event_id, EventStatus.PUBLISHED, at, quantity]
    take_types = [
        [line.quantity, db_value(line.ticket_type.pk), event_id, at, at, line.quantity]
        for line in ordered
    ]
    type_sql = _TAKE_TYPE_GATED_SQL if waitlist_gate else _TAKE_TYPE_SQL
    with connection.cursor() as cursor:
        if not _execute(cursor, _TAKE_EVENT_SQL, take_event):
            raise NotEnough("event")
        for line, params in zip(ordered, take_types, strict=True):
            if not _execute(cursor, type_sql, params):
                raise NotEnough("ticket_type", line.ticket_type)
        if promo is not None:
            params = [quantity, db_value(promo.pk), event_id, at, at, quantity]
            if not _execute(cursor, _TAKE_PROMO_SQL, params):
                raise NotEnough("promo")
    event.tickets_taken += quantity
    for line in ordered:
        line.ticket_type.tickets_taken += line.quantity
    if promo is not None:
        promo.uses += quantity


# --- seats ---------------------------------------------------------------------
#
# A seat is taken by a live ``SeatHold`` (``released_at`` null), and the
# database allows one per seat. Every function here runs under the event's
# row lock, after the event's lapsed holds were released (their seat holds
# with them), so a live hold is a real one: held, sold, or blocked by staff.


@dataclass(frozen=True)
class SeatChoice:
    """A seat going into a hold: its id and label (what the answer shows)."""

    id: uuid.UUID
    label: str


def seat_taken(seat_ids) -> SeatTaken:
    """``seat_taken`` naming the seats that were lost."""
    ids = sorted(str(seat_id) for seat_id in seat_ids)
    noun = "This seat is" if len(ids) == 1 else f"{len(ids)} of the chosen seats are"
    return SeatTaken(f"{noun} no longer free.", details={"seats": ids})


def seats_taken_locked(seat_ids) -> set:
    """The seats among ``seat_ids`` that have a live hold (held, sold,
    blocked), or that are gone (a plan replaced since they were chosen)."""
    ids = list(seat_ids)
    live = SeatHold.objects.filter(seat_id__in=ids, released_at__isnull=True)
    taken = set(live.values_list("seat_id", flat=True))
    return taken | (set(ids) - set(Seat.objects.filter(id__in=ids).values_list("id", flat=True)))


def _lapsed_hold(now: dt.datetime) -> Q:
    """A seat hold whose booking is a hold that ran out."""
    return Q(booking__status=BookingStatus.HELD, booking__expires_at__lte=now)


def seats_lapsed(seat_ids, *, now: dt.datetime) -> set:
    """The seats among ``seat_ids`` whose live hold is a lapsed booking's."""
    live = SeatHold.objects.filter(seat_id__in=list(seat_ids), released_at__isnull=True)
    return set(live.filter(_lapsed_hold(now)).values_list("seat_id", flat=True))


def _free_rows(event: Event, ticket_type: TicketType, *, after: int, limit: int):
    """The free seats among the next ``limit`` seats of ``ticket_type`` after
    position ``after`` in ranking order (the plan's order: sections as
    listed, rows front to back, seats along the row), as ``(id, label,
    row_index, position)``; and the last position read, None when the plan
    ended. Two statements that need no join: the seats by the event's
    position index, then their live holds by the one-live-hold index. (A
    ``NOT EXISTS`` anti-join is one statement, but with statistics that
    still think the holds table nearly empty, as after a fresh deploy or in
    the minute before autovacuum looks, PostgreSQL may scan every live hold
    for every seat: 40 times slower on a 2,000-seat plan, under the lock.)"""
    seats = list(
        Seat.objects.filter(event=event, ticket_type=ticket_type, position__gt=after)
        .order_by("position")
        .values_list("id", "label", "row_index", "position")[:limit]
    )
    live = SeatHold.objects.filter(seat_id__in=[seat[0] for seat in seats], released_at=None)
    taken = set(live.values_list("seat_id", flat=True)) if seats else set()
    last = seats[-1][3] if len(seats) == limit else None
    return [seat for seat in seats if seat[0] not in taken], last


def _first_run(free: Sequence[tuple], quantity: int) -> list[tuple] | None:
    """The first ``quantity`` seats of ``free`` side by side in one row (each
    the next position of the same row), or None."""
    run_start = 0
    for i, seat in enumerate(free):
        if i > run_start:
            before = free[i - 1]
            if seat[2] != before[2] or seat[3] != before[3] + 1:
                run_start = i
        if i - run_start + 1 == quantity:
            return list(free[run_start : i + 1])
    return None


def seats_best(free: Sequence[tuple], quantity: int) -> list[tuple]:
    """The best ``quantity`` seats of ``free`` (``_free_rows``' rows, in
    ranking order): the best-ranked run of adjacent seats in one row, else
    the best-ranked seats wherever they are; fewer when fewer are free."""
    if quantity <= 0:
        return []
    return _first_run(free, quantity) or list(free[:quantity])


# Seats read per step while looking for a run: on a large plan the first run
# is usually near the front, and reading every seat of an arena under the
# event's lock would hold every other buyer of it.
_SEAT_CHUNK = 500


def seats_pick_best_locked(
    *, event: Event, ticket_type: TicketType, quantity: int
) -> list[SeatChoice]:
    """The best available ``quantity`` seats of ``ticket_type``, as
    ``seats_best`` would choose them from every free seat, read in chunks of
    the ranking until a run turns up; ``SoldOut`` naming the type when fewer
    are free."""
    best_ranked: list[tuple] = []
    window: list[tuple] = []
    seen, after = 0, -1
    while after is not None:
        rows, after = _free_rows(event, ticket_type, after=after, limit=_SEAT_CHUNK)
        seen += len(rows)
        best_ranked += rows[: quantity - len(best_ranked)]
        # The last quantity-1 free seats before this chunk may start the run.
        window = window[len(window) - quantity + 1 :] + rows if quantity > 1 else rows
        run = _first_run(window, quantity)
        if run is not None:
            return [SeatChoice(row[0], row[1]) for row in run]
    if seen < quantity:
        raise sold_out(seen, ticket_type)
    return [SeatChoice(row[0], row[1]) for row in best_ranked]


def seats_free_count(
    *, event: Event, ticket_type: TicketType, now: dt.datetime | None = None
) -> int:
    """How many seats of ``ticket_type`` are free (with ``now``, lapsed holds'
    seats counted as free: a read without the lock). The seats less their
    live holds, two counts without an anti-join (``_free_rows`` says why)."""
    live = SeatHold.objects.filter(
        released_at=None, seat__event=event, seat__ticket_type=ticket_type
    )
    if now is not None:
        live = live.exclude(_lapsed_hold(now))
    return Seat.objects.filter(event=event, ticket_type=ticket_type).count() - live.count()


def seats_release_locked(*, booking_ids, now: dt.datetime) -> int:
    """Free the seats of ``booking_ids`` (just cancelled or expired)."""
    return SeatHold.objects.filter(booking_id__in=list(booking_ids), released_at=None).update(
        released_at=now
    )


# --- creating holds ------------------------------------------------------------


def _saved(obj):
    """Mark a model instance built in Python as loaded from the database
    (its row was just inserted with plain SQL)."""
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


class NewHold:
    """A ``held`` booking and its items, built in Python before any lock is
    taken, with the rows they insert ready. Written in two steps:
    ``insert_items`` before the event's row is locked (nothing there needs
    the lock, and the items' foreign key to the booking is only checked at
    COMMIT: Django makes every foreign key ``DEFERRABLE INITIALLY
    DEFERRED``), and ``insert_locked`` under the lock, where the per-user
    limit must be counted. One round trip less while the lock is held."""

    def __init__(
        self,
        *,
        booking_id: uuid.UUID | None = None,
        user: User,
        event: Event,
        lines: Sequence[Line],
        promo: PromoCode | None,
        now: dt.datetime,
        seats: dict | None = None,
    ):
        """``seats`` (a seated event): for each line's ticket type id, the
        ``SeatChoice``\\ s the hold takes, as many as the line's quantity."""
        subtotal, discount, total = totals(
            (line.quantity, line.unit_price, line.discount) for line in lines
        )
        self.booking = booking = Booking(
            id=booking_id or uuid.uuid4(),
            user=user,
            event=event,
            quantity=sum(line.quantity for line in lines),
            unit_price=lines[0].unit_price if len(lines) == 1 else None,
            subtotal=subtotal,
            discount=discount,
            total_price=total,
            promo_code=promo,
            currency=event.currency,
            status=BookingStatus.HELD,
            expires_at=now + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS),
            created_at=now,
        )
        self.items = [
            BookingItem(
                booking=booking,
                ticket_type=line.ticket_type,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line in lines
        ]
        # ``booking.items`` answers from memory, filled the way Django's
        # ``prefetch_related`` fills it (in the order it gives, by id): the
        # API shows the new hold with no query.
        self.items.sort(key=lambda item: item.pk)
        self.seat_holds = []
        for item in self.items:
            chosen = (seats or {}).get(item.ticket_type_id, [])
            if seats is not None and len(chosen) != item.quantity:
                raise ValueError("a seated hold needs one seat per ticket")
            item.seat_choices = list(chosen)  # shown without a query (``seat_summaries``)
            self.seat_holds += [
                SeatHold(seat_id=seat.id, booking=booking, item=item, created_at=now)
                for seat in chosen
            ]
        prefetched = booking.items.all()
        prefetched._result_cache, prefetched._prefetch_done = self.items, True
        booking._prefetched_objects_cache = {"items": prefetched}
        self._items_sql = insert_sql(BookingItem, rows=len(self.items))
        self._items_params = [value for item in self.items for value in insert_row(item)]
        self._seats_sql = insert_sql(SeatHold, rows=len(self.seat_holds)) if seats else None
        self._seats_params = [value for hold in self.seat_holds for value in insert_row(hold)]
        self._hold_params = [
            *insert_row(booking),
            # _WITHIN_LIMIT's: the new tickets, whose, the live ones, the limit
            booking.quantity, db_value(user.pk), db_value(event.pk),
            BookingStatus.CONFIRMED, BookingStatus.HELD, db_value(now),
            event.max_tickets_per_user,
        ]  # fmt: skip
        self._now = now

    def insert_items(self) -> None:
        """The items, in one statement (before the event's lock)."""
        with connection.cursor() as cursor:
            cursor.execute(self._items_sql, self._items_params)

    def insert_locked(self) -> Booking:
        """The booking, if its user stays within the event's per-user limit
        (``LimitExceeded`` otherwise); the caller holds the event's row lock.
        Returns the booking, its items loaded (no query needed to show it)."""
        with connection.cursor() as cursor:
            inserted = _execute(cursor, _INSERT_HOLD_SQL, self._hold_params)
        booking = self.booking
        if not inserted:
            already = live_quantity(user=booking.user, event_id=booking.event_id, now=self._now)
            raise limit_exceeded(booking.event.max_tickets_per_user, already)
        if self._seats_sql:
            # The seats were checked free under the lock; the unique index on
            # live seat holds refuses any seat taken twice regardless.
            with connection.cursor() as cursor:
                cursor.execute(self._seats_sql, self._seats_params)
        for item in self.items:
            _saved(item)
        return _saved(booking)


def booking_hold_locked(
    *, event: Event, user: User, ticket_type: TicketType, quantity: int, now: dt.datetime
) -> Booking | None:
    """Hold ``quantity`` tickets of ``ticket_type`` for ``user`` at its price,
    the caller holding the event's row lock and having checked that booking
    is open and that the tickets are free, in the event and in the type's
    quota (the waiting list hands returned tickets on this way, past its own
    gate). ``None`` (nothing written) when the user would go over the
    per-user limit; ``SoldOut`` if the tickets were not there after all."""
    if live_quantity(user=user, event_id=event.pk, now=now) + quantity > event.max_tickets_per_user:
        return None
    lines = [Line(ticket_type, quantity, ticket_type.price)]
    seats = None
    if event.seated:
        chosen = seats_pick_best_locked(event=event, ticket_type=ticket_type, quantity=quantity)
        seats = {ticket_type.pk: chosen}
    hold = NewHold(user=user, event=event, lines=lines, promo=None, now=now, seats=seats)
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves no counter moved
            hold.insert_items()
            tickets_take_locked(event=event, lines=lines, promo=None, now=now, waitlist_gate=False)
            booking = hold.insert_locked()
    except NotEnough:
        raise sold_out(event.capacity - event.tickets_taken) from None
    bookings_announce(event.pk, [booking.pk], "reserved", now)
    return booking
