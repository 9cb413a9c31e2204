"""The seat map on a seated event's page (``/events/{id}/``): the SVG as the
server renders it (labels, statuses, prices, the legend), the forms that
book chosen seats or the best available ones, and what a seat taken first
by someone else looks like. Non-seated pages stay as they were."""

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, SeatHold
from bookings.tests.helpers import GOOD_CARD
from events import seat_map_page
from events.seating import seats_block
from events.tests.factories import make_event, make_promo_code, make_seat_plan, make_ticket_type

pytestmark = pytest.mark.django_db
BOOK = "/bookings/new/"


@pytest.fixture
def hall():
    """Stalls: rows A and B of 4 General admission seats (500.00 INR);
    Balcony: row C of 3 VIP seats (2499.00 INR). 11 seats."""
    event = make_event(name="Seated Hall", price=Decimal("500.00"), max_tickets_per_user=6)
    event.standard = event.ticket_types.get()
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("2499.00"), position=1)
    seats = make_seat_plan(
        event,
        [
            ("Stalls", [("A", 4, event.standard), ("B", 4, event.standard)]),
            ("Balcony", [("C", 3, event.vip)]),
        ],
    )
    event.seat = {seat.label: seat for seat in seats}
    return event


class _Seats(HTMLParser):
    """The seats of a page's map: ``{label: attributes}``."""

    def __init__(self):
        super().__init__()
        self.seats = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "circle" and "data-seat" in attrs:
            attrs["classes"] = set(attrs["class"].split())
            self.seats[attrs["data-label"]] = attrs


def seats_on(response) -> dict[str, dict]:
    parser = _Seats()
    parser.feed(response.content.decode())
    return parser.seats


def page(client, event, query: str = ""):
    response = client.get(f"/events/{event.pk}/{query}")
    assert response.status_code == 200
    return response


def reserve_seats(user, event, *labels) -> Booking:
    booking, _ = services.booking_reserve(
        user=user, event_id=event.pk, seats=[event.seat[label].pk for label in labels]
    )
    return booking


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the map as rendered -------------------------------------------------------------


def _sell_some(hall, customer, outsider, staff) -> None:
    """Stalls A-2 and B-1 held, Balcony C-1 sold, Stalls A-4 blocked."""
    reserve_seats(customer, hall, "Stalls A-2")
    reserve_seats(outsider, hall, "Stalls B-1")
    sold = reserve_seats(outsider, hall, "Balcony C-1")
    services.booking_pay(user=outsider, booking_id=sold.pk, card_number=GOOD_CARD)
    seats_block(actor=staff, event_id=hall.pk, seat_ids=[hall.seat["Stalls A-4"].pk], blocked=True)


def test_every_seat_is_drawn_with_its_label_type_price_and_status(
    client, hall, customer, outsider, staff
):
    _sell_some(hall, customer, outsider, staff)
    seats = seats_on(page(client, hall))

    assert len(seats) == 11
    assert seats["Stalls A-1"]["aria-label"] == "Stalls A-1, General admission, 500.00 INR, free"
    assert seats["Balcony C-2"]["aria-label"] == "Balcony C-2, VIP, 2499.00 INR, free"
    assert seats["Stalls A-2"]["aria-label"].endswith(", on hold")
    assert seats["Stalls B-1"]["aria-label"].endswith(", on hold")
    assert seats["Balcony C-1"]["aria-label"] == "Balcony C-1, VIP, 2499.00 INR, sold"
    assert seats["Stalls A-4"]["aria-label"].endswith(", not for sale")
    statuses = {"is-free", "is-held", "is-sold", "is-blocked"}
    status = {label: seat["classes"] & statuses for label, seat in seats.items()}
    assert status["Stalls A-1"] == {"is-free"}
    assert status["Stalls A-2"] == status["Stalls B-1"] == {"is-held"}
    assert status["Balcony C-1"] == {"is-sold"}
    assert status["Stalls A-4"] == {"is-blocked"}
    # Colour by ticket type: the two types have two colours.
    assert "seat-type-0" in seats["Stalls A-1"]["classes"]
    assert "seat-type-1" in seats["Balcony C-2"]["classes"]
    # Every seat is a checkbox; one of them is in the Tab order.
    assert {seat["role"] for seat in seats.values()} == {"checkbox"}
    assert [seat["tabindex"] for seat in seats.values()].count("0") == 1
    # The legend counts the free seats of each type.
    html = page(client, hall).content.decode()
    assert re.search(r'class="seat-type-free">5<', html)  # 8 stalls less A-2, B-1, A-4
    assert re.search(r'class="seat-type-free">2<', html)


def test_a_lapsed_hold_shows_its_seat_free(client, hall, outsider):
    booking = reserve_seats(outsider, hall, "Stalls A-1")
    assert "is-held" in seats_on(page(client, hall))["Stalls A-1"]["classes"]
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert "is-free" in seats_on(page(client, hall))["Stalls A-1"]["classes"]


def test_the_legend_gives_each_type_its_price_and_each_status(client, hall):
    html = page(client, hall).content.decode()
    legend = html[html.index('id="seat-types"') : html.index('class="seat-map-frame"')]
    assert re.search(r"General admission</span>\s*500.00 INR", legend)
    assert re.search(r"VIP</span>\s*2499.00 INR", legend)
    for status in ("Free", "Your choice", "On hold", "Sold", "Not for sale"):
        assert status in legend
    assert f'data-seats-url="/api/events/{hall.pk}/seats/"' in html
    assert 'data-refresh-seconds="5"' in html
    assert "js/seat-map.js" in html and "css/seat-map.css" in html


def test_a_promo_code_shows_its_price_on_the_seats(client, hall):
    make_promo_code(hall, code="HALF", discount_percent=50, ticket_types=[hall.vip])
    seats = seats_on(page(client, hall, "?promo_code=HALF"))
    assert seats["Balcony C-1"]["aria-label"] == "Balcony C-1, VIP, 1249.50 INR, free"
    assert seats["Stalls A-1"]["aria-label"] == "Stalls A-1, General admission, 500.00 INR, free"


def test_anyone_sees_the_map_but_only_a_logged_in_buyer_can_pick(client, hall, customer):
    response = page(client, hall)
    assert {seat["aria-disabled"] for seat in seats_on(response).values()} == {"true"}
    assert b'id="seat-form"' not in response.content
    assert b"Log in to book" in response.content

    client.force_login(customer)
    response = page(client, hall)
    assert {seat["aria-disabled"] for seat in seats_on(response).values()} == {"false"}
    html = response.content.decode()
    assert 'id="seat-form"' in html and 'name="pick_seats"' in html
    assert "Book chosen seats" in html
    # Best available: the quantity pickers by type, without seats.
    best = html[html.index('id="best-available"') :]
    assert "Book best available" in best
    assert 'name="quantity"' in best and "pick_seats" not in best


def test_seats_of_a_type_off_sale_cannot_be_picked(client, hall, customer):
    hall.vip.sale_ends_at = timezone.now() - dt.timedelta(hours=1)
    hall.vip.save()
    client.force_login(customer)
    seats = seats_on(page(client, hall))
    assert seats["Balcony C-1"]["aria-disabled"] == "true"
    assert seats["Balcony C-1"]["aria-label"].endswith(", not on sale now")
    assert seats["Stalls A-1"]["aria-disabled"] == "false"


def test_a_page_without_a_plan_is_unchanged(client, customer):
    event = make_event(name="Standing Gig", capacity=20)
    client.force_login(customer)
    html = page(client, event).content.decode()
    assert "seat-map" not in html and "<svg" not in html
    assert 'id="id_quantity"' in html
    assert re.search(
        r'<button type="submit" class="btn btn-primary btn-lg w-100">Book</button>', html
    )


def test_a_large_plan_is_shown_a_section_at_a_time(client, hall, monkeypatch):
    monkeypatch.setattr(seat_map_page, "MAX_SEATS_SHOWN", 10)
    html = page(client, hall).content.decode()
    assert not seats_on(page(client, hall))
    assert 'aria-label="Stalls: 8 of 8 seats free"' in html
    assert 'href="?section=Balcony"' in html

    response = page(client, hall, "?section=Balcony")
    assert sorted(seats_on(response)) == ["Balcony C-1", "Balcony C-2", "Balcony C-3"]
    assert b'data-refresh-seconds="15"' in response.content  # the whole plan, less often


# --- booking from the map --------------------------------------------------------------


def test_booking_chosen_seats_holds_exactly_those(client, hall, customer):
    client.force_login(customer)
    chosen = [hall.seat["Stalls B-2"].pk, hall.seat["Balcony C-3"].pk]
    response = client.post(
        BOOK, {"event": hall.pk, "pick_seats": "1", "seats": [str(pk) for pk in chosen]}
    )
    booking = Booking.objects.get(user=customer)
    assert response.status_code == 302
    assert response["Location"] == f"/bookings/{booking.pk}/"
    assert booking.status == BookingStatus.HELD
    assert booking.total_price == Decimal("2999.00")
    held = SeatHold.objects.filter(booking=booking, released_at__isnull=True)
    assert set(held.values_list("seat_id", flat=True)) == set(chosen)


def test_a_seat_taken_first_is_named_marked_and_nothing_is_booked(client, hall, customer, outsider):
    reserve_seats(outsider, hall, "Stalls A-1")
    client.force_login(customer)
    taken, still_free = hall.seat["Stalls A-1"].pk, hall.seat["Stalls A-2"].pk
    response = client.post(
        BOOK, {"event": hall.pk, "pick_seats": "1", "seats": [str(taken), str(still_free)]}
    )
    assert response.status_code == 302
    path, query = response["Location"].split("?")
    assert path == f"/events/{hall.pk}/"
    assert parse_qs(query) == {"seat": [str(still_free)], "taken": [str(taken)]}
    assert not Booking.objects.filter(user=customer).exists()
    assert messages_of(response) == [
        "Seat Stalls A-1 was just taken by someone else. Nothing was booked: choose another seat."
    ]

    back = client.get(response["Location"])
    seats = seats_on(back)
    assert {"is-held", "is-lost"} <= seats["Stalls A-1"]["classes"]
    assert seats["Stalls A-1"]["aria-checked"] == "false"
    # The other seat is still chosen, in the map and in the Book form.
    assert "is-chosen" in seats["Stalls A-2"]["classes"]
    assert seats["Stalls A-2"]["aria-checked"] == "true"
    html = back.content.decode()
    assert f'<input type="hidden" name="seats" value="{still_free}">' in html
    assert "1 seat, total 500.00 INR" in html
    assert "Taken by someone else just before you: Stalls A-1." in html


def test_book_without_a_seat_says_to_choose_one(client, hall, customer):
    client.force_login(customer)
    response = client.post(BOOK, {"event": hall.pk, "pick_seats": "1"})
    assert response["Location"] == f"/events/{hall.pk}/"
    assert messages_of(response) == ["Choose at least one free seat on the map."]
    response = client.post(BOOK, {"event": hall.pk, "pick_seats": "1", "seats": "B-12"})
    assert messages_of(response)[-1] == "That seat could not be found."
    assert not Booking.objects.exists()


def test_best_available_lets_the_service_choose_the_seats(client, hall, customer):
    client.force_login(customer)
    response = client.post(
        BOOK,
        {
            "event": hall.pk,
            "ticket_type": [hall.standard.pk, hall.vip.pk],
            "quantity": ["0", "2"],
        },
    )
    booking = Booking.objects.get(user=customer)
    assert response["Location"] == f"/bookings/{booking.pk}/"
    held = SeatHold.objects.filter(booking=booking, released_at__isnull=True)
    assert sorted(held.values_list("seat__label", flat=True)) == ["Balcony C-1", "Balcony C-2"]
