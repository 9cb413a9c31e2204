"""The waiting room over HTTP: ``/api/events/{id}/queue/``, the event's
``queue`` settings (staff), the admin's fieldset, and the analytics figures."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from events import queue
from events.models import Event, EventStatus
from events.tests.factories import make_event
from events.tests.queue_helpers import (
    OPENS,
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    make_users,
    queue_url,
    queued_event,
    room_of,
)
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db


# --- joining, polling, leaving -------------------------------------------------------


def test_join_then_poll_then_leave(customer_api, time_machine, view_calls):
    time_machine.move_to(at(0), tick=False)
    event = queued_event(rate=60, pass_minutes=5)
    others = make_users(2)
    for user in others:
        queue.queue_join(room=room_of(event), user=user)

    joined = customer_api.post(queue_url(event))
    assert joined.status_code == 201, joined.content
    body = joined.json()
    assert body == {
        "position": 3,
        "ahead": 2,
        "status": "waiting",
        "opens_at": "2031-03-01T10:00:00Z",
        "estimated_wait_seconds": 3,
        "admitted_until": None,
        "retry_after": 3,
    }
    again = customer_api.post(queue_url(event))
    assert (again.status_code, again.json()) == (200, body)
    polled = customer_api.get(queue_url(event))
    assert (polled.status_code, polled.json()) == (200, body)
    assert view_calls == []  # answered before the view

    time_machine.move_to(at(3), tick=False)
    admitted = customer_api.get(queue_url(event)).json()
    assert (admitted["status"], admitted["admitted_until"]) == ("admitted", "2031-03-01T10:05:03Z")

    assert customer_api.delete(queue_url(event)).status_code == 204
    assert_error(customer_api.get(queue_url(event)), 404, "not_found")
    assert customer_api.delete(queue_url(event)).status_code == 204
    assert len(view_calls) == 1  # the 404


def test_an_early_arrival_has_no_position_until_the_opening(customer_api, time_machine):
    time_machine.move_to(at(-90), tick=False)
    event = queued_event(rate=60)
    body = customer_api.post(queue_url(event)).json()
    assert (body["position"], body["ahead"], body["status"]) == (None, None, "waiting")
    assert (body["retry_after"], body["estimated_wait_seconds"]) == (30, 91)
    time_machine.move_to(at(0), tick=False)
    body = customer_api.get(queue_url(event)).json()
    assert (body["position"], body["ahead"], body["status"]) == (1, 0, "waiting")


def test_the_early_answer_is_the_views_answer(customer_api, time_machine, view_calls):
    time_machine.move_to(at(-30), tick=False)
    event = queued_event(rate=6)
    for user in make_users(4):
        queue.queue_join(room=room_of(event), user=user)
    customer_api.post(queue_url(event))
    for second in (-10, 0, 5, 25, 700):
        time_machine.move_to(at(second), tick=False)
        through_view = customer_api.get(queue_url(event), {"format": "json"})
        early = customer_api.get(queue_url(event))
        assert early.status_code == through_view.status_code == 200
        assert early.content == through_view.content
        for header in ("Content-Type", "Content-Length", "Vary", "Allow"):
            assert early[header] == through_view[header], header
    # The view answered those asked with ?format= (the first after the opening
    # among them: the shuffle is the view's to do); the middleware the others.
    assert len(view_calls) == 5


def test_polls_are_counted_once_against_the_read_rate(
    customer_api, settings, time_machine, view_calls
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "4/min"},
    }
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    customer_api.post(queue_url(event))  # a write: not counted as a read
    statuses = [
        customer_api.get(queue_url(event)).status_code,
        customer_api.get(queue_url(event), {"format": "json"}).status_code,  # through the view
        customer_api.get(queue_url(event)).status_code,
        customer_api.get("/api/me/").status_code,  # the same user's reads, anywhere
        customer_api.get(queue_url(event)).status_code,
    ]
    assert statuses == [200, 200, 200, 200, 429]
    # The view's handler answered only the one asked through it; its
    # throttle, the 429 (with the middleware's count: counted once).
    assert len(view_calls) == 1
    error = assert_error(customer_api.get(queue_url(event)), 429, "throttled")
    assert error["message"]


def test_a_poll_left_to_the_view_is_counted_once(customer_api, settings, time_machine):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "3/min"},
    }
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    customer_api.post(queue_url(event))
    customer_api.delete(queue_url(event))
    # No place any more: the view answers 404, the middleware having counted.
    statuses = [customer_api.get(queue_url(event)).status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_a_revoked_token_or_a_deactivated_user_gets_no_answer(customer, time_machine):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    client = APIClient()
    token = Token.objects.create(user=customer)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post(queue_url(event)).status_code == 201
    assert client.get(queue_url(event)).status_code == 200
    token.delete()
    assert_error(client.get(queue_url(event)), 401, "not_authenticated")

    token = Token.objects.create(user=customer)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post(queue_url(event)).status_code == 200
    assert client.get(queue_url(event)).status_code == 200
    customer.is_active = False
    customer.save()
    for _ in range(2):  # the second one finds the inactive user in the token cache
        assert_error(client.get(queue_url(event)), 401, "not_authenticated")


def test_no_enabled_room_is_409_and_unknown_or_draft_events_are_404(customer_api, staff_api):
    plain = make_event()
    assert_error(customer_api.post(queue_url(plain)), 409, "invalid_state")
    assert_error(customer_api.get(queue_url(plain)), 404, "not_found")
    draft = queued_event(status=EventStatus.DRAFT)
    for call in (customer_api.post, customer_api.get, customer_api.delete):
        assert_error(call(queue_url(draft)), 404, "not_found")
    missing = Event(pk="00000000-0000-0000-0000-000000000001")
    assert_error(customer_api.post(queue_url(missing)), 404, "not_found")
    assert_error(customer_api.get(queue_url(missing)), 404, "not_found")
    # Staff see drafts: they may try a draft's waiting room.
    assert staff_api.post(queue_url(draft)).status_code in (200, 201)


def test_anonymous_clients_are_401(anon_api):
    event = queued_event()
    for call in (anon_api.post, anon_api.get, anon_api.delete):
        assert_error(call(queue_url(event)), 401, "not_authenticated")


def test_a_bad_token_is_401_even_for_a_poll(time_machine):
    from rest_framework.test import APIClient

    event = queued_event()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(client.get(queue_url(event)), 401, "not_authenticated")


def test_a_browser_session_polls_through_the_view(customer, time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    client = Client()
    client.force_login(customer)
    queue.queue_join(room=room_of(event), user=customer)
    response = client.get(queue_url(event), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["position"] == 1


# --- staff: the event's queue settings ---------------------------------------------


def _event_body(**extra) -> dict:
    return {
        "name": "Flash Sale",
        "venue_name": "Arena",
        "city": "Pune",
        "starts_at": "2099-01-01T18:00:00Z",
        "ends_at": "2099-01-01T21:00:00Z",
        "capacity": 1000,
        "price": "10.00",
        "status": "published",
        **extra,
    }


QUEUE = {
    "enabled": True,
    "opens_at": "2098-12-01T10:00:00Z",
    "admit_per_minute": 500,
    "pass_minutes": 10,
}


def test_staff_set_the_queue_on_create_and_everyone_reads_it(staff_api, anon_api):
    created = staff_api.post("/api/events/", _event_body(queue=QUEUE), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["queue"] == QUEUE
    event = Event.objects.get(pk=created.json()["id"])
    assert (event.queue_enabled, event.queue_admit_per_minute, event.queue_pass_minutes) == (
        True,
        500,
        10,
    )
    assert anon_api.get(f"/api/events/{event.pk}/").json()["queue"] == QUEUE
    listed = anon_api.get("/api/events/").json()["results"]
    assert [row["queue"] for row in listed if row["id"] == str(event.pk)] == [QUEUE]
    plain = staff_api.post("/api/events/", _event_body(name="Plain"), format="json").json()
    assert plain["queue"] is None


@pytest.mark.parametrize(
    ("queue_body", "details"),
    [
        ({**QUEUE, "admit_per_minute": 0}, {"admit_per_minute"}),
        ({**QUEUE, "admit_per_minute": 100_001}, {"admit_per_minute"}),
        ({**QUEUE, "pass_minutes": 0}, {"pass_minutes"}),
        ({**QUEUE, "pass_minutes": 121}, {"pass_minutes"}),
        ({**QUEUE, "opens_at": None}, {"opens_at"}),
        ({"enabled": True}, {"opens_at", "admit_per_minute", "pass_minutes"}),
        ({**QUEUE, "opens_at": "tomorrow"}, {"opens_at"}),
    ],
)
def test_queue_settings_are_validated(staff_api, queue_body, details):
    response = staff_api.post("/api/events/", _event_body(queue=queue_body), format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]["queue"]) == details
    assert not Event.objects.exists()


def test_the_limits_themselves_are_accepted(staff_api):
    body = {**QUEUE, "admit_per_minute": 100_000, "pass_minutes": 120}
    assert staff_api.post("/api/events/", _event_body(queue=body), format="json").status_code == 201
    body = {**QUEUE, "admit_per_minute": 1, "pass_minutes": 1}
    response = staff_api.post("/api/events/", _event_body(name="Slow", queue=body), format="json")
    assert response.status_code == 201


def test_patch_changes_part_of_the_queue_and_null_removes_it(
    staff_api, customer, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(at(-600), tick=False)
    event = make_event(starts_at=OPENS + dt.timedelta(days=10))
    url = f"/api/events/{event.pk}/"
    error = assert_error(
        staff_api.patch(url, {"queue": {"enabled": True}}, format="json"), 400, "invalid"
    )
    assert set(error["details"]["queue"]) == {"opens_at", "admit_per_minute", "pass_minutes"}
    body = {"opens_at": "2031-03-01T10:00:00Z", "admit_per_minute": 60, "pass_minutes": 5}
    response = staff_api.patch(url, {"queue": body}, format="json")
    assert response.json()["queue"] == {**body, "enabled": False}
    response = staff_api.patch(url, {"queue": {"enabled": True}}, format="json")
    assert response.json()["queue"] == {**body, "enabled": True}
    queue.queue_join(room=room_of(event), user=customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.patch(url, {"queue": None}, format="json")
    assert response.status_code == 200 and response.json()["queue"] is None
    event.refresh_from_db()
    assert (event.queue_enabled, event.queue_opens_at, event.queue_rate_changes) == (
        False,
        None,
        [],
    )
    # The room's places went with it: set up again, nobody is in.
    staff_api.patch(url, {"queue": {**body, "enabled": True}}, format="json")
    assert queue.queue_place(room=room_of(event), user=customer) is None


def test_an_open_room_keeps_its_opening_and_a_new_rate_continues_admission(staff_api, time_machine):
    time_machine.move_to(at(30), tick=False)
    event = queued_event(rate=60)
    url = f"/api/events/{event.pk}/"
    moved = staff_api.patch(url, {"queue": {"opens_at": "2031-03-01T11:00:00Z"}}, format="json")
    assert set(assert_error(moved, 400, "invalid")["details"]["queue"]) == {"opens_at"}
    response = staff_api.patch(url, {"queue": {"admit_per_minute": 120}}, format="json")
    assert response.status_code == 200
    assert response.json()["queue"]["admit_per_minute"] == 120
    event.refresh_from_db()
    assert event.queue_rate_changes == [
        ["2031-03-01T10:00:00Z", 0, 60],
        ["2031-03-01T10:00:30Z", 30, 120],
    ]
    # Disabled, its opening may move (and the rate's history starts anew).
    staff_api.patch(url, {"queue": {"enabled": False}}, format="json")
    response = staff_api.patch(
        url, {"queue": {"opens_at": "2031-03-01T11:00:00Z", "enabled": True}}, format="json"
    )
    assert response.status_code == 200, response.content
    event.refresh_from_db()
    assert event.queue_rate_changes == []


def test_customers_cannot_set_the_queue(customer_api):
    event = make_event()
    response = customer_api.patch(f"/api/events/{event.pk}/", {"queue": QUEUE}, format="json")
    assert_error(response, 403, "permission_denied")


# --- the admin ----------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root"
    )
    client.force_login(admin)
    return client


def _admin_form(event: Event, **overrides) -> dict:
    data = {
        "name": event.name,
        "category": event.category,
        "status": event.status,
        "booking_enabled": "on",
        "venue_name": event.venue_name,
        "city": event.city,
        "starts_at_0": f"{event.starts_at:%Y-%m-%d}",
        "starts_at_1": f"{event.starts_at:%H:%M:%S}",
        "ends_at_0": f"{event.ends_at:%Y-%m-%d}",
        "ends_at_1": f"{event.ends_at:%H:%M:%S}",
        "capacity": str(event.capacity),
        "price": str(event.price),
        "currency": event.currency,
        "max_tickets_per_user": str(event.max_tickets_per_user),
        "ticket_types-TOTAL_FORMS": "0",
        "ticket_types-INITIAL_FORMS": "0",
        "promo_codes-TOTAL_FORMS": "0",
        "promo_codes-INITIAL_FORMS": "0",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        "transfers_enabled": "on",
    }
    data.update(overrides)
    return data


def test_the_admin_sets_the_waiting_room_with_errors_next_to_its_fields(admin_client):
    event = make_event(starts_at=OPENS + dt.timedelta(days=10))
    url = reverse("admin:events_event_change", args=[event.pk])
    page = admin_client.get(url).content.decode()
    assert "Waiting room" in page and 'name="queue_admit_per_minute"' in page

    response = admin_client.post(url, _admin_form(event, queue_enabled="on"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"queue_opens_at", "queue_admit_per_minute", "queue_pass_minutes"}
    response = admin_client.post(
        url, _admin_form(event, queue_enabled="on", queue_admit_per_minute="0")
    )
    assert "queue_admit_per_minute" in response.context["adminform"].form.errors

    response = admin_client.post(
        url,
        _admin_form(
            event,
            queue_enabled="on",
            queue_opens_at_0="2031-03-01",
            queue_opens_at_1="10:00:00",
            queue_admit_per_minute="250",
            queue_pass_minutes="15",
        ),
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.queue_enabled, event.queue_opens_at, event.queue_admit_per_minute) == (
        True,
        OPENS,
        250,
    )
    assert event.queue_pass_minutes == 15


# --- analytics ------------------------------------------------------------------------


def test_analytics_show_the_waiting_room_live(staff_api, staff, time_machine):
    time_machine.move_to(at(-10), tick=False)
    event = queued_event(rate=6, pass_minutes=1)
    plain = make_event(starts_at=OPENS + dt.timedelta(days=3))
    url = f"/api/analytics/events/{event.pk}/?from=2031-02-01&to=2031-03-01"
    assert staff_api.get(f"/api/analytics/events/{plain.pk}/").json()["queue"] is None
    users = make_users(5)
    for user in users[:2]:
        queue.queue_join(room=room_of(event), user=user)
    assert staff_api.get(url).json()["queue"] == {
        "waiting": 2,
        "admitted": 0,
        "expired": 0,
        "admit_per_minute": 6,
    }
    # Within the figures' cache time, a new place shows at once.
    queue.queue_join(room=room_of(event), user=users[2])
    assert staff_api.get(url).json()["queue"]["waiting"] == 3

    time_machine.move_to(at(0), tick=False)
    for user in users[3:]:
        queue.queue_join(room=room_of(event), user=user)
    time_machine.move_to(at(75), tick=False)  # 7 admitted (one a 10 s), the first ran out
    assert staff_api.get(url).json()["queue"] == {
        "waiting": 0,
        "admitted": 4,
        "expired": 1,
        "admit_per_minute": 6,
    }

    page = Client()
    page.force_login(staff)
    html = page.get(f"/dashboard/events/{event.pk}/?from=2031-02-01&to=2031-03-01").content
    html = html.decode()
    assert 'data-figure="queue-waiting">0<' in html
    assert 'data-figure="queue-admitted">4<' in html
    assert 'data-figure="queue-expired">1<' in html
    assert 'data-figures="queue"' not in page.get(f"/dashboard/events/{plain.pk}/").content.decode()
