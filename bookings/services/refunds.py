"""Refunds: how much, and sending them to the gateway.

A refund is a tier's percentage of what was paid, ``total_price``
(``bookings.pricing.refund_amount``); it is recorded in the transaction that
cancels, and sent to the gateway after it, with no lock held.
"""

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bookings.gateway import GatewayError, get_gateway
from bookings.models import BookingStatus, PaymentStatus, Refund, RefundStatus
from bookings.pricing import refund_amount
from bookings.services._core import own_booking
from events.models import Event
from nuvio.env import parse_refund_tiers

logger = logging.getLogger("nuvio.bookings")


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


def booking_refund_quote(*, user: User, booking_id, now=None) -> dict:
    """What cancelling now would give back: ``{amount, percent, currency}``
    (nothing for a booking that is not confirmed, or was free)."""
    now = now or timezone.now()
    booking = own_booking(user, booking_id)
    if booking.effective_status(now) != BookingStatus.CONFIRMED:
        return {"amount": Decimal("0.00"), "percent": 0, "currency": booking.currency}
    percent = refund_percent(booking.event, now=now)
    return {
        "amount": refund_amount(booking.total_price, percent),
        "percent": percent,
        "currency": booking.currency,
    }


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
