"""Cancelling: a booking (by its owner or staff), an event's bookings (when
the event is cancelled), and a waiting-list entry (leaving the list, which
may release its offered hold).

Whatever a cancel frees goes back through ``tickets_return_locked``:
capacity, quotas and code uses together, to the waiting list first. So
cancelling a booking may create someone else's hold in the same transaction.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import User
from bookings.models import (
    ACTIVE_WAITLIST_STATUSES,
    Booking,
    BookingStatus,
    PaymentStatus,
    Refund,
    RefundStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from bookings.pricing import refund_amount
from bookings.services._core import bookings_announce, own_booking, retry_on_conflict
from bookings.services.expiry import holds_release_lapsed_locked
from bookings.services.refunds import refund_execute, refund_percent
from bookings.services.returns import tickets_return_locked
from bookings.services.waitlist import (
    waiting_add_locked,
    waitlist_close_locked,
    waitlist_offers_settle_locked,
    waitlist_serve_locked,
)
from events.cache import catalog_changed
from events.models import Event, EventStatus
from nuvio.errors import BookingClosed, InvalidState, NotFound

logger = logging.getLogger("nuvio.bookings")


def booking_cancel(
    *, user: User, booking_id, now=None, full_refund: bool = False, as_staff: bool = False
) -> Booking:
    """Cancel a booking: a hold is released with no refund; a confirmed booking
    is refunded by the tiers (in full with ``full_refund``) on what was paid,
    its tickets are voided and its capacity, quotas and code uses come back
    (to the waiting list first).

    Raises ``NotFound`` (not yours), ``InvalidState`` (already cancelled or
    expired) or ``BookingClosed`` (the event has started). The refund goes
    through the gateway after commit; if the gateway fails it stays
    ``pending`` and the refunds task retries it. ``as_staff`` lets a staff
    member cancel someone else's booking (admin).
    """
    now = now or timezone.now()
    booking = own_booking(user, booking_id, staff_ok=as_staff)
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
        waitlist_offers_settle_locked(booking_ids=[booking.pk], change="cancelled", now=now)
        # Announced once the refund exists, so followers (the notification of
        # the cancellation) can tell it.
        bookings_announce(event.pk, [booking.pk], "cancelled", now)
        tickets_return_locked(event=event, bookings=[booking], now=now)
        return refund


def _void_and_refund(
    booking: Booking, event: Event, *, now: dt.datetime, full_refund: bool
) -> Refund | None:
    booking.tickets.filter(voided_at__isnull=True).update(voided_at=now)
    payment = booking.payments.filter(status=PaymentStatus.SUCCEEDED).first()
    if payment is None:
        return None
    percent = 100 if full_refund else refund_percent(event, now=now)
    amount = min(refund_amount(booking.total_price, percent), payment.amount)
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


# --- leaving the waiting list ----------------------------------------------------


@retry_on_conflict
def waitlist_leave(*, user: User, entry_id, now=None) -> WaitlistEntry:
    """Take ``user``'s entry off the waiting list.

    A waiting entry is ``cancelled`` (the entries behind it move up, and are
    served if the tickets free now fit the new first one of its type); an
    offered entry gives its hold back, which goes to the next entries. An
    entry no longer active is left as it is (leaving twice is harmless).
    Raises ``NotFound`` for someone else's entry.
    """
    now = now or timezone.now()
    entry = WaitlistEntry.objects.filter(pk=entry_id, user=user).first()
    if entry is None:
        raise NotFound("No such waiting list entry.")
    if not entry.is_active:
        return entry
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=entry.event_id)
        entry = WaitlistEntry.objects.select_related("offered_booking").get(pk=entry.pk)
        if entry.status == WaitlistStatus.WAITING:
            WaitlistEntry.objects.filter(pk=entry.pk).update(
                status=WaitlistStatus.CANCELLED, ended_at=now
            )
            waiting_add_locked(event, {entry.ticket_type_id: -1})
            waitlist_serve_locked(event=event, now=now)
        elif entry.status == WaitlistStatus.OFFERED:
            booking = entry.offered_booking
            if booking.is_lapsed(now):
                # Its time ran out: released as expired (the entry with it).
                holds_release_lapsed_locked(event=event, now=now)
            elif booking.status == BookingStatus.HELD:
                _cancel_locked(booking_id=booking.pk, now=now, full_refund=False)
    entry.refresh_from_db()
    return entry


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
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event.status != EventStatus.CANCELLED:
            event.status = EventStatus.CANCELLED
            event.save(update_fields=["status", "updated_at"])
            catalog_changed()
        waitlist_close_locked(event=event, now=now or timezone.now())
        holds_release_lapsed_locked(event=event, now=now or timezone.now())

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
        holds_release_lapsed_locked(event=event, now=now or timezone.now())
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
