"""The baseline: the smallest correct Django booking service, for comparison.

One event table, one booking table, no auth, no middleware beyond what a JSON
view needs, persistent connections. Nuvio's benchmark runs it next to Nuvio
with the same gunicorn worker count on the same PostgreSQL server.
"""

import os

import environ

SECRET_KEY = "baseline-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["shop"]
MIDDLEWARE = []
ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
DATABASES = {"default": environ.Env().db_url("BASELINE_DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = 600
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
