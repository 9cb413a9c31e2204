"""Shortcuts for booking tests."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from bookings import services
from nuvio.errors import NuvioError

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def hold(user, event, quantity=1, **kwargs):
    booking, _ = services.booking_reserve(user=user, event_id=event.pk, quantity=quantity, **kwargs)
    return booking


def confirmed(user, event, quantity=1, **kwargs):
    booking = hold(user, event, quantity, **kwargs)
    return services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)


def run_together(jobs, threads: int = 16) -> list:
    """Run callables on ``threads`` threads released together (each with its own
    database connection); returns each outcome: a result, or the error code of
    a NuvioError."""
    start = threading.Event()

    def run(job):
        try:
            start.wait(timeout=10)
            return job()
        except NuvioError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        start.set()
        return [future.result() for future in futures]
