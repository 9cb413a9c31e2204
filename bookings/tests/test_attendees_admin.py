"""Admin shows who holds each ticket, who comes and where it was
transferred, and changes none of it by hand."""

import pytest
from django.urls import reverse

from bookings.models import Ticket, TicketTransfer
from bookings.services import tickets as ticket_services
from bookings.tests.helpers import confirmed
from events.models import Question, QuestionKind
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )
    client.force_login(user)
    return client


@pytest.fixture
def handed_on(customer, outsider):
    """A ticket the customer filled in, then gave to the outsider, who
    answered the event's question."""
    event = make_event(name="Expo")
    question = Question.objects.create(
        event=event, label="Diet", kind=QuestionKind.CHOICE, choices=["Veg", "Any"], required=True
    )
    booking = confirmed(customer, event)
    ticket = booking.tickets.get()
    old_code = ticket.code
    ticket_services.ticket_transfer(user=customer, ticket_id=ticket.pk, email=outsider.email)
    ticket_services.ticket_attendee_update(
        user=outsider,
        ticket_id=ticket.pk,
        data={"attendee_name": "Otto Guest", "answers": {str(question.pk): "Veg"}},
    )
    ticket.refresh_from_db()
    ticket.old_code = old_code
    return ticket


def test_a_tickets_page_shows_holder_attendee_answers_and_transfers(
    admin_client, handed_on, customer, outsider
):
    page = admin_client.get(reverse("admin:bookings_ticket_change", args=[handed_on.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for shown in (
        handed_on.code,
        handed_on.old_code,
        "Otto Guest",
        outsider.email,
        customer.email,
        "<dt>Diet</dt><dd>Veg</dd>",
        "General admission",
    ):
        assert shown in text, shown
    # Read-only: no field to type into, and a POST changes nothing.
    assert 'name="attendee_name"' not in text
    admin_client.post(
        reverse("admin:bookings_ticket_change", args=[handed_on.pk]),
        {"attendee_name": "Mallory", "holder": str(customer.pk)},
    )
    handed_on.refresh_from_db()
    assert (handed_on.attendee_name, handed_on.holder) == ("Otto Guest", outsider)


def test_a_bookings_page_lists_who_holds_its_tickets(admin_client, handed_on, outsider):
    page = admin_client.get(
        reverse("admin:bookings_booking_change", args=[handed_on.booking_id])
    ).content.decode()
    assert "Otto Guest" in page
    assert outsider.email in page


def test_the_ticket_list_finds_tickets_by_holder_and_attendee(admin_client, handed_on, outsider):
    url = reverse("admin:bookings_ticket_changelist")
    for query in (outsider.email, "Otto Guest", handed_on.code):
        page = admin_client.get(url, {"q": query}).content.decode()
        assert handed_on.code in page, query


def test_an_old_code_is_found_among_the_transfers(admin_client, handed_on, outsider):
    url = reverse("admin:bookings_tickettransfer_changelist")
    page = admin_client.get(url, {"q": handed_on.old_code}).content.decode()
    assert handed_on.old_code in page
    assert outsider.email in page
    assert admin_client.get(reverse("admin:bookings_tickettransfer_add")).status_code == 403
    transfer = TicketTransfer.objects.get()
    assert (
        admin_client.post(
            reverse("admin:bookings_tickettransfer_delete", args=[transfer.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert TicketTransfer.objects.count() == 1
    assert Ticket.objects.get(pk=handed_on.pk).holder == outsider
