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


def assert_error(response, status: int, code: str) -> dict:
    """``response`` is the API's error envelope with ``status`` and ``code``;
    returns its ``error`` object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]
