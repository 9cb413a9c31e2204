"""The ticket pages: My tickets (attendee details, transfer), the booking
page's tickets, printable tickets and the check-in screen."""

import datetime as dt
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from bookings.models import Ticket
from bookings.services.tickets import ticket_attendee_update, ticket_transfer
from bookings.tests.helpers import confirmed
from events.models import Event, Question, QuestionKind
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

TICKETS = "/tickets/"
# 14:00 UTC is 19:30 in Kolkata.
KOLKATA_START = dt.datetime(2031, 12, 15, 14, 0, tzinfo=dt.UTC)
KOLKATA_SHOWN = "Mon 15 Dec 2031, 19:30 IST"


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def field_errors(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}_errors">([^<]*)<', html)
    return unescape(match.group(1)).strip() if match else ""


def input_value(html: str, name: str) -> str | None:
    """The ``value`` of the input named ``name`` in the page, or None."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else ""


def selected_option(html: str, name: str) -> str | None:
    select = re.search(rf'<select[^>]*name="{re.escape(name)}".*?</select>', html, re.S)
    if select is None:
        return None
    chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select.group(0))
    return chosen.group(1) if chosen else ""


def attendee_prefix(ticket) -> str:
    return f"attendee-{ticket.pk.hex}"


def transfer_prefix(ticket) -> str:
    return f"transfer-{ticket.pk.hex}"


def answer_name(ticket, question) -> str:
    return f"{attendee_prefix(ticket)}-q_{question.pk.hex}"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def event():
    return make_event(
        name="Kolkata Jazz Night",
        timezone="Asia/Kolkata",
        starts_at=KOLKATA_START,
        max_tickets_per_user=6,
    )


@pytest.fixture
def questions(event):
    return {
        "company": Question.objects.create(
            event=event, label="Company", kind=QuestionKind.TEXT, required=True, position=1
        ),
        "size": Question.objects.create(
            event=event,
            label="T-shirt size",
            kind=QuestionKind.CHOICE,
            required=True,
            choices=["S", "M", "L"],
            position=2,
        ),
        "veggie": Question.objects.create(
            event=event, label="Vegetarian meal", kind=QuestionKind.BOOLEAN, position=3
        ),
    }


def attendee_post(ticket, questions, **overrides) -> dict:
    data = {
        f"{attendee_prefix(ticket)}-attendee_name": "Asha Rao",
        f"{attendee_prefix(ticket)}-attendee_email": "asha@example.com",
        answer_name(ticket, questions["company"]): "Acme Tea",
        answer_name(ticket, questions["size"]): "M",
        answer_name(ticket, questions["veggie"]): "yes",
    }
    for key, value in overrides.items():
        data[key] = value
    return data


def transfer_post(ticket, email, confirm=True) -> dict:
    data = {f"{transfer_prefix(ticket)}-email": email}
    if confirm:
        data[f"{transfer_prefix(ticket)}-confirm"] = "on"
    return data


# --- My tickets ------------------------------------------------------------------


def test_my_tickets_lists_own_and_received_tickets_but_not_sent_away_ones(
    customer, outsider, event
):
    mine = confirmed(customer, event, 2)
    kept, sent = mine.tickets.order_by("created_at", "id")
    sooner = make_event(name="Sitar at Dawn", starts_at=in_days(3))
    received = confirmed(outsider, sooner).tickets.get()
    received = ticket_transfer(user=outsider, ticket_id=received.pk, email=customer.email).ticket
    old_code = sent.code
    sent = ticket_transfer(user=customer, ticket_id=sent.pk, email=outsider.email).ticket

    html = logged_in(customer).get(TICKETS).content.decode()
    assert f'id="ticket-{kept.pk}"' in html
    assert f'id="ticket-{received.pk}"' in html
    assert "Sent to you by Otto Outsider" in html
    assert f'id="ticket-{sent.pk}"' not in html
    assert sent.code not in html and old_code not in html
    # Upcoming first, the soonest at the top.
    assert html.index("Sitar at Dawn") < html.index("Kolkata Jazz Night")

    theirs = logged_in(outsider).get(TICKETS).content.decode()
    assert f'id="ticket-{sent.pk}"' in theirs and sent.code in theirs
    assert f'id="ticket-{received.pk}"' not in theirs


def test_my_tickets_shows_the_local_time_type_qr_code_and_completeness(customer, event, questions):
    ticket = confirmed(customer, event).tickets.get()

    response = logged_in(customer).get(TICKETS)
    html = response.content.decode()
    assert KOLKATA_SHOWN in html
    assert "General admission" in html
    assert f'src="/tickets/{ticket.code}.svg"' in html
    assert "Details missing" in html
    assert "Still needed:" in html and "Company, T-shirt size." in html
    assert "(required)" in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_past_tickets_come_after_upcoming_ones_without_forms(customer, event):
    upcoming = confirmed(customer, event).tickets.get()
    past_event = make_event(name="Last Year's Gala")
    past = confirmed(customer, past_event).tickets.get()
    Event.objects.filter(pk=past_event.pk).update(starts_at=in_days(-2), ends_at=in_days(-1.9))

    html = logged_in(customer).get(TICKETS).content.decode()
    assert html.index(f'id="ticket-{upcoming.pk}"') < html.index('id="past-heading"')
    assert html.index('id="past-heading"') < html.index(f'id="ticket-{past.pk}"')
    past_card = html[html.index(f'id="ticket-{past.pk}"') :]
    assert "attendee-form" not in past_card and "transfer-form" not in past_card
    assert "can no longer change" in past_card


def test_my_tickets_needs_a_login_and_the_nav_links_to_it(client, customer):
    response = client.get(TICKETS)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(customer)
    html = client.get("/bookings/").content.decode()
    assert 'href="/tickets/">My tickets</a>' in html


def test_my_tickets_runs_a_constant_number_of_queries(
    customer, event, questions, django_assert_max_num_queries
):
    client = logged_in(customer)
    confirmed(customer, event)
    with django_assert_max_num_queries(8) as one:
        client.get(TICKETS)
    confirmed(customer, event, 3)
    other = make_event(name="Another")
    confirmed(customer, other, 2)
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(TICKETS)


# --- attendee details -----------------------------------------------------------


def test_attendee_form_saves_the_answers_and_redirects_with_a_message(customer, event, questions):
    ticket = confirmed(customer, event).tickets.get()
    client = logged_in(customer)

    response = client.post(f"/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions))
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/#ticket-{ticket.pk}"
    assert messages_of(response) == [
        "Saved the details of Asha Rao's ticket for Kolkata Jazz Night."
    ]
    ticket.refresh_from_db()
    assert ticket.attendee_name == "Asha Rao"
    assert ticket.attendee_email == "asha@example.com"
    assert ticket.answers == {
        str(questions["company"].pk): "Acme Tea",
        str(questions["size"].pk): "M",
        str(questions["veggie"].pk): True,
    }
    html = client.get(TICKETS).content.decode()
    assert "Details complete" in html
    assert input_value(html, answer_name(ticket, questions["company"])) == "Acme Tea"
    assert selected_option(html, answer_name(ticket, questions["size"])) == "M"
    assert selected_option(html, answer_name(ticket, questions["veggie"])) == "yes"


def test_attendee_form_errors_show_next_to_the_fields_and_keep_what_was_typed(
    customer, event, questions
):
    ticket = confirmed(customer, event).tickets.get()
    prefix = attendee_prefix(ticket)
    data = attendee_post(
        ticket,
        questions,
        **{
            f"{prefix}-attendee_name": "",
            f"{prefix}-attendee_email": "not-an-address",
            answer_name(ticket, questions["company"]): "Typed Company Ltd",
            answer_name(ticket, questions["size"]): "",
            answer_name(ticket, questions["veggie"]): "no",
        },
    )
    response = logged_in(customer).post(f"/tickets/{ticket.pk}/attendee/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, f"id_{prefix}-attendee_name") == (
        "Enter the name of the person who will come."
    )
    assert field_errors(html, f"id_{prefix}-attendee_email") == (
        "Enter an e-mail address such as name@example.com."
    )
    assert field_errors(html, f"id_{answer_name(ticket, questions['size'])}") == (
        "Choose an answer: this question is required."
    )
    assert input_value(html, f"{prefix}-attendee_email") == "not-an-address"
    assert input_value(html, answer_name(ticket, questions["company"])) == "Typed Company Ltd"
    assert selected_option(html, answer_name(ticket, questions["veggie"])) == "no"
    assert f'aria-describedby="id_{prefix}-attendee_name_errors"' in html
    ticket.refresh_from_db()
    assert ticket.answers == {} and ticket.attendee_name == "Cara Customer"


def test_a_choice_that_is_not_offered_is_refused_next_to_its_question(customer, event, questions):
    ticket = confirmed(customer, event).tickets.get()
    name = answer_name(ticket, questions["size"])
    response = logged_in(customer).post(
        f"/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions, **{name: "XXL"})
    )
    assert response.status_code == 400
    assert field_errors(response.content.decode(), f"id_{name}") == (
        "Choose one of the options in the list."
    )


def test_a_refusal_of_the_service_shows_on_the_form(customer, event, questions):
    ticket = confirmed(customer, event).tickets.get()
    client = logged_in(customer)
    Event.objects.filter(pk=event.pk).update(starts_at=in_days(-1 / 24), ends_at=in_days(1))
    response = client.post(f"/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions))
    assert response.status_code == 409
    html = response.content.decode()
    assert "The event has started: attendee details can no longer change." in html
    assert input_value(html, answer_name(ticket, questions["company"])) == "Acme Tea"
    ticket.refresh_from_db()
    assert ticket.answers == {}


def test_someone_elses_ticket_cannot_be_filled_in(customer, outsider, event, questions):
    ticket = confirmed(customer, event).tickets.get()
    response = logged_in(outsider).post(
        f"/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions)
    )
    assert response.status_code == 302 and response["Location"] == TICKETS
    assert messages_of(response) == ["That ticket is not in your account (any more)."]
    ticket.refresh_from_db()
    assert ticket.attendee_name == "Cara Customer" and ticket.answers == {}


def test_posting_needs_a_login_and_csrf(customer, event, questions):
    ticket = confirmed(customer, event).tickets.get()
    anonymous = Client().post(f"/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions))
    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/accounts/login/?next=/tickets/"
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    assert strict.post(f"/tickets/{ticket.pk}/transfer/", {}).status_code == 403
    assert strict.get(f"/tickets/{ticket.pk}/attendee/").status_code == 405


# --- transfer --------------------------------------------------------------------


def test_transfer_form_moves_the_ticket_with_a_new_code(customer, outsider, event):
    ticket = confirmed(customer, event).tickets.get()
    old_code = ticket.code
    client = logged_in(customer)
    assert f'action="/tickets/{ticket.pk}/transfer/"' in client.get(TICKETS).content.decode()

    response = client.post(
        f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, "OUTSIDER@example.com")
    )
    assert response.status_code == 302 and response["Location"] == TICKETS
    assert messages_of(response) == [
        "Your ticket for Kolkata Jazz Night was sent to outsider@example.com. Its old code "
        "no longer works; they find the ticket under My tickets."
    ]
    ticket.refresh_from_db()
    assert ticket.holder == outsider and ticket.code != old_code
    assert f'id="ticket-{ticket.pk}"' not in client.get(TICKETS).content.decode()
    assert ticket.code in logged_in(outsider).get(TICKETS).content.decode()


def test_transfer_to_an_unknown_address_shows_next_to_the_field(customer, event):
    ticket = confirmed(customer, event).tickets.get()
    response = logged_in(customer).post(
        f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, "nobody@example.com")
    )
    assert response.status_code == 400
    html = response.content.decode()
    prefix = transfer_prefix(ticket)
    assert field_errors(html, f"id_{prefix}-email") == "No account has this e-mail address."
    assert input_value(html, f"{prefix}-email") == "nobody@example.com"
    ticket.refresh_from_db()
    assert ticket.holder == customer


def test_transfer_to_oneself_is_refused(customer, event):
    ticket = confirmed(customer, event).tickets.get()
    response = logged_in(customer).post(
        f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, customer.email)
    )
    assert response.status_code == 400
    assert field_errors(response.content.decode(), f"id_{transfer_prefix(ticket)}-email") == (
        "Give the e-mail address of someone else."
    )


def test_transfer_needs_an_address_and_the_confirmation(customer, outsider, event):
    ticket = confirmed(customer, event).tickets.get()
    prefix = transfer_prefix(ticket)
    response = logged_in(customer).post(
        f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, outsider.email, confirm=False)
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert field_errors(html, f"id_{prefix}-confirm") == (
        "Tick this box to confirm that you want to send the ticket."
    )
    assert input_value(html, f"{prefix}-email") == outsider.email
    empty = logged_in(customer).post(f"/tickets/{ticket.pk}/transfer/", {})
    assert field_errors(empty.content.decode(), f"id_{prefix}-email") == (
        "Enter the e-mail address of the person to send this ticket to."
    )
    ticket.refresh_from_db()
    assert ticket.holder == customer


def test_no_transfer_form_when_the_event_forbids_it_and_a_post_says_why(customer, outsider, event):
    ticket = confirmed(customer, event).tickets.get()
    Event.objects.filter(pk=event.pk).update(transfers_enabled=False)
    client = logged_in(customer)
    assert "transfer-form" not in client.get(TICKETS).content.decode()

    response = client.post(f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, outsider.email))
    assert response.status_code == 409
    html = response.content.decode()
    assert "The organiser does not allow ticket transfers for this event." in html
    assert input_value(html, f"{transfer_prefix(ticket)}-email") == outsider.email
    ticket.refresh_from_db()
    assert ticket.holder == customer


def test_a_checked_in_ticket_cannot_be_sent(customer, outsider, staff, event):
    ticket = confirmed(customer, event).tickets.get()
    Ticket.objects.filter(pk=ticket.pk).update(checked_in_at=timezone.now(), checked_in_by=staff)
    client = logged_in(customer)
    html = client.get(TICKETS).content.decode()
    assert "transfer-form" not in html and "Checked in" in html

    response = client.post(f"/tickets/{ticket.pk}/transfer/", transfer_post(ticket, outsider.email))
    assert response.status_code == 409
    assert "already checked in: it cannot change hands" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.holder == customer


# --- the booking page --------------------------------------------------------------


def test_booking_page_hides_the_code_of_a_ticket_sent_away(customer, outsider, event):
    booking = confirmed(customer, event, 2)
    kept, sent = booking.tickets.order_by("created_at", "id")
    old_code = sent.code
    sent = ticket_transfer(user=customer, ticket_id=sent.pk, email=outsider.email).ticket
    client = logged_in(customer)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()
    assert f'data-code="{kept.code}"' in html
    assert "Sent to <strong>outsider@example.com</strong>" in html
    assert sent.code not in html and old_code not in html
    assert html.count("<img") == 1
    calendar = client.get(f"/bookings/{booking.pk}/calendar.ics").content.decode()
    assert kept.code in calendar and sent.code not in calendar


def test_booking_page_attendee_form_saves_and_keeps_input_on_errors(customer, event, questions):
    booking = confirmed(customer, event)
    ticket = booking.tickets.get()
    client = logged_in(customer)
    url = f"/bookings/{booking.pk}/tickets/{ticket.pk}/attendee/"
    html = client.get(f"/bookings/{booking.pk}/").content.decode()
    assert f'action="{url}"' in html
    assert f'href="/tickets/#ticket-{ticket.pk}"' in html

    company = answer_name(ticket, questions["company"])
    bad = client.post(url, attendee_post(ticket, questions, **{company: "", "x": "y"}))
    assert bad.status_code == 400
    bad_html = bad.content.decode()
    assert "You're going!" in bad_html
    assert field_errors(bad_html, f"id_{company}") == "Answer this question: it is required."
    assert input_value(bad_html, f"{attendee_prefix(ticket)}-attendee_name") == "Asha Rao"

    good = client.post(url, attendee_post(ticket, questions))
    assert good.status_code == 302
    assert good["Location"] == f"/bookings/{booking.pk}/#ticket-{ticket.pk}"
    ticket.refresh_from_db()
    assert ticket.attendee_name == "Asha Rao" and ticket.answers[str(questions["size"].pk)] == "M"
    assert "Details complete" in client.get(f"/bookings/{booking.pk}/").content.decode()


def test_booking_page_attendee_form_refuses_a_ticket_sent_away(
    customer, outsider, event, questions
):
    booking = confirmed(customer, event)
    ticket = booking.tickets.get()
    ticket_transfer(user=customer, ticket_id=ticket.pk, email=outsider.email)
    response = logged_in(customer).post(
        f"/bookings/{booking.pk}/tickets/{ticket.pk}/attendee/", attendee_post(ticket, questions)
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.attendee_name == "Otto Outsider"


# --- printing and the door ---------------------------------------------------------


def test_print_shows_attendee_names_local_time_and_skips_tickets_sent_away(
    customer, outsider, event, questions
):
    booking = confirmed(customer, event, 2)
    kept, sent = booking.tickets.order_by("created_at", "id")
    ticket_attendee_update(user=customer, ticket_id=kept.pk, data={"attendee_name": "Meera Iyer"})
    sent = ticket_transfer(user=customer, ticket_id=sent.pk, email=outsider.email).ticket

    html = logged_in(customer).get(f"/bookings/{booking.pk}/print/").content.decode()
    assert html.count("<article") == 1
    assert "<strong>Meera Iyer</strong>" in html
    assert KOLKATA_SHOWN in html
    assert kept.code in html and sent.code not in html
    assert "1 ticket of this booking was sent to someone else" in html
    assert "outsider@example.com" in html


def test_checkin_shows_the_attendee_and_flags_an_incomplete_ticket(
    customer, staff, event, questions
):
    booking = confirmed(customer, event, 2)
    incomplete, complete = booking.tickets.order_by("created_at", "id")
    ticket_attendee_update(
        user=customer,
        ticket_id=incomplete.pk,
        data={"attendee_name": "", "answers": {str(questions["size"].pk): "L"}},
    )
    ticket_attendee_update(
        user=customer,
        ticket_id=complete.pk,
        data={
            "attendee_name": "Ravi Menon",
            "answers": {str(questions["company"].pk): "Acme", str(questions["size"].pk): "S"},
        },
    )
    client = logged_in(staff)

    flagged = client.post("/checkin/", {"event": event.pk, "code": incomplete.code})
    assert flagged.status_code == 200
    html = flagged.content.decode()
    assert 'data-ok="true"' in html
    assert "No attendee name" in html
    assert 'id="checkin-ticket-type">General admission<' in html
    incomplete_note = html[html.index('id="checkin-incomplete"') :]
    assert "the attendee's name" in incomplete_note
    assert "Company" in incomplete_note and "T-shirt size" not in incomplete_note

    clean = client.post("/checkin/", {"event": event.pk, "code": complete.code})
    html = clean.content.decode()
    assert 'id="checkin-attendee">Ravi Menon<' in html
    assert 'id="checkin-incomplete"' not in html


def test_checkin_shows_the_event_in_its_own_time_zone(customer, staff, event):
    confirmed(customer, event)
    html = logged_in(staff).get(f"/checkin/?event={event.pk}").content.decode()
    assert f"Kolkata Jazz Night · {KOLKATA_SHOWN}" in html
