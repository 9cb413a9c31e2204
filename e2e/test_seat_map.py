"""Reserved seating in the browser: a buyer picks seats on the seat map by
mouse and by keyboard, sees the total, books and lands on the hold with
those seats; another buyer's seats show up as taken while the page is open,
and a chosen seat someone else took is let go with a message. Screenshots:
``artifacts/e2e/seat-map-*.png``.
"""

import re
from decimal import Decimal

import pytest
from django.db.models import F

from bookings import services
from bookings.models import Booking, SeatHold
from e2e.helpers import expect, log_in, make_user
from events.models import Seat
from events.tests.factories import make_event, make_seat_plan, make_ticket_type

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
# The page asks for the seats every 5 to 7 s and they are at most 2 s old.
REFRESHED_MS = 20_000


def _hall():
    """Stalls: rows A and B of 8 seats at 500.00 INR; Balcony: row C of 6
    VIP seats at 2499.00 INR, behind them."""
    event = make_event(
        name="Sitar Under the Stars", city="Udaipur", price=Decimal("500.00"),
        max_tickets_per_user=6,
    )  # fmt: skip
    standard = event.ticket_types.get()
    vip = make_ticket_type(event, name="VIP", price=Decimal("2499.00"), position=1)
    seats = make_seat_plan(
        event,
        [("Stalls", [("A", 8, standard), ("B", 8, standard)]), ("Balcony", [("C", 6, vip)])],
    )
    # The balcony two rows behind the stalls, centred on them.
    Seat.objects.filter(event=event, section="Balcony").update(x=F("x") + 10, y=30)
    event.seat = {seat.label: seat for seat in seats}
    return event


def _seat(page, label):
    return page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(label)},"))


def test_buyer_picks_seats_by_mouse_and_keyboard_and_books_them(browse):
    hall = _hall()
    make_user("meera@example.com", "Meera Iyer")
    person = browse("seat-map-buyer")
    page = person.page
    log_in(person, "meera@example.com")
    person.goto(f"/events/{hall.pk}/")

    expect(page.get_by_role("heading", name="Choose your seats")).to_be_visible()
    expect(page.locator("#seat-map circle[data-seat]")).to_have_count(22)
    expect(_seat(page, "Balcony C-2")).to_have_attribute(
        "aria-label", "Balcony C-2, VIP, 2499.00 INR, free"
    )
    person.shot("01-map")

    # Two seats by mouse.
    _seat(page, "Stalls A-3").click()
    _seat(page, "Balcony C-2").click()
    expect(_seat(page, "Stalls A-3")).to_have_attribute("aria-checked", "true")
    expect(_seat(page, "Balcony C-2")).to_have_attribute("aria-checked", "true")
    # Hovering shows the seat's price.
    _seat(page, "Stalls B-6").hover()
    expect(page.locator("#seat-tip")).to_have_text(
        "Stalls B-6, General admission, 500.00 INR, free"
    )

    # One by keyboard: the map is one Tab stop (the seat last used), the
    # arrows move, Space chooses.
    _seat(page, "Balcony C-2").focus()
    page.keyboard.press("ArrowUp")  # the seat in front: Stalls B-3
    expect(_seat(page, "Stalls B-3")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(_seat(page, "Stalls B-2")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(_seat(page, "Stalls B-3")).to_be_focused()
    page.keyboard.press("Space")
    expect(_seat(page, "Stalls B-3")).to_have_attribute("aria-checked", "true")
    # Enter lets a seat go and chooses it again.
    page.keyboard.press("Enter")
    expect(_seat(page, "Stalls B-3")).to_have_attribute("aria-checked", "false")
    page.keyboard.press("Enter")
    expect(_seat(page, "Stalls B-3")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#seat-map-status")).to_contain_text("Stalls B-3 chosen.")

    summary = page.locator("#seat-form")
    expect(summary.locator("#seat-choice li")).to_have_count(3)
    expect(summary.locator("#seat-total")).to_have_text("3 seats, total 3499.00 INR")
    expect(page.locator("#seat-form input[name=seats]")).to_have_count(3)
    person.shot("02-three-seats-chosen")
    page.get_by_role("button", name="Book chosen seats").focus()  # the tooltip goes
    expect(page.locator("#seat-tip")).to_be_hidden()
    page.locator("#seat-map").screenshot(path=str(person.artifacts / "seat-map-map.png"))

    page.get_by_role("button", name="Book chosen seats").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    booking = Booking.objects.get(user__email="meera@example.com")
    held = SeatHold.objects.filter(booking=booking, released_at__isnull=True)
    assert sorted(held.values_list("seat__label", flat=True)) == [
        "Balcony C-2",
        "Stalls A-3",
        "Stalls B-3",
    ]
    assert booking.total_price == Decimal("3499.00")
    for label in ("Stalls A-3", "Stalls B-3", "Balcony C-2"):
        expect(page.locator("main")).to_contain_text(label)
    person.shot("03-booked")

    # Back on the map, those seats are held now.
    person.goto(f"/events/{hall.pk}/")
    expect(_seat(page, "Stalls A-3")).to_have_attribute("aria-disabled", "true")
    expect(_seat(page, "Stalls A-3")).to_have_attribute(
        "aria-label", "Stalls A-3, General admission, 500.00 INR, on hold"
    )


def test_seats_taken_by_another_buyer_show_up_while_the_page_is_open(browse):
    hall = _hall()
    make_user("arjun@example.com", "Arjun Rao")
    rival = make_user("rival@example.com", "Quick Rival")
    person = browse("seat-map-refresh")
    page = person.page
    log_in(person, "arjun@example.com")
    person.goto(f"/events/{hall.pk}/")
    _seat(page, "Stalls A-5").click()
    _seat(page, "Stalls A-6").click()
    expect(page.locator("#seat-total")).to_have_text("2 seats, total 1000.00 INR")

    # Someone else holds A-5 (chosen here) and C-1 (not) while the page is open.
    services.booking_reserve(
        user=rival,
        event_id=hall.pk,
        seats=[hall.seat["Stalls A-5"].pk, hall.seat["Balcony C-1"].pk],
    )
    lost = _seat(page, "Stalls A-5")
    expect(lost).to_have_attribute("aria-checked", "false", timeout=REFRESHED_MS)
    expect(lost).to_have_class(re.compile(r"\bis-held\b"))
    expect(lost).to_have_class(re.compile(r"\bis-lost\b"))
    expect(lost).to_have_attribute("aria-disabled", "true")
    expect(_seat(page, "Balcony C-1")).to_have_class(re.compile(r"\bis-held\b"))
    expect(page.locator("#seat-map-status")).to_contain_text(
        "Stalls A-5 was just taken by someone else"
    )
    expect(page.locator("#seat-total")).to_have_text("1 seat, total 500.00 INR")
    expect(page.locator("#seat-form input[name=seats]")).to_have_count(1)
    person.shot("01-seat-taken-meanwhile")

    # A taken seat cannot be chosen again (the browser clicks it all the same).
    lost.click(force=True)
    expect(lost).to_have_attribute("aria-checked", "false")
    expect(page.locator("#seat-map-status")).to_contain_text("it cannot be chosen")

    # What is left books as it is.
    page.get_by_role("button", name="Book chosen seats").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    booking = Booking.objects.get(user__email="arjun@example.com")
    assert list(booking.seat_holds.values_list("seat__label", flat=True)) == ["Stalls A-6"]
    person.shot("02-booked-what-was-left")
