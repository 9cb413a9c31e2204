"""The Celery app. Broker: Redis (REDIS_URL); with no REDIS_URL tasks run eagerly
in-process, so the embedded mode needs no worker. The beat schedule lives here,
in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")

app = Celery("nuvio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each run expires after its own interval: when workers fall behind, runs
# queued meanwhile are dropped instead of piling up (the next one does it all).
app.conf.beat_schedule = {
    "release-expired-holds": {
        "task": "bookings.tasks.release_expired_holds",
        "schedule": 15.0,
        "options": {"expires": 15},
    },
    "retry-pending-refunds": {
        "task": "bookings.tasks.retry_pending_refunds",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Analytics roll-ups: keeps the marked pairs few, so that the figures'
    # own catch-up (analytics.services.rollups_catch_up) has little to do.
    # Their freshness does not wait for it: it shares the queue with e-mails.
    "analytics-refresh-rollups": {
        "task": "analytics.tasks.refresh_rollups",
        "schedule": 2.0,
        "options": {"expires": 2},
    },
    "cleanup-idempotency-keys": {
        "task": "bookings.tasks.cleanup_idempotency_keys",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Notifications: a reminder for holds about to expire (once per hold), and
    # e-mails whose dispatch was lost sent again (never twice: they are claimed).
    "send-hold-reminders": {
        "task": "bookings.tasks.send_hold_reminders",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "send-unsent-emails": {
        "task": "bookings.tasks.send_unsent_emails",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Event cancellations a dead worker left unfinished are picked up again.
    "resume-event-cancellations": {
        "task": "bookings.tasks.resume_event_cancellations",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
}
