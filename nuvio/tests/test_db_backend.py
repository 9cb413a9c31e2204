"""The PostgreSQL backend's health check (nuvio.db), on the real server."""

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql import base as django_base

from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_an_idle_healthy_connection_is_usable_without_a_round_trip(monkeypatch):
    connection.ensure_connection()

    def no_round_trip(self):
        raise AssertionError("SELECT 1 sent")

    monkeypatch.setattr(django_base.DatabaseWrapper, "is_usable", no_round_trip)
    assert connection.is_usable() is True


def test_a_connection_the_server_ended_is_not_usable_and_is_replaced():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    _terminate(pid)
    import time

    deadline = time.time() + 5
    while connection.is_usable() and time.time() < deadline:  # the FATAL arrives at once
        time.sleep(0.01)
    assert connection.is_usable() is False

    # What Django does at the start of a request with CONN_HEALTH_CHECKS.
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
