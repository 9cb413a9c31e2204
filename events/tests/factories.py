"""Test helpers to make events quickly."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from events.models import Event, EventStatus, PromoCode, Seat, TicketType

GENERAL_ADMISSION = "General admission"


def make_event(*, general_admission: bool = True, **overrides) -> Event:
    """A published event a month ahead. Like an event created through the
    API with a ``price``, it sells one public "General admission" type at
    that price with no quota of its own (its counters those of the event);
    ``general_admission=False`` makes it with no type (add them with
    ``make_ticket_type``)."""
    starts_at = overrides.pop("starts_at", timezone.now() + dt.timedelta(days=30))
    fields = {
        "name": "Test Event",
        "venue_name": "Test Hall",
        "city": "Mumbai",
        "starts_at": starts_at,
        "ends_at": overrides.pop("ends_at", starts_at + dt.timedelta(hours=3)),
        "capacity": 100,
        "price": Decimal("500.00"),
        "currency": "INR",
        "status": EventStatus.PUBLISHED,
    }
    fields.update(overrides)
    event = Event.objects.create(**fields)
    if general_admission:
        make_ticket_type(
            event,
            name=GENERAL_ADMISSION,
            price=event.price,
            tickets_taken=event.tickets_taken,
            waitlist_waiting=event.waitlist_waiting,
        )
    return event


def make_ticket_type(event: Event, **overrides) -> TicketType:
    fields = {"name": "Standard", "price": event.price}
    fields.update(overrides)
    return TicketType.objects.create(event=event, **fields)


def make_promo_code(event: Event, **overrides) -> PromoCode:
    """A code of ``event``; ``ticket_types`` and ``unlocks`` take lists."""
    ticket_types = overrides.pop("ticket_types", [])
    unlocks = overrides.pop("unlocks", [])
    fields = {"code": "SAVE10", "discount_percent": 10}
    fields.update(overrides)
    promo = PromoCode.objects.create(event=event, **fields)
    promo.ticket_types.set(ticket_types)
    promo.unlocks.set(unlocks)
    return promo


def make_seat_plan(event: Event, layout) -> list[Seat]:
    """A seating plan for ``event`` written straight to the database:
    ``layout`` is ``[(section, [(row, seats, ticket_type), ...]), ...]`` with
    seats numbered 1..n along each row. The event becomes seated, its
    capacity the number of seats. Returns the seats in the plan's order."""
    seats, row_index = [], 0
    for s, (section, rows) in enumerate(layout):
        for r, (row, count, ticket_type) in enumerate(rows):
            for n in range(1, count + 1):
                seats.append(
                    Seat(
                        event=event,
                        section=section,
                        row=row,
                        number=str(n),
                        label=Seat.label_for(section, row, str(n)),
                        x=float(n * 10),
                        y=float((s * 20 + r) * 10),
                        ticket_type=ticket_type,
                        row_index=row_index,
                        position=len(seats),
                    )
                )
            row_index += 1
    Seat.objects.bulk_create(seats)
    Event.objects.filter(pk=event.pk).update(seated=True, capacity=len(seats))
    event.refresh_from_db()
    return seats
