"""The Celery app. Broker: Redis (REDIS_URL); with no REDIS_URL tasks run eagerly
in-process, so the embedded mode needs no worker. The beat schedule lives here,
in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")

app = Celery("nuvio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {}
