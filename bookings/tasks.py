"""Periodic booking work, scheduled by beat (``nuvio/celery.py``). Each task
calls one service and is idempotent: the services only touch rows still in the
state the job is for, so a retried or doubled run changes nothing twice."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from bookings import idempotency, notifications, services
from bookings.notifications import send_notification_email  # noqa: F401 (defined with what it sends)

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


@shared_task(name="bookings.tasks.send_hold_reminders", **_RETRY)
def send_hold_reminders() -> int:
    """Remind the holders of holds about to expire (once per hold)."""
    reminded = notifications.notifications_remind_expiring_holds()
    if reminded:
        logger.info("send_hold_reminders: %d holds reminded", reminded)
    return reminded


@shared_task(name="bookings.tasks.send_unsent_emails", **_RETRY)
def send_unsent_emails() -> int:
    """Dispatch again the e-mails whose dispatch or every retry failed."""
    dispatched = notifications.notifications_email_unsent()
    if dispatched:
        logger.info("send_unsent_emails: %d e-mails dispatched again", dispatched)
    return dispatched


@shared_task(name="bookings.tasks.cancel_event_bookings", **_RETRY)
def cancel_event_bookings(event_id: str) -> dict:
    """Carry out an event's cancellation (refund everyone in full); safe to run
    again after a crash: it finishes what is left."""
    return services.event_cancel_bookings(event_id=event_id)


@shared_task(name="bookings.tasks.resume_event_cancellations", **_RETRY)
def resume_event_cancellations() -> int:
    """Dispatch again the cancellations of events that still have live
    bookings or an open waiting list (a worker died before finishing)."""
    event_ids = services.events_cancelling()
    for event_id in event_ids:
        cancel_event_bookings.delay(str(event_id))
    if event_ids:
        logger.warning("resume_event_cancellations: %d events resumed", len(event_ids))
    return len(event_ids)
