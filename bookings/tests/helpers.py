"""Shortcuts for booking tests."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, connections

from bookings import services
from nuvio.errors import Busy, NuvioError, database_error

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def hold(user, event, quantity=1, **kwargs):
    booking, _ = services.booking_reserve(user=user, event_id=event.pk, quantity=quantity, **kwargs)
    return booking


def confirmed(user, event, quantity=1, **kwargs):
    booking = hold(user, event, quantity, **kwargs)
    return services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)


def run_together(jobs, threads: int = 16, busy_retries: int = 5) -> list:
    """Run callables on ``threads`` threads released together (each with its own
    database connection); returns each outcome: a result, or the error code of
    a NuvioError.

    A job whose row lock wait timed out (503 ``busy`` in the API: its
    transaction was rolled back) is run again after a short random pause, as
    a client does after ``Retry-After``, up to ``busy_retries`` times. The
    threads share one interpreter, so a lock holder can wait for the GIL
    behind the others far longer than a web worker process ever does."""
    start = threading.Event()

    def run(job):
        try:
            start.wait(timeout=10)
            for attempt in range(busy_retries + 1):
                try:
                    return job()
                except DatabaseError as exc:
                    if not isinstance(database_error(exc), Busy) or attempt == busy_retries:
                        raise
                    connections.close_all()
                    time.sleep(random.uniform(0.05, 0.25))
        except NuvioError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        start.set()
        return [future.result() for future in futures]
