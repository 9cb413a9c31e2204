"""Reusable read queries for bookings."""

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from bookings.models import (
    ACTIVE_WAITLIST_STATUSES,
    Booking,
    BookingItem,
    BookingStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SeatHold,
    WaitlistEntry,
)


def booking_items() -> Prefetch:
    """Prefetch a booking's items with their ticket types and seats (two
    queries for a whole list of bookings)."""
    return Prefetch(
        "items",
        queryset=BookingItem.objects.select_related("ticket_type").prefetch_related(
            item_seat_holds()
        ),
    )


def item_seat_holds() -> Prefetch:
    """Prefetch booking items' seat holds with their seats (``BookingItem.seat_summaries``)."""
    holds = SeatHold.objects.select_related("seat").order_by("seat__position", "created_at")
    return Prefetch("seat_holds", queryset=holds)


def bookings_for_user(*, user, status: str | None = None, when: str | None = None, now=None):
    """A user's bookings, newest first. ``status`` is the status every answer
    shows (a lapsed hold counts as ``expired``); ``when`` is ``upcoming`` or
    ``past`` by the event's start."""
    now = now or timezone.now()
    qs: QuerySet[Booking] = (
        Booking.objects.filter(user=user)
        .select_related("event", "promo_code")
        .prefetch_related("refunds", booking_items())
        .order_by("-created_at", "id")
    )
    if status == BookingStatus.HELD:
        qs = qs.filter(status=BookingStatus.HELD, expires_at__gt=now)
    elif status == BookingStatus.EXPIRED:
        qs = qs.filter(
            Q(status=BookingStatus.EXPIRED) | Q(status=BookingStatus.HELD, expires_at__lte=now)
        )
    elif status:
        qs = qs.filter(status=status)
    if when == "upcoming":
        qs = qs.filter(event__starts_at__gt=now)
    elif when == "past":
        qs = qs.filter(event__starts_at__lte=now)
    return qs


def user_booking_stats(*, user, currency: str, now=None) -> dict:
    """The figures of ``GET /api/me/stats/``, computed by the database."""
    now = now or timezone.now()
    active_hold = Q(status=BookingStatus.HELD, expires_at__gt=now)
    lapsed_hold = Q(status=BookingStatus.HELD, expires_at__lte=now)
    counts = Booking.objects.filter(user=user).aggregate(
        held=Count("id", filter=active_hold),
        confirmed=Count("id", filter=Q(status=BookingStatus.CONFIRMED)),
        cancelled=Count("id", filter=Q(status=BookingStatus.CANCELLED)),
        expired=Count("id", filter=Q(status=BookingStatus.EXPIRED) | lapsed_hold),
        tickets_confirmed=Sum("quantity", filter=Q(status=BookingStatus.CONFIRMED)),
        upcoming_events=Count(
            "event",
            distinct=True,
            filter=Q(status=BookingStatus.CONFIRMED, event__starts_at__gt=now),
        ),
    )
    spent = Payment.objects.filter(
        booking__user=user,
        status__in=[
            PaymentStatus.SUCCEEDED,
            PaymentStatus.REFUNDED,
            PaymentStatus.PARTIALLY_REFUNDED,
        ],
    ).aggregate(total=Sum("amount"))["total"]
    refunded = Refund.objects.filter(booking__user=user, status=RefundStatus.SUCCEEDED).aggregate(
        total=Sum("amount")
    )["total"]
    return {
        "bookings": {
            "held": counts["held"],
            "confirmed": counts["confirmed"],
            "cancelled": counts["cancelled"],
            "expired": counts["expired"],
        },
        "tickets_confirmed": counts["tickets_confirmed"] or 0,
        "upcoming_events": counts["upcoming_events"],
        "total_spent": spent or 0,
        "total_refunded": refunded or 0,
        "currency": currency,
    }


def waitlist_for_user(*, user, active_only: bool = False):
    """A user's waiting-list entries, newest first, with ``position`` (None
    unless waiting), their event, ticket type and offered booking, in one
    query."""
    entries = (
        WaitlistEntry.objects.filter(user=user)
        .with_position()
        .select_related("event", "ticket_type", "offered_booking")
        .order_by("-created_at", "-id")
    )
    if active_only:
        entries = entries.filter(status__in=ACTIVE_WAITLIST_STATUSES)
    return entries


def waitlist_entry_for(*, user, event):
    """The user's active entry for ``event``, with its position, or None."""
    return (
        waitlist_for_user(user=user, active_only=True).filter(event=event).first()
        if user.is_authenticated
        else None
    )
