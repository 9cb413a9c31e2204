"""An accessibility pass of the main pages with axe-core, in the browser.

Each page is loaded as its audience sees it (anonymous, customer, staff) and
checked by axe-core (vendored, ``e2e/vendor/``); a violation of impact
"serious" or "critical" fails the test. Every finding, whatever its impact, is
written to ``artifacts/e2e/a11y-report.json`` next to a screenshot of each page.
"""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Ticket
from e2e.helpers import (
    BLOCKING_IMPACTS,
    GOOD_CARD,
    axe_violations,
    expect,
    log_in,
    make_user,
)
from events.queue_page import queue_place_take
from events.tests.factories import (
    GENERAL_ADMISSION,
    make_event,
    make_seat_plan,
    make_ticket_type,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _describe(blocking: dict[str, list[dict]]) -> str:
    lines = []
    for page_name, violations in blocking.items():
        for violation in violations:
            targets = "; ".join(node["target"] for node in violation["nodes"][:5])
            lines.append(
                f"{page_name}: [{violation['impact']}] {violation['id']}: "
                f"{violation['help']} ({targets})"
            )
    return "\n".join(lines)


def test_main_pages_have_no_serious_accessibility_violations(browse, artifacts_dir):
    event = make_event(name="Kathak Evening", city="Jaipur", capacity=30)
    seated = make_event(name="Qawwali Night", city="Lucknow", max_tickets_per_user=6)
    vip = make_ticket_type(seated, name="VIP", price=Decimal("1500.00"), position=1)
    plan = make_seat_plan(
        seated,
        [
            ("Stalls", [("A", 6, seated.ticket_types.get(name=GENERAL_ADMISSION))]),
            ("Balcony", [("B", 4, vip)]),
        ],
    )
    sold_out = make_event(name="Coldplay Mumbai", city="Mumbai", capacity=1)
    customer = make_user("asha@example.com", "Asha Verma")
    fan = make_user("fan@example.com", "First Fan")
    services.booking_pay(
        user=fan,
        booking_id=services.booking_reserve(user=fan, event_id=sold_out.pk, quantity=1)[0].pk,
        card_number=GOOD_CARD,
    )
    held, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    paid, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=2)
    services.booking_pay(user=customer, booking_id=paid.pk, card_number=GOOD_CARD)
    # The waiting room: before the draw, a place with people ahead, and one's turn.
    soon = timezone.now() + dt.timedelta(hours=2)
    queued = make_event(
        name="Indie Drop",
        city="Goa",
        queue_enabled=True,
        queue_opens_at=soon,
        queue_admit_per_minute=60,
        queue_pass_minutes=10,
    )
    opened = make_event(
        name="Slow Drop",
        city="Goa",
        queue_enabled=True,
        queue_opens_at=timezone.now(),
        queue_admit_per_minute=1,
        queue_pass_minutes=10,
    )
    queue_place_take(event=opened, user=fan, now=timezone.now())
    at_once = make_event(
        name="Fast Drop",
        city="Goa",
        queue_enabled=True,
        queue_opens_at=timezone.now() - dt.timedelta(minutes=5),
        queue_admit_per_minute=100_000,
        queue_pass_minutes=10,
    )
    staff_user = make_user("staff@example.com", "Stella Staff", is_staff=True)
    code = Ticket.objects.filter(booking=paid).values_list("code", flat=True).first()
    assert staff_user.is_staff

    findings: dict[str, list[dict]] = {}

    def check(person, name: str, path: str | None = None) -> None:
        if path is not None:
            person.goto(path)
        person.page.wait_for_load_state("load")
        findings[name] = axe_violations(person.page)
        person.shot(name)

    anonymous = browse("a11y-anonymous")
    check(anonymous, "home", "/")
    check(anonymous, "event", f"/events/{event.pk}/")
    check(anonymous, "event-seated", f"/events/{seated.pk}/")
    check(anonymous, "signup", "/accounts/signup/")
    check(anonymous, "login", "/accounts/login/")
    anonymous.page.get_by_role("button", name="Log in").click()  # errors shown on the form
    expect(anonymous.page.locator("#id_username_errors")).to_be_visible()
    check(anonymous, "login-with-errors")

    person = browse("a11y-customer")
    log_in(person, "asha@example.com")
    check(person, "home-logged-in", "/?search=kathak")
    check(person, "event-bookable", f"/events/{event.pk}/")
    services.booking_reserve(user=fan, event_id=seated.pk, seats=[plan[1].pk])
    check(person, "event-seated-bookable", f"/events/{seated.pk}/")
    person.page.get_by_role("checkbox", name=re.compile(r"^Stalls A-3,")).click()
    person.page.get_by_role("checkbox", name=re.compile(r"^Balcony B-2,")).click()
    expect(person.page.locator("#seat-total")).to_have_text("2 seats, total 2000.00 INR")
    check(person, "event-seated-chosen")
    check(person, "event-sold-out", f"/events/{sold_out.pk}/")
    person.page.get_by_role("button", name="Join the waiting list").click()
    check(person, "event-on-waiting-list")
    check(person, "bookings", "/bookings/")
    check(person, "booking-held", f"/bookings/{held.pk}/")
    check(person, "booking-confirmed", f"/bookings/{paid.pk}/")
    check(person, "event-queued", f"/events/{queued.pk}/")
    person.page.get_by_role("button", name="Join the waiting room").click()
    expect(person.page.locator("#queue-draw")).to_be_visible()
    check(person, "waiting-room-draw")
    person.goto(f"/events/{opened.pk}/")
    person.page.get_by_role("button", name="Join the waiting room").click()
    expect(person.page.locator("#queue-position")).to_be_visible()
    check(person, "waiting-room-place")
    person.goto(f"/events/{at_once.pk}/")
    person.page.get_by_role("button", name="Join the waiting room").click()
    expect(person.page.locator("#queue-admitted")).to_be_visible()
    check(person, "waiting-room-admitted")
    check(person, "notifications", "/notifications/")
    check(person, "profile", "/accounts/profile/")

    staff = browse("a11y-staff")
    log_in(staff, "staff@example.com")
    check(staff, "dashboard", "/dashboard/")
    check(staff, "dashboard-event", f"/dashboard/events/{event.pk}/")
    check(staff, "checkin", "/checkin/")
    staff.page.get_by_label("Ticket code").fill(code)
    staff.page.get_by_role("button", name="Check in", exact=True).click()
    expect(staff.page.locator("#checkin-result")).to_have_attribute("data-ok", "true")
    check(staff, "checkin-admitted")

    report = artifacts_dir / "a11y-report.json"
    report.write_text(json.dumps(findings, indent=2, sort_keys=True), encoding="utf-8")
    blocking = {
        name: [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        for name, violations in findings.items()
    }
    blocking = {name: found for name, found in blocking.items() if found}
    assert not blocking, f"axe-core found serious problems (see {report}):\n" + _describe(blocking)


def test_keyboard_alone_skips_to_content_and_books(browse):
    event = make_event(name="Carnatic Morning", city="Chennai", capacity=10)
    make_user("kiran@example.com", "Kiran Keys")
    person = browse("a11y-keyboard")
    page = person.page
    log_in(person, "kiran@example.com")
    person.goto(f"/events/{event.pk}/")

    # The first Tab lands on the skip link, which shows itself and jumps past the header.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    person.shot("01-skip-link")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => Boolean(document.activeElement.closest('main'))")

    # Tab on to the quantity, choose 2 with the arrow key, then Book with Enter.
    quantity = page.get_by_label("Number of tickets")
    for _ in range(20):
        if page.evaluate("() => document.activeElement.id") == "id_quantity":
            break
        page.keyboard.press("Tab")
    expect(quantity).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(quantity).to_have_value("2")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Book")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    expect(page.get_by_text("2 tickets held for you")).to_be_visible()
    person.shot("02-booked-by-keyboard")
