"""``nuvio.db.prepared``: statements PostgreSQL plans once per connection."""

import pytest
from django.db import connection, transaction

from nuvio.db.prepared import prepared_cursor
from nuvio.testing import requires_postgres

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::int + 1 AS answer /* nuvio prepared test */"


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%nuvio prepared test%"],
        )
        return [row[0] for row in cursor.fetchall()]


@requires_postgres
def test_a_statement_is_prepared_once_and_reused():
    for value in (1, 41):
        with prepared_cursor(connection) as cursor:
            cursor.execute(SQL, [value])
            assert cursor.fetchone() == (value + 1,)
    assert len(_prepared_here()) == 1
    # Django's own cursors still prepare nothing.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 /* nuvio prepared test, django's */")
    assert len(_prepared_here()) == 1


@requires_postgres
def test_after_a_rollback_it_is_prepared_again():
    with prepared_cursor(connection) as cursor:
        cursor.execute(SQL, [1])
    with pytest.raises(RuntimeError), transaction.atomic():
        with prepared_cursor(connection) as cursor:
            cursor.execute(SQL, [2])
        raise RuntimeError("roll back")
    with prepared_cursor(connection) as cursor:
        cursor.execute(SQL, [3])
        assert cursor.fetchone() == (4,)


def test_its_queries_are_counted(django_assert_num_queries):
    with django_assert_num_queries(1), prepared_cursor(connection) as cursor:
        cursor.execute("SELECT %s AS answer", [7])
        assert cursor.fetchone() == (7,)
