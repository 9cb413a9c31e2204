"""Statements that PostgreSQL plans once per connection.

Django's psycopg cursors bind parameters on the client, so PostgreSQL plans
every statement anew. For a small query run on every request that can be
most of its cost: the event page's stock query took 1.6 ms to plan against
0.3 ms to run (EXPLAIN ANALYZE). ``prepared_cursor`` gives a cursor that
binds on the server and runs each statement as a named prepared statement
(psycopg's ``prepare=True``; the extended protocol's Parse, which PgBouncer
1.21+ keeps across its pooled connections with ``max_prepared_statements``),
planned once per connection, still wrapped by Django so that queries are
logged and counted. For the few precompiled queries that pay: everything
else keeps Django's cursors.

psycopg forgets (``DEALLOCATE ALL``) what a connection prepared when it
rolls back; the next call prepares again.
"""

import psycopg
from django.conf import settings

# psycopg prepares nothing while its connection's threshold is None, as
# Django sets it. Any number lets ``prepare=True`` through; this one is never
# reached, so nothing else is prepared (Django's own cursors bind on the
# client, and those never prepare).
_NEVER = 2**31 - 1


class PreparedCursor(psycopg.Cursor):
    """A psycopg cursor that binds on the server and prepares what it runs."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_cursor(connection):
    """A cursor of ``connection`` whose statements are prepared on
    PostgreSQL; the usual cursor on other databases."""
    if connection.vendor != "postgresql" or settings.DATABASE_TRANSACTION_POOLING:
        # Behind PgBouncer's transaction pooling a statement prepared on one
        # server connection is unknown to the next.
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _NEVER
    cursor = PreparedCursor(raw)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
