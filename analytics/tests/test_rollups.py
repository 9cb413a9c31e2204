"""The roll-ups stay exact: refreshed after commit (at once, or queued in
Redis and drained by the beat task), rebuilt from scratch on demand."""

import datetime as dt
import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from analytics import services
from analytics.cache import figures_version
from analytics.models import DailyEventStats
from analytics.selectors import Filters, analytics_summary
from analytics.tasks import refresh_rollups
from analytics.tests.helpers import D1, D3, at, settle
from bookings import services as booking_services
from bookings.models import Booking, BookingStatus, Refund
from bookings.tests.helpers import GOOD_CARD, hold
from events.tests.factories import make_event
from nuvio.errors import NuvioError
from nuvio.testing import requires_redis

pytestmark = pytest.mark.django_db


class FakeRedis:
    """The three set commands the roll-up queue uses, on a Python set."""

    def __init__(self, *, fail: bool = False):
        self.members: set[str] = set()
        self.calls: list[str] = []
        self.fail = fail

    def sadd(self, key, *members):
        self.calls.append("sadd")
        if self.fail:
            raise RedisConnectionError("Redis is down")
        self.members.update(m if isinstance(m, str) else m.decode() for m in members)
        return len(members)

    def spop(self, key, count):
        self.calls.append("spop")
        taken = [self.members.pop() for _ in range(min(count, len(self.members)))]
        return [m.encode() for m in taken]

    def scard(self, key):
        return len(self.members)


@pytest.fixture
def fake_redis(settings, monkeypatch):
    """The production mode's queue, on a fake Redis (whatever this run uses)."""
    original = settings.REDIS_URL
    settings.REDIS_URL = original or "redis://fake"
    fake = FakeRedis()
    monkeypatch.setattr(services, "_redis", lambda: fake)
    yield fake
    settings.REDIS_URL = original  # before the shared teardown clears the cache


def _rows(event=None) -> list[tuple]:
    rows = DailyEventStats.objects.order_by("event_id", "day")
    if event is not None:
        rows = rows.filter(event=event)
    return list(rows.values_list("event_id", "day", *services.FIGURES))


# --- after commit --------------------------------------------------------------------


def test_rollups_change_only_after_commit(customer, django_capture_on_commit_callbacks):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        hold(customer, event, 2)
    assert _rows() == []
    assert len(callbacks) >= 1

    for callback in callbacks:
        callback()
    settle()
    row = DailyEventStats.objects.get()
    assert (row.event_id, row.bookings, row.held, row.tickets) == (event.pk, 1, 1, 0)


def test_a_rolled_back_change_leaves_the_rollups_alone(
    customer, django_capture_on_commit_callbacks
):
    event = make_event()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        hold(customer, event, 1)
        raise RuntimeError("changed my mind")
    assert callbacks == []
    assert _rows() == []


def test_reserve_queues_its_pair_with_one_redis_call_and_no_query(
    customer, fake_redis, django_capture_on_commit_callbacks
):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        hold(customer, event, 1)
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()

    assert len(queries) == 0
    assert fake_redis.calls == ["sadd"]
    assert fake_redis.members == {f"{event.pk.hex}:{Booking.objects.get().created_at.date()}"}
    assert _rows() == []  # not yet: the beat task applies it


def test_drain_applies_queued_pairs_and_bumps_the_version(
    customer, fake_redis, django_capture_on_commit_callbacks
):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        booking = hold(customer, event, 2)
        booking_services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    version = figures_version()
    assert services.rollups_pending() == 1  # both changes touched the same pair

    assert refresh_rollups.delay().get() == 1

    assert services.rollups_pending() == 0
    assert figures_version() == version + 1
    row = DailyEventStats.objects.get()
    assert (row.bookings, row.confirmed, row.tickets, str(row.revenue)) == (1, 1, 2, "1000.00")
    assert services.rollups_drain() == 0


def test_a_failed_drain_puts_its_pairs_back(
    customer, fake_redis, monkeypatch, django_capture_on_commit_callbacks
):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, event, 1)

    def broken(pairs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_refresh_chunk", broken)
    with pytest.raises(RuntimeError):
        services.rollups_drain()
    assert services.rollups_pending() == 1


def test_when_redis_cannot_take_the_pairs_they_are_refreshed_at_once(
    customer, fake_redis, django_capture_on_commit_callbacks
):
    fake_redis.fail = True
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, event, 3)
    assert [row[2:4] for row in _rows()] == [(1, 1)]  # bookings, held


@requires_redis
def test_with_real_redis_pairs_wait_in_the_set_until_drained(
    customer, django_capture_on_commit_callbacks
):
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, event, 1)
    assert services.rollups_pending() == 1
    assert _rows() == []
    assert settle() == 1
    assert len(_rows()) == 1


def test_with_redis_down_bookings_still_reach_the_figures(
    settings, staff, customer, django_capture_on_commit_callbacks
):
    dead = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = dead
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.1,
                "SOCKET_TIMEOUT": 0.1,
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, event, 2)
    api = APIClient()
    api.force_authenticate(staff)
    api.throttle_classes = []

    response = api.get("/api/analytics/summary/", {"event": str(event.pk)})

    assert response.status_code == 200
    assert response.json()["bookings"]["held"] == 1


# --- from scratch -------------------------------------------------------------------


def _random_operations(users, events, time_machine, capture, *, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    moment = at(D1, 8)
    held: list[Booking] = []
    paid: list[Booking] = []
    with capture(execute=True):
        for _ in range(steps):
            moment += dt.timedelta(minutes=rng.choice([1, 3, 10, 30, 240]))
            time_machine.move_to(moment, tick=False)
            action = rng.random()
            try:
                if action < 0.4 or not held:
                    event = rng.choice(events)
                    held.append(hold(rng.choice(users), event, rng.randint(1, 3)))
                elif action < 0.7:
                    booking = rng.choice(held[-3:])  # recent: likely still held
                    booking_services.booking_pay(
                        user=booking.user, booking_id=booking.pk, card_number=GOOD_CARD
                    )
                    paid.append(booking)
                elif action < 0.82:
                    booking = rng.choice(paid if paid and rng.random() < 0.4 else held)
                    booking_services.booking_cancel(user=booking.user, booking_id=booking.pk)
                else:
                    booking_services.holds_release_expired()
            except NuvioError:
                pass  # sold out, already paid, expired...: the mix includes refusals
    settle()


def test_rollups_equal_a_recomputation_after_a_random_mix(
    customer, outsider, staff, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(at(D1, 7), tick=False)
    # Cancellations fall in every refund tier: the events start 3, 9 and 30 days on.
    events = [
        make_event(
            name=f"Event {days}",
            capacity=12,
            max_tickets_per_user=12,
            starts_at=at(D1, 12) + dt.timedelta(days=days),
        )
        for days in (3, 9, 30)
    ]
    _random_operations(
        [customer, outsider, staff],
        events,
        time_machine,
        django_capture_on_commit_callbacks,
        seed=7,
        steps=120,
    )
    statuses = set(Booking.objects.values_list("status", flat=True))
    assert statuses >= {BookingStatus.CONFIRMED, BookingStatus.CANCELLED, BookingStatus.EXPIRED}
    assert set(Refund.objects.values_list("percent", flat=True)) == {0, 50, 100}
    incremental = _rows()
    assert len(incremental) > 3

    assert services.rollups_stale() == []
    assert services.rollups_rebuild() == len(incremental)
    assert _rows() == incremental


def test_rebuild_repairs_only_its_scope(customer, time_machine, django_capture_on_commit_callbacks):
    time_machine.move_to(at(D1, 9), tick=False)
    first, second = make_event(name="First"), make_event(name="Second")
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, first, 1)
        hold(customer, second, 1)
        time_machine.move_to(at(D3, 9), tick=False)
        hold(customer, first, 1)
    settle()
    good = _rows()
    DailyEventStats.objects.update(bookings=99)
    assert len(services.rollups_stale()) == 3

    services.rollups_rebuild(event_id=first.pk, day_from=D1, day_to=D1)
    assert len(services.rollups_stale()) == 2
    services.rollups_rebuild(event_id=first.pk)
    assert services.rollups_stale() == [(second.pk, D1)]
    services.rollups_rebuild(day_from=D1, day_to=D3)
    assert _rows() == good


def test_rebuild_bumps_the_figures_version(customer):
    version = figures_version()
    services.rollups_rebuild()
    assert figures_version() == version + 1


def test_summary_reads_only_the_rollups(customer, django_capture_on_commit_callbacks):
    """Figures come from the roll-ups: bookings the roll-ups do not know (a
    backfill before its rebuild) do not show until rebuilt."""
    event = make_event()
    with django_capture_on_commit_callbacks(execute=True):
        hold(customer, event, 1)
    settle()
    DailyEventStats.objects.all().delete()
    today = D3.today()
    filters = Filters(day_from=today, day_to=today)
    assert analytics_summary(filters=filters)["bookings"]["total"] == 0
    services.rollups_rebuild()
    assert analytics_summary(filters=filters)["bookings"]["total"] == 1


def test_beat_drains_the_queue_every_two_seconds():
    from nuvio.celery import app

    entry = app.conf.beat_schedule["analytics-refresh-rollups"]
    assert entry["task"] == "analytics.tasks.refresh_rollups" == refresh_rollups.name
    assert entry["schedule"] <= 2


def test_admin_lists_the_rollups_read_only(client, django_user_model, world):
    admin = django_user_model.objects.create_superuser("root@example.com", "pw", name="Root")
    client.force_login(admin)
    response = client.get("/admin/analytics/dailyeventstats/")
    assert response.status_code == 200
    assert "Alpha Concert" in response.content.decode()
    assert client.get("/admin/analytics/dailyeventstats/add/").status_code == 403


@requires_redis
@pytest.mark.django_db(transaction=True)
def test_an_idempotent_api_reserve_marks_its_pair_with_the_answer_in_one_pipeline(customer):
    """On the real Redis: the mark joins the idempotency answer's pipeline
    (nuvio.redis_batch) and both land; the drain then applies the pair."""
    from django.core.cache import cache
    from django_redis import get_redis_connection

    from bookings.idempotency import _cache_key

    redis = get_redis_connection("default")
    dirty = cache.make_key(services.DIRTY_KEY)
    redis.delete(dirty)
    event = make_event()
    api = APIClient()
    api.force_authenticate(customer)
    sent = []
    original = type(redis.pipeline()).execute

    def counting_execute(pipe, *args, **kwargs):
        sent.append([command[0][0] for command in pipe.command_stack])
        return original(pipe, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(redis.pipeline()), "execute", counting_execute)
        response = api.post(
            "/api/bookings/",
            {"event": str(event.pk), "quantity": 1},
            format="json",
            HTTP_IDEMPOTENCY_KEY="batched",
        )

    assert response.status_code == 201
    assert ["SADD", "SET"] in [sorted(commands) for commands in sent]  # one round trip
    booking = Booking.objects.get()
    assert redis.smembers(dirty) == {f"{event.pk.hex}:{booking.created_at.date()}".encode()}
    stored = cache.get(_cache_key(customer.pk, "batched"))
    assert (stored["state"], stored["status"], stored["body"]["id"]) == (
        "done",
        201,
        str(booking.pk),
    )
    assert services.rollups_drain() == 1
    assert DailyEventStats.objects.get(event=event).bookings == 1
