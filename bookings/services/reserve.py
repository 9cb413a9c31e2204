"""Reserve and quote: what a body buys, at what price, and taking it.

A reserve runs in two steps:

1. **The plan** (``_plan``, no lock, nothing written): the body checked for
   shape, then against the event as it is: which ticket types, at which
   price and discount, with which promo code. Everything the body alone
   explains is refused here (``invalid``, ``booking_closed``,
   ``promo_invalid`` but ``used_up``). ``booking_quote`` is this step plus
   the counters' verdict.
2. **The take**, all or nothing in one transaction: the idempotency row
   (with a key) and the hold's items, then ``tickets_take_locked`` (the
   event's conditional ``UPDATE`` takes its row lock; then each type's
   quota, then the code's uses) and the hold, inserted only if the per-user
   limit, counted in the same statement under that lock, allows it. These
   statements are plain SQL prepared at import, their values computed
   before the lock (``_core``), so the lock waits for the database only.
   When a conditional ``UPDATE`` matches nothing, the transaction rolls
   back and the **slow path** finds out why: without a lock when an
   unlocked look is enough (closed, or short with no lapsed hold whose
   release could help: a sold-out event refuses its rush without queueing on
   its row lock); otherwise under the lock, releasing the event's lapsed
   holds first (their tickets go to the waiting list first) and trying again.

The prices of the plan are those read before the lock: a price edited while
a reserve is in flight applies or not, as if the edit came just after or
just before it. The counters, sale windows and code validity are checked
again by the conditional ``UPDATE``\\ s, so they are never stale.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from bookings.models import Booking, IdempotencyRecord
from bookings.pricing import line_total, totals
from bookings.services._core import (
    MAX_ITEMS,
    MAX_QUANTITY,
    Line,
    NewHold,
    NotEnough,
    SeatChoice,
    bookings_announce,
    db_value,
    insert_row,
    insert_sql,
    limit_exceeded,
    live_quantity,
    model_from_row,
    no_such_event,
    retry_on_conflict,
    seat_taken,
    seats_free_count,
    seats_lapsed,
    seats_pick_best_locked,
    seats_taken_locked,
    sold_out,
    tickets_take_locked,
)
from bookings.services.expiry import holds_release_lapsed_locked
from events.models import Event, EventStatus, PromoCode, Seat, TicketType
from events.queue import queue_admission_check
from events.selectors import (
    promo_applies,
    promo_code_find,
    promo_discount,
    promo_unlocks,
    ticket_type_available,
    ticket_types_lapsed,
)
from nuvio.errors import BookingClosed, IdempotencyConflict, Invalid, NuvioError, PromoInvalid

PROMO_MESSAGES = {
    "unknown": "There is no such promo code for this event.",
    "inactive": "This promo code is not active.",
    "not_started": "This promo code cannot be used yet.",
    "expired": "This promo code has expired.",
    "used_up": "This promo code has been used up.",
    "not_applicable": "This promo code does not apply to these tickets.",
}


def promo_invalid(reason: str) -> PromoInvalid:
    return PromoInvalid(PROMO_MESSAGES[reason], details={"reason": reason})


@dataclass(frozen=True)
class QuoteItem:
    ticket_type: TicketType
    quantity: int
    unit_price: Decimal
    discount: Decimal  # per ticket
    total: Decimal
    # The seats a ``seats`` body chose (best available ones are chosen when held)
    seat_choices: list[SeatChoice]

    def seat_summaries(self) -> list[dict]:
        """As ``BookingItem.seat_summaries``: ``[{id, label}]``."""
        return [{"id": str(seat.id), "label": seat.label} for seat in self.seat_choices]


@dataclass(frozen=True)
class Quote:
    """What a reserve body would cost now (``booking_quote``)."""

    items: list[QuoteItem]
    subtotal: Decimal
    discount: Decimal
    total_price: Decimal
    currency: str
    promo_code: PromoCode | None


@dataclass
class _Plan:
    event: Event
    lines: list[Line]  # in ascending ticket type id order
    promo: PromoCode | None
    # The seats a ``seats`` body chose, by ticket type id (None: best available)
    seats: dict[uuid.UUID, list[SeatChoice]] | None = None

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


# --- the plan ------------------------------------------------------------------


def _event_uuid(event_id) -> uuid.UUID:
    try:
        return uuid.UUID(str(event_id))
    except ValueError:
        raise Invalid("No such event.", details={"event": ["Must be an event id."]}) from None


def _quantity_error(quantity) -> str | None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        return "Must be a whole number."
    if not 1 <= quantity <= MAX_QUANTITY:
        return f"Must be between 1 and {MAX_QUANTITY}."
    return None


def _requested_seats(seats) -> list[uuid.UUID]:
    """A ``seats`` body: 1 to MAX_QUANTITY distinct seat ids."""
    if not isinstance(seats, list | tuple) or not seats:
        raise Invalid("Choose at least one seat.", details={"seats": ["Must not be empty."]})
    if len(seats) > MAX_QUANTITY:
        message = f"At most {MAX_QUANTITY} seats per booking."
        raise Invalid(message, details={"seats": [message]})
    ids, errors = [], []
    for seat in seats:
        try:
            seat_id = uuid.UUID(str(seat))
        except ValueError:
            errors.append(f"{seat!r} is not a seat id.")
            continue
        if seat_id in ids:
            errors.append(f"{seat_id} is listed twice: give each seat once.")
        ids.append(seat_id)
    if errors:
        raise Invalid("Some seats are not valid.", details={"seats": errors})
    return ids


def _requested(items, quantity, seats=None) -> list[tuple[uuid.UUID, int]] | int | list:
    """The body's shape: ``quantity`` (the event's only type), 1 to
    MAX_ITEMS items of distinct types, each with a quantity in range, or
    (``seats``) distinct seat ids, returned as ``("seats", ids)``."""
    if seats is not None:
        if items is not None or quantity is not None:
            message = "Give either seats, items or quantity."
            raise Invalid(message, details={"seats": [message]})
        return ("seats", _requested_seats(seats))
    if items is None:
        if quantity is None:
            raise Invalid(
                "Say how many tickets, or which ticket types.",
                details={"quantity": ["This field is required."]},
            )
        error = _quantity_error(quantity)
        if error:
            raise Invalid(f"Quantity: {error.lower()}", details={"quantity": [error]})
        return quantity
    if quantity is not None:
        raise Invalid(
            "Give either quantity or items, not both.",
            details={"items": ["Give either quantity or items, not both."]},
        )
    if not isinstance(items, list | tuple) or not items:
        raise Invalid("Choose at least one ticket type.", details={"items": ["Must not be empty."]})
    if len(items) > MAX_ITEMS:
        raise Invalid(
            f"At most {MAX_ITEMS} ticket types per booking.",
            details={"items": [f"At most {MAX_ITEMS} ticket types per booking."]},
        )
    wanted, errors, seen = [], [], set()
    for item in items:
        error = {}
        item = item if isinstance(item, dict) else {}
        try:
            type_id = uuid.UUID(str(item.get("ticket_type")))
        except ValueError:
            type_id = None
            error["ticket_type"] = ["Must be a ticket type id."]
        else:
            if type_id in seen:
                error["ticket_type"] = ["Listed twice: give each ticket type once."]
            seen.add(type_id)
        quantity_error = _quantity_error(item.get("quantity"))
        if quantity_error:
            error["quantity"] = [quantity_error]
        errors.append(error)
        wanted.append((type_id, item.get("quantity")))
    if any(errors):
        raise Invalid("Some items are not valid.", details={"items": errors})
    return wanted


def _sale_closed(ticket_type: TicketType, promo: PromoCode | None, now) -> BookingClosed | None:
    """Why ``ticket_type`` cannot be sold now by its own rules (hidden
    without the code that unlocks it, outside its sale window), or None."""
    if ticket_type.hidden and not promo_unlocks(promo, ticket_type):
        message = f"{ticket_type.name} is sold only with its promo code."
        reason = "hidden"
    else:
        message = ticket_type.sale_closed_reason(now)
        if message is None:
            return None
        not_yet = ticket_type.sale_starts_at and now < ticket_type.sale_starts_at
        reason = "not_started" if not_yet else "ended"
    return BookingClosed(message, details={"reason": reason, "ticket_type": str(ticket_type.pk)})


def _only_type(event: Event, types: list[TicketType], now) -> TicketType:
    """The type a ``{event, quantity}`` body buys: the event's only public
    type, or its only public type on sale (in its window, tickets left)."""
    public = [t for t in types if not t.hidden]
    if len(public) == 1:
        return public[0]
    if not public:
        raise BookingClosed("No tickets are on sale for this event.")
    in_window = [t for t in public if t.sale_closed_reason(now) is None]
    if len(in_window) == 1:
        return in_window[0]
    if not in_window:
        raise BookingClosed("No ticket type of this event is on sale now.")
    event_free = event.capacity - event.tickets_taken
    with_room = [t for t in in_window if ticket_type_available(t, event_free=event_free) > 0]
    if len(with_room) == 1:
        return with_room[0]
    raise Invalid(
        "This event sells several ticket types: choose them.",
        details={"items": ["Choose the ticket types and how many of each."]},
    )


def _promo_usable(promo: PromoCode | None, now) -> None:
    """Refuse a code by its own state (not by its uses: releasing lapsed
    holds may give those back)."""
    if promo is None:
        return
    reason = promo.closed_reason(now)
    if reason is not None and reason != "used_up":
        raise promo_invalid(reason)


# The plan's read: the event and its ticket types in one plain SELECT, the
# rows loaded into models as the ORM would (``model_from_row``). Through the
# ORM (``select_related``) the same read spent 0.7 ms of Python compiling its
# SQL on every reserve, over a third of the reserve's CPU (the bench's hot
# reserve went from 0.47x the baseline to 0.53x with this read). The event's
# search vector is left out: large, and no booking needs it.
_EVENT_FIELDS = tuple(f for f in Event._meta.concrete_fields if f.name != "search_vector")
_TYPE_FIELDS = tuple(TicketType._meta.concrete_fields)
_EVENT_AND_TYPES_SQL = f"""
SELECT {", ".join(f'e."{f.column}"' for f in _EVENT_FIELDS)},
       {", ".join(f't."{f.column}"' for f in _TYPE_FIELDS)}
  FROM "{Event._meta.db_table}" e
  LEFT JOIN "{TicketType._meta.db_table}" t ON t.event_id = e.id
 WHERE e.id = %s
 ORDER BY t.position, t.price, t.name, t.id
"""  # noqa: S608 (names come from model metadata, the id is a parameter)


def _event_and_types(event_id: uuid.UUID) -> tuple[Event | None, list[TicketType]]:
    """The event (None if there is none) and its ticket types, each with
    ``event`` set, in the types' usual order."""
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_AND_TYPES_SQL, [db_value(event_id)])
        rows = cursor.fetchall()
    if not rows:
        return None, []
    split = len(_EVENT_FIELDS)
    event = model_from_row(Event, _EVENT_FIELDS, rows[0][:split])
    types = []
    for row in rows:
        if row[split] is not None:  # the LEFT JOIN's row of an event without types
            ticket_type = model_from_row(TicketType, _TYPE_FIELDS, row[split:])
            ticket_type.event = event
            types.append(ticket_type)
    return event, types


def _seats_chosen(event: Event, seat_ids: list[uuid.UUID], types: list[TicketType]):
    """A ``seats`` body's seats as ``[(ticket type, [SeatChoice])]`` in the
    types' order; ``Invalid`` for a seat that is not one of this event's."""
    if not event.seated:
        message = "This event has no seating plan: ask for a quantity or items."
        raise Invalid(message, details={"seats": [message]})
    found = {
        seat_id: (type_id, label)
        for seat_id, type_id, label in Seat.objects.filter(event=event, id__in=seat_ids)
        .order_by("position")
        .values_list("id", "ticket_type_id", "label")
    }
    unknown = [str(seat_id) for seat_id in seat_ids if seat_id not in found]
    if unknown:
        raise Invalid(
            "Some seats are not seats of this event.",
            details={"seats": [f"{seat_id} is not a seat of this event." for seat_id in unknown]},
        )
    by_type: dict = {}
    for seat_id, (type_id, label) in found.items():
        by_type.setdefault(type_id, []).append(SeatChoice(seat_id, label))
    return [(t, by_type[t.pk]) for t in types if t.pk in by_type]


def _plan(
    *, user: User, event_id: uuid.UUID, items, quantity, promo_code, now, seats=None
) -> _Plan:
    """What the body buys (see the module docstring); raises what the body
    and the event's state explain. Reads, no lock."""
    wanted = _requested(items, quantity, seats)
    event, types = _event_and_types(event_id)
    if event is None or (event.status == EventStatus.DRAFT and not user.is_staff):
        raise no_such_event()
    reason = event.booking_closed_reason(now)
    if reason:
        raise BookingClosed(reason)
    # A sale through a waiting room needs a live admission (one Redis round
    # trip; nothing for other events).
    queue_admission_check(event=event, user=user, now=now)
    promo = None
    if promo_code not in (None, ""):
        promo = promo_code_find(event=event, code=str(promo_code))
        if promo is None:
            raise promo_invalid("unknown")
        _promo_usable(promo, now)

    chosen_seats = None
    if isinstance(wanted, tuple):  # ("seats", ids)
        chosen_seats = {}
        chosen = []
        for ticket_type, seat_choices in _seats_chosen(event, wanted[1], types):
            chosen.append((ticket_type, len(seat_choices)))
            chosen_seats[ticket_type.pk] = seat_choices
        for ticket_type, count in chosen:
            if ticket_type.max_per_booking and count > ticket_type.max_per_booking:
                limit = ticket_type.max_per_booking
                raise Invalid(
                    f"At most {limit} {ticket_type.name} seats per booking.",
                    details={"seats": [f"At most {limit} {ticket_type.name} seats."]},
                )
    elif isinstance(wanted, int):
        ticket_type = _only_type(event, types, now)
        if ticket_type.max_per_booking and wanted > ticket_type.max_per_booking:
            limit = ticket_type.max_per_booking
            raise Invalid(
                f"At most {limit} {ticket_type.name} tickets per booking.",
                details={"quantity": [f"Must be at most {limit}."]},
            )
        chosen = [(ticket_type, wanted)]
    else:
        by_id = {t.pk: t for t in types}
        chosen, errors = [], []
        for type_id, count in wanted:
            ticket_type = by_id.get(type_id)
            if ticket_type is None:
                errors.append({"ticket_type": ["Not a ticket type of this event."]})
            elif ticket_type.max_per_booking and count > ticket_type.max_per_booking:
                limit = ticket_type.max_per_booking
                errors.append({"quantity": [f"At most {limit} per booking."]})
            else:
                errors.append({})
                chosen.append((ticket_type, count))
        if any(errors):
            raise Invalid("Some items are not valid.", details={"items": errors})

    for ticket_type, _ in chosen:
        refusal = _sale_closed(ticket_type, promo, now)
        if refusal:
            raise refusal
    if promo is not None and not any(promo_applies(promo, t) for t, _ in chosen):
        raise promo_invalid("not_applicable")
    lines = [
        Line(ticket_type, count, ticket_type.price, promo_discount(promo, ticket_type))
        for ticket_type, count in sorted(chosen, key=lambda pair: pair[0].pk)
    ]
    return _Plan(event=event, lines=lines, promo=promo, seats=chosen_seats)


def _shortage(
    plan: _Plan,
    *,
    event: Event,
    types: dict,
    promo: PromoCode | None,
    lapsed: dict | None = None,
    promo_lapsed: int = 0,
) -> NuvioError | None:
    """The refusal the counters explain, or None when there is room: a type
    short of quota or with people waiting for it (``sold_out`` with the
    type), the event short of capacity (``sold_out``), the code short of
    uses (``promo_invalid`` ``used_up``). ``lapsed`` (per type) and
    ``promo_lapsed``: what lapsed holds would give back, counted as free."""
    lapsed = lapsed or {}
    event_free = event.capacity - event.tickets_taken + sum(lapsed.values())
    for line in plan.lines:
        ticket_type = types[line.ticket_type.pk]
        type_lapsed = lapsed.get(ticket_type.pk, 0)
        quota_short = (
            ticket_type.quota is not None
            and ticket_type.quota - ticket_type.tickets_taken + type_lapsed < line.quantity
        )
        if ticket_type.waitlist_waiting or quota_short:
            available = ticket_type_available(
                ticket_type, event_free=event_free, lapsed=type_lapsed
            )
            return sold_out(available, ticket_type, waiting=bool(ticket_type.waitlist_waiting))
    if event_free < plan.quantity:
        return sold_out(event_free)
    uses_left = None if promo is None or promo.max_uses is None else promo.max_uses - promo.uses
    if uses_left is not None and uses_left + promo_lapsed < plan.quantity:
        return promo_invalid("used_up")
    return None


def _counters(plan: _Plan) -> tuple[dict, PromoCode | None]:
    """The planned types and code as they are now (their counters and rules)."""
    types = TicketType.objects.in_bulk([line.ticket_type.pk for line in plan.lines])
    promo = PromoCode.objects.get(pk=plan.promo.pk) if plan.promo is not None else None
    return types, promo


def _still_sellable(plan: _Plan, types: dict, promo: PromoCode | None, now) -> None:
    """Refuse what changed since the plan: a sale window or a code's state."""
    for line in plan.lines:
        refusal = _sale_closed(types[line.ticket_type.pk], plan.promo, now)
        if refusal:
            raise refusal
    _promo_usable(promo, now)


# --- the take ------------------------------------------------------------------


_INSERT_KEY_SQL = insert_sql(IdempotencyRecord)


def _key_record(*, user: User, key: str | None, request_hash: str, booking_id, now) -> None:
    """This user's ``key`` names the hold ``booking_id``: first in the
    transaction, so a retry whose hold exists already collides here (unique
    per user and key) whatever the counters say now. Plain SQL like the
    statements after it: the ORM's ``create`` costs more Python than the
    database spends on the row."""
    if key is not None:
        record = IdempotencyRecord(
            user=user,
            key=key,
            scope="reserve",
            request_hash=request_hash,
            resource_id=booking_id,
            created_at=now,
        )
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_KEY_SQL, insert_row(record))


def _seats_locked(plan: _Plan, *, event: Event, types: dict) -> dict | None:
    """The seats the hold takes, by ticket type id, under the event's lock
    (its lapsed holds released): a ``seats`` body's, if all still free
    (``seat_taken`` naming the others), else the best available of each
    type (``sold_out`` naming a type with too few free seats). None for an
    event without a plan."""
    if not event.seated:
        return None
    if plan.seats is not None:
        taken = seats_taken_locked([seat.id for seats in plan.seats.values() for seat in seats])
        if taken:
            raise seat_taken(taken)
        return plan.seats
    return {
        line.ticket_type.pk: seats_pick_best_locked(
            event=event, ticket_type=types[line.ticket_type.pk], quantity=line.quantity
        )
        for line in plan.lines
    }


def _take(plan: _Plan, *, event: Event, promo, user: User, booking_id, now, seats=None) -> Booking:
    """Inside the caller's transaction: the hold is built in Python and its
    items inserted, then the tickets are taken (the event's row lock, from
    the first ``UPDATE`` to COMMIT; the slow path holds it already) and the
    hold is inserted within the per-user limit. Under the lock: one
    statement per counter and one for the hold, no Python work but sending
    them."""
    hold = NewHold(
        booking_id=booking_id, user=user, event=event, lines=plan.lines, promo=promo, now=now,
        seats=seats,
    )  # fmt: skip
    hold.insert_items()
    tickets_take_locked(event=event, lines=plan.lines, promo=promo, now=now)
    booking = hold.insert_locked()
    bookings_announce(event.pk, [booking.pk], "reserved", now)
    return booking


def _reserve_planned(plan: _Plan, *, user: User, now, key, request_hash) -> Booking:
    booking_id = uuid.uuid4()
    if plan.event.seated:  # seats are chosen under the lock: straight to it
        return _reserve_slow(
            plan, user=user, now=now, key=key, request_hash=request_hash, booking_id=booking_id
        )
    try:
        with transaction.atomic():
            _key_record(
                user=user, key=key, request_hash=request_hash, booking_id=booking_id, now=now
            )
            return _take(
                plan, event=plan.event, promo=plan.promo, user=user, booking_id=booking_id,
                now=now,
            )  # fmt: skip
    except NotEnough:
        pass  # rolled back: find out why, or make room
    return _reserve_slow(
        plan, user=user, now=now, key=key, request_hash=request_hash, booking_id=booking_id
    )


def _reserve_slow(plan: _Plan, *, user: User, now, key, request_hash, booking_id) -> Booking:
    """Why the take failed: closed, or short of tickets or uses. The answers
    an unlocked look is enough for are given without a lock; otherwise the
    event's lapsed holds are released under its lock (their tickets go to
    the waiting list first) and the take is tried again."""
    event = Event.objects.filter(pk=plan.event.pk).first()
    if event is None:
        raise no_such_event()
    reason = event.booking_closed_reason(now)
    if reason:
        raise BookingClosed(reason)
    types, promo = _counters(plan)
    _still_sellable(plan, types, promo, now)
    refusal = _shortage(plan, event=event, types=types, promo=promo)
    if refusal and not Booking.objects.lapsed_holds(now).filter(event_id=event.pk).exists():
        raise refusal

    with transaction.atomic():
        _key_record(user=user, key=key, request_hash=request_hash, booking_id=booking_id, now=now)
        event = Event.objects.select_for_update().get(pk=event.pk)
        reason = event.booking_closed_reason(now)
        if reason:
            raise BookingClosed(reason)
        types, promo = _counters(plan)
        _still_sellable(plan, types, promo, now)
        # A seated event's lapsed holds go first whatever the counters say:
        # their seats may be the ones this body chose, or the best ones.
        if event.seated or _shortage(plan, event=event, types=types, promo=promo):
            if holds_release_lapsed_locked(event=event, now=now):
                types, promo = _counters(plan)
            refusal = _shortage(plan, event=event, types=types, promo=promo)
            if refusal:
                raise refusal
        seats = _seats_locked(plan, event=event, types=types)
        try:
            return _take(
                plan, event=event, promo=promo, user=user, booking_id=booking_id, now=now,
                seats=seats,
            )  # fmt: skip
        except NotEnough:  # cannot happen under the lock; never oversell regardless
            raise sold_out(0) from None


def _replayed(record: IdempotencyRecord, *, request_hash: str, now) -> Booking | None:
    """The hold ``record``'s key made already (``IdempotencyConflict`` if
    another request made it); None when the key had expired: its record is
    deleted and the key may be used afresh."""
    if record.created_at <= now - dt.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS):
        record.delete()
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.",
            details={"key": record.key},
        )
    return Booking.objects.select_related("event").get(pk=record.resource_id)


@retry_on_conflict
def booking_reserve(
    *,
    user: User,
    event_id,
    items: list[dict] | None = None,
    quantity: int | None = None,
    promo_code: str | None = None,
    seats: list | None = None,
    now=None,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> tuple[Booking, bool]:
    """Hold tickets of an event for ``user`` for NUVIO_HOLD_SECONDS; returns
    ``(booking, created)``.

    The body is ``quantity`` (the event's only public type on sale) or
    ``items``, ``[{"ticket_type": id, "quantity": n}]`` (1 to 10 distinct
    types), with an optional ``promo_code``; on a seated event also
    ``seats`` (seat ids: those seats, each of its own type), while
    ``quantity`` and ``items`` take the best available seats of each type.
    Capacity, the types' quotas, the code's uses, the seats and the per-user
    limit are checked and taken in one transaction, all or nothing (see the
    module docstring). Raises ``SeatTaken`` (details ``seats``: those no
    longer free), or
    ``Invalid`` (the body; no such event, a draft counting as none),
    ``BookingClosed`` (the event closed; a type hidden or outside its sale
    window: details ``reason``, ``ticket_type``), ``PromoInvalid`` (details
    ``reason``), ``SoldOut`` (details ``available``, and ``ticket_type`` when
    a type is short) or ``LimitExceeded`` (details ``limit``,
    ``already_held``) or, on an event sold through its waiting room,
    ``QueueRequired`` (no live admission: details ``queue``) and
    ``Unavailable`` (the room cannot be reached). Nothing is written when it
    raises.

    With ``idempotency_key`` the key is recorded with the new hold in the
    same transaction. If this user's key made a hold already, nothing is
    written and that hold comes back with ``created`` False
    (``IdempotencyConflict`` if a different request made it); a key past
    its retention is used afresh."""
    now = now or timezone.now()
    event_id = _event_uuid(event_id)
    plan = _plan(
        user=user, event_id=event_id, items=items, quantity=quantity, promo_code=promo_code,
        now=now, seats=seats,
    )  # fmt: skip
    for attempt in (1, 2):
        try:
            booking = _reserve_planned(
                plan, user=user, now=now, key=idempotency_key, request_hash=request_hash
            )
        except IntegrityError:
            record = idempotency_key and (
                IdempotencyRecord.objects.filter(user=user, key=idempotency_key).first()
            )
            if not record:
                raise  # not this key's: a bug to see
            replay = _replayed(record, request_hash=request_hash, now=now)
            if replay is not None:
                return replay, False
            if attempt == 2:
                raise
            continue  # the key had expired: once more, afresh
        return booking, True
    raise AssertionError("unreachable")


def _seats_quoted(plan: _Plan, *, event: Event, now) -> None:
    """The seats' verdict for a quote, without a lock, a lapsed hold's seat
    counting as free: ``seat_taken`` for a chosen seat that is not, or
    ``sold_out`` for a type with too few free seats."""
    if plan.seats is not None:
        wanted = [seat.id for seats in plan.seats.values() for seat in seats]
        taken = seats_taken_locked(wanted) - seats_lapsed(wanted, now=now)
        if taken:
            raise seat_taken(taken)
        return
    for line in plan.lines:
        free = seats_free_count(event=event, ticket_type=line.ticket_type, now=now)
        if free < line.quantity:
            raise sold_out(free, line.ticket_type)


def booking_quote(
    *,
    user: User,
    event_id,
    items: list[dict] | None = None,
    quantity: int | None = None,
    promo_code: str | None = None,
    seats: list | None = None,
    now=None,
) -> Quote:
    """What ``booking_reserve`` with this body would hold now, and at what
    price; takes nothing. The same validation and the same errors
    (``Invalid``, ``BookingClosed``, ``PromoInvalid``, ``SoldOut``,
    ``LimitExceeded``, ``QueueRequired``), the counters read without a lock
    and the tickets of lapsed holds counted as free (the reserve would
    release them)."""
    now = now or timezone.now()
    event_id = _event_uuid(event_id)
    plan = _plan(
        user=user, event_id=event_id, items=items, quantity=quantity, promo_code=promo_code,
        now=now, seats=seats,
    )  # fmt: skip
    event = plan.event
    types = {line.ticket_type.pk: line.ticket_type for line in plan.lines}
    promo_lapsed = 0
    if plan.promo is not None and plan.promo.max_uses is not None:
        promo_lapsed = (
            Booking.objects.lapsed_holds(now)
            .filter(event=event, promo_code=plan.promo)
            .aggregate(n=Sum("quantity"))["n"]
            or 0
        )
    refusal = _shortage(
        plan,
        event=event,
        types=types,
        promo=plan.promo,
        lapsed=ticket_types_lapsed(event_id=event.pk, now=now),
        promo_lapsed=promo_lapsed,
    )
    if refusal:
        raise refusal
    if event.seated:
        _seats_quoted(plan, event=event, now=now)
    already = live_quantity(user=user, event_id=event.pk, now=now)
    if already + plan.quantity > event.max_tickets_per_user:
        raise limit_exceeded(event.max_tickets_per_user, already)
    subtotal, discount, total = totals(
        (line.quantity, line.unit_price, line.discount) for line in plan.lines
    )
    return Quote(
        items=[
            QuoteItem(
                ticket_type=line.ticket_type,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                total=line_total(line.quantity, line.unit_price, line.discount),
                seat_choices=(plan.seats or {}).get(line.ticket_type.pk, []),
            )
            for line in plan.lines
        ],
        subtotal=subtotal,
        discount=discount,
        total_price=total,
        currency=event.currency,
        promo_code=plan.promo,
    )
