"""The user journeys, clicked through in a real browser (Chromium).

A customer signs up, searches, books, pays (a declined card, then a good one),
gets tickets with QR codes, and cancels with a refund; another books two
ticket types with a promo code that unlocks a hidden one; a sold-out event offers
its waiting list; staff read the dashboard's charts and check a ticket in
twice at the door. Screenshots of every step: ``artifacts/e2e/``.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.services import rollups_rebuild
from bookings import services
from bookings.models import Booking, BookingStatus, Ticket
from e2e.helpers import (
    DECLINED_CARD,
    GOOD_CARD,
    PASSWORD,
    chart_state,
    expect,
    log_in,
    make_user,
)
from events.tests.factories import make_event, make_promo_code, make_ticket_type

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TIMES = "\u00d7"  # as the booking page writes it


def test_customer_signs_up_books_pays_and_cancels_with_a_refund(browse):
    jazz = make_event(
        name="Monsoon Jazz Night",
        city="Pune",
        venue_name="Blue Frog",
        price=Decimal("499.00"),
        capacity=50,
        starts_at=timezone.now() + dt.timedelta(days=30),
    )
    make_event(name="Data Summit", city="Bengaluru", category="conference")

    person = browse("journey-customer")
    page = person.page

    # Sign up.
    person.goto("/accounts/signup/")
    page.get_by_label("Your name").fill("Priya Raman")
    page.get_by_label("E-mail address").fill("priya@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    person.shot("01-signup-form")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("Welcome to Nuvio, Priya!")
    expect(page.get_by_role("link", name="Priya Raman")).to_be_visible()
    person.shot("02-signed-up")

    # Search.
    page.get_by_label("Search", exact=True).fill("jazz")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-heading")).to_contain_text("1 event")
    expect(page.get_by_role("link", name="Monsoon Jazz Night")).to_be_visible()
    expect(page.get_by_role("link", name="Data Summit")).to_have_count(0)
    person.shot("03-search-results")

    # Open the event.
    page.get_by_role("link", name="Monsoon Jazz Night").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Monsoon Jazz Night")
    expect(page.get_by_text("50 tickets left")).to_be_visible()
    person.shot("04-event")

    # Book 2 tickets: a hold with a live countdown.
    page.get_by_label("Number of tickets").select_option("2")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    expect(page.get_by_role("alert").first).to_contain_text("2 tickets held for you")
    timer = page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^\d{1,3}:\d\d$"))
    first = timer.inner_text()
    page.wait_for_function(
        "first => document.querySelector('[role=timer]').textContent !== first", arg=first
    )
    person.shot("05-hold-countdown")
    booking = Booking.objects.get(user__email="priya@example.com")
    assert booking.status == BookingStatus.HELD and booking.quantity == 2
    assert booking.event_id == jazz.pk

    # A declined card: the error is next to the field and the hold stays.
    page.get_by_label("Card number").fill(DECLINED_CARD)
    page.get_by_role("button", name="Pay INR 998.00").click()
    expect(page.locator("#id_card_number_errors")).to_contain_text("declined")
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    expect(page.get_by_role("timer")).to_be_visible()
    person.shot("06-card-declined")

    # A good card: confirmed, with two tickets and their QR codes.
    page.get_by_label("Card number").fill(GOOD_CARD)
    page.get_by_role("button", name="Pay INR 998.00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You're going!")
    expect(page.get_by_role("alert").first).to_contain_text("Payment received")
    tickets = page.locator("li.ticket")
    expect(tickets).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('li.ticket img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    widths = page.eval_on_selector_all(
        "li.ticket img", "imgs => imgs.map(img => [img.getAttribute('src'), img.naturalWidth])"
    )
    codes = sorted(Ticket.objects.filter(booking=booking).values_list("code", flat=True))
    assert sorted(src for src, _ in widths) == [f"/tickets/{code}.svg" for code in codes]
    assert all(width > 0 for _, width in widths)
    person.shot("07-paid-tickets")

    # Cancel more than 7 days before: everything back.
    page.get_by_role("button", name="Cancel and get INR 998.00 back").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Booking cancelled")
    expect(page.get_by_role("alert").first).to_contain_text("INR 998.00 (100 %) is being refunded")
    expect(page.locator(".refund")).to_contain_text("INR 998.00 (100 %)")
    person.shot("08-cancelled-refund")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.refunds.get().amount == Decimal("998.00")


def test_customer_books_two_ticket_types_with_a_promo_code(browse):
    event = make_event(
        name="Kochi Biennale Nights",
        city="Kochi",
        price=Decimal("500.00"),
        capacity=100,
        max_tickets_per_user=6,
        general_admission=False,
    )
    standard = make_ticket_type(event, name="Standard", price=Decimal("500.00"), position=1)
    make_ticket_type(event, name="VIP", price=Decimal("1500.00"), quota=10, position=2)
    backstage = make_ticket_type(
        event, name="Backstage", price=Decimal("2000.00"), quota=4, hidden=True, position=3
    )
    make_promo_code(event, code="FRIENDS", discount_percent=10, unlocks=[backstage])
    make_user("meera@example.com", "Meera Nair")

    person = browse("journey-ticket-types")
    page = person.page
    log_in(person, "meera@example.com")
    person.goto(f"/events/{event.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kochi Biennale Nights")
    expect(page.locator(".ticket-type")).to_have_count(2)  # the hidden type is not shown
    expect(page.get_by_text("Backstage")).to_have_count(0)

    # Two Standard tickets: the live total comes from the quote, nothing is held.
    page.get_by_label("Number of Standard tickets").select_option("2")
    total = page.locator("#book-total")
    expect(total).to_have_text("Total: INR 1000.00")
    person.shot("01-two-standard")

    # A wrong code: said next to the field, what was typed and chosen stays.
    page.get_by_label("Promo code").fill("FRIEND")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#id_promo_code_errors")).to_have_text(
        "There is no such promo code for this event."
    )
    expect(page.get_by_label("Promo code")).to_have_value("FRIEND")
    expect(page.get_by_label("Number of Standard tickets")).to_have_value("2")
    person.shot("02-unknown-code")

    # The right code: the hidden type appears and the prices drop by 10 %.
    page.get_by_label("Promo code").fill("friends")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#promo-applied")).to_contain_text("FRIENDS")
    expect(page.locator(".ticket-type")).to_have_count(3)
    backstage_row = page.locator(f'.ticket-type[data-ticket-type="{backstage.pk}"]')
    expect(backstage_row).to_contain_text("With your code")
    expect(backstage_row.locator("ins")).to_contain_text("1800.00 INR")
    expect(page.get_by_label("Number of Standard tickets")).to_have_value("2")
    expect(total).to_have_text("Total: INR 900.00 (INR 1000.00 less INR 100.00 with your code)")
    page.get_by_label("Number of Backstage tickets").select_option("1")
    expect(total).to_have_text("Total: INR 2700.00 (INR 3000.00 less INR 300.00 with your code)")
    person.shot("03-code-applied")
    assert not Booking.objects.exists()

    # Book: the booking page lists the items and the discount.
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    items = page.locator(".booking-item")
    expect(items).to_have_count(2)
    expect(page.locator("#booking-items")).to_contain_text(
        f"2 {TIMES} Standard at INR 500.00, less INR 50.00 each"
    )
    expect(page.locator("#booking-items")).to_contain_text(
        f"1 {TIMES} Backstage at INR 2000.00, less INR 200.00 each"
    )
    expect(page.locator("#booking-discount")).to_contain_text("INR 300.00 with the code FRIENDS")
    person.shot("04-hold-with-items")

    page.get_by_label("Card number").fill(GOOD_CARD)
    page.get_by_role("button", name="Pay INR 2700.00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You're going!")
    expect(page.locator("li.ticket")).to_have_count(3)
    person.shot("05-paid")
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.total_price == Decimal("2700.00")
    assert sorted((i.ticket_type_id, i.quantity) for i in booking.items.all()) == sorted(
        [(standard.pk, 2), (backstage.pk, 1)]
    )


def test_sold_out_event_offers_the_waiting_list(browse):
    event = make_event(name="Arijit Live", city="Mumbai", capacity=2, max_tickets_per_user=2)
    fan = make_user("fan@example.com", "Early Fan")
    held, _ = services.booking_reserve(user=fan, event_id=event.pk, quantity=2)
    services.booking_pay(user=fan, booking_id=held.pk, card_number=GOOD_CARD)
    make_user("late@example.com", "Late Comer")

    person = browse("journey-waitlist")
    page = person.page
    log_in(person, "late@example.com")
    person.goto(f"/events/{event.pk}/")
    expect(page.locator(".badge-sold-out")).to_have_text("Sold out")
    expect(page.get_by_role("button", name="Book")).to_have_count(0)
    expect(page.get_by_role("button", name="Join the waiting list")).to_be_visible()
    person.shot("01-sold-out")

    page.get_by_label("Number of tickets").select_option("1")
    page.get_by_role("button", name="Join the waiting list").click()
    expect(page.get_by_role("alert").first).to_contain_text("number 1 in line")
    person.shot("02-joined")

    page.get_by_role("link", name="My bookings").click()
    entry = page.locator(".waitlist-entry")
    expect(entry).to_contain_text("Arijit Live")
    expect(entry.locator(".waitlist-position")).to_have_text("1")
    person.shot("03-position-on-my-bookings")


def test_staff_see_the_dashboard_charts_and_check_a_ticket_in_twice(browse):
    event = make_event(name="Sunburn Goa", city="Goa", capacity=40, price=Decimal("1500.00"))
    other = make_event(name="Comedy Night", city="Delhi", capacity=20, category="comedy")
    buyer = make_user("buyer@example.com", "Ravi Buyer")
    held, _ = services.booking_reserve(user=buyer, event_id=event.pk, quantity=2)
    services.booking_pay(user=buyer, booking_id=held.pk, card_number=GOOD_CARD)
    gone, _ = services.booking_reserve(user=buyer, event_id=other.pk, quantity=1)
    services.booking_pay(user=buyer, booking_id=gone.pk, card_number=GOOD_CARD)
    services.booking_cancel(user=buyer, booking_id=gone.pk)
    services.booking_reserve(user=buyer, event_id=other.pk, quantity=1)
    # The figures as the beat job would have them (the embedded mode already does).
    rollups_rebuild()
    code = Ticket.objects.filter(booking=held).order_by("code").first().code
    make_user("door@example.com", "Dora Door", is_staff=True)

    person = browse("journey-staff")
    page = person.page
    log_in(person, "door@example.com")

    # The dashboard: every chart drawn by Chart.js on a canvas of real size.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator("[data-figure=tickets-sold]")).to_have_text("2")
    charts = ["chart-daily", "chart-top-events", "chart-status", "chart-utilization"]
    page.wait_for_function(
        "ids => ids.every(id => { const c = document.getElementById(id);"
        " return c && window.Chart && Chart.getChart(c) && c.width > 0 && c.height > 0; })",
        arg=charts,
    )
    for chart in charts:
        state = chart_state(page, chart)
        assert state["instance"], f"{chart}: no Chart instance"
        assert state["width"] > 0 and state["height"] > 0, f"{chart}: {state}"
        assert state["painted"] > 0, f"{chart}: nothing drawn"
    person.shot("01-dashboard")

    # The door: the first scan admits (green), the second refuses (red).
    page.get_by_role("link", name="Check-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check-in")
    page.get_by_label("Event", exact=True).select_option(str(event.pk))
    page.get_by_label("Ticket code").fill(code.lower())
    page.get_by_role("button", name="Check in", exact=True).click()
    result = page.locator("#checkin-result")
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text("Admitted")
    expect(result).to_have_css("background-color", "rgb(25, 135, 84)")  # green
    expect(page.locator("#checkin-count")).to_contain_text("1 of 2 tickets checked in")
    person.shot("02-checkin-admitted")

    page.get_by_label("Ticket code").fill(code)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_contain_text("Refused")
    expect(result).to_contain_text("already")
    expect(result).to_have_css("background-color", "rgb(220, 53, 69)")  # red
    person.shot("03-checkin-refused")
    assert Ticket.objects.get(code=code).checked_in_at is not None
