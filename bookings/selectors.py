"""Reusable read queries for bookings."""

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Refund, RefundStatus


def bookings_for_user(*, user, status: str | None = None, when: str | None = None, now=None):
    """A user's bookings, newest first. ``status`` is the status every answer
    shows (a lapsed hold counts as ``expired``); ``when`` is ``upcoming`` or
    ``past`` by the event's start."""
    now = now or timezone.now()
    qs: QuerySet[Booking] = (
        Booking.objects.filter(user=user)
        .select_related("event")
        .prefetch_related("refunds")
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
