"""Paying for a hold: the card is charged with no lock held, then the hold is
confirmed under the locks; money is never kept without a booking.

A free booking (``total_price`` 0) is confirmed without a card and without
calling the gateway; it records a payment of 0 (as free events always did), so
every confirmed booking has its payment, and cancelling it refunds 0.
"""

import datetime as dt
import logging

from django.db import DatabaseError, transaction
from django.utils import timezone

from accounts.models import User
from bookings.gateway import GatewayError, get_gateway
from bookings.models import (
    Booking,
    BookingStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SeatHold,
    Ticket,
)
from bookings.services._core import (
    Line,
    NotEnough,
    bookings_announce,
    own_booking,
    retry_on_conflict,
    seats_taken_locked,
    tickets_take_locked,
)
from bookings.services.refunds import refund_execute
from bookings.services.waitlist import waitlist_offers_settle_locked
from events.models import Event, PromoCode
from nuvio.errors import HoldExpired, Invalid, InvalidState

logger = logging.getLogger("nuvio.bookings")


def _payable_or_raise(booking: Booking, now: dt.datetime) -> None:
    status = booking.effective_status(now)
    if status == BookingStatus.CONFIRMED:
        raise InvalidState("This booking is already paid.")
    if status == BookingStatus.CANCELLED:
        raise InvalidState("This booking was cancelled.")
    if status == BookingStatus.EXPIRED:
        raise HoldExpired("This hold has expired; nothing was charged.")


def booking_pay(*, user: User, booking_id, card_number: str | None, now=None) -> Booking:
    """Pay for a hold and confirm it with its tickets.

    Checks the hold (``InvalidState`` if paid or cancelled, ``HoldExpired`` if
    its time ran out: nothing is charged). A free hold (``total_price`` 0) is
    confirmed at once, whatever ``card_number`` says. Otherwise the card is
    charged with no lock held (``Invalid`` for a missing or bad number,
    ``PaymentDeclined``: the hold stays), then the hold is confirmed under the
    locks. If the hold lapsed while the charge was in flight, it is confirmed
    as long as its tickets (capacity, quotas, code uses) are still there;
    otherwise the charge is refunded at once and ``HoldExpired`` says so in
    ``details``.
    """
    now = now or timezone.now()
    booking = own_booking(user, booking_id)
    _payable_or_raise(booking, now)
    if booking.total_price == 0:
        return _confirm(booking_id=booking.pk, charge=None)
    if not card_number:
        raise Invalid(
            "A card number is needed to pay.", details={"card_number": ["This field is required."]}
        )

    gateway = get_gateway()
    charge = gateway.charge(
        amount=booking.total_price,
        currency=booking.currency,
        card_number=card_number,
        reference=str(booking.id),
    )
    try:
        return _confirm(booking_id=booking.pk, charge=charge)
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


def _take_again_locked(event: Event, booking: Booking, now: dt.datetime) -> None:
    """Take again the tickets of a hold released while its card was charged,
    if they are all still free (``HoldExpired`` otherwise)."""
    if event.booking_closed_reason(now):
        raise HoldExpired("This hold expired and booking is now closed.")
    lines = [
        Line(item.ticket_type, item.quantity, item.unit_price, item.discount)
        for item in booking.items.select_related("ticket_type")
    ]
    promo = PromoCode.objects.get(pk=booking.promo_code_id) if booking.promo_code_id else None
    try:
        with transaction.atomic():
            tickets_take_locked(event=event, lines=lines, promo=promo, now=now)
            if event.seated:
                _seats_take_again_locked(booking, now)
    except NotEnough:
        raise HoldExpired("This hold expired and its tickets are gone.") from None


def _seats_take_again_locked(booking: Booking, now: dt.datetime) -> None:
    """The seats of a released hold, taken again if none was taken since
    (``HoldExpired`` otherwise, in the caller's savepoint)."""
    released = list(SeatHold.objects.filter(booking=booking).order_by("created_at", "id"))
    if not released or seats_taken_locked([hold.seat_id for hold in released]):
        raise HoldExpired("This hold expired and its seats are gone.")
    SeatHold.objects.bulk_create(
        [
            SeatHold(seat_id=hold.seat_id, booking=booking, item_id=hold.item_id, created_at=now)
            for hold in {hold.seat_id: hold for hold in released}.values()
        ]
    )


def _tickets(booking: Booking, now: dt.datetime) -> list[Ticket]:
    """One ticket per ticket of the booking, of its item's type; on a seated
    event, one per seat (its live seat holds), in the plan's order. The buyer
    holds them, named as the attendee until the holder says otherwise."""
    person = {
        "booking": booking,
        "holder_id": booking.user_id,
        "attendee_name": booking.user.name,
        "attendee_email": booking.user.email,
        "created_at": now,
    }
    if not booking.event.seated:
        return [
            Ticket(ticket_type_id=type_id, **person)
            for type_id, quantity in booking.items.order_by("id").values_list(
                "ticket_type_id", "quantity"
            )
            for _ in range(quantity)
        ]
    seats = (
        SeatHold.objects.filter(booking=booking, released_at__isnull=True)
        .order_by("seat__position")
        .values_list("seat_id", "seat__ticket_type_id")
    )
    return [Ticket(seat_id=seat_id, ticket_type_id=type_id, **person) for seat_id, type_id in seats]


@retry_on_conflict
def _confirm(*, booking_id, charge) -> Booking:
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
            _take_again_locked(event, booking, now)
        # A lapsed but unreleased hold still has its tickets counted: confirm it.
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
        booking.expired_at = None
        booking.save(update_fields=["status", "confirmed_at", "expired_at"])
        Payment.objects.create(
            booking=booking,
            # A free booking never reaches the gateway: no intent of its own.
            gateway_intent_id=charge.intent_id if charge else f"free-{booking.pk}",
            amount=charge.amount if charge else booking.total_price,
            currency=charge.currency if charge else booking.currency,
            status=PaymentStatus.SUCCEEDED,
            card_last4=charge.card_last4 if charge else "",
            created_at=now,
        )
        booking.event = event
        Ticket.objects.bulk_create(_tickets(booking, now))
        waitlist_offers_settle_locked(booking_ids=[booking.pk], change="confirmed", now=now)
        bookings_announce(event.pk, [booking.pk], "confirmed", now)
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
        bookings_announce(booking.event_id, [booking.pk], "refunded", timezone.now())
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
