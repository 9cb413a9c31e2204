"""The pages that run the most third-party code, under the Content-Security-Policy.

Swagger UI, ReDoc, the browsable API, the admin, Chart.js and the check-in
camera (html5-qrcode) each do things a strict policy forbids by default
(inline scripts and styles, workers, ``data:`` images). Here each one must
render and work with nothing blocked: the ``browse`` fixture fails a test on
any violation. The journeys cover the rest of the site the same way.
"""

from decimal import Decimal

import pytest

from bookings import services
from bookings.models import Ticket
from e2e.helpers import GOOD_CARD, chart_state, expect, log_in, make_user
from events.tests.factories import make_event

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_swagger_ui_renders_the_operations_and_tries_one_out(browse):
    make_event(name="Qawwali Night", city="Lucknow")
    person = browse("csp-swagger")
    page = person.page
    response = person.goto("/api-docs/")
    assert "'unsafe-inline'" not in response.header_value("content-security-policy")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    person.shot("01-operations")

    # "Try it out" sends the request from the page (connect-src 'self').
    listing = page.locator("#operations-api-api_events_list")
    listing.locator(".opblock-summary").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()
    live = listing.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    expect(live).to_contain_text("Qawwali Night")
    person.shot("02-tried-out")


def test_redoc_renders_the_reference_and_searches_it(browse):
    person = browse("csp-redoc")
    page = person.page
    person.goto("/api/redoc/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nuvio API")
    expect(page.locator("[data-section-id^='tag/']").first).to_be_attached()
    # The search runs in a web worker that ReDoc starts from a blob: URL.
    page.get_by_placeholder("Search...").fill("reserve")
    expect(page.locator("[data-role='search:results'] li").first).to_be_visible()
    person.shot("01-redoc-search")
    # ReDoc shows its maker's logo from their CDN: the policy rightly keeps
    # that request from leaving (img-src), and the page does without it.
    person.csp_violations[:] = [v for v in person.csp_violations if REDOCLY_LOGO not in v]


def test_staff_pages_with_charts_camera_admin_and_the_browsable_api(browse):
    event = make_event(name="Tabla Workshop", city="Kolkata", capacity=20, price=Decimal("300"))
    buyer = make_user("buyer@example.com", "Bina Buyer")
    paid, _ = services.booking_reserve(user=buyer, event_id=event.pk, quantity=1)
    services.booking_pay(user=buyer, booking_id=paid.pk, card_number=GOOD_CARD)
    make_user("staff@example.com", "Sam Staff", is_staff=True, is_superuser=True)

    person = browse("csp-staff")
    page = person.page
    log_in(person, "staff@example.com")

    person.goto("/dashboard/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('chart-daily'))"
    )
    assert chart_state(page, "chart-daily")["painted"] > 0
    person.goto(f"/dashboard/events/{event.pk}/")
    expect(page.locator("canvas").first).to_be_visible()
    person.shot("01-dashboard-event")

    # The camera scanner: html5-qrcode shows the (fake) camera's video.
    person.goto("/checkin/")
    page.get_by_role("button", name="Scan with camera").click()
    expect(page.locator("#camera video")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#camera video').readyState >= 2")
    person.shot("02-checkin-camera")
    page.get_by_role("button", name="Stop camera").click()
    expect(page.locator("#camera")).to_be_hidden()

    # The admin: its index, a list with its actions, a form with date widgets.
    person.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    person.goto("/admin/events/event/")
    page.locator("input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    person.goto(f"/admin/events/event/{event.pk}/change/")
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()
    person.shot("03-admin-form")

    # The browsable API, signed in with the session.
    person.goto("/api/events/")
    expect(page.locator(".response-info")).to_contain_text("Tabla Workshop")
    person.shot("04-browsable-api")


def test_printing_tickets_opens_the_print_dialog(browse):
    event = make_event(name="Ghazal Evening", city="Hyderabad")
    customer = make_user("asha@example.com", "Asha Verma")
    paid, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    services.booking_pay(user=customer, booking_id=paid.pk, card_number=GOOD_CARD)
    code = Ticket.objects.get(booking=paid).code

    person = browse("csp-print")
    page = person.page
    log_in(person, "asha@example.com")
    person.goto(f"/bookings/{paid.pk}/print/")
    expect(page.get_by_text(code)).to_be_visible()
    page.evaluate("() => { window.print = () => { window.printed = true; }; }")
    page.get_by_role("button", name="Print").click()
    page.wait_for_function("() => window.printed === true")
