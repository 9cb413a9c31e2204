"""Periodic booking work, scheduled by beat (``nuvio/celery.py``). Each task
calls one service and is idempotent: the services only touch rows still in the
state the job is for, so a retried or doubled run changes nothing twice."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from bookings import idempotency, services

logger = logging.getLogger("nuvio.tasks")

# A lost or busy database is worth another try; anything else is a bug to see.
_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(name="bookings.tasks.release_expired_holds", **_RETRY)
def release_expired_holds() -> int:
    """Release lapsed holds; returns the tickets freed."""
    freed = services.holds_release_expired()
    if freed:
        logger.info("release_expired_holds: %d tickets freed", freed)
    else:
        logger.debug("release_expired_holds: nothing to release")
    return freed


@shared_task(name="bookings.tasks.retry_pending_refunds", **_RETRY)
def retry_pending_refunds() -> int:
    """Send refunds still pending to the gateway again; returns how many settled."""
    settled = services.refunds_retry_pending()
    if settled:
        logger.info("retry_pending_refunds: %d refunds settled", settled)
    else:
        logger.debug("retry_pending_refunds: nothing settled")
    return settled


@shared_task(name="bookings.tasks.cleanup_idempotency_keys", **_RETRY)
def cleanup_idempotency_keys() -> int:
    """Delete idempotency records past their retention; returns how many."""
    deleted = idempotency.idempotency_cleanup()
    logger.info("cleanup_idempotency_keys: %d records deleted", deleted)
    return deleted
