"""Inventory checks: do the counters agree with the bookings behind them?

``inventory_report`` reads every event's counters and booking sums in one
statement (a consistent snapshot on PostgreSQL even while sales go on), then
finds confirmed bookings missing tickets or a payment, and payments refunded
beyond their amount, with one grouped query each. Nothing runs a query per
event, so it stays cheap on a large catalog. ``check_inventory`` prints it;
tests and benchmarks call ``inventory_problems`` directly.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Ticket
from events.models import Event


def _booking_sum(status_filter: Q) -> Coalesce:
    """Tickets of the event's bookings matching ``status_filter``, 0 if none."""
    bookings = (
        Booking.objects.filter(status_filter, event=OuterRef("pk"))
        .order_by()
        .values("event")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    return Coalesce(Subquery(bookings, output_field=IntegerField()), 0)


def inventory_report(event_ids=None, *, now: dt.datetime | None = None) -> list[dict]:
    """One row per event (all of them, or those in ``event_ids``), ordered by
    start, each a dict with ``event_id``, ``name``, ``capacity``, ``taken``
    (the counter), ``held`` (tickets of every ``held`` booking, lapsed or not:
    an unreleased lapsed hold still has its tickets counted), ``lapsed``,
    ``confirmed``, ``available`` (as buyers see it, ``with_available``) and
    ``problems``, a list of sentences, empty when the event is consistent.

    Checked per event: the counter equals held + confirmed tickets; it is
    within capacity; capacity = available + active held + confirmed; every
    confirmed booking has exactly ``quantity`` live (not voided) tickets and a
    succeeded payment; no payment is refunded beyond its amount.
    """
    now = now or timezone.now()
    events = Event.objects.with_available(now).order_by("starts_at", "id")
    if event_ids is not None:
        events = events.filter(pk__in=list(event_ids))
    held = Q(status=BookingStatus.HELD)
    rows = events.annotate(
        held_tickets=_booking_sum(held),
        lapsed_tickets=_booking_sum(held & Q(expires_at__lte=now)),
        confirmed_tickets=_booking_sum(Q(status=BookingStatus.CONFIRMED)),
    ).values_list(
        "id",
        "name",
        "capacity",
        "tickets_taken",
        "held_tickets",
        "lapsed_tickets",
        "confirmed_tickets",
        "available_now",
    )

    report = {}
    for event_id, name, capacity, taken, held_n, lapsed, confirmed, available in rows:
        problems = []
        if taken != held_n + confirmed:
            problems.append(
                f"tickets_taken is {taken} but held + confirmed bookings hold "
                f"{held_n + confirmed} tickets"
            )
        if taken > capacity:
            problems.append(f"tickets_taken {taken} is over capacity {capacity}")
        active = held_n - lapsed
        if capacity != available + active + confirmed:
            problems.append(
                f"capacity {capacity} != available {available} + active holds {active} "
                f"+ confirmed {confirmed}"
            )
        report[event_id] = {
            "event_id": event_id,
            "name": name,
            "capacity": capacity,
            "taken": taken,
            "held": held_n,
            "lapsed": lapsed,
            "confirmed": confirmed,
            "available": available,
            "problems": problems,
        }

    for event_id, message in _booking_problems(event_ids):
        if event_id in report:
            report[event_id]["problems"].append(message)
    return list(report.values())


def inventory_problems(event_ids=None, *, now: dt.datetime | None = None) -> list[dict]:
    """The rows of ``inventory_report`` that have problems; ``[]`` when every
    counter, ticket, payment and refund agrees."""
    return [row for row in inventory_report(event_ids, now=now) if row["problems"]]


def _booking_problems(event_ids=None):
    """``(event_id, sentence)`` for confirmed bookings without exactly their
    live tickets or without a succeeded payment, and for payments refunded
    beyond their amount."""
    live_tickets = (
        Ticket.objects.filter(booking=OuterRef("pk"), voided_at__isnull=True)
        .order_by()
        .values("booking")
        .annotate(n=Count("id"))
        .values("n")
    )
    paid = Payment.objects.filter(booking=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
    confirmed = (
        Booking.objects.filter(status=BookingStatus.CONFIRMED)
        .annotate(
            live=Coalesce(Subquery(live_tickets, output_field=IntegerField()), 0),
            paid=Exists(paid),
        )
        .filter(~Q(live=F("quantity")) | Q(paid=False))
        .order_by()
    )
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=12, decimal_places=2))
    over_refunded = (
        Payment.objects.annotate(refunded=Coalesce(Sum("refunds__amount"), zero))
        .filter(refunded__gt=F("amount"))
        .order_by()
    )
    if event_ids is not None:
        event_ids = list(event_ids)
        confirmed = confirmed.filter(event_id__in=event_ids)
        over_refunded = over_refunded.filter(booking__event_id__in=event_ids)

    for booking_id, event_id, quantity, live, has_payment in confirmed.values_list(
        "id", "event_id", "quantity", "live", "paid"
    ):
        if live != quantity:
            yield (
                event_id,
                f"confirmed booking {booking_id} has {live} live tickets, not {quantity}",
            )
        if not has_payment:
            yield event_id, f"confirmed booking {booking_id} has no succeeded payment"
    for payment_id, event_id, amount, refunded in over_refunded.values_list(
        "id", "booking__event_id", "amount", "refunded"
    ):
        yield event_id, f"payment {payment_id} of {amount} is refunded {refunded}"
