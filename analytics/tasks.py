"""Background analytics work, scheduled by beat (``nuvio/celery.py``)."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from analytics import services

logger = logging.getLogger("nuvio.tasks")


@shared_task(
    name="analytics.tasks.refresh_rollups",
    autoretry_for=(OperationalError, InterfaceError, RedisError),
    retry_backoff=True,
    max_retries=3,
)
def refresh_rollups() -> int:
    """Recompute the roll-ups of the (event, day) pairs queued since the last
    run; returns how many. Idempotent: a pair recomputed twice is the same."""
    done = services.rollups_drain()
    if done:
        logger.info("refresh_rollups: %d event-days refreshed", done)
    return done
