"""Every state change of a booking: reserve, pay, cancel, expire, refund.

Guarantees (each is tested on PostgreSQL with concurrent threads and
processes):

- **Never oversold.** Capacity moves only through ``Event.tickets_taken``, by a
  conditional ``UPDATE ... WHERE tickets_taken + n <= capacity`` that takes the
  event's row lock; the database also ``CHECK``s it.
- **Short locks.** On PostgreSQL a reserve is one call of the server-side
  function ``nuvio_reserve`` (``bookings.db_functions``), so the event's lock is held
  only while the server works, never across a network round trip.
- **Lock order.** Whatever locks more than one row locks the event first, then
  its bookings, so two operations never wait on each other in a circle.
- **Expiry needs no worker.** A hold past ``expires_at`` is shown as expired
  and its tickets count as available at once (``Booking.effective_status``,
  ``EventQuerySet.with_available``); it is *released* (status and counter) by
  the beat task, or by the next reserve that needs its tickets, each exactly
  once because only a row still ``held`` can be released.
- **No gateway call under a lock**, and money is never kept without a booking.
- **The waiting list first.** Tickets that come back (``_give_back``) are
  handed to the event's waiting list in the same transaction, under the event
  lock (``bookings.waitlist``, a ``tickets_released`` receiver). While anyone
  is still waiting (``Event.waitlist_waiting > 0``) no new buyer gets a ticket:
  the fast path's ``UPDATE`` requires the counter to be 0, and the slow path
  answers ``sold_out`` with ``available`` 0 (what is free is kept for the
  people waiting).
"""

import contextlib
import datetime as dt
import logging
import uuid
from decimal import ROUND_HALF_UP, Decimal
from functools import wraps

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from accounts.models import User
from bookings.gateway import GatewayError, get_gateway
from bookings.idempotency import AlreadyReserved
from bookings.models import (
    ACTIVE_WAITLIST_STATUSES,
    Booking,
    BookingStatus,
    IdempotencyRecord,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Ticket,
    WaitlistEntry,
)
from bookings.signals import bookings_changed, tickets_released
from events.cache import catalog_changed
from events.models import Event, EventStatus
from nuvio.env import parse_refund_tiers
from nuvio.errors import (
    BookingClosed,
    HoldExpired,
    IdempotencyConflict,
    Invalid,
    InvalidState,
    LimitExceeded,
    NotFound,
    SoldOut,
)

logger = logging.getLogger("nuvio.bookings")
CENT = Decimal("0.01")
MAX_QUANTITY = 100
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


def _db(value):
    """A Python value as raw SQL wants it on this database (UUIDs and aware
    datetimes are stored differently by SQLite and PostgreSQL)."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if hasattr(value, "hex") and not isinstance(value, (str, bytes)):
        return Booking._meta.pk.get_db_prep_value(value, connection)
    return value


def _announce(event_id, booking_ids, change: str, now: dt.datetime) -> None:
    bookings_changed.send(
        sender=Booking, event_id=event_id, booking_ids=booking_ids, change=change, now=now
    )


def _give_back(event: Event, quantity: int, now: dt.datetime) -> None:
    """Return tickets to a locked event and tell whoever hands them on."""
    event.tickets_taken -= quantity
    Event.objects.filter(pk=event.pk).update(tickets_taken=event.tickets_taken)
    tickets_released.send(sender=Event, event=event, quantity=quantity, now=now)


# --- reserve -----------------------------------------------------------------

_TAKE_SQL = f"""
UPDATE {Event._meta.db_table}
   SET tickets_taken = tickets_taken + %s
 WHERE id = %s AND status = %s AND booking_enabled AND starts_at > %s
   AND tickets_taken + %s <= capacity AND waitlist_waiting = 0
RETURNING id, name, starts_at, venue_name, city, price, currency, max_tickets_per_user
"""  # noqa: S608 (table names come from model metadata, values are parameters)

# Inserts the hold only if the user stays within the event's limit. It runs
# while this transaction holds the event's row lock (taken by _TAKE_SQL), so
# every other reserve for the event, by this user or anyone, waits: the sum it
# reads cannot change under it.
_INSERT_HOLD_SQL = f"""
INSERT INTO {Booking._meta.db_table}
       (id, user_id, event_id, quantity, unit_price, total_price, currency, status,
        expires_at, created_at)
SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
 WHERE %s + (SELECT COALESCE(SUM(quantity), 0) FROM {Booking._meta.db_table}
              WHERE user_id = %s AND event_id = %s
                AND (status = %s OR (status = %s AND expires_at > %s))) <= %s
"""  # noqa: S608 (table names come from model metadata, values are parameters)


def _take_capacity(event_id, quantity: int, now: dt.datetime) -> Event | None:
    """Move the counter if the event is open and has room; the row comes back
    with what a hold needs, locked for the rest of the transaction."""
    params = [quantity, _db(event_id), EventStatus.PUBLISHED, _db(now), quantity]
    rows = list(Event.objects.raw(_TAKE_SQL, params))
    return rows[0] if rows else None


def _new_hold(*, booking_id, user: User, event: Event, quantity: int, now: dt.datetime) -> Booking:
    return Booking(
        id=booking_id,
        user=user,
        event=event,
        quantity=quantity,
        unit_price=event.price,
        total_price=event.price * quantity,
        currency=event.currency,
        status=BookingStatus.HELD,
        expires_at=now + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS),
        created_at=now,
    )


def _saved(booking: Booking) -> Booking:
    booking._state.adding = False
    booking._state.db = connection.alias
    return booking


def _insert_hold(
    *, booking_id, user: User, event: Event, quantity: int, now: dt.datetime
) -> Booking | None:
    booking = _new_hold(booking_id=booking_id, user=user, event=event, quantity=quantity, now=now)
    params = [
        _db(booking.id), _db(user.pk), _db(event.pk), quantity, booking.unit_price,
        booking.total_price, booking.currency, booking.status, _db(booking.expires_at),
        _db(now),
        quantity, _db(user.pk), _db(event.pk), BookingStatus.CONFIRMED, BookingStatus.HELD,
        _db(now), event.max_tickets_per_user,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_HOLD_SQL, params)
        if cursor.rowcount != 1:
            return None
    return _saved(booking)


# PostgreSQL runs the fast path as one function (bookings.db_functions):
# the event's row lock is held only while the server runs it, never across a
# round trip; a refusal comes back in the same call, with the event unlocked.
_RESERVE_CALL = "SELECT * FROM nuvio_reserve(%s, %s, %s, %s, %s, %s, %s, %s)"
_RESERVE_RETURNS = ["held", "name", "starts_at", "venue_name", "city", "price", "currency",
                    "max_tickets_per_user", "status", "booking_enabled", "capacity",
                    "tickets_taken", "waitlist_waiting", "lapsed", "key_used"]  # fmt: skip
# Model.from_db wants the loaded fields in the model's order.
_RESERVE_EVENT_FIELDS = [
    f.attname for f in Event._meta.concrete_fields if f.attname in {"id", *_RESERVE_RETURNS}
]
_LIMIT_SQLSTATE = "NV001"


def _reserve_in_one_call(
    *, booking_id, user: User, event_id, quantity: int, now: dt.datetime, key, request_hash
) -> Booking | None:
    """The reserve on PostgreSQL in one round trip: take the tickets, check
    the per-user limit under the event lock, insert the hold and the
    idempotency row, commit. Raises ``LimitExceeded``, ``IntegrityError``
    when this user's key made a hold already, and the refusals the event's
    state explains (``Invalid``, ``BookingClosed``, ``SoldOut``). ``None``
    (nothing written) when only the slow path can tell: lapsed holds to
    release, this key's hold to replay, or room that appeared meanwhile."""
    expires_at = now + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS)
    params = [booking_id, user.pk, event_id, quantity, now, expires_at, key, request_hash]
    # In autocommit the call is its own transaction; inside a caller's
    # transaction a savepoint keeps a refusal from aborting it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            cursor.execute(_RESERVE_CALL, params)
            row = cursor.fetchone()
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != _LIMIT_SQLSTATE:
            raise
        diag = exc.__cause__.diag
        raise _limit_exceeded(int(diag.message_hint), int(diag.message_detail)) from None
    if row is None:
        raise _no_such_event()
    loaded = dict(zip(_RESERVE_RETURNS, row, strict=True), id=event_id)
    event = Event.from_db(
        connection.alias, _RESERVE_EVENT_FIELDS, [loaded[f] for f in _RESERVE_EVENT_FIELDS]
    )
    if loaded["held"]:
        return _saved(
            _new_hold(booking_id=booking_id, user=user, event=event, quantity=quantity, now=now)
        )
    if not loaded["key_used"]:
        _refuse_without_lock(event, quantity=quantity, now=now, user=user,
                             has_lapsed=lambda: loaded["lapsed"])  # fmt: skip
    return None


def _limit_exceeded(limit: int, already: int) -> LimitExceeded:
    return LimitExceeded(
        f"You may hold at most {limit} tickets for this event; you already have {already}.",
        details={"limit": limit, "already_held": already},
    )


def _live_quantity(*, user: User, event_id, now: dt.datetime) -> int:
    """Tickets a user holds (unexpired) or has confirmed for an event."""
    live = Booking.objects.filter(user=user, event_id=event_id).filter(
        Q(status=BookingStatus.CONFIRMED) | Q(status=BookingStatus.HELD, expires_at__gt=now)
    )
    return live.aggregate(n=Sum("quantity"))["n"] or 0


def booking_hold_locked(
    *, event: Event, user: User, quantity: int, now: dt.datetime
) -> Booking | None:
    """Hold ``quantity`` tickets of ``event`` for ``user``, the caller holding the
    event's row lock and having checked that booking is open and the tickets
    are free (the waiting list hands returned tickets on this way).

    The same limit-checked insert and the same counter as ``booking_reserve``;
    ``None`` (nothing written) when the user would go over the per-user limit.
    """
    if event.capacity - event.tickets_taken < quantity:
        raise SoldOut(details={"available": event.capacity - event.tickets_taken})
    booking = _insert_hold(
        booking_id=uuid.uuid4(), user=user, event=event, quantity=quantity, now=now
    )
    if booking is None:
        return None
    event.tickets_taken += quantity
    Event.objects.filter(pk=event.pk).update(tickets_taken=event.tickets_taken)
    _announce(event.pk, [booking.pk], "reserved", now)
    return booking


@retry_on_conflict
def booking_reserve(
    *,
    user: User,
    event_id,
    quantity: int,
    now=None,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> Booking:
    """Hold ``quantity`` tickets of an event for ``user`` for NUVIO_HOLD_SECONDS.

    The tickets are taken at once. Raises ``Invalid`` (quantity; no such
    event, a draft counting as none), ``BookingClosed`` (not published,
    cancelled, booking disabled, started), ``LimitExceeded`` (held + confirmed
    over ``max_tickets_per_user``; details ``limit``, ``already_held``) or
    ``SoldOut`` (details ``available``). Nothing is written when it raises.

    With ``idempotency_key`` the key is recorded with the new hold in the same
    transaction; if this user's key already made a hold, nothing is written
    and ``AlreadyReserved`` names that hold (``IdempotencyConflict`` if it was
    made by a different request)."""
    now = now or timezone.now()
    try:
        event_id = uuid.UUID(str(event_id))
    except ValueError:
        raise Invalid("No such event.", details={"event": ["Must be an event id."]}) from None
    if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(
            f"Quantity must be between 1 and {MAX_QUANTITY}.",
            details={"quantity": [f"Must be between 1 and {MAX_QUANTITY}."]},
        )
    booking_id = uuid.uuid4()
    one_call = connection.vendor == "postgresql"
    try:
        booking = None
        if one_call:
            booking = _reserve_in_one_call(
                booking_id=booking_id, user=user, event_id=event_id, quantity=quantity, now=now,
                key=idempotency_key, request_hash=request_hash,
            )  # fmt: skip
        if booking is None:
            booking = _reserve_in_steps(
                booking_id=booking_id, user=user, event_id=event_id, quantity=quantity, now=now,
                key=idempotency_key, request_hash=request_hash, fast_path_tried=one_call,
            )  # fmt: skip
        else:
            _announce(booking.event_id, [booking.pk], "reserved", now)
    except IntegrityError:
        if idempotency_key is None:
            raise
        record = IdempotencyRecord.objects.filter(user=user, key=idempotency_key).first()
        if record is None:
            raise
        if record.created_at <= now - dt.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS):
            record.delete()  # an expired key may be used afresh
            return booking_reserve(
                user=user, event_id=event_id, quantity=quantity, now=now,
                idempotency_key=idempotency_key, request_hash=request_hash,
            )  # fmt: skip
        if record.request_hash != request_hash:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used with a different request.",
                details={"key": idempotency_key},
            ) from None
        raise AlreadyReserved(record.resource_id) from None
    return booking


def _reserve_in_steps(
    *,
    booking_id,
    user: User,
    event_id,
    quantity: int,
    now: dt.datetime,
    key,
    request_hash,
    fast_path_tried: bool,
) -> Booking:
    """The reserve as separate statements in one transaction: the whole
    reserve on SQLite, and on PostgreSQL whatever the one-call fast path
    could not do (releasing lapsed holds, or working out the refusal)."""
    with transaction.atomic():
        if key is not None:
            IdempotencyRecord.objects.create(
                user=user,
                key=key,
                scope="reserve",
                request_hash=request_hash,
                resource_id=booking_id,
                created_at=now,
            )
        # Fast path: one statement checks, locks and takes.
        event = None if fast_path_tried else _take_capacity(event_id, quantity, now)
        if event is None:
            event = _reserve_slow_path(event_id=event_id, quantity=quantity, now=now, user=user)
        booking = _insert_hold(
            booking_id=booking_id, user=user, event=event, quantity=quantity, now=now
        )
        if booking is None:
            already = _live_quantity(user=user, event_id=event.pk, now=now)
            raise _limit_exceeded(event.max_tickets_per_user, already)
        _announce(event.pk, [booking.pk], "reserved", now)
    return booking


def _reserve_slow_path(*, event_id, quantity: int, now: dt.datetime, user: User) -> Event:
    """Why the fast path failed: closed, unknown, or short of tickets. Lapsed
    holds of the event are released first, so their tickets can be sold.

    The answers that need no lock are given without one: an unknown or closed
    event, and a sell-out with no lapsed hold to release. So once an event is
    sold out, refusing the rush behind it does not queue on its row lock.
    """
    _refuse_without_lock(
        Event.objects.filter(pk=event_id).first(), quantity=quantity, now=now, user=user,
        has_lapsed=lambda: Booking.objects.lapsed_holds(now).filter(event_id=event_id).exists(),
    )  # fmt: skip
    event = Event.objects.select_for_update().get(pk=event_id)
    reason = event.booking_closed_reason(now)
    if reason:
        raise BookingClosed(reason)
    if event.waitlist_waiting or event.capacity - event.tickets_taken < quantity:
        # Released tickets go to the waiting list first (same transaction).
        _release_lapsed_locked(event, now)
    if event.waitlist_waiting:
        # People are still waiting: whatever is free is kept for them.
        free = event.capacity - event.tickets_taken
        message = "Sold out." if free == 0 else "Sold out: returned tickets go to the waiting list."
        raise SoldOut(message, details={"available": 0})
    available = event.capacity - event.tickets_taken
    if available < quantity:
        message = "Sold out." if available == 0 else f"Only {available} tickets left."
        raise SoldOut(message, details={"available": available})
    taken = _take_capacity(event_id, quantity, now)
    if taken is None:  # cannot happen while we hold the lock; never oversell regardless
        raise SoldOut(details={"available": available})
    return taken


def _no_such_event() -> Invalid:
    return Invalid("No such event.", details={"event": ["No such event."]})


def _refuse_without_lock(
    peek: Event | None, *, quantity: int, now: dt.datetime, user: User, has_lapsed
) -> None:
    """Raise the refusal that an unlocked look at the event is enough for:
    unknown (a draft counts as unknown to customers), closed, or short of
    tickets with no lapsed hold (``has_lapsed()``) whose release could help.
    Returns when only a look under the lock can tell."""
    if peek is None or (peek.status == EventStatus.DRAFT and not user.is_staff):
        raise _no_such_event()
    reason = peek.booking_closed_reason(now)
    if reason:
        raise BookingClosed(reason)
    short = peek.waitlist_waiting or peek.capacity - peek.tickets_taken < quantity
    if short and not has_lapsed():
        free = max(peek.capacity - peek.tickets_taken, 0)
        if peek.waitlist_waiting:
            message = "Sold out: returned tickets go to the waiting list." if free else "Sold out."
            raise SoldOut(message, details={"available": 0})
        message = "Sold out." if free == 0 else f"Only {free} tickets left."
        raise SoldOut(message, details={"available": free})


# --- expiry ------------------------------------------------------------------


def _release_lapsed_locked(event: Event, now: dt.datetime) -> int:
    """Release the event's lapsed holds; the caller holds the event's lock.

    Only rows still ``held`` change, and the counter moves by exactly what
    changed, so a hold is released once whoever gets there first.
    """
    lapsed = Booking.objects.lapsed_holds(now).filter(event=event)
    quantities = list(lapsed.select_for_update().values_list("id", "quantity"))
    if not quantities:
        return 0
    ids = [booking_id for booking_id, _ in quantities]
    Booking.objects.filter(id__in=ids, status=BookingStatus.HELD).update(
        status=BookingStatus.EXPIRED, expired_at=now
    )
    released = sum(quantity for _, quantity in quantities)
    _announce(event.pk, ids, "expired", now)
    _give_back(event, released, now)
    return released


def holds_release_expired(*, now=None, batch_size: int = 100) -> int:
    """Release every lapsed hold, a batch of events at a time; returns tickets freed.

    Events another worker (or a busy sale) has locked are skipped
    (``skip_locked``) and picked up on a later run; the read side already
    counts their lapsed holds as available meanwhile.
    """
    now = now or timezone.now()
    freed = 0
    while True:
        event_ids = list(
            Booking.objects.lapsed_holds(now)
            .values_list("event_id", flat=True)
            .distinct()[:batch_size]
        )
        if not event_ids:
            return freed
        progress = 0
        for event_id in event_ids:
            with transaction.atomic():
                event = (
                    Event.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
                )
                if event is not None:
                    progress += _release_lapsed_locked(event, now)
        freed += progress
        if progress == 0:
            return freed  # everything left is locked by someone else: next run


# --- pay ---------------------------------------------------------------------


def _own_booking(user: User, booking_id, *, staff_ok: bool = False) -> Booking:
    """The user's booking; another user's is "not found" (staff may act on any
    booking only where ``staff_ok``: admin actions, event cancellation)."""
    booking = Booking.objects.select_related("event").filter(pk=booking_id).first()
    if booking is None or (booking.user_id != user.pk and not (staff_ok and user.is_staff)):
        raise NotFound("No such booking.")
    return booking


def _payable_or_raise(booking: Booking, now: dt.datetime) -> None:
    status = booking.effective_status(now)
    if status == BookingStatus.CONFIRMED:
        raise InvalidState("This booking is already paid.")
    if status == BookingStatus.CANCELLED:
        raise InvalidState("This booking was cancelled.")
    if status == BookingStatus.EXPIRED:
        raise HoldExpired("This hold has expired; nothing was charged.")


def booking_pay(*, user: User, booking_id, card_number: str, now=None) -> Booking:
    """Pay for a hold and confirm it with its tickets.

    Checks the hold (``InvalidState`` if paid or cancelled, ``HoldExpired`` if
    its time ran out: nothing is charged), charges the card with no lock held
    (``Invalid`` for a bad number, ``PaymentDeclined``: the hold stays), then
    confirms under the locks. If the hold lapsed while the charge was in
    flight, it is confirmed as long as its tickets are still there; otherwise
    the charge is refunded at once and ``HoldExpired`` says so in ``details``.
    """
    now = now or timezone.now()
    booking = _own_booking(user, booking_id)
    _payable_or_raise(booking, now)

    gateway = get_gateway()
    charge = gateway.charge(
        amount=booking.total_price,
        currency=booking.currency,
        card_number=card_number,
        reference=str(booking.id),
    )
    try:
        return _confirm_after_charge(booking_id=booking.pk, charge=charge)
    except (HoldExpired, InvalidState) as exc:
        # Charged, but the hold cannot be honoured: the money goes back now.
        refund = refund_execute(refund_id=_record_orphan_charge(booking, charge).pk)
        exc.message = (
            f"{exc.message} Your payment of {charge.amount} {charge.currency} was refunded."
        )
        exc.details = {
            **exc.details,
            "refund": {
                "amount": str(refund.amount),
                "percent": 100,
                "currency": refund.currency,
                "status": refund.status,
            },
        }
        raise
    except Exception:
        if _charge_recorded(charge):
            # The confirmation committed and something after it failed (a hook
            # run at commit): the booking is paid, so the money stays.
            logger.exception("booking %s confirmed; a step after commit failed", booking.pk)
            return Booking.objects.select_related("event").get(pk=booking.pk)
        # The database failed after the card was charged: give the money back
        # before reporting the failure.
        _refund_unrecorded_charge(charge)
        raise


def _charge_recorded(charge) -> bool:
    """True when the charge's payment row committed (the booking is confirmed)."""
    try:
        return Payment.objects.filter(gateway_intent_id=charge.intent_id).exists()
    except DatabaseError:
        return False  # the database is away: nothing can be known, refund as before


@retry_on_conflict
def _confirm_after_charge(*, booking_id, charge) -> Booking:
    now = timezone.now()
    with transaction.atomic():
        event_id = Booking.objects.values_list("event_id", flat=True).get(pk=booking_id)
        event = Event.objects.select_for_update().get(pk=event_id)
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.status == BookingStatus.CONFIRMED:
            raise InvalidState("This booking is already paid.")
        if booking.status == BookingStatus.CANCELLED:
            raise InvalidState("This booking was cancelled.")
        if booking.status == BookingStatus.EXPIRED:
            # Released while the card was charged: its tickets went back. Take
            # them again if they are still free.
            if (
                event.booking_closed_reason(now)
                or event.capacity - event.tickets_taken < booking.quantity
                or event.waitlist_waiting  # what is free is kept for the waiting list
            ):
                raise HoldExpired("This hold expired and its tickets are gone.")
            event.tickets_taken += booking.quantity
            Event.objects.filter(pk=event.pk).update(tickets_taken=event.tickets_taken)
        # A lapsed but unreleased hold still has its tickets counted: confirm it.
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
        booking.expired_at = None
        booking.save(update_fields=["status", "confirmed_at", "expired_at"])
        Payment.objects.create(
            booking=booking,
            gateway_intent_id=charge.intent_id,
            amount=charge.amount,
            currency=charge.currency,
            status=PaymentStatus.SUCCEEDED,
            card_last4=charge.card_last4,
            created_at=now,
        )
        Ticket.objects.bulk_create(
            [Ticket(booking=booking, created_at=now) for _ in range(booking.quantity)]
        )
        _announce(event.pk, [booking.pk], "confirmed", now)
    booking.event = event
    return booking


def _record_orphan_charge(booking: Booking, charge) -> Refund:
    """Record a charge that bought nothing, with its full refund to send."""
    with transaction.atomic():
        payment = Payment.objects.create(
            booking=booking,
            gateway_intent_id=charge.intent_id,
            amount=charge.amount,
            currency=charge.currency,
            status=PaymentStatus.SUCCEEDED,
            card_last4=charge.card_last4,
        )
        refund = Refund.objects.create(
            booking=booking,
            payment=payment,
            amount=charge.amount,
            percent=100,
            currency=charge.currency,
            status=RefundStatus.PENDING,
            reason="not_honoured",
        )
        _announce(booking.event_id, [booking.pk], "refunded", timezone.now())
        return refund


def _refund_unrecorded_charge(charge) -> None:
    try:
        get_gateway().refund(
            intent_id=charge.intent_id,
            amount=charge.amount,
            currency=charge.currency,
            reference=f"unrecorded-{charge.intent_id}",
        )
    except GatewayError:
        logger.critical("MONEY: charge %s kept without a booking; refund by hand", charge.intent_id)
    else:
        logger.error("charge %s refunded: the booking could not be confirmed", charge.intent_id)


# --- cancel and refunds ------------------------------------------------------


def refund_percent(event: Event, *, now: dt.datetime) -> int:
    """The share of the price refunded if a booking is cancelled ``now``.

    With the default tiers ``7:100,2:50,0:0``: more than 7 days before the
    start 100 %, from 2 to 7 days (both included) 50 %, under 2 days 0 %. In
    general the first tier applies strictly above its day count and every
    other tier from its day count up; the event's own ``refund_tiers`` win.
    """
    tiers = parse_refund_tiers(event.refund_tiers) if event.refund_tiers else None
    tiers = tiers or settings.NUVIO_REFUND_TIERS
    before = event.starts_at - now
    top_days, top_percent = tiers[0]
    if before > dt.timedelta(days=top_days):
        return top_percent
    for days, percent in tiers[1:]:
        if before >= dt.timedelta(days=days):
            return percent
    return 0


def refund_amount(total: Decimal, percent: int) -> Decimal:
    return (total * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def booking_refund_quote(*, user: User, booking_id, now=None) -> dict:
    """What cancelling now would give back: ``{amount, percent, currency}``."""
    now = now or timezone.now()
    booking = _own_booking(user, booking_id)
    if booking.effective_status(now) != BookingStatus.CONFIRMED:
        return {"amount": Decimal("0.00"), "percent": 0, "currency": booking.currency}
    percent = refund_percent(booking.event, now=now)
    return {
        "amount": refund_amount(booking.total_price, percent),
        "percent": percent,
        "currency": booking.currency,
    }


def booking_cancel(
    *, user: User, booking_id, now=None, full_refund: bool = False, as_staff: bool = False
) -> Booking:
    """Cancel a booking: a hold is released with no refund; a confirmed booking
    is refunded by the tiers (in full with ``full_refund``), its tickets are
    voided and its capacity comes back.

    Raises ``NotFound`` (not yours), ``InvalidState`` (already cancelled or
    expired) or ``BookingClosed`` (the event has started). The refund goes
    through the gateway after commit; if the gateway fails it stays
    ``pending`` and the refunds task retries it. ``as_staff`` lets a staff
    member cancel someone else's booking (admin).
    """
    now = now or timezone.now()
    booking = _own_booking(user, booking_id, staff_ok=as_staff)
    refund = _cancel_locked(booking_id=booking.pk, now=now, full_refund=full_refund)
    if refund is not None and refund.status == RefundStatus.PENDING:
        refund_execute(refund_id=refund.pk)
    return Booking.objects.select_related("event").get(pk=booking.pk)


@retry_on_conflict
def _cancel_locked(*, booking_id, now: dt.datetime, full_refund: bool) -> Refund | None:
    with transaction.atomic():
        event_id = Booking.objects.values_list("event_id", flat=True).get(pk=booking_id)
        event = Event.objects.select_for_update().get(pk=event_id)
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        status = booking.effective_status(now)
        if status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
            raise InvalidState(f"This booking is already {status}.")
        if event.starts_at <= now and not full_refund:
            raise BookingClosed("The event has started; this booking can no longer be cancelled.")
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = now
        booking.save(update_fields=["status", "cancelled_at"])
        refund = None
        if status == BookingStatus.CONFIRMED:
            refund = _void_and_refund(booking, event, now=now, full_refund=full_refund)
        # Announced once the refund exists, so receivers (the notification of
        # the cancellation) can tell it.
        _announce(event.pk, [booking.pk], "cancelled", now)
        _give_back(event, booking.quantity, now)
        return refund


def _void_and_refund(
    booking: Booking, event: Event, *, now: dt.datetime, full_refund: bool
) -> Refund | None:
    booking.tickets.filter(voided_at__isnull=True).update(voided_at=now)
    payment = booking.payments.filter(status=PaymentStatus.SUCCEEDED).first()
    if payment is None:
        return None
    percent = 100 if full_refund else refund_percent(event, now=now)
    amount = refund_amount(payment.amount, percent)
    return Refund.objects.create(
        booking=booking,
        payment=payment,
        amount=amount,
        percent=percent,
        currency=payment.currency,
        status=RefundStatus.PENDING if amount > 0 else RefundStatus.SUCCEEDED,
        reason="event_cancelled" if full_refund else "cancelled",
        created_at=now,
    )


def refund_execute(*, refund_id) -> Refund:
    """Send a pending refund to the gateway (no lock held while it runs) and
    record the outcome. Safe to call again: a settled refund is left alone, and
    the gateway reference makes a repeated call harmless."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    try:
        reference = get_gateway().refund(
            intent_id=refund.payment.gateway_intent_id,
            amount=refund.amount,
            currency=refund.currency,
            reference=str(refund.pk),
        )
    except GatewayError:
        logger.warning("refund %s: gateway failed, will retry", refund.pk)
        return refund
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status == RefundStatus.PENDING:
            refund.status = RefundStatus.SUCCEEDED
            refund.gateway_reference = reference
            refund.save(update_fields=["status", "gateway_reference", "updated_at"])
            payment = refund.payment
            payment.status = (
                PaymentStatus.REFUNDED
                if refund.amount == payment.amount
                else PaymentStatus.PARTIALLY_REFUNDED
            )
            payment.save(update_fields=["status", "updated_at"])
    return refund


def refunds_retry_pending(*, older_than_seconds: int = 30) -> int:
    """Retry refunds still pending (the gateway failed earlier)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        Refund.objects.filter(status=RefundStatus.PENDING, created_at__lte=cutoff).values_list(
            "id", flat=True
        )[:500]
    )
    return sum(
        1 for refund_id in ids if refund_execute(refund_id=refund_id).status != RefundStatus.PENDING
    )


# --- event cancellation ------------------------------------------------------


def _event_booking_done(booking_id) -> None:
    """Called after each booking ``event_cancel_bookings`` has cancelled; tests
    replace it to make the job die halfway."""


def event_cancel_bookings(*, event_id, now=None, batch_size: int = 100) -> dict[str, int]:
    """Carry out an event's cancellation: the event is ``cancelled`` (first,
    under its lock, so no reserve succeeds from then on: ``booking_closed``),
    its waiting list is closed, every hold is released and every confirmed
    booking is cancelled with a **100 %** refund through ``booking_cancel``;
    each holder is notified once (the ``event_cancelled`` notification of the
    booking).

    Bookings go a batch at a time, each in its own transaction, so a worker
    dying halfway loses nothing: running this again picks up the bookings
    still held or confirmed and sends any refund left pending. Nobody is
    refunded twice: only a booking still live can be cancelled, and a payment
    has at most one refund. Returns ``{"cancelled", "refunds_retried"}``.
    """
    from bookings import waitlist  # it imports this module

    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event.status != EventStatus.CANCELLED:
            event.status = EventStatus.CANCELLED
            event.save(update_fields=["status", "updated_at"])
            catalog_changed()
        waitlist.waitlist_close_locked(event=event, now=now or timezone.now())
        _release_lapsed_locked(event, now or timezone.now())

    cancelled = 0
    after = None
    while True:
        page = Booking.objects.filter(
            event_id=event_id, status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]
        )
        if after is not None:
            page = page.filter(id__gt=after)
        batch = list(page.select_related("user").order_by("id")[:batch_size])
        if not batch:
            break
        for booking in batch:
            after = booking.pk
            try:
                booking_cancel(
                    user=booking.user,
                    booking_id=booking.pk,
                    now=now,
                    full_refund=True,
                    as_staff=True,
                )
            except InvalidState:
                continue  # lapsed meanwhile (released below) or cancelled by its owner
            cancelled += 1
            _event_booking_done(booking.pk)

    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        _release_lapsed_locked(event, now or timezone.now())
    # Refunds a dead worker (or a failing gateway) left pending.
    pending = Refund.objects.filter(booking__event_id=event_id, status=RefundStatus.PENDING)
    retried = sum(
        1
        for refund_id in pending.values_list("id", flat=True)
        if refund_execute(refund_id=refund_id).status == RefundStatus.SUCCEEDED
    )
    logger.info("event %s cancelled: %d bookings cancelled", event_id, cancelled)
    return {"cancelled": cancelled, "refunds_retried": retried}


def events_cancelling(*, now=None, stale_seconds: int = 300) -> list:
    """Ids of events cancelled more than ``stale_seconds`` ago whose
    cancellation is unfinished (live bookings, or an open waiting list): the
    job died, or was never dispatched."""
    now = now or timezone.now()
    live = Booking.objects.filter(
        event=OuterRef("pk"), status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]
    )
    waiting = WaitlistEntry.objects.filter(
        event=OuterRef("pk"), status__in=ACTIVE_WAITLIST_STATUSES
    )
    return list(
        Event.objects.filter(
            status=EventStatus.CANCELLED, updated_at__lte=now - dt.timedelta(seconds=stale_seconds)
        )
        .filter(Exists(live) | Exists(waiting))
        .values_list("id", flat=True)[:100]
    )
