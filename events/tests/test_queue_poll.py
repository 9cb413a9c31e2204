"""A waiting room's poll answered early (``events.api.queue.queue_poll_early``):
the view's answer to the byte, and the view's answer whenever what the room
remembered of the token may be out of date (a user changed since, a token
deleted), whatever request made the token's cache entry anew meanwhile."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from events import queue
from events.api.queue import place_body
from events.models import EventStatus
from events.tests.queue_helpers import (
    OPENS,
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    make_users,
    queue_url,
    queued_event,
    room_of,
)
from nuvio import redis_raw
from nuvio.testing import assert_error, requires_redis

pytestmark = pytest.mark.django_db


def _token_client(user) -> tuple[APIClient, Token]:
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


@pytest.mark.parametrize(
    "place",
    [
        # an early arrival, before the opening
        queue.QueuePlace(None, None, "waiting", OPENS, 91, None, 30),
        queue.QueuePlace(12, 7, "waiting", OPENS, 1_234, None, 2),
        queue.QueuePlace(3, 0, "admitted", OPENS, 0, at(305.25), 30),
        queue.QueuePlace(1, 0, "expired", OPENS, 0, None, 30),
    ],
    ids=["early-arrival", "waiting", "admitted", "expired"],
)
def test_the_early_body_is_what_the_views_renderer_writes(place):
    assert place_body(place) == JSONRenderer().render(place.as_dict())


def _compare(client, event) -> dict:
    """The early answer is the view's, to the byte; returns it."""
    through_view = client.get(queue_url(event), {"format": "json"})
    early = client.get(queue_url(event))
    assert early.status_code == through_view.status_code == 200
    assert early.content == through_view.content
    for header in ("Content-Type", "Content-Length", "Vary", "Allow"):
        assert early[header] == through_view[header], header
    return early.json()


def test_every_status_answered_early_is_the_views_answer_to_the_byte(
    customer, time_machine, view_calls
):
    time_machine.move_to(at(-30), tick=False)
    first, later = queued_event(rate=6, pass_minutes=1), queued_event(rate=6, pass_minutes=1)
    client, _ = _token_client(customer)
    assert client.post(queue_url(first)).status_code == 201
    time_machine.move_to(at(-20), tick=False)
    assert _compare(client, first)["position"] is None  # an early arrival

    time_machine.move_to(at(0), tick=False)
    for user in make_users(2):  # places 1 and 2 of the other room
        queue.queue_join(room=room_of(later), user=user)
    assert client.post(queue_url(later)).json()["position"] == 3
    answers = []
    for second in (5, 15, 45, 100):  # admitted at 30 s, for a minute
        time_machine.move_to(at(second), tick=False)
        body = _compare(client, later)
        answers.append((body["status"], body["ahead"]))
    assert answers == [("waiting", 2), ("waiting", 1), ("admitted", 0), ("expired", 0)]
    assert len(view_calls) == 5  # only those asked through the view


def test_a_staff_member_demoted_after_joining_a_draft_gets_the_views_404(
    staff, time_machine, view_calls
):
    time_machine.move_to(at(0), tick=False)
    draft = queued_event(status=EventStatus.DRAFT)
    client, _ = _token_client(staff)
    assert client.post(queue_url(draft)).status_code == 201
    assert client.get(queue_url(draft)).status_code == 200
    assert view_calls == []  # answered early, as staff

    staff.is_staff = False
    staff.save()
    # Another request makes the token's cache entry anew (not staff any more)
    # before the next poll: what the room remembered of the token is old.
    assert client.get("/api/me/").status_code == 200
    assert_error(client.get(queue_url(draft)), 404, "not_found")
    assert_error(client.get(queue_url(draft)), 404, "not_found")
    assert len(view_calls) == 2


def test_a_user_deactivated_after_joining_gets_the_views_401(
    customer, settings, time_machine, view_calls
):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    client, _ = _token_client(customer)
    assert client.post(queue_url(event)).status_code == 201
    assert client.get(queue_url(event)).status_code == 200
    assert view_calls == []

    customer.is_active = False
    customer.save()
    # Another request fails, and caches the inactive user for the token.
    assert_error(client.get("/api/me/"), 401, "not_authenticated")
    for _ in range(2):
        assert_error(client.get(queue_url(event)), 401, "not_authenticated")

    customer.is_active = True
    customer.save()
    assert client.get(queue_url(event)).status_code == 200
    assert client.get(queue_url(event)).status_code == 200
    # With Redis the view answers the first (the room remembers the token
    # anew); without, this process authenticates each poll itself.
    assert len(view_calls) == (1 if settings.REDIS_URL else 0)


def test_a_changed_user_is_counted_once_against_the_read_rate(
    customer, settings, time_machine, view_calls
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "5/min"},
    }
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    client, _ = _token_client(customer)
    client.post(queue_url(event))  # a write: not counted as a read
    statuses = [client.get(queue_url(event)).status_code]  # 1, early
    customer.name = "Cara Renamed"
    customer.save()
    statuses.append(client.get("/api/me/").status_code)  # 2: the entry made anew
    statuses.append(client.get(queue_url(event)).status_code)  # 3: the view's, with Redis
    statuses.append(client.get(queue_url(event)).status_code)  # 4: early again
    statuses.append(client.get(queue_url(event)).status_code)  # 5
    statuses.append(client.get(queue_url(event)).status_code)  # 6: one too many
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert len(view_calls) == (1 if settings.REDIS_URL else 0)


# --- Redis only ------------------------------------------------------------------------


@requires_redis
def test_a_poll_loads_its_script_when_redis_does_not_have_it(
    customer_api, monkeypatch, time_machine, view_calls
):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    customer_api.post(queue_url(event))
    # As after a restart of Redis: the script's digest names nothing there.
    monkeypatch.setattr(queue, "_POLL_SHA", "0" * 40)
    response = customer_api.get(queue_url(event))
    assert (response.status_code, response.json()["position"]) == (200, 1)
    assert view_calls == []


@requires_redis
def test_a_poll_connection_closed_by_redis_is_made_anew(customer_api, time_machine, view_calls):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    customer_api.post(queue_url(event))
    first = customer_api.get(queue_url(event))
    assert view_calls == []
    connection = redis_raw.thread_connection(queue.redis_store.client().connection_pool)
    connection.send_command("CLIENT", "ID")
    queue.redis_store.client().client_kill_filter(_id=connection.read_response())

    for _ in range(3):  # the view answers the one that meets the closed connection
        response = customer_api.get(queue_url(event))
        assert (response.status_code, response.content) == (200, first.content)
    assert len(view_calls) == 1
