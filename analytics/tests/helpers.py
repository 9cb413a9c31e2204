"""A small world of bookings in every state, with the figures computed by
hand, for the analytics tests.

Three days, D1..D3 (UTC), and four events; "now" is D3 12:00. The bookings,
by creation day (refund tiers 7:100, 2:50, 0:0; holds last 15 minutes):

D1  #1  Alpha  2 x 100  confirmed
    #2  Alpha  1 x 100  confirmed, cancelled on D2 (30 days ahead): 100 % refund, 100.00
    #3  Beta   1 x 250  hold, released as expired
D2  #4  Beta   2 x 250  confirmed, cancelled on D3 (4 days ahead): 50 % refund, 250.00
    #5  Gamma  3 x 40   confirmed, cancelled on D3 (27 hours ahead): 0 % refund, 0.00
    #6  Alpha  1 x 100  hold, cancelled by its holder (no payment)
    #7  Echo   2 x 80   hold released (and its tickets resold) while the card was being
                        charged: payment 160.00 refunded at once, "not_honoured"
    #8  Echo   2 x 80   the resold hold, confirmed
D3  #9  Alpha  2 x 100  hold, still running at now (created 11:55)
    #10 Gamma  1 x 40   hold, lapsed at now (created 10:00) but not released
    #11 Beta   1 x 250  confirmed
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from bookings import services
from bookings.gateway import MockGateway
from bookings.tests.helpers import GOOD_CARD, confirmed, hold
from events.models import Category, Event
from events.tests.factories import make_event
from nuvio.errors import HoldExpired

D1, D2, D3 = dt.date(2026, 3, 8), dt.date(2026, 3, 9), dt.date(2026, 3, 10)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


NOW = at(D3, 12)


class LosingGateway(MockGateway):
    """The mock gateway, running ``during_charge`` after charging the card."""

    during_charge = staticmethod(lambda: None)

    def charge(self, **kwargs):
        result = super().charge(**kwargs)
        type(self).during_charge()
        return result


@dataclass
class World:
    alpha: Event
    beta: Event
    gamma: Event
    echo: Event
    idle: Event  # no bookings at all
    bookings: dict


def settle() -> int:
    """Apply queued roll-up refreshes (production mode; the embedded mode
    refreshes right after commit), as the beat task does every 2 seconds."""
    from analytics.services import rollups_drain

    return rollups_drain()


def build_world(*, customer, outsider, time_machine, settings, capture) -> World:
    """Make the bookings of the module docstring through the booking services;
    ``capture`` is pytest-django's ``django_capture_on_commit_callbacks``."""
    settings.NUVIO_HOLD_SECONDS = 900
    settings.NUVIO_REFUND_TIERS = [(7, 100), (2, 50), (0, 0)]
    settings.NUVIO_PAYMENT_GATEWAY = "analytics.tests.helpers.LosingGateway"
    time_machine.move_to(at(D1, 9), tick=False)

    def event(name, category, capacity, price, starts_at):
        return make_event(
            name=name,
            category=category,
            capacity=capacity,
            price=Decimal(price),
            starts_at=starts_at,
            max_tickets_per_user=10,
        )

    alpha = event("Alpha Concert", Category.MUSIC, 20, "100.00", NOW + dt.timedelta(days=30))
    beta = event("Beta Conference", Category.CONFERENCE, 10, "250.00", NOW + dt.timedelta(days=4))
    gamma = event("Gamma Workshop", Category.WORKSHOP, 50, "40.00", NOW + dt.timedelta(hours=27))
    echo = event("Echo Comedy", Category.COMEDY, 2, "80.00", NOW + dt.timedelta(days=20))
    idle = event("Idle Theatre", Category.THEATRE, 30, "10.00", NOW + dt.timedelta(days=40))
    b = {}

    def cancel(user, booking):
        return services.booking_cancel(user=user, booking_id=booking.pk)

    with capture(execute=True):
        time_machine.move_to(at(D1, 10), tick=False)
        b[1] = confirmed(customer, alpha, 2)
        b[2] = confirmed(outsider, alpha, 1)
        b[3] = hold(customer, beta, 1)
        time_machine.move_to(at(D1, 11), tick=False)
        services.holds_release_expired()

        time_machine.move_to(at(D2, 10), tick=False)
        cancel(outsider, b[2])
        b[4] = confirmed(customer, beta, 2)
        b[5] = confirmed(customer, gamma, 3)
        b[6] = hold(outsider, alpha, 1)
        cancel(outsider, b[6])
        b[7] = hold(customer, echo, 2)

        def lose_the_tickets():
            services.holds_release_expired(now=b[7].expires_at + dt.timedelta(seconds=1))
            b[8] = hold(outsider, echo, 2)

        LosingGateway.during_charge = staticmethod(lose_the_tickets)
        try:
            services.booking_pay(user=customer, booking_id=b[7].pk, card_number=GOOD_CARD)
        except HoldExpired:
            pass
        else:  # pragma: no cover
            raise AssertionError("the hold should have been lost")
        finally:
            LosingGateway.during_charge = staticmethod(lambda: None)
        services.booking_pay(user=outsider, booking_id=b[8].pk, card_number=GOOD_CARD)

        time_machine.move_to(at(D3, 9), tick=False)
        cancel(customer, b[4])
        cancel(customer, b[5])
        time_machine.move_to(at(D3, 10), tick=False)
        b[10] = hold(outsider, gamma, 1)
        b[11] = confirmed(outsider, beta, 1)
        time_machine.move_to(at(D3, 11, 55), tick=False)
        b[9] = hold(customer, alpha, 2)
        time_machine.move_to(NOW, tick=False)
    settle()
    return World(alpha=alpha, beta=beta, gamma=gamma, echo=echo, idle=idle, bookings=b)


# The figures of the whole world (D1..D3, every event), by hand.
EXPECTED_SUMMARY = {
    "bookings": {"total": 11, "held": 1, "confirmed": 3, "cancelled": 4, "expired": 3},
    "tickets_sold": 5,
    "revenue": "1490.00",  # 200 + 100 + 500 + 120 + 160 + 160 + 250
    "refunded": "510.00",  # 100 + 250 + 0 + 160
    "net_revenue": "980.00",
    "cancellation_rate": 0.5,  # paid then cancelled (#2, #4, #5) / ever paid (6)
    "utilization": 0.061,  # 5 tickets / (20 + 10 + 50 + 2)
    "currency": "INR",
}
EXPECTED_DAILY = [
    {"date": "2026-03-08", "bookings": 3, "tickets": 2, "revenue": "300.00", "cancellations": 1},
    {"date": "2026-03-09", "bookings": 5, "tickets": 2, "revenue": "940.00", "cancellations": 3},
    {"date": "2026-03-10", "bookings": 3, "tickets": 1, "revenue": "250.00", "cancellations": 0},
]
