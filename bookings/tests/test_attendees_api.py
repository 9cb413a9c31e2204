"""Attendee details and answers on tickets (``/api/tickets/``), the staff
attendee list and its CSV, and what check-in says about who comes."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Ticket
from bookings.services import tickets as ticket_services
from bookings.tests.helpers import confirmed, hold
from events.models import Question, QuestionKind
from events.tests.factories import make_event, make_seat_plan, make_ticket_type
from nuvio.errors import BookingClosed, Invalid
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db
TICKETS = "/api/tickets/"
TICKET_FIELDS = {
    "id",
    "code",
    "event",
    "ticket_type",
    "seat",
    "attendee_name",
    "attendee_email",
    "answers",
    "complete",
    "transferred_to",
    "checked_in_at",
}


@pytest.fixture
def summit():
    """An event asking a required choice, an optional text and a boolean."""
    event = make_event(name="Summit", max_tickets_per_user=10)
    diet = Question.objects.create(
        event=event,
        label="Diet",
        kind=QuestionKind.CHOICE,
        required=True,
        choices=["Veg", "Vegan", "Any"],
        position=0,
    )
    company = Question.objects.create(event=event, label="Company", position=1)
    photos = Question.objects.create(
        event=event, label="Photos OK?", kind=QuestionKind.BOOLEAN, required=True, position=2
    )
    event.q = {"diet": str(diet.pk), "company": str(company.pk), "photos": str(photos.pk)}
    return event


def _ticket_url(ticket) -> str:
    return f"{TICKETS}{ticket.pk}/"


def _state(ticket) -> tuple:
    ticket.refresh_from_db()
    return ticket.attendee_name, ticket.attendee_email, ticket.answers


# --- reading tickets -----------------------------------------------------------


def test_a_ticket_shows_its_type_attendee_and_whether_it_is_complete(
    customer_api, customer, summit
):
    booking = confirmed(customer, summit, 2)
    body = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()
    assert body["count"] == 2
    first = body["results"][0]
    assert set(first) == TICKET_FIELDS
    ticket_type = summit.ticket_types.get()
    assert first["ticket_type"] == {"id": str(ticket_type.pk), "name": ticket_type.name}
    assert first["event"] == str(summit.pk)
    # The buyer is named at first; the required questions are still open.
    assert (first["attendee_name"], first["attendee_email"]) == (customer.name, customer.email)
    assert first["answers"] == {}
    assert first["complete"] is False
    assert first["transferred_to"] is None


def test_my_tickets_lists_the_tickets_i_hold_only(customer_api, outsider_api, customer, outsider):
    later = make_event(name="Later", starts_at=timezone.now() + dt.timedelta(days=60))
    sooner = make_event(name="Sooner", starts_at=timezone.now() + dt.timedelta(days=5))
    confirmed(customer, later, 2)
    confirmed(customer, sooner)
    hold(customer, sooner)  # a hold has no tickets
    cancelled = confirmed(customer, make_event(name="Cancelled"))
    services.booking_cancel(user=customer, booking_id=cancelled.pk)
    confirmed(outsider, sooner)

    body = customer_api.get(TICKETS).json()
    assert body["count"] == 3
    assert [t["event"] for t in body["results"]] == [str(sooner.pk)] + [str(later.pk)] * 2
    assert all(t["code"] for t in body["results"])
    assert set(body) == {"count", "next", "previous", "results"}
    assert outsider_api.get(TICKETS).json()["count"] == 1


def test_my_tickets_is_paginated_and_costs_the_same_whatever_its_length(
    customer_api, customer, django_assert_max_num_queries
):
    for i in range(3):
        event = make_event(name=f"E{i}", max_tickets_per_user=10)
        Question.objects.create(event=event, label="Company")
        confirmed(customer, event, 3)
    with django_assert_max_num_queries(4):  # token, count, page, questions
        body = customer_api.get(TICKETS + "?page_size=5").json()
    assert body["count"] == 9 and len(body["results"]) == 5 and body["next"]
    with django_assert_max_num_queries(4):
        assert len(customer_api.get(TICKETS + "?page_size=100").json()["results"]) == 9


def test_one_ticket_is_its_holders_only(customer_api, outsider_api, anon_api, customer):
    ticket = confirmed(customer, make_event()).tickets.get()
    assert customer_api.get(_ticket_url(ticket)).json()["code"] == ticket.code
    assert_error(outsider_api.get(_ticket_url(ticket)), 404, "not_found")
    assert_error(anon_api.get(_ticket_url(ticket)), 401, "not_authenticated")
    assert_error(anon_api.get(TICKETS), 401, "not_authenticated")


def test_a_seated_ticket_has_its_seat(customer_api, customer):
    event = make_event(general_admission=False)
    stalls = make_ticket_type(event, name="Stalls")
    seats = make_seat_plan(event, [("Stalls", [("A", 3, stalls)])])
    booking = services.booking_pay(
        user=customer,
        booking_id=services.booking_reserve(user=customer, event_id=event.pk, seats=[seats[1].pk])[
            0
        ].pk,
        card_number="4242424242424242",
    )
    (ticket,) = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()["results"]
    assert ticket["seat"] == {"id": str(seats[1].pk), "label": "Stalls A-2"}
    assert ticket["ticket_type"]["name"] == "Stalls"


# --- filling them in ------------------------------------------------------------


def test_the_holder_names_the_attendee_and_answers(customer_api, customer, summit):
    ticket = confirmed(customer, summit).tickets.get()
    q = summit.q
    response = customer_api.patch(
        _ticket_url(ticket),
        {
            "attendee_name": "  Ada Lovelace ",
            "attendee_email": "ada@example.com",
            "answers": {q["diet"]: "Vegan", q["photos"]: False},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["attendee_name"], body["attendee_email"]) == ("Ada Lovelace", "ada@example.com")
    assert body["answers"] == {q["diet"]: "Vegan", q["photos"]: False}
    assert body["complete"] is True  # the text question is optional
    assert _state(ticket) == (
        "Ada Lovelace",
        "ada@example.com",
        {q["diet"]: "Vegan", q["photos"]: False},
    )
    # Fields left out keep their values; a blank answer removes one.
    body = customer_api.patch(
        _ticket_url(ticket), {"answers": {q["diet"]: "", q["company"]: "ACME"}}, format="json"
    ).json()
    assert body["attendee_name"] == "Ada Lovelace"
    assert body["answers"] == {q["company"]: "ACME", q["photos"]: False}
    assert body["complete"] is False
    # A null answer removes it too; a null e-mail clears it.
    body = customer_api.patch(
        _ticket_url(ticket),
        {"attendee_email": None, "answers": {q["company"]: None, q["diet"]: "Any"}},
        format="json",
    ).json()
    assert body["attendee_email"] == ""
    assert body["answers"] == {q["diet"]: "Any", q["photos"]: False}
    assert body["complete"] is True


def test_a_ticket_without_a_name_is_not_complete(customer_api, customer):
    ticket = confirmed(customer, make_event()).tickets.get()
    assert customer_api.get(_ticket_url(ticket)).json()["complete"] is True
    body = customer_api.patch(_ticket_url(ticket), {"attendee_name": ""}, format="json").json()
    assert body["complete"] is False


@pytest.mark.parametrize(
    ("answers", "bad"),
    [
        ({"diet": "Pescatarian"}, "diet"),  # not among the options
        ({"diet": True}, "diet"),  # a choice is text
        ({"photos": "perhaps"}, "photos"),  # a boolean is true or false
        ({"photos": 1}, "photos"),
        ({"company": ["ACME"]}, "company"),  # text is text
        ({"company": "x" * 1001}, "company"),
        ({"00000000-0000-4000-8000-000000000000": "x"}, "00000000-0000-4000-8000-000000000000"),
        ({"nope": "x"}, "nope"),
    ],
)
def test_a_wrong_answer_is_invalid_and_changes_nothing(
    customer_api, customer, summit, answers, bad
):
    ticket = confirmed(customer, summit).tickets.get()
    before = _state(ticket)
    key = summit.q.get(bad, bad)
    body = {
        "attendee_name": "Changed",
        "answers": {summit.q["company"]: "Fine"}
        | {summit.q.get(k, k): v for k, v in answers.items()},
    }
    error = assert_error(
        customer_api.patch(_ticket_url(ticket), body, format="json"), 400, "invalid"
    )
    assert list(error["details"]["answers"]) == [key]
    assert _state(ticket) == before


def test_an_answer_to_another_events_question_is_invalid(customer_api, customer, summit):
    other = make_event()
    foreign = Question.objects.create(event=other, label="Theirs")
    ticket = confirmed(customer, summit).tickets.get()
    error = assert_error(
        customer_api.patch(_ticket_url(ticket), {"answers": {str(foreign.pk): "x"}}, format="json"),
        400,
        "invalid",
    )
    assert str(foreign.pk) in error["details"]["answers"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attendee_email": "not-an-address"}, "attendee_email"),
        ({"attendee_name": "x" * 151}, "attendee_name"),
        ({"answers": ["Veg"]}, "answers"),
        ({"answers": "Veg"}, "answers"),
    ],
)
def test_bad_attendee_fields_are_invalid(customer_api, customer, summit, body, field):
    ticket = confirmed(customer, summit).tickets.get()
    before = _state(ticket)
    error = assert_error(
        customer_api.patch(_ticket_url(ticket), body, format="json"), 400, "invalid"
    )
    assert field in error["details"]
    assert _state(ticket) == before


def test_the_service_checks_the_address_itself(customer, summit):
    ticket = confirmed(customer, summit).tickets.get()
    with pytest.raises(Invalid) as caught:
        ticket_services.ticket_attendee_update(
            user=customer, ticket_id=ticket.pk, data={"attendee_email": "nope"}
        )
    assert "attendee_email" in caught.value.details


def test_only_the_holder_fills_a_ticket_in(outsider_api, staff_api, customer, summit):
    ticket = confirmed(customer, summit).tickets.get()
    before = _state(ticket)
    body = {"attendee_name": "Mallory"}
    assert_error(outsider_api.patch(_ticket_url(ticket), body, format="json"), 404, "not_found")
    # Staff are not the holder either: the API is the holder's.
    assert_error(staff_api.patch(_ticket_url(ticket), body, format="json"), 404, "not_found")
    assert _state(ticket) == before


def test_no_changes_once_the_event_started(customer_api, customer, summit, time_machine):
    ticket = confirmed(customer, summit).tickets.get()
    time_machine.move_to(summit.starts_at + dt.timedelta(minutes=1))
    assert_error(
        customer_api.patch(_ticket_url(ticket), {"attendee_name": "Late"}, format="json"),
        409,
        "booking_closed",
    )
    assert _state(ticket)[0] == customer.name
    with pytest.raises(BookingClosed):
        ticket_services.ticket_attendee_update(
            user=customer, ticket_id=ticket.pk, data={"attendee_name": "Late"}
        )


def test_a_cancelled_bookings_ticket_cannot_be_filled_in(customer_api, customer, summit):
    booking = confirmed(customer, summit)
    ticket = booking.tickets.get()
    services.booking_cancel(user=customer, booking_id=booking.pk)
    assert_error(customer_api.get(_ticket_url(ticket)), 404, "not_found")
    assert_error(
        customer_api.patch(_ticket_url(ticket), {"attendee_name": "X"}, format="json"),
        409,
        "invalid_state",
    )


def test_answers_to_deleted_questions_are_no_longer_shown(customer_api, customer, summit, staff):
    ticket = confirmed(customer, summit).tickets.get()
    q = summit.q
    customer_api.patch(
        _ticket_url(ticket), {"answers": {q["diet"]: "Veg", q["company"]: "ACME"}}, format="json"
    )
    Question.objects.filter(pk=q["company"]).delete()
    assert customer_api.get(_ticket_url(ticket)).json()["answers"] == {q["diet"]: "Veg"}


# --- the attendee list (staff) ----------------------------------------------------


def _attendees(client, event, query=""):
    return client.get(f"/api/events/{event.pk}/attendees/{query}")


def test_staff_list_every_ticket_of_confirmed_bookings(
    staff_api, customer_api, customer, outsider, summit
):
    mine = confirmed(customer, summit, 2)
    theirs = confirmed(outsider, summit)
    hold(outsider, summit)  # not sold
    gone = confirmed(outsider, summit)
    services.booking_cancel(user=outsider, booking_id=gone.pk)
    first = mine.tickets.order_by("created_at", "id").first()
    customer_api.patch(
        _ticket_url(first),
        {"attendee_name": "Ada", "answers": {summit.q["diet"]: "Veg", summit.q["photos"]: True}},
        format="json",
    )

    body = _attendees(staff_api, summit).json()
    assert body["count"] == 3
    rows = {row["id"]: row for row in body["results"]}
    assert set(rows) == {str(t.pk) for t in [*mine.tickets.all(), *theirs.tickets.all()]}
    row = rows[str(first.pk)]
    assert set(row) == {
        "id",
        "code",
        "booking",
        "ticket_type",
        "seat",
        "attendee_name",
        "attendee_email",
        "answers",
        "complete",
        "missing_answers",
        "holder_email",
        "buyer_email",
        "checked_in_at",
    }
    assert row["attendee_name"] == "Ada"
    assert row["complete"] is True and row["missing_answers"] == []
    assert row["holder_email"] == row["buyer_email"] == customer.email
    assert row["ticket_type"]["name"] == "General admission"
    other = rows[str(theirs.tickets.get().pk)]
    assert other["complete"] is False
    assert other["missing_answers"] == ["Diet", "Photos OK?"]
    assert other["buyer_email"] == outsider.email


def test_the_attendee_list_is_staff_only(customer_api, anon_api, staff_api, summit):
    assert_error(_attendees(customer_api, summit), 403, "permission_denied")
    assert_error(_attendees(anon_api, summit), 401, "not_authenticated")
    # Errors stay JSON when a CSV was asked for.
    assert_error(_attendees(customer_api, summit, "?format=csv"), 403, "permission_denied")
    assert_error(
        staff_api.get("/api/events/00000000-0000-4000-8000-000000000000/attendees/?format=csv"),
        404,
        "not_found",
    )


def test_the_attendee_list_costs_the_same_whatever_its_length(
    staff_api, customer, outsider, summit, django_assert_max_num_queries
):
    confirmed(customer, summit, 2)
    with django_assert_max_num_queries(5):  # token, event, questions, count, page
        _attendees(staff_api, summit)
    for _ in range(4):
        confirmed(outsider, summit, 2)
    with django_assert_max_num_queries(5):
        assert _attendees(staff_api, summit).json()["count"] == 10


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_csv_has_a_column_per_question(staff_api, customer_api, customer, summit):
    booking = confirmed(customer, summit, 2)
    first, second = booking.tickets.order_by("created_at", "id")
    customer_api.patch(
        _ticket_url(first),
        {
            "attendee_name": "Ada",
            "answers": {
                summit.q["diet"]: "Vegan",
                summit.q["company"]: "ACME",
                summit.q["photos"]: False,
            },
        },
        format="json",
    )
    header, *rows = _csv(_attendees(staff_api, summit, "?format=csv"))
    assert header == [
        "ticket",
        "code",
        "booking",
        "ticket_type",
        "seat",
        "attendee_name",
        "attendee_email",
        "holder_email",
        "buyer_email",
        "complete",
        "checked_in_at",
        "Diet",
        "Company",
        "Photos OK?",
    ]
    by_id = {row[0]: row for row in rows}
    assert len(rows) == 2
    ada = by_id[str(first.pk)]
    assert ada[1] == first.code
    assert ada[5] == "Ada" and ada[9] == "yes"
    assert ada[-3:] == ["Vegan", "ACME", "no"]
    assert by_id[str(second.pk)][-3:] == ["", "", ""]
    assert by_id[str(second.pk)][9] == "no"


def test_csv_cells_never_start_a_formula(staff_api, customer_api, customer, summit):
    Question.objects.filter(pk=summit.q["company"]).update(label="=HYPERLINK(1)")
    ticket = confirmed(customer, summit).tickets.get()
    customer_api.patch(
        _ticket_url(ticket),
        {"attendee_name": "=cmd|' /C calc'!A0", "answers": {summit.q["company"]: "+1 555 0100"}},
        format="json",
    )
    header, row = _csv(_attendees(staff_api, summit, "?format=csv"))
    assert "'=HYPERLINK(1)" in header
    assert row[5] == "'=cmd|' /C calc'!A0"
    assert "'+1 555 0100" in row
    for cell in header + row:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# --- at the door ------------------------------------------------------------------


def test_check_in_says_who_comes_and_what_is_missing(staff_api, customer_api, customer, summit):
    booking = confirmed(customer, summit, 2)
    done, todo = booking.tickets.order_by("created_at", "id")
    customer_api.patch(
        _ticket_url(done),
        {"attendee_name": "Ada", "answers": {summit.q["diet"]: "Veg", summit.q["photos"]: True}},
        format="json",
    )
    customer_api.patch(_ticket_url(todo), {"attendee_name": "Bob"}, format="json")

    complete = staff_api.post("/api/checkin/", {"code": done.code}, format="json").json()
    assert complete["ticket"]["attendee_name"] == "Ada"
    assert complete["ticket"]["complete"] is True
    assert complete["missing_answers"] == []

    # Incomplete: admitted all the same, and the door is told what is missing.
    response = staff_api.post("/api/checkin/", {"code": todo.code}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["ticket"]["attendee_name"] == "Bob"
    assert body["ticket"]["complete"] is False
    assert body["missing_answers"] == ["Diet", "Photos OK?"]
    assert Ticket.objects.get(pk=todo.pk).checked_in_at is not None
