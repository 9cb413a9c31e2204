"""Inventory checks: do the counters agree with the bookings behind them?

``inventory_report`` reads every event's counters and booking sums in one
statement (a consistent snapshot on PostgreSQL even while sales go on), then
checks the ticket types' and promo codes' counters, the bookings' items and
money, confirmed bookings missing tickets or a payment, and payments refunded
beyond their amount, with one grouped query each. Nothing runs a query per
event, so it stays cheap on a large catalog. ``check_inventory`` prints it;
tests and benchmarks call ``inventory_problems`` directly.

A promo code's ``uses`` counts **every ticket of the held and confirmed
bookings made with it** (``Booking.promo_code``), whichever of the booking's
types it discounted or unlocked: the code is the booking's, and a booking
takes (and gives back) one use per ticket.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingItem,
    BookingStatus,
    Payment,
    PaymentStatus,
    SeatHold,
    Ticket,
    WaitlistEntry,
    WaitlistStatus,
)
from events.models import Event, EventStatus, PromoCode, Seat, TicketType

LIVE = [BookingStatus.HELD, BookingStatus.CONFIRMED]


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
    succeeded payment (of 0 for a free booking); no payment is refunded beyond
    its amount.

    Per ticket type: its ``tickets_taken`` equals the tickets of its items in
    held + confirmed bookings and is within its quota. Per promo code: its
    ``uses`` equals the tickets of the held + confirmed bookings made with it
    (see the module docstring) and is within ``max_uses``. Per booking: its
    items add up to its ``quantity``, ``subtotal`` and ``discount``, and its
    ``unit_price`` is its one item's (null with several).

    And its waiting list (``waiting``: entries still waiting): the
    ``waitlist_waiting`` counters (the event's and each type's) equal them;
    while booking is open the first of each type's does not fit the free
    tickets of the event and of its type (else it should have been served);
    an offered entry's booking is a hold, a fulfilled entry's was paid.

    And a seated event's seats (``_seat_problems``): its capacity is its
    unblocked seats; each live booking item has one live seat hold per
    ticket, of its own event and ticket type; no dead booking keeps a seat;
    a confirmed booking's tickets sit on its seats. (One live hold per seat
    is the database's own constraint.)
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
            "_free": capacity - taken if open_ else None,
        }

    found = [
        *_type_problems(event_ids, {e: row["_free"] for e, row in report.items()}, now),
        *_promo_problems(event_ids),
        *_item_problems(event_ids),
        *_booking_problems(event_ids),
        *_waitlist_problems(event_ids),
        *_seat_problems(event_ids),
    ]
    for event_id, message in found:
        if event_id in report:
            report[event_id]["problems"].append(message)
    for row in report.values():
        del row["_free"]
    return list(report.values())


def inventory_problems(event_ids=None, *, now: dt.datetime | None = None) -> list[dict]:
    """The rows of ``inventory_report`` that have problems; ``[]`` when every
    counter, ticket, payment and refund agrees."""
    return [row for row in inventory_report(event_ids, now=now) if row["problems"]]


def _live_sum(queryset, outer: str, field: str = "quantity") -> Coalesce:
    """The sum of ``field`` over ``queryset`` rows matching the outer row on ``outer``."""
    return Coalesce(
        Subquery(
            queryset.filter(**{outer: OuterRef("pk")})
            .order_by()
            .values(outer)
            .annotate(n=Sum(field))
            .values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


def _type_problems(event_ids, free_by_event: dict, now: dt.datetime):
    """``(event_id, sentence)`` for ticket types whose ``tickets_taken`` is not
    the tickets of their live items or is over the quota, whose
    ``waitlist_waiting`` is not their waiting entries, or whose first waiting
    entry fits the free tickets while booking is open (``free_by_event``:
    the event's free capacity, None while it is closed)."""
    waiting = WaitlistEntry.objects.filter(status=WaitlistStatus.WAITING)
    types = TicketType.objects.annotate(
        live=_live_sum(BookingItem.objects.filter(booking__status__in=LIVE), "ticket_type"),
        waiting_n=Coalesce(
            Subquery(
                waiting.filter(ticket_type=OuterRef("pk"))
                .order_by()
                .values("ticket_type")
                .annotate(n=Count("id"))
                .values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
        first_waiting=Subquery(
            waiting.filter(ticket_type=OuterRef("pk"))
            .order_by("created_at", "id")
            .values("quantity")[:1],
            output_field=IntegerField(),
        ),
    ).order_by()
    if event_ids is not None:
        types = types.filter(event_id__in=list(event_ids))
    for t in types:
        if t.tickets_taken != t.live:
            yield (
                t.event_id,
                f"ticket type {t.name}: tickets_taken is {t.tickets_taken} but held + "
                f"confirmed bookings hold {t.live} of its tickets",
            )
        if t.quota is not None and t.tickets_taken > t.quota:
            yield t.event_id, f"ticket type {t.name}: {t.tickets_taken} taken, over its quota"
        if t.waitlist_waiting != t.waiting_n:
            yield (
                t.event_id,
                f"ticket type {t.name}: waitlist_waiting is {t.waitlist_waiting} but "
                f"{t.waiting_n} entries are waiting",
            )
        free = free_by_event.get(t.event_id)
        if free is not None and t.quota is not None:
            free = min(free, t.quota - t.tickets_taken)
        if (
            free is not None
            and t.first_waiting is not None
            and t.first_waiting <= free
            and t.sale_closed_reason(now) is None
        ):
            yield (
                t.event_id,
                f"the first waiting entry for {t.name} wants {t.first_waiting} tickets and "
                f"{free} are free, but it was not served",
            )


def _promo_problems(event_ids):
    """``(event_id, sentence)`` for promo codes whose ``uses`` is not the
    tickets of the live bookings made with them, or is over ``max_uses``."""
    codes = PromoCode.objects.annotate(
        live=_live_sum(Booking.objects.filter(status__in=LIVE), "promo_code")
    ).order_by()
    if event_ids is not None:
        codes = codes.filter(event_id__in=list(event_ids))
    for code in codes:
        if code.uses != code.live:
            yield (
                code.event_id,
                f"promo code {code.code}: uses is {code.uses} but held + confirmed bookings "
                f"made with it hold {code.live} tickets",
            )
        if code.max_uses is not None and code.uses > code.max_uses:
            yield code.event_id, f"promo code {code.code}: {code.uses} uses, over max_uses"


def _item_problems(event_ids):
    """``(event_id, sentence)`` for bookings whose items do not add up to
    their quantity, subtotal and discount, or whose ``unit_price`` is not
    their one item's."""
    money = DecimalField(max_digits=12, decimal_places=2)
    bookings = (
        Booking.objects.annotate(
            item_quantity=Coalesce(Sum("items__quantity"), 0),
            item_count=Count("items"),
            item_price=Max("items__unit_price"),
            # Rounded: SQLite multiplies decimals as floats.
            item_subtotal=Round(
                Sum(F("items__quantity") * F("items__unit_price"), output_field=money), 2
            ),
            item_discount=Round(
                Sum(F("items__quantity") * F("items__discount"), output_field=money), 2
            ),
        )
        .filter(
            ~Q(item_quantity=F("quantity"))
            | ~Q(item_subtotal=Round(F("subtotal"), 2))
            | ~Q(item_discount=Round(F("discount"), 2))
            | Q(item_count=1) & ~Q(unit_price=F("item_price"))
            | Q(item_count__gt=1, unit_price__isnull=False)
        )
        .order_by()
    )
    if event_ids is not None:
        bookings = bookings.filter(event_id__in=list(event_ids))
    for booking in bookings:
        yield (
            booking.event_id,
            f"booking {booking.pk}: {booking.quantity} tickets, subtotal {booking.subtotal}, "
            f"discount {booking.discount}, unit price {booking.unit_price}, but its "
            f"{booking.item_count} items add up to {booking.item_quantity} tickets, "
            f"{booking.item_subtotal} and {booking.item_discount}",
        )


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


def _seat_problems(event_ids=None):
    """``(event_id, sentence)`` for seated events whose capacity is not their
    unblocked seats, live items without exactly one live seat hold per
    ticket (of the item's event and type), seats kept by dead bookings, and
    confirmed bookings whose tickets are not on their seats."""
    events = Event.objects.filter(seated=True)
    live_holds = SeatHold.objects.filter(released_at__isnull=True)
    items = BookingItem.objects.filter(booking__event__seated=True, booking__status__in=LIVE)
    tickets = Ticket.objects.filter(
        booking__event__seated=True, booking__status=BookingStatus.CONFIRMED, voided_at=None
    )
    if event_ids is not None:
        event_ids = list(event_ids)
        events = events.filter(pk__in=event_ids)
        live_holds = live_holds.filter(seat__event_id__in=event_ids)
        items = items.filter(booking__event_id__in=event_ids)
        tickets = tickets.filter(booking__event_id__in=event_ids)

    blocked = live_holds.filter(booking__isnull=True, seat__event=OuterRef("pk")).order_by()
    seats = Seat.objects.filter(event=OuterRef("pk")).order_by()
    for event_id, capacity, all_seats, blocked_n in events.annotate(
        all_seats=Coalesce(
            Subquery(
                seats.values("event").annotate(n=Count("id")).values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
        blocked_n=Coalesce(
            Subquery(
                blocked.values("seat__event").annotate(n=Count("id")).values("n"),
                output_field=IntegerField(),
            ),
            0,
        ),
    ).values_list("id", "capacity", "all_seats", "blocked_n"):
        if capacity != all_seats - blocked_n:
            yield (
                event_id,
                f"capacity {capacity} is not the {all_seats - blocked_n} unblocked seats",
            )

    item_holds = live_holds.filter(item=OuterRef("pk")).order_by()
    for item_id, event_id, quantity, held in (
        items.annotate(
            held=Coalesce(
                Subquery(
                    item_holds.values("item").annotate(n=Count("id")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            )
        )
        .exclude(held=F("quantity"))
        .values_list("id", "booking__event_id", "quantity", "held")
    ):
        yield event_id, f"booking item {item_id} of {quantity} tickets has {held} live seats"

    wrong = live_holds.filter(booking__isnull=False).filter(
        ~Q(seat__event_id=F("booking__event_id"))
        | ~Q(seat__ticket_type_id=F("item__ticket_type_id"))
        | ~Q(item__booking_id=F("booking_id"))
        | ~Q(booking__status__in=LIVE)
    )
    for seat_label, event_id, booking_id, status in wrong.values_list(
        "seat__label", "seat__event_id", "booking_id", "booking__status"
    ):
        yield (
            event_id,
            f"seat {seat_label} is held for booking {booking_id} ({status}) "
            "that is dead or not of its event and ticket type",
        )

    seated_right = live_holds.filter(booking=OuterRef("booking"), seat=OuterRef("seat"))
    for ticket_id, event_id in (
        tickets.filter(Q(seat__isnull=True) | ~Exists(seated_right))
        .values_list("id", "booking__event_id")
        .order_by()
    ):
        yield event_id, f"ticket {ticket_id} is not on one of its booking's seats"
