"""Behind PgBouncer in transaction pooling mode (``DATABASE_TRANSACTION_POOLING``):
nothing Nuvio relies on may outlive a transaction. ``.ci/pgbouncer`` runs this
file through PgBouncer, where a server-side cursor or a prepared statement
would fail; the ordinary suite runs it against PostgreSQL directly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from events.models import Event
from events.tests.factories import make_event
from nuvio.db.prepared import prepared_cursor
from nuvio.testing import requires_postgres

ROOT = Path(__file__).resolve().parents[2]


def _database_settings(**env) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NUVIO_"))}
    base.pop("DATABASE_TRANSACTION_POOLING", None)
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; "
        "print(json.dumps([d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
        "d['OPTIONS'].get('options'), s.DATABASE_TRANSACTION_POOLING]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "nuvio.settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:6433/nuvio",
            "DJANGO_SECRET_KEY": "a-real-secret-for-this-test-only-1234567890",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    cursors_off, options, pooling = json.loads(result.stdout)
    return {"cursors_off": cursors_off, "options": options, "pooling": pooling}


def test_transaction_pooling_turns_off_what_outlives_a_transaction():
    pooled = _database_settings(DATABASE_TRANSACTION_POOLING="true", NUVIO_LOCK_TIMEOUT_MS="1500")
    assert pooled == {"cursors_off": True, "options": None, "pooling": True}


def test_direct_connections_keep_server_cursors_and_set_the_lock_timeout():
    direct = _database_settings(NUVIO_LOCK_TIMEOUT_MS="1500")
    assert direct == {
        "cursors_off": False,
        "options": "-c lock_timeout=1500 -c jit=off",
        "pooling": False,
    }


@requires_postgres
@pytest.mark.django_db
def test_every_connection_has_the_lock_timeout_and_no_jit():
    """Set by the startup options directly, by PgBouncer's connect_query behind it."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "3s"
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@requires_postgres
@pytest.mark.django_db
def test_prepared_cursor_prepares_nothing_under_transaction_pooling(settings):
    settings.DATABASE_TRANSACTION_POOLING = True
    with prepared_cursor(connection) as cursor:
        cursor.execute("SELECT %s::int + 1 /* nuvio pooling test */", [1])
        assert cursor.fetchone() == (2,)
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%nuvio pooling test%"],
        )
        assert cursor.fetchone() == (0,)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_iterating_outside_a_transaction_works():
    """Autocommit, chunk by chunk: a server-side cursor would be gone (or on
    another server connection) by the second chunk behind PgBouncer."""
    made = {make_event(name=f"Chunk {i}").pk for i in range(5)}
    seen = {event.pk for event in Event.objects.filter(pk__in=made).iterator(chunk_size=2)}
    assert seen == made
