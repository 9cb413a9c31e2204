"""Attendees and transfers in the browser: a buyer opens My tickets, answers
the event's questions for one ticket, sends the other to a friend, and the
friend finds it under their own My tickets, with its new code. Screenshots:
``artifacts/e2e/attendees-*.png``.
"""

import datetime as dt
import re

import pytest
from django.utils import timezone

from bookings.models import Ticket
from bookings.tests.helpers import confirmed
from e2e.helpers import BLOCKING_IMPACTS, axe_violations, expect, log_in, make_user
from events.models import Question, QuestionKind
from events.tests.factories import make_event

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def assert_accessible(page) -> None:
    serious = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not serious, serious


def test_buyer_answers_the_questions_and_sends_a_ticket_to_a_friend(browse):
    event = make_event(
        name="Monsoon Jazz Evening",
        city="Kolkata",
        timezone="Asia/Kolkata",
        starts_at=(timezone.now() + dt.timedelta(days=20)).replace(
            hour=14, minute=0, second=0, microsecond=0
        ),
    )
    Question.objects.create(
        event=event, label="Company", kind=QuestionKind.TEXT, required=True, position=1
    )
    Question.objects.create(
        event=event,
        label="T-shirt size",
        kind=QuestionKind.CHOICE,
        required=True,
        choices=["S", "M", "L"],
        position=2,
    )
    Question.objects.create(
        event=event, label="Vegetarian meal", kind=QuestionKind.BOOLEAN, position=3
    )
    buyer = make_user("tara@example.com", "Tara Sen")
    make_user("ravi@example.com", "Ravi Menon")
    make_user("door@example.com", "Dev Door", is_staff=True)
    booking = confirmed(buyer, event, 2)
    first, second = booking.tickets.order_by("created_at", "id")
    old_code = second.code

    person = browse("attendees-buyer")
    page = person.page
    log_in(person, "tara@example.com")
    page.get_by_role("link", name="My tickets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My tickets")
    cards = page.locator("article.ticket-card")
    expect(cards).to_have_count(2)
    card = page.locator(f"#ticket-{first.pk}")
    expect(card.locator(".ticket-when")).to_have_text(re.compile(r", 19:30 IST$"))
    expect(card.locator(".ticket-incomplete")).to_have_text("Details missing")
    expect(card.locator(".ticket-missing")).to_contain_text("Company, T-shirt size.")
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.ticket-card img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    person.shot("01-my-tickets")

    # A required answer left out: said next to the question, the rest kept.
    card.get_by_label("Attendee's name").fill("Tara Sen")
    card.get_by_label("Company").fill("Acme Tea")
    card.get_by_label("Vegetarian meal").select_option("yes")
    card.get_by_role("button", name="Save details").click()
    expect(card.locator(".invalid-feedback")).to_have_text(
        "Choose an answer: this question is required."
    )
    expect(card.get_by_label("Company")).to_have_value("Acme Tea")
    expect(card.get_by_label("Vegetarian meal")).to_have_value("yes")
    expect(card.get_by_label("T-shirt size")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    person.shot("02-answer-missing")

    card.get_by_label("T-shirt size").select_option("M")
    card.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("alert").first).to_have_text(
        "Saved the details of Tara Sen's ticket for Monsoon Jazz Evening."
    )
    expect(card.locator(".ticket-complete")).to_have_text("Details complete")
    first.refresh_from_db()
    assert sorted(map(str, first.answers.values())) == ["Acme Tea", "M", "True"]
    person.shot("03-details-saved")

    # Send the second ticket: the form warns that its code stops working.
    other = page.locator(f"#ticket-{second.pk}")
    other.get_by_text("Send this ticket to someone else").click()
    expect(other.locator(".transfer-form .alert-warning")).to_contain_text(
        "This code and its QR code stop working at once"
    )
    other.get_by_label("Their e-mail address").fill("ravi@example.com")
    other.get_by_label(re.compile("^I understand")).check()
    assert_accessible(page)
    person.shot("04-transfer-form")
    other.get_by_role("button", name="Send the ticket").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "Your ticket for Monsoon Jazz Evening was sent to ravi@example.com."
    )
    expect(cards).to_have_count(1)
    expect(page.locator(f"#ticket-{second.pk}")).to_have_count(0)
    person.shot("05-ticket-sent")

    second.refresh_from_db()
    assert second.holder.email == "ravi@example.com" and second.code != old_code

    # The booking says where the ticket went, without its new code.
    person.goto(f"/bookings/{booking.pk}/")
    expect(page.locator(f"#ticket-{second.pk}")).to_contain_text("Sent to ravi@example.com")
    expect(page.locator("li.ticket")).to_have_count(1)
    assert second.code not in page.content() and old_code not in page.content()
    person.shot("06-booking-page")

    # The friend finds it under their own My tickets, with the new code.
    friend = browse("attendees-friend")
    log_in(friend, "ravi@example.com")
    friend.page.get_by_role("link", name="My tickets").click()
    received = friend.page.locator(f"#ticket-{second.pk}")
    expect(received).to_be_visible()
    expect(received).to_have_attribute("data-code", second.code)
    expect(received.locator(".ticket-from")).to_have_text("Sent to you by Tara Sen")
    expect(received.locator(".ticket-attendee")).to_contain_text("Ravi Menon")
    expect(received.get_by_label("Attendee's name")).to_have_value("Ravi Menon")
    friend.page.wait_for_function(
        "() => [...document.querySelectorAll('article.ticket-card img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    friend.shot("01-received")
    assert Ticket.objects.get(pk=second.pk).holder.email == "ravi@example.com"

    # At the door: the new code admits Ravi, flagged for the answers he still
    # owes; the old code no longer exists.
    staff = browse("attendees-door")
    log_in(staff, "door@example.com")
    staff.goto("/checkin/")
    door = staff.page
    door.get_by_label("Event", exact=True).select_option(str(event.pk))
    door.get_by_label("Ticket code").fill(second.code)
    door.get_by_role("button", name="Check in", exact=True).click()
    result = door.locator("#checkin-result")
    expect(result).to_have_attribute("data-ok", "true")
    expect(door.locator("#checkin-attendee")).to_have_text("Ravi Menon")
    expect(door.locator("#checkin-ticket-type")).to_have_text("General admission")
    expect(door.locator("#checkin-count")).to_contain_text("Monsoon Jazz Evening · Wed ")
    expect(door.locator("#checkin-count")).to_contain_text(", 19:30 IST")
    expect(door.locator("#checkin-incomplete")).to_contain_text(
        "the answers still missing: Company, T-shirt size"
    )
    assert_accessible(door)
    staff.shot("01-admitted-incomplete")
    door.get_by_label("Ticket code").fill(old_code)
    door.get_by_role("button", name="Check in", exact=True).click()
    expect(result).to_have_attribute("data-ok", "false")
    staff.shot("02-old-code-refused")
