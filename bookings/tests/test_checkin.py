"""Tickets, QR codes and check-in at the door."""

import threading
import xml.etree.ElementTree as ET

import pytest
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token

from bookings import checkin, services
from bookings.models import CODE_ALPHABET, CODE_LENGTH, CheckInScan, ScanResult, Ticket
from bookings.tests.helpers import confirmed, hold
from events.tests.factories import make_event
from nuvio import errors
from nuvio.testing import requires_postgres

pytestmark = pytest.mark.django_db
CHECKIN = "/api/checkin/"


def _error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code
    return body


# --- codes ---------------------------------------------------------------------


def test_codes_are_long_random_and_unambiguous(customer):
    booking = confirmed(customer, make_event(capacity=100, max_tickets_per_user=50), 50)
    codes = list(booking.tickets.values_list("code", flat=True))
    assert len(set(codes)) == 50
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set("0O1IL2Z5S8B") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) ** CODE_LENGTH >= 2**80


def test_cancelling_voids_the_tickets(customer):
    booking = confirmed(customer, make_event(), 2)
    services.booking_cancel(user=customer, booking_id=booking.pk)
    assert Ticket.objects.filter(booking=booking, voided_at__isnull=True).count() == 0


# --- the API -------------------------------------------------------------------


def test_booking_tickets_listed_for_the_owner_only(customer_api, outsider_api, customer):
    booking = confirmed(customer, make_event(), 3)
    body = customer_api.get(f"/api/bookings/{booking.pk}/tickets/").json()
    assert body["count"] == 3
    assert set(body["results"][0]) == {
        "id", "code", "event", "ticket_type", "seat", "attendee_name", "attendee_email",
        "answers", "complete", "transferred_to", "checked_in_at",
    }  # fmt: skip
    _error(outsider_api.get(f"/api/bookings/{booking.pk}/tickets/"), 404, "not_found")


def test_first_scan_admits_second_is_refused(staff_api, customer, staff):
    booking = confirmed(customer, make_event(name="Gala"))
    code = booking.tickets.get().code

    first = staff_api.post(CHECKIN, {"code": code.lower()}, format="json")
    assert first.status_code == 200
    body = first.json()
    assert body["ticket"]["code"] == code
    assert body["event"]["name"] == "Gala"
    assert body["checked_in_at"] == body["ticket"]["checked_in_at"]

    second = _error(staff_api.post(CHECKIN, {"code": code}, format="json"), 409, "invalid_state")
    assert "already_checked_in" in second["message"]
    assert second["details"]["reason"] == "already_checked_in"
    assert second["details"]["checked_in_at"]
    assert Ticket.objects.get(code=code).checked_in_by == staff


def test_unknown_code_is_404(staff_api):
    _error(staff_api.post(CHECKIN, {"code": "NOSUCHCODE"}, format="json"), 404, "not_found")
    _error(staff_api.post(CHECKIN, {"code": "ÜBER-0"}, format="json"), 404, "not_found")


def test_cancelled_booking_is_booking_closed(staff_api, customer):
    booking = confirmed(customer, make_event())
    code = booking.tickets.get().code
    services.booking_cancel(user=customer, booking_id=booking.pk)
    _error(staff_api.post(CHECKIN, {"code": code}, format="json"), 409, "booking_closed")


def test_ticket_for_another_event_is_refused(staff_api, customer):
    here, there = make_event(name="Here"), make_event(name="There")
    code = confirmed(customer, there).tickets.get().code
    error = _error(
        staff_api.post(CHECKIN, {"code": code, "event": str(here.pk)}, format="json"),
        409,
        "invalid_state",
    )
    assert error["details"]["reason"] == "wrong_event"
    assert Ticket.objects.get(code=code).checked_in_at is None
    assert staff_api.post(CHECKIN, {"code": code, "event": str(there.pk)}).status_code == 200


def test_checkin_is_staff_only(customer_api, anon_api, customer):
    code = confirmed(customer, make_event()).tickets.get().code
    _error(customer_api.post(CHECKIN, {"code": code}, format="json"), 403, "permission_denied")
    _error(anon_api.post(CHECKIN, {"code": code}, format="json"), 401, "not_authenticated")
    assert Ticket.objects.get(code=code).checked_in_at is None


def test_bad_bodies_are_invalid(staff_api):
    _error(staff_api.post(CHECKIN, {}, format="json"), 400, "invalid")
    _error(staff_api.post(CHECKIN, {"code": "X", "event": "nope"}, format="json"), 400, "invalid")


def test_every_scan_is_logged(staff_api, customer, staff):
    code = confirmed(customer, make_event()).tickets.get().code
    staff_api.post(CHECKIN, {"code": code})
    staff_api.post(CHECKIN, {"code": code})
    staff_api.post(CHECKIN, {"code": "WHATEVER"})
    results = list(CheckInScan.objects.order_by("id").values_list("result", "staff", "code"))
    assert results == [
        (ScanResult.ADMITTED, staff.pk, code),
        (ScanResult.ALREADY_CHECKED_IN, staff.pk, code),
        (ScanResult.UNKNOWN, staff.pk, "WHATEVER"),
    ]


def test_summary_counts_sold_and_checked_in(staff_api, customer, outsider):
    event = make_event()
    code = confirmed(customer, event, 2).tickets.first().code
    confirmed(outsider, event, 1)
    hold(outsider, event, 1)
    staff_api.post(CHECKIN, {"code": code})
    body = staff_api.get(f"/api/checkin/summary/?event={event.pk}").json()
    assert (body["tickets_sold"], body["checked_in"]) == (3, 1)
    _error(staff_api.get("/api/checkin/summary/?event=zzz"), 400, "invalid")


# --- QR codes and pages ----------------------------------------------------------


def test_qr_svg_for_owner_and_staff_only(client, customer, outsider, staff):
    code = confirmed(customer, make_event()).tickets.get().code
    url = f"/tickets/{code}.svg"
    client.force_login(customer)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert ET.fromstring(response.content).tag.endswith("svg")
    client.force_login(staff)
    assert client.get(url).status_code == 200
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


def _with_token(user) -> Client:
    key = Token.objects.get_or_create(user=user)[0].key
    return Client(headers={"Authorization": f"Token {key}"})


def test_qr_svg_with_an_api_token_for_holder_and_staff_only(customer, outsider, staff):
    code = confirmed(customer, make_event()).tickets.get().code
    url = f"/tickets/{code}.svg"

    response = _with_token(customer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert ET.fromstring(response.content).tag.endswith("svg")
    assert "Authorization" in response["Vary"]
    assert _with_token(staff).get(url).status_code == 200
    assert _with_token(outsider).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("header", ["Token not-a-real-key", "Token", "Token two words"])
def test_qr_svg_with_a_bad_token_is_401(customer, header):
    code = confirmed(customer, make_event()).tickets.get().code
    response = Client(headers={"Authorization": header}).get(f"/tickets/{code}.svg")
    _error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_qr_svg_refuses_the_token_of_a_deactivated_holder(customer):
    code = confirmed(customer, make_event()).tickets.get().code
    client = _with_token(customer)
    customer.is_active = False
    customer.save()
    _error(client.get(f"/tickets/{code}.svg"), 401, "not_authenticated")


def test_qr_encodes_the_code():
    svg = checkin.ticket_qr_svg("34679ACDEFGHJKMNPQ")
    assert "<svg" in svg and "Ticket 34679ACDEFGHJKMNPQ" in svg


def test_confirmation_page_shows_qr_codes_and_print_link(client, customer):
    booking = confirmed(customer, make_event(), 2)
    client.force_login(customer)
    html = client.get(f"/bookings/{booking.pk}/").content.decode()
    for ticket in booking.tickets.all():
        assert f"/tickets/{ticket.code}.svg" in html
    assert f"/bookings/{booking.pk}/print/" in html
    printed = client.get(f"/bookings/{booking.pk}/print/")
    assert printed.status_code == 200
    assert printed.content.decode().count("<article") == 2


def test_checkin_page_green_then_red_with_count(client, staff, customer):
    event = make_event(name="Door Test")
    code = confirmed(customer, event, 2).tickets.first().code
    client.force_login(staff)
    page = client.get(f"/checkin/?event={event.pk}")
    assert "0</strong> of <strong>2" in page.content.decode()

    green = client.post("/checkin/", {"event": event.pk, "code": code})
    assert green.status_code == 200
    assert 'data-ok="true"' in green.content.decode()
    assert "1</strong> of <strong>2" in green.content.decode()
    red = client.post("/checkin/", {"event": event.pk, "code": code})
    assert red.status_code == 409
    assert 'data-ok="false"' in red.content.decode()
    assert "already_checked_in" in red.content.decode()


def test_checkin_page_is_staff_only(client, customer):
    client.force_login(customer)
    assert client.get("/checkin/").status_code == 302
    assert Client().post("/checkin/", {"code": "X"}).status_code == 302


# --- the race -------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_scanners_same_code_same_instant_admit_once(django_user_model):
    staff = django_user_model.objects.create_user(
        email="door@example.com", password="x", name="Door", is_staff=True
    )
    buyer = django_user_model.objects.create_user(email="b@example.com", password="x", name="B")
    code = confirmed(buyer, make_event()).tickets.get().code
    start, outcomes = threading.Barrier(8), []

    def scan():
        try:
            start.wait(timeout=10)
            checkin.ticket_check_in(staff=staff, code=code)
            outcomes.append("admitted")
        except errors.NuvioError as exc:
            outcomes.append(exc.details.get("reason", exc.code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["admitted"] + ["already_checked_in"] * 7
    assert CheckInScan.objects.filter(result=ScanResult.ADMITTED).count() == 1
    assert CheckInScan.objects.count() == 8
