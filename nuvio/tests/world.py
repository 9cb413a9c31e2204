"""A small world of objects for the cross-cutting tests (authorization matrix,
schema fuzzing): one of everything a customer can own, and the same for an
outsider, made through the services."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from rest_framework.authtoken.models import Token

from bookings import services
from bookings.models import Booking, Notification, Ticket, WaitlistEntry
from events import services as event_services
from events.models import Event, EventStatus, PromoCode, TicketType
from events.tests.factories import make_event

GOOD_CARD = "4242424242424242"


@dataclass
class World:
    event: Event  # published, plenty of tickets, no waiting list
    fresh: Event  # published, never booked (may be deleted)
    draft: Event
    soldout: Event  # the customer waits on its list
    soldout2: Event  # sold out, nobody waits yet
    tiers: Event  # published, several ticket types and promo codes, never booked
    standard: TicketType  # public, of `tiers`
    vip: TicketType  # public, of `tiers` (may be deleted)
    hidden_type: TicketType  # hidden, of `tiers`, unlocked by `promo`
    promo: PromoCode  # of `tiers`, never used (may be deleted)
    held: Booking  # the customer's hold on `event`
    confirmed: Booking  # the customer's paid booking on `event`
    ticket: Ticket
    notification: Notification
    entry: WaitlistEntry
    other_booking: Booking  # the outsider's paid booking
    other_ticket: Ticket
    tokens: dict[str, str]


def _pay(user, booking) -> Booking:
    return services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)


def build_world(*, staff, customer, outsider) -> World:
    starts = timezone.now() + dt.timedelta(days=30)
    event = make_event(name="Matrix Night", capacity=50, starts_at=starts)
    fresh = make_event(name="Fresh Fest", capacity=10, starts_at=starts)
    draft = make_event(name="Draft Days", status=EventStatus.DRAFT, starts_at=starts)
    soldout = make_event(name="Sold Out Show", capacity=2, starts_at=starts)
    soldout2 = make_event(name="Also Sold Out", capacity=1, starts_at=starts)

    def hold(user, on, quantity=1):
        return services.booking_reserve(user=user, event_id=on.pk, quantity=quantity)[0]

    held = hold(customer, event)
    confirmed = _pay(customer, hold(customer, event, 2))
    other_booking = _pay(outsider, hold(outsider, event))
    _pay(outsider, hold(outsider, soldout, 2))
    _pay(outsider, hold(outsider, soldout2))
    entry = services.waitlist_join(user=customer, event_id=soldout.pk, quantity=1)
    tiers = event_services.event_create(
        actor=staff,
        data={
            "name": "Tiered Tour", "venue_name": "Hall", "city": "Pune", "capacity": 40,
            "starts_at": starts, "ends_at": starts + dt.timedelta(hours=3),
            "status": EventStatus.PUBLISHED,
            "ticket_types": [
                {"name": "Standard", "price": Decimal("300.00")},
                {"name": "VIP", "price": Decimal("900.00"), "quota": 10},
                {"name": "Press", "price": Decimal("0.00"), "hidden": True},
            ],
        },
    )  # fmt: skip
    types = {t.name: t for t in tiers.ticket_types.all()}
    promo = event_services.promo_code_create(
        actor=staff,
        event_id=tiers.pk,
        data={"code": "PRESS", "discount_percent": 0, "unlocks": [types["Press"]]},
    )
    tokens = {
        name: Token.objects.get_or_create(user=user)[0].key
        for name, user in (("staff", staff), ("customer", customer), ("outsider", outsider))
    }
    return World(
        event=event,
        fresh=fresh,
        draft=draft,
        soldout=soldout,
        soldout2=soldout2,
        tiers=tiers,
        standard=types["Standard"],
        vip=types["VIP"],
        hidden_type=types["Press"],
        promo=promo,
        held=held,
        confirmed=confirmed,
        ticket=confirmed.tickets.order_by("id").first(),
        notification=Notification.objects.filter(user=customer).order_by("created_at").first(),
        entry=entry,
        other_booking=other_booking,
        other_ticket=other_booking.tickets.first(),
        tokens=tokens,
    )
