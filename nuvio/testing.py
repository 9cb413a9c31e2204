"""Helpers for the test suite."""

import pytest
from django.conf import settings
from django.db import connection

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: set DATABASE_URL (CI does)",
)

requires_redis = pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="needs Redis: set REDIS_URL (CI does)",
)
