"""The waiting room on Redis (production): it fails closed when Redis is
away, its places outlive a killed web process, and concurrent joins through
the whole stack on PostgreSQL take one place per user."""

import datetime as dt
import multiprocessing
import os
import signal

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bookings.tests.helpers import run_together
from events import queue
from events.tests.factories import make_event
from events.tests.queue_helpers import (
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    make_users,
    queued_event,
    room_of,
)
from events.tests.queue_worker import join_until_killed, read_places
from nuvio import outage
from nuvio.testing import assert_error, requires_postgres, requires_redis

pytestmark = requires_redis

# Nothing listens on port 1: every connection is refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings, monkeypatch):
    monkeypatch.setattr(outage, "_last", {})
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    yield
    caches["default"].close()


@pytest.mark.django_db
def test_redis_away_the_room_fails_closed_and_other_events_keep_selling(
    request, customer, customer_api, staff, staff_api, time_machine
):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    plain = make_event(starts_at=at(0) + dt.timedelta(days=3))
    queue.queue_join(room=room_of(event), user=customer)
    time_machine.move_to(at(5), tick=False)
    assert customer_api.get(f"/api/events/{event.pk}/queue/").json()["status"] == "admitted"

    request.getfixturevalue("redis_down")
    url = f"/api/events/{event.pk}/queue/"
    for call in (customer_api.get, customer_api.post, customer_api.delete):
        error = assert_error(call(url), 503, "unavailable")
        assert "waiting room" in error["message"]
    # Nobody skips the queue, not even someone admitted a moment ago ...
    held = customer_api.post("/api/bookings/", {"event": str(event.pk), "quantity": 1})
    assert_error(held, 503, "unavailable")
    quote = customer_api.post("/api/bookings/quote/", {"event": str(event.pk), "quantity": 1})
    assert_error(quote, 503, "unavailable")
    # ... while every other event sells as usual.
    held = customer_api.post("/api/bookings/", {"event": str(plain.pk), "quantity": 1})
    assert held.status_code == 201, held.content

    figures = staff_api.get(f"/api/analytics/events/{event.pk}/")
    assert_error(figures, 503, "unavailable")
    assert staff_api.get(f"/api/analytics/events/{plain.pk}/").status_code == 200
    page = Client()
    page.force_login(staff)
    response = page.get(f"/dashboard/events/{event.pk}/")
    assert response.status_code == 503
    assert b'data-figure="queue-unavailable"' in response.content


# --- a killed web process ------------------------------------------------------------


def _database_url() -> str:
    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_web_process_killed_mid_sale_loses_no_place():
    event = queued_event(
        opens_at=timezone.now() - dt.timedelta(minutes=1),
        starts_at=timezone.now() + dt.timedelta(days=3),
        rate=1,
    )
    users = make_users(40)
    ids = [str(user.pk) for user in users]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    web = context.Process(
        target=join_until_killed, args=(_database_url(), str(event.pk), ids, results)
    )
    web.start()
    taken = {}
    try:
        while len(taken) < 25:  # killed in the middle of the rush
            user_id, position = results.get(timeout=60)
            taken[user_id] = position
    finally:
        os.kill(web.pid, signal.SIGKILL)
        web.join(timeout=30)
    assert web.exitcode == -signal.SIGKILL

    # Every place it gave is kept, for this process and for a new one alike.
    room = room_of(event)
    here = {
        str(u.pk): getattr(queue.queue_place(room=room, user=u), "position", None) for u in users
    }
    assert all(here[user_id] == position for user_id, position in taken.items())
    # (A new queue: killing a process may leave the old one's lock taken.)
    answers = context.Queue()
    reader = context.Process(
        target=read_places, args=(_database_url(), str(event.pk), ids, answers)
    )
    reader.start()
    seen = answers.get(timeout=60)
    reader.join(timeout=30)
    assert reader.exitcode == 0
    assert seen == here
    given = [position for position in here.values() if position is not None]
    assert len(given) == len(set(given))  # one place each, none given twice
    assert 25 <= len(given) < len(users)  # killed before it was done


# --- concurrent joins through the whole stack ------------------------------------------


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_over_http_take_one_place_per_user():
    event = queued_event(
        opens_at=timezone.now() - dt.timedelta(minutes=1),
        starts_at=timezone.now() + dt.timedelta(days=3),
        rate=1,
    )
    url = f"/api/events/{event.pk}/queue/"
    (fan,) = make_users(1, prefix="one")
    fan_client = _client(fan)
    answers = run_together([lambda: fan_client.post(url)] * 16)
    assert sorted(answer.status_code for answer in answers) == [200] * 15 + [201]
    assert len({answer.json()["position"] for answer in answers}) == 1

    clients = [_client(user) for user in make_users(16, prefix="many")]
    answers = run_together([lambda c=c: c.post(url) for c in clients])
    assert [answer.status_code for answer in answers] == [201] * 16
    positions = sorted(answer.json()["position"] for answer in answers)
    first = answers[0].json()["position"]
    assert positions == list(range(positions[0], positions[0] + 16)) and first in positions
