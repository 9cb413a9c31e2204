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

from bookings.models import (
    Booking,
    BookingStatus,
    Payment,
    PaymentStatus,
    Ticket,
    WaitlistEntry,
    WaitlistStatus,
)
from events.models import Event, EventStatus


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
    ``confirmed``, ``available`` (as buyers see it, ``with_available``: 0
    while anyone waits on the list, the free tickets being theirs) and
    ``problems``, a list of sentences, empty when the event is consistent.

    Checked per event: the counter equals held + confirmed tickets; it is
    within capacity; capacity = free + active held + confirmed; every
    confirmed booking has exactly ``quantity`` live (not voided) tickets and a
    succeeded payment; no payment is refunded beyond its amount.

    And its waiting list (``waiting``: entries still waiting): the
    ``waitlist_waiting`` counter equals them; while booking is open the first
    of them does not fit the free tickets (else it should have been served);
    an offered entry's booking is a hold, a fulfilled entry's was paid.
    """
    now = now or timezone.now()
    events = Event.objects.with_available(now).order_by("starts_at", "id")
    if event_ids is not None:
        events = events.filter(pk__in=list(event_ids))
    held = Q(status=BookingStatus.HELD)
    waiting = WaitlistEntry.objects.filter(
        event=OuterRef("pk"), status=WaitlistStatus.WAITING
    ).order_by()
    rows = events.annotate(
        held_tickets=_booking_sum(held),
        lapsed_tickets=_booking_sum(held & Q(expires_at__lte=now)),
        confirmed_tickets=_booking_sum(Q(status=BookingStatus.CONFIRMED)),
        waiting_entries=Coalesce(
            Subquery(
                waiting.values("event").annotate(n=Count("id")).values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
        first_waiting=Subquery(
            waiting.order_by("created_at", "id").values("quantity")[:1],
            output_field=IntegerField(),
        ),
    ).values_list(
        "id",
        "name",
        "capacity",
        "tickets_taken",
        "held_tickets",
        "lapsed_tickets",
        "confirmed_tickets",
        "available_now",
        "waitlist_waiting",
        "waiting_entries",
        "first_waiting",
        "status",
        "booking_enabled",
        "starts_at",
    )

    report = {}
    for (
        event_id,
        name,
        capacity,
        taken,
        held_n,
        lapsed,
        confirmed,
        available,
        waiting_counter,
        waiting_n,
        first_waiting,
        status,
        booking_enabled,
        starts_at,
    ) in rows:
        problems = []
        if taken != held_n + confirmed:
            problems.append(
                f"tickets_taken is {taken} but held + confirmed bookings hold "
                f"{held_n + confirmed} tickets"
            )
        if taken > capacity:
            problems.append(f"tickets_taken {taken} is over capacity {capacity}")
        active = held_n - lapsed
        free = available if waiting_counter == 0 else capacity - taken + lapsed
        if capacity != free + active + confirmed:
            problems.append(
                f"capacity {capacity} != free {free} + active holds {active} "
                f"+ confirmed {confirmed}"
            )
        if waiting_counter and available != 0:
            problems.append(f"{available} shown as available while people wait on the list")
        if waiting_counter != waiting_n:
            problems.append(
                f"waitlist_waiting is {waiting_counter} but {waiting_n} entries are waiting"
            )
        open_ = status == EventStatus.PUBLISHED and booking_enabled and starts_at > now
        if open_ and first_waiting is not None and first_waiting <= capacity - taken:
            problems.append(
                f"the first waiting entry wants {first_waiting} tickets and "
                f"{capacity - taken} are free, but it was not served"
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

    for event_id, message in [*_booking_problems(event_ids), *_waitlist_problems(event_ids)]:
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


def _waitlist_problems(event_ids=None):
    """``(event_id, sentence)`` for offered entries whose booking is not a
    hold and fulfilled entries whose booking was never paid."""
    wrong = WaitlistEntry.objects.filter(
        Q(status=WaitlistStatus.OFFERED) & ~Q(offered_booking__status=BookingStatus.HELD)
        | Q(status=WaitlistStatus.FULFILLED)
        & ~Q(offered_booking__status__in=[BookingStatus.CONFIRMED, BookingStatus.CANCELLED])
    ).order_by()
    if event_ids is not None:
        wrong = wrong.filter(event_id__in=list(event_ids))
    for entry_id, event_id, status, booking_status in wrong.values_list(
        "id", "event_id", "status", "offered_booking__status"
    ):
        yield (
            event_id,
            f"{status} waitlist entry {entry_id} has a booking {booking_status or 'missing'}",
        )
