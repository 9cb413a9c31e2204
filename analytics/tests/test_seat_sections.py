"""A seated event's seats per section in its analytics: ``sections`` of
`GET /api/analytics/events/{id}/` and the table of the dashboard's event page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Booking, SeatHold
from bookings.tests.helpers import GOOD_CARD
from events.tests.factories import make_event, make_seat_plan, make_ticket_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def arena(customer, outsider):
    """Floor: 4 seats, 2 sold and 1 held; Tier: 3 seats, 1 blocked and 1 in
    a hold that ran out (free again)."""
    event = make_event(name="Arena", max_tickets_per_user=10)
    floor_type = event.ticket_types.get()
    tier_type = make_ticket_type(event, name="Tier", price=Decimal("200.00"))
    seats = make_seat_plan(
        event, [("Floor", [("A", 4, floor_type)]), ("Tier", [("T", 3, tier_type)])]
    )
    sold, _ = services.booking_reserve(
        user=customer, event_id=event.pk, seats=[seats[0].pk, seats[1].pk]
    )
    services.booking_pay(user=customer, booking_id=sold.pk, card_number=GOOD_CARD)
    services.booking_reserve(user=outsider, event_id=event.pk, seats=[seats[2].pk])
    SeatHold.objects.create(seat=seats[4])  # blocked
    lapsed, _ = services.booking_reserve(user=outsider, event_id=event.pk, seats=[seats[5].pk])
    Booking.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    return event


def test_event_figures_give_the_seats_per_section(arena, staff_api):
    body = staff_api.get(f"/api/analytics/events/{arena.pk}/").json()
    assert body["sections"] == [
        {"name": "Floor", "seats": 4, "sold": 2, "held": 1, "blocked": 0, "free": 1},
        {"name": "Tier", "seats": 3, "sold": 0, "held": 0, "blocked": 1, "free": 2},
    ]


def test_an_unseated_event_has_no_sections(staff_api):
    body = staff_api.get(f"/api/analytics/events/{make_event().pk}/").json()
    assert body["sections"] == []


def test_the_dashboard_event_page_shows_seats_per_section(arena, client, staff):
    client.force_login(staff)
    html = client.get(f"/dashboard/events/{arena.pk}/").content.decode()
    assert "Seats per section" in html
    floor = html[html.index('data-section="Floor"') :].split("</tr>")[0]
    assert floor.count('<td class="text-end">') == 5
    assert (
        '<td class="text-end">4</td><td class="text-end">2</td><td class="text-end">1</td>'
        '<td class="text-end">0</td><td class="text-end">1</td>'
    ) in floor
