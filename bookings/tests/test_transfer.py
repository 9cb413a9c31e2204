"""Handing a ticket to another account: the new holder gets it with a new
code, the old code stops working at once, and every refusal changes nothing."""

import datetime as dt

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bookings import checkin, services
from bookings.models import Notification, NotificationKind, Ticket, TicketTransfer
from bookings.services import tickets as ticket_services
from bookings.tests.helpers import confirmed
from events.models import EventStatus, Question
from events.tests.factories import make_event
from nuvio.errors import BookingClosed, Invalid, InvalidState, NotFound
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def friend(django_user_model):
    return django_user_model.objects.create_user(
        email="friend@example.com", password="x", name="Fran Friend"
    )


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def friend_api(friend):
    return _api(friend)


def _transfer(client, ticket, email):
    return client.post(f"/api/tickets/{ticket.pk}/transfer/", {"email": email}, format="json")


def _snapshot(ticket) -> tuple:
    ticket.refresh_from_db()
    return (ticket.holder_id, ticket.code, ticket.attendee_name, ticket.answers)


def _nothing_changed(ticket, before) -> None:
    assert _snapshot(ticket) == before
    assert not TicketTransfer.objects.exists()
    assert not Notification.objects.filter(
        kind__in=[NotificationKind.TICKET_SENT, NotificationKind.TICKET_RECEIVED]
    ).exists()


# --- the transfer -----------------------------------------------------------------


def test_a_transfer_moves_the_ticket_with_a_new_code(
    customer_api, friend_api, customer, friend, django_capture_on_commit_callbacks
):
    event = make_event(name="Gig")
    question = Question.objects.create(event=event, label="Diet")
    booking = confirmed(customer, event, 2)
    ticket, kept = booking.tickets.order_by("created_at", "id")
    customer_api.patch(
        f"/api/tickets/{ticket.pk}/", {"answers": {str(question.pk): "Veg"}}, format="json"
    )
    old_code = ticket.code

    with django_capture_on_commit_callbacks(execute=True):
        response = _transfer(customer_api, ticket, " Friend@Example.com ")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"ticket", "to", "transferred_at"}
    assert (body["ticket"], body["to"]) == (str(ticket.pk), friend.email)
    assert old_code not in response.content.decode()

    ticket.refresh_from_db()
    assert ticket.holder == friend
    assert ticket.code != old_code
    # The new holder is named as the attendee; the sender's answers are not theirs.
    assert (ticket.attendee_name, ticket.attendee_email, ticket.answers) == (
        friend.name,
        friend.email,
        {},
    )
    record = TicketTransfer.objects.get()
    assert (record.from_user, record.to_user, record.old_code) == (customer, friend, old_code)
    # Both are told, in the app and by e-mail.
    kinds = dict(Notification.objects.values_list("user", "kind").filter(kind__startswith="ticket"))
    assert kinds == {
        customer.pk: NotificationKind.TICKET_SENT,
        friend.pk: NotificationKind.TICKET_RECEIVED,
    }
    assert (
        Notification.objects.filter(kind__startswith="ticket", emailed_at__isnull=False).count()
        == 2
    )

    # The new holder sees it among their tickets, with its code.
    mine = friend_api.get("/api/tickets/").json()["results"]
    assert [(t["id"], t["code"]) for t in mine] == [(str(ticket.pk), ticket.code)]
    assert friend_api.get(f"/api/tickets/{ticket.pk}/").json()["code"] == ticket.code
    # The sender no longer does; their other ticket is untouched.
    assert [t["id"] for t in customer_api.get("/api/tickets/").json()["results"]] == [str(kept.pk)]
    assert_error(customer_api.get(f"/api/tickets/{ticket.pk}/"), 404, "not_found")


def test_the_buyer_keeps_the_booking_but_not_the_new_code(
    customer_api, friend_api, customer, friend
):
    booking = confirmed(customer, make_event(), 2)
    ticket, kept = booking.tickets.order_by("created_at", "id")
    assert _transfer(customer_api, ticket, friend.email).status_code == 200
    ticket.refresh_from_db()

    listed = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()["results"]
    detail = customer_api.get(f"/api/bookings/{booking.pk}/").json()
    assert detail["status"] == "confirmed"
    for tickets in (listed, detail["tickets"]):
        by_id = {t["id"]: t for t in tickets}
        gone = by_id[str(ticket.pk)]
        assert gone["code"] is None
        assert gone["transferred_to"] == friend.email
        assert gone["attendee_name"] is gone["answers"] is gone["complete"] is None
        assert by_id[str(kept.pk)]["code"] == kept.code
        assert by_id[str(kept.pk)]["transferred_to"] is None
    assert ticket.code not in str(listed) + str(detail)
    # The new holder cannot see the buyer's booking.
    assert_error(friend_api.get(f"/api/bookings/{booking.pk}/"), 404, "not_found")


def test_the_new_holder_fills_it_in_and_may_hand_it_on(
    customer_api, friend_api, customer, friend, outsider
):
    booking = confirmed(customer, make_event())
    ticket = booking.tickets.get()
    _transfer(customer_api, ticket, friend.email)
    # The old holder can no longer touch it.
    assert_error(
        customer_api.patch(f"/api/tickets/{ticket.pk}/", {"attendee_name": "X"}, format="json"),
        404,
        "not_found",
    )
    assert_error(_transfer(customer_api, ticket, outsider.email), 404, "not_found")
    body = friend_api.patch(
        f"/api/tickets/{ticket.pk}/", {"attendee_name": "Fran's Mum"}, format="json"
    ).json()
    assert body["attendee_name"] == "Fran's Mum"
    # Handed on again: the buyer is told only of the account they sent it to.
    assert _transfer(friend_api, ticket, outsider.email).status_code == 200
    (gone,) = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()["results"]
    assert (gone["code"], gone["transferred_to"]) == (None, friend.email)
    # ... and back to the buyer: theirs again, code and all.
    assert _transfer(_api(outsider), ticket, customer.email).status_code == 200
    ticket.refresh_from_db()
    (back,) = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()["results"]
    assert (back["code"], back["transferred_to"]) == (ticket.code, None)
    assert TicketTransfer.objects.count() == 3


# --- at the door and the QR code ----------------------------------------------------


def test_the_old_code_is_refused_at_the_door_and_the_new_one_admitted(
    staff_api, customer_api, customer, friend
):
    ticket = confirmed(customer, make_event()).tickets.get()
    old_code = ticket.code
    _transfer(customer_api, ticket, friend.email)
    ticket.refresh_from_db()
    assert_error(
        staff_api.post("/api/checkin/", {"code": old_code}, format="json"), 404, "not_found"
    )
    admitted = staff_api.post("/api/checkin/", {"code": ticket.code}, format="json")
    assert admitted.status_code == 200
    assert admitted.json()["ticket"]["attendee_name"] == friend.name


def test_the_qr_code_is_the_new_holders_only(customer, friend, staff):
    ticket = confirmed(customer, make_event()).tickets.get()
    old_code = ticket.code
    ticket_services.ticket_transfer(user=customer, ticket_id=ticket.pk, email=friend.email)
    ticket.refresh_from_db()

    def svg(user, code):
        client = Client()
        client.force_login(user)
        return client.get(f"/tickets/{code}.svg").status_code

    assert svg(friend, ticket.code) == 200
    assert svg(staff, ticket.code) == 200
    assert svg(customer, ticket.code) == 404
    for user in (customer, friend, staff):
        assert svg(user, old_code) == 404


# --- refusals: each changes nothing ---------------------------------------------------


def test_to_an_unknown_address_or_to_oneself_is_invalid(customer_api, customer, friend):
    ticket = confirmed(customer, make_event()).tickets.get()
    before = _snapshot(ticket)
    for email in ("nobody@example.com", customer.email, "CUSTOMER@example.com"):
        error = assert_error(_transfer(customer_api, ticket, email), 400, "invalid")
        assert "email" in error["details"]
    friend.is_active = False
    friend.save()
    assert_error(_transfer(customer_api, ticket, friend.email), 400, "invalid")
    for body in ({}, {"email": "not an address"}, {"email": ["a@example.com"]}):
        response = customer_api.post(f"/api/tickets/{ticket.pk}/transfer/", body, format="json")
        assert_error(response, 400, "invalid")
    _nothing_changed(ticket, before)


def test_after_check_in_is_invalid_state(customer_api, customer, friend, staff):
    ticket = confirmed(customer, make_event()).tickets.get()
    checkin.ticket_check_in(staff=staff, code=ticket.code)
    before = _snapshot(ticket)
    assert_error(_transfer(customer_api, ticket, friend.email), 409, "invalid_state")
    _nothing_changed(ticket, before)


def test_a_cancelled_bookings_ticket_is_invalid_state(customer_api, customer, friend):
    booking = confirmed(customer, make_event())
    ticket = booking.tickets.get()
    services.booking_cancel(user=customer, booking_id=booking.pk)
    before = _snapshot(ticket)
    assert_error(_transfer(customer_api, ticket, friend.email), 409, "invalid_state")
    _nothing_changed(ticket, before)


def test_a_cancelled_events_ticket_is_booking_closed(customer_api, customer, friend):
    event = make_event()
    ticket = confirmed(customer, event).tickets.get()
    # Cancelled, and its bookings not yet reached by the background job.
    type(event).objects.filter(pk=event.pk).update(status=EventStatus.CANCELLED)
    before = _snapshot(ticket)
    assert_error(_transfer(customer_api, ticket, friend.email), 409, "booking_closed")
    _nothing_changed(ticket, before)


def test_transfers_off_is_booking_closed(customer_api, customer, friend):
    ticket = confirmed(customer, make_event(transfers_enabled=False)).tickets.get()
    before = _snapshot(ticket)
    error = assert_error(_transfer(customer_api, ticket, friend.email), 409, "booking_closed")
    assert "transfer" in error["message"]
    _nothing_changed(ticket, before)


def test_after_the_event_started_is_booking_closed(customer, friend, time_machine, customer_api):
    event = make_event()
    ticket = confirmed(customer, event).tickets.get()
    before = _snapshot(ticket)
    time_machine.move_to(event.starts_at + dt.timedelta(seconds=1))
    assert_error(_transfer(customer_api, ticket, friend.email), 409, "booking_closed")
    _nothing_changed(ticket, before)


def test_someone_elses_ticket_is_404_whatever_the_address(
    outsider_api, staff_api, customer, friend, outsider
):
    ticket = confirmed(customer, make_event()).tickets.get()
    before = _snapshot(ticket)
    for email in (friend.email, "nobody@example.com", outsider.email):
        assert_error(_transfer(outsider_api, ticket, email), 404, "not_found")
    assert_error(_transfer(staff_api, ticket, friend.email), 404, "not_found")
    missing = "00000000-0000-4000-8000-000000000000"
    response = outsider_api.post(f"/api/tickets/{missing}/transfer/", {"email": friend.email})
    assert_error(response, 404, "not_found")
    _nothing_changed(ticket, before)


def test_anonymous_clients_must_log_in(anon_api, customer, friend):
    ticket = confirmed(customer, make_event()).tickets.get()
    assert_error(_transfer(anon_api, ticket, friend.email), 401, "not_authenticated")


def test_the_service_raises_the_documented_errors(customer, friend, outsider, staff):
    ticket = confirmed(customer, make_event()).tickets.get()
    with pytest.raises(NotFound):
        ticket_services.ticket_transfer(user=outsider, ticket_id=ticket.pk, email=friend.email)
    with pytest.raises(Invalid):
        ticket_services.ticket_transfer(user=customer, ticket_id=ticket.pk, email="x@example.com")
    checkin.ticket_check_in(staff=staff, code=ticket.code)
    with pytest.raises(InvalidState):
        ticket_services.ticket_transfer(user=customer, ticket_id=ticket.pk, email=friend.email)
    other = confirmed(customer, make_event(transfers_enabled=False)).tickets.get()
    with pytest.raises(BookingClosed):
        ticket_services.ticket_transfer(user=customer, ticket_id=other.pk, email=friend.email)
    assert not TicketTransfer.objects.exists()


def test_transfers_count_as_writes(customer_api, customer, friend, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "write": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ticket = confirmed(customer, make_event()).tickets.get()
    assert _transfer(customer_api, ticket, "nobody@example.com").status_code == 400
    assert customer_api.patch(f"/api/tickets/{ticket.pk}/", {}, format="json").status_code == 200
    assert_error(_transfer(customer_api, ticket, friend.email), 429, "throttled")
    assert Ticket.objects.get(pk=ticket.pk).holder == customer
    assert customer_api.get("/api/tickets/").status_code == 200  # reads are not writes
