"""Staff see a booking in the analytics figures within 5 seconds (API.md),
also in production mode (PostgreSQL, Redis) when the worker that drains the
roll-up marks is behind: here it never runs (``worker_behind``), as when the
beat's refresh task waits behind a burst of e-mails."""

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Q, Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from analytics import services
from bookings import services as booking_services
from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Refund, RefundStatus
from bookings.tests.helpers import GOOD_CARD, hold, run_together
from events.tests.factories import make_event
from nuvio.testing import requires_postgres, requires_redis

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = "/api/analytics/summary/"
BOUND = 5  # seconds: "staff see a booking in these figures within 5 seconds"


@pytest.fixture
def worker_behind(monkeypatch):
    """The beat's drain never gets to run."""

    def behind(**kwargs):
        raise AssertionError("the worker is behind: nothing may wait for it")

    monkeypatch.setattr(services, "rollups_drain", behind)


def _staff_client(staff) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


def _from_the_bookings(event) -> dict:
    """The figures of ``event``'s bookings counted straight from their rows."""
    counts = Booking.objects.filter(event=event).aggregate(
        total=Count("id"),
        held=Count("id", filter=Q(status=BookingStatus.HELD)),
        confirmed=Count("id", filter=Q(status=BookingStatus.CONFIRMED)),
        cancelled=Count("id", filter=Q(status=BookingStatus.CANCELLED)),
        expired=Count("id", filter=Q(status=BookingStatus.EXPIRED)),
        tickets=Sum("quantity", filter=Q(status=BookingStatus.CONFIRMED), default=0),
    )
    revenue = (
        Payment.objects.filter(booking__event=event)
        .exclude(status=PaymentStatus.DECLINED)
        .aggregate(total=Sum("amount", default=Decimal("0")))["total"]
    )
    refunded = (
        Refund.objects.filter(booking__event=event)
        .exclude(status=RefundStatus.FAILED)
        .aggregate(total=Sum("amount", default=Decimal("0")))["total"]
    )
    return {
        "bookings": {
            name: counts[name] for name in ("total", "held", "confirmed", "cancelled", "expired")
        },
        "tickets_sold": counts["tickets"],
        "revenue": f"{revenue:.2f}",
        "refunded": f"{refunded:.2f}",
    }


def _shown(body: dict) -> dict:
    return {key: body[key] for key in ("bookings", "tickets_sold", "revenue", "refunded")}


def _figures(api, event) -> tuple[dict, dict]:
    """What staff see of ``event`` today: in the summary and in its own figures."""
    today = timezone.now().date().isoformat()
    summary = api.get(SUMMARY, {"from": today, "to": today, "event": str(event.pk)})
    figures = api.get(f"/api/analytics/events/{event.pk}/", {"from": today, "to": today})
    assert summary.status_code == figures.status_code == 200
    return _shown(summary.json()), _shown(figures.json())


def test_pays_and_cancels_show_within_five_seconds_without_the_worker(
    staff, customer, customer_api, time_machine, worker_behind
):
    time_machine.move_to(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False)
    event = make_event(capacity=50, max_tickets_per_user=10, price=Decimal("100.00"))
    staff_api = _staff_client(staff)
    assert _figures(staff_api, event)[0]["bookings"]["total"] == 0  # now cached

    ids = []
    for quantity in (1, 2, 3):
        response = customer_api.post(
            "/api/bookings/", {"event": str(event.pk), "quantity": quantity}
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    for booking_id in ids[:2]:
        paid = customer_api.post(f"/api/bookings/{booking_id}/pay/", {"card_number": GOOD_CARD})
        assert paid.status_code == 200
    for booking_id in ids[1:]:  # a paid booking and a hold
        assert customer_api.post(f"/api/bookings/{booking_id}/cancel/").status_code == 200
    # Marked (one event, one day), and no worker has applied it.
    assert services.rollups_pending() == (1 if settings.REDIS_URL else 0)

    time_machine.shift(BOUND)
    summary, figures = _figures(staff_api, event)

    expected = _from_the_bookings(event)
    assert expected["bookings"] == {
        "total": 3,
        "held": 0,
        "confirmed": 1,
        "cancelled": 2,
        "expired": 0,
    }
    assert (expected["tickets_sold"], expected["revenue"]) == (1, "300.00")
    assert summary == figures == expected


@requires_postgres
@requires_redis
def test_a_read_waits_for_a_drain_in_flight(staff, customer, monkeypatch):
    """A worker that took the marks off the set but has not written the
    roll-ups yet must not let a read answer without them."""
    event = make_event(capacity=10)
    booking = hold(customer, event, 2)
    booking_services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    assert services.rollups_pending() == 1

    taken, go_on = threading.Event(), threading.Event()
    redis = services._redis()

    class SlowWorker:
        """The real client, but the first SPOP then stalls until ``go_on``."""

        def __getattr__(self, name):
            return getattr(redis, name)

        def spop(self, *args):
            members = redis.spop(*args)
            if not taken.is_set():
                taken.set()
                assert go_on.wait(timeout=10)
            return members

    monkeypatch.setattr(services, "_redis", SlowWorker)

    def worker():
        try:
            return services.rollups_drain()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        drain = pool.submit(worker)
        assert taken.wait(timeout=10)
        assert services.rollups_pending() == 0  # off the set, not in the roll-ups
        timer = threading.Timer(0.5, go_on.set)  # the worker goes on while the read waits
        timer.start()
        try:
            summary, figures = _figures(_staff_client(staff), event)
        finally:
            go_on.set()
            timer.cancel()
        assert drain.result() == 1

    assert summary == figures == _from_the_bookings(event)
    assert summary["tickets_sold"] == 2


@requires_postgres
@requires_redis
def test_a_read_while_the_rollups_are_locked_for_long_answers_from_them(staff, customer, caplog):
    """A rebuild holds the roll-up writers' lock for its whole transaction; a
    read that cannot take it within ``lock_timeout`` still answers (from the
    roll-ups as they are) instead of failing."""
    event = make_event(capacity=10)
    hold(customer, event, 1)
    holding, release = threading.Event(), threading.Event()

    def rebuild_in_progress():
        try:
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [services._LOCK_KEY])
                holding.set()
                release.wait(timeout=10)
                cursor.execute("COMMIT")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        locker = pool.submit(rebuild_in_progress)
        assert holding.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
        try:
            _figures(_staff_client(staff), event)  # both answer 200
        finally:
            release.set()
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        locker.result()

    assert "roll-ups locked" in caplog.text
    assert services.rollups_pending() == 1  # still marked: the next read applies it


BUYERS = 12
ROUNDS = 6


@requires_postgres
def test_a_burst_of_pays_and_cancels_shows_exactly_within_five_seconds(
    staff, time_machine, worker_behind
):
    """Concurrent buyers pay and cancel while staff keep reading the figures
    and no worker drains the marks; a read five seconds after the burst
    matches a count of the booking rows."""
    event = make_event(capacity=1000, max_tickets_per_user=100, price=Decimal("40.00"))
    users = [
        User.objects.create_user(email=f"buyer{i}@example.com", password="x", name=f"Buyer {i}")
        for i in range(BUYERS)
    ]
    reading, done = threading.Event(), threading.Event()

    def buyer(user):
        for n in range(ROUNDS):
            booking = hold(user, event, 1 + n % 3)
            if n % 2:
                booking_services.booking_pay(
                    user=user, booking_id=booking.pk, card_number=GOOD_CARD
                )
            if n % 3 == 0:
                booking_services.booking_cancel(user=user, booking_id=booking.pk)
        return "ok"

    def reader():
        api = _staff_client(staff)
        reads = 0
        while reads < 40 and not done.is_set():  # 40: well under the `read` throttle
            _figures(api, event)
            reads += 1
            reading.set()
        return reads

    with ThreadPoolExecutor(max_workers=2) as pool:
        readers = [pool.submit(_in_own_connection, reader) for _ in range(2)]
        assert reading.wait(timeout=10)
        try:
            outcomes = run_together([lambda u=u: buyer(u) for u in users], threads=BUYERS)
        finally:
            done.set()
        assert all(future.result() > 0 for future in readers)
    assert outcomes == ["ok"] * BUYERS

    time_machine.move_to(timezone.now() + dt.timedelta(seconds=BOUND))
    summary, figures = _figures(_staff_client(staff), event)

    expected = _from_the_bookings(event)
    assert expected["bookings"]["total"] == BUYERS * ROUNDS
    assert expected["bookings"]["cancelled"] == BUYERS * 2  # rounds 0 and 3
    assert summary == figures == expected


def _in_own_connection(job):
    try:
        return job()
    finally:
        connections.close_all()
