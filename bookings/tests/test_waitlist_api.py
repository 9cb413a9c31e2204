"""The waiting list and notification endpoints, as API.md says: status codes,
error codes, scoping (someone else's entry or notification is a 404)."""

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Notification, WaitlistEntry
from bookings.tests.helpers import confirmed, hold
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

WAITLIST = "/api/waitlist/"
NOTIFICATIONS = "/api/notifications/"


def _join_url(event) -> str:
    return f"/api/events/{event.pk}/waitlist/"


def _error(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def sold_out(staff):
    event = make_event(name="Sold Out Gig", capacity=2, max_tickets_per_user=3)
    event.blocker = hold(staff, event, 2)
    return event


# --- join ----------------------------------------------------------------------


def test_join_is_201_with_the_entry_and_its_position(sold_out, customer_api, outsider_api):
    first = customer_api.post(_join_url(sold_out), {"quantity": 2}, format="json")
    second = outsider_api.post(_join_url(sold_out), {"quantity": 1}, format="json")

    assert first.status_code == 201
    body = first.json()
    assert set(body) == {"id", "event", "ticket_type", "quantity", "position", "status"}
    assert body["event"] == str(sold_out.pk)
    assert body["ticket_type"] == str(sold_out.ticket_types.get().pk)
    assert (body["quantity"], body["position"], body["status"]) == (2, 1, "waiting")
    assert second.json()["position"] == 2


def test_join_when_tickets_are_left_is_409_invalid_state(customer_api):
    event = make_event(capacity=5)
    response = customer_api.post(_join_url(event), {"quantity": 1}, format="json")
    assert response.status_code == 409
    assert _error(response) == "invalid_state"
    assert not WaitlistEntry.objects.exists()


def test_joining_twice_is_409_invalid_state(sold_out, customer_api):
    assert customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json").status_code == 201
    again = customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    assert again.status_code == 409
    assert _error(again) == "invalid_state"


@pytest.mark.parametrize("body", [{"quantity": 0}, {"quantity": 4}, {"quantity": "two"}, {}])
def test_join_with_a_bad_quantity_is_400_invalid(sold_out, customer_api, body):
    response = customer_api.post(_join_url(sold_out), body, format="json")
    assert response.status_code == 400
    assert _error(response) == "invalid"
    assert "quantity" in response.json()["error"]["details"]


def test_join_needs_a_login_and_an_existing_event(sold_out, anon_api, customer_api):
    response = anon_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    assert response.status_code == 401
    assert _error(response) == "not_authenticated"
    missing = customer_api.post(
        "/api/events/00000000-0000-0000-0000-000000000000/waitlist/", {"quantity": 1}, format="json"
    )
    assert missing.status_code == 404
    assert _error(missing) == "not_found"


def test_join_on_a_cancelled_event_is_booking_closed(sold_out, staff, customer_api):
    from events.services import event_cancel

    event_cancel(actor=staff, event_id=sold_out.pk)
    response = customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    assert response.status_code == 409
    assert _error(response) == "booking_closed"


def test_join_and_leave_are_throttled_as_writes(sold_out, customer_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "write": "1/min"},
    }
    assert customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json").status_code == 201
    throttled = customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    assert throttled.status_code == 429
    assert _error(throttled) == "throttled"
    assert customer_api.get(WAITLIST).status_code == 200  # reads are not writes


# --- list, leave -----------------------------------------------------------------


def test_list_shows_own_entries_with_positions_paginated(sold_out, customer_api, outsider_api):
    outsider_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json")
    other = make_event(name="Other", capacity=4)
    hold(sold_out.blocker.user, other, 4)
    customer_api.post(_join_url(other), {"quantity": 2}, format="json")

    response = customer_api.get(WAITLIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    positions = {entry["event"]: entry["position"] for entry in body["results"]}
    assert positions == {str(sold_out.pk): 2, str(other.pk): 1}


def test_leave_is_204_and_others_entries_are_404(sold_out, customer_api, outsider_api):
    entry_id = customer_api.post(_join_url(sold_out), {"quantity": 1}, format="json").json()["id"]

    stranger = outsider_api.delete(f"{WAITLIST}{entry_id}/")
    assert stranger.status_code == 404
    assert _error(stranger) == "not_found"
    assert outsider_api.get(f"{WAITLIST}{entry_id}/").status_code == 404

    response = customer_api.delete(f"{WAITLIST}{entry_id}/")
    assert response.status_code == 204
    assert WaitlistEntry.objects.get(pk=entry_id).status == "cancelled"
    entry = customer_api.get(f"{WAITLIST}{entry_id}/").json()
    assert (entry["status"], entry["position"]) == ("cancelled", None)


def test_an_offer_shows_in_the_list_and_in_notifications(sold_out, staff, customer_api):
    entry_id = customer_api.post(_join_url(sold_out), {"quantity": 2}, format="json").json()["id"]
    services.booking_cancel(user=staff, booking_id=sold_out.blocker.pk)

    entry = customer_api.get(f"{WAITLIST}{entry_id}/").json()
    assert (entry["status"], entry["position"]) == ("offered", None)
    (notification,) = customer_api.get(NOTIFICATIONS).json()["results"]
    assert notification["kind"] == "waitlist_offer"
    assert notification["event"] == str(sold_out.pk)
    booking = customer_api.get(f"/api/bookings/{notification['booking']}/").json()
    assert (booking["status"], booking["quantity"]) == ("held", 2)


def test_a_new_buyer_is_sold_out_while_people_wait(staff, customer_api, outsider_api):
    event = make_event(capacity=3, max_tickets_per_user=3)
    one = hold(staff, event, 1)
    hold(staff, event, 2)
    customer_api.post(_join_url(event), {"quantity": 2}, format="json")
    services.booking_cancel(user=staff, booking_id=one.pk)  # 1 free; the entry wants 2

    response = outsider_api.post(
        "/api/bookings/", {"event": str(event.pk), "quantity": 1}, format="json"
    )

    assert response.status_code == 409
    assert _error(response) == "sold_out"
    general = event.ticket_types.get()
    assert response.json()["error"]["details"] == {"available": 0, "ticket_type": str(general.pk)}
    # ... and since no new buyer can get a ticket, they may join the waiting list.
    joined = outsider_api.post(_join_url(event), {"quantity": 1}, format="json")
    assert joined.status_code == 201
    assert joined.json()["position"] == 2


# --- notifications -----------------------------------------------------------------


def test_notifications_list_newest_first_with_ids(customer, customer_api, outsider):
    event = make_event(name="Jazz Night")
    first = confirmed(customer, event)
    second = confirmed(customer, make_event(name="Rock Night"))
    Notification.objects.filter(booking=first).update(
        created_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    confirmed(outsider, event)

    response = customer_api.get(NOTIFICATIONS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert set(newest) == {"id", "kind", "message", "booking", "event", "created_at", "read_at"}
    assert (newest["booking"], oldest["booking"]) == (str(second.pk), str(first.pk))
    assert oldest["event"] == str(event.pk)
    assert (newest["kind"], newest["read_at"]) == ("booking_confirmed", None)


def test_mark_read_is_200_with_read_at_and_404_for_others(customer, customer_api, outsider_api):
    confirmed(customer, make_event())
    notification = Notification.objects.get()
    url = f"{NOTIFICATIONS}{notification.pk}/read/"

    stranger = outsider_api.post(url)
    assert stranger.status_code == 404
    assert _error(stranger) == "not_found"

    response = customer_api.post(url)
    assert response.status_code == 200
    assert response.json()["id"] == str(notification.pk)
    assert response.json()["read_at"] is not None
    assert customer_api.post(url).json()["read_at"] == response.json()["read_at"]


def test_notifications_need_a_login(anon_api):
    response = anon_api.get(NOTIFICATIONS)
    assert response.status_code == 401
    assert _error(response) == "not_authenticated"


def test_list_query_counts_are_constant(customer, customer_api, django_assert_max_num_queries):
    for n in range(6):
        confirmed(customer, make_event(name=f"Gig {n}"))
    with django_assert_max_num_queries(4):
        assert customer_api.get(NOTIFICATIONS).json()["count"] == 6
    with django_assert_max_num_queries(4):
        assert customer_api.get(WAITLIST).status_code == 200
