"""Chaos, reduced to what runs in seconds inside ``make test`` (the full
version under load is ``make chaos``, bench/chaos.py).

- Redis stops (a redis-server of the test's own, on a free port): pages and
  the API go on working (bookings, payments, cancellations, log-in), /healthz
  answers 503 naming the cache and the broker, and everything is back once it
  starts again.
- PostgreSQL drops the app's connection between two requests: the next
  request gets a fresh connection (CONN_HEALTH_CHECKS) and succeeds.
- PostgreSQL drops it in the middle of a request: the answer is 503
  `unavailable` with Retry-After (never a 500), nothing is half-written, and
  the next request succeeds.

Between requests the tests call ``close_old_connections()``, as a real server
does at each request start (Django's test client skips it).
"""

import shutil
import socket
import subprocess
import time

import psycopg
import pytest
from django.core.cache import caches
from django.db import close_old_connections, connection
from django.test import Client

from bookings import services
from bookings.models import Booking
from bookings.tests.helpers import GOOD_CARD
from events.tests.factories import make_event
from nuvio.celery import app as celery_app
from nuvio.testing import requires_postgres, requires_redis

requires_redis_server = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="needs the redis-server program"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(settings, monkeypatch):
    redis = OwnRedis()
    redis.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis.url}}
    monkeypatch.setattr(celery_app.conf, "broker_url", redis.url)
    yield redis
    redis.stop()
    caches["default"].close()


@requires_redis
@requires_redis_server
@pytest.mark.django_db
def test_redis_stopped_pages_and_api_keep_working(own_redis, customer, customer_api):
    event = make_event(capacity=10)
    client = Client()
    assert client.get("/healthz").json() == {"database": "ok", "cache": "ok", "broker": "ok"}

    own_redis.stop()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"database": "ok", "cache": "unavailable", "broker": "unavailable"}
    for page in ("/", f"/events/{event.pk}/", "/accounts/login/"):
        assert client.get(page).status_code == 200, page
    assert customer_api.get("/api/events/").status_code == 200
    held = customer_api.post(
        "/api/bookings/", {"event": str(event.pk), "quantity": 2}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert held.status_code == 201, held.content
    paid = customer_api.post(f"/api/bookings/{held.json()['id']}/pay/", {"card_number": GOOD_CARD})
    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "confirmed"
    cancelled = customer_api.post(f"/api/bookings/{held.json()['id']}/cancel/")
    assert cancelled.status_code == 200
    logged_in = client.post(
        "/accounts/login/", {"username": customer.email, "password": "correct-horse-battery-staple"}
    )
    assert logged_in.status_code == 302
    assert client.get("/bookings/").status_code == 200

    own_redis.start()
    assert client.get("/healthz").json() == {"database": "ok", "cache": "ok", "broker": "ok"}


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        # pg_terminate_backend only signals: wait until the backend has gone
        # (its FATAL sent, its socket closed), as a restart would be seen.
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still there"
            time.sleep(0.01)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_between_requests_is_replaced(customer_api):
    close_old_connections()
    # The customer's bookings: read from the database on every request (an
    # event page may come from the shared cache).
    assert customer_api.get("/api/bookings/").status_code == 200
    pid = connection.connection.info.backend_pid
    try:
        _terminate(pid)
        close_old_connections()  # the next request starts
        response = customer_api.get("/api/bookings/")
        assert response.status_code == 200
        assert connection.connection.info.backend_pid != pid
    finally:
        connection.close()  # never leave a dead connection to the tests after this one


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_mid_request_is_503_then_recovers(customer_api, monkeypatch):
    event = make_event(capacity=5)
    real_reserve = services.booking_reserve

    def dropped(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real_reserve(**kwargs)

    monkeypatch.setattr(services, "booking_reserve", dropped)
    close_old_connections()
    response = customer_api.post("/api/bookings/", {"event": str(event.pk), "quantity": 1})
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response["Retry-After"]) > 0

    monkeypatch.setattr(services, "booking_reserve", real_reserve)
    close_old_connections()
    assert Booking.objects.count() == 0
    again = customer_api.post("/api/bookings/", {"event": str(event.pk), "quantity": 1})
    assert again.status_code == 201
    event.refresh_from_db()
    assert event.tickets_taken == 1


# --- a failure after the payment committed ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_broker_down_when_paying_still_answers_the_confirmed_booking(customer_api, monkeypatch):
    """The confirmation e-mail's dispatch fails after commit (the broker is
    away): a robust hook, so the payment answers 200 and keeps the money.
    (It used to escape as an AttributeError: Django names a failing robust
    hook by its __qualname__, which functools.partial lacks.)"""
    from kombu.exceptions import OperationalError as BrokerDown

    from bookings import tasks
    from bookings.gateway import MockGateway

    def broker_down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    refunds = []
    monkeypatch.setattr(tasks.send_notification_email, "delay", broker_down)
    monkeypatch.setattr(MockGateway, "refund", lambda self, **kw: refunds.append(kw) or "r")
    event = make_event(capacity=5)
    held = customer_api.post("/api/bookings/", {"event": str(event.pk), "quantity": 1}).json()
    paid = customer_api.post(f"/api/bookings/{held['id']}/pay/", {"card_number": GOOD_CARD})
    assert paid.status_code == 200, paid.content
    assert paid.json()["status"] == "confirmed"
    assert refunds == []


@pytest.mark.django_db(transaction=True)
def test_a_step_failing_after_the_confirmation_committed_does_not_refund_it(customer, monkeypatch):
    """Whatever fails once the confirmation is committed (here a plain
    on_commit hook), the booking is paid: no refund, and the booking comes
    back confirmed."""
    from django.db import transaction

    from bookings.gateway import MockGateway
    from bookings.signals import bookings_changed

    def after_commit_boom(sender, change, **kwargs):
        if change == "confirmed":
            transaction.on_commit(lambda: 1 / 0)

    refunds = []
    monkeypatch.setattr(MockGateway, "refund", lambda self, **kw: refunds.append(kw) or "r")
    bookings_changed.connect(after_commit_boom)
    try:
        event = make_event(capacity=5)
        held, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
        booking = services.booking_pay(user=customer, booking_id=held.pk, card_number=GOOD_CARD)
    finally:
        bookings_changed.disconnect(after_commit_boom)
    assert booking.status == "confirmed"
    assert refunds == []
    assert booking.payments.get().status == "succeeded"
