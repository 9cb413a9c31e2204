"""Roll-ups stay exact when bookings change and refreshes run at the same
time, on PostgreSQL with real threads (each with its own connection, real
commits and real after-commit work)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from accounts.models import User
from analytics import services
from analytics.models import DailyEventStats
from analytics.tests.helpers import settle
from bookings import services as booking_services
from bookings.tests.helpers import GOOD_CARD, hold
from events.tests.factories import make_event
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
THREADS = 6
ROUNDS = 8


def test_concurrent_bookings_and_refreshes_leave_exact_rollups():
    event = make_event(capacity=1000, max_tickets_per_user=100)
    users = [
        User.objects.create_user(email=f"buyer{i}@example.com", password="x", name=f"Buyer {i}")
        for i in range(THREADS)
    ]
    start, done = threading.Event(), threading.Event()

    def buyer(user):
        try:
            start.wait(timeout=10)
            for n in range(ROUNDS):
                booking = hold(user, event, 1 + n % 3)
                if n % 2:
                    booking_services.booking_pay(
                        user=user, booking_id=booking.pk, card_number=GOOD_CARD
                    )
                if n % 3 == 0:
                    booking_services.booking_cancel(user=user, booking_id=booking.pk)
        finally:
            connections.close_all()

    def drainer():
        # The beat task, running all along (production mode; a no-op otherwise,
        # where every buyer refreshes right after its own commits).
        try:
            start.wait(timeout=10)
            while not done.is_set():
                settle()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS + 1) as pool:
        drain = pool.submit(drainer)
        buyers = [pool.submit(buyer, user) for user in users]
        start.set()
        for future in buyers:
            future.result()
        done.set()
        drain.result()
    settle()

    assert services.rollups_stale() == []
    row = DailyEventStats.objects.get()
    assert row.bookings == THREADS * ROUNDS
    assert row.cancelled == THREADS * 3  # rounds 0, 3, 6
    assert row.confirmed == THREADS * 3  # rounds 1, 5, 7 (round 3 paid then cancelled)
    assert row.cancelled_paid == THREADS  # round 3
