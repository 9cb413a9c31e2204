"""The database runs the function SQL that ``bookings.db_functions`` says it does.

A migration edited after it ran changes no database that ran it; these tests
catch that drift: the live ``nuvio_reserve`` is compared with
``RESERVE_CURRENT`` (None since migration 0011 dropped it: none may be
left), and the frozen versions with the migrations' own text.
"""

import re
from importlib import import_module
from typing import NamedTuple

import pytest
from django.db import connection, transaction

from bookings.db_functions import (
    RESERVE_CURRENT,
    RESERVE_DROP,
    RESERVE_V1,
    RESERVE_V2,
    RESERVE_V3,
)
from nuvio.testing import requires_postgres

SCRATCH = "nuvio_function_check"


class Definition(NamedTuple):
    signature: str  # arguments, return type, language, volatility, ...
    body: str  # the text between the dollar quotes


def _normalised(functiondef: str) -> Definition:
    """``pg_get_functiondef`` cut into header and body, schema dropped,
    whitespace runs made one space."""
    header, _, body = re.fullmatch(
        r"(.*?)^AS (\$\w*\$)(.*)\2\s*", functiondef, re.S | re.M
    ).groups()
    header = re.sub(r"FUNCTION \S+\.nuvio_reserve\(", "FUNCTION nuvio_reserve(", header)
    return Definition(" ".join(header.split()), " ".join(body.split()))


def _live(cursor) -> Definition:
    # ::regproc fails unless exactly one nuvio_reserve is on the search path.
    cursor.execute("SELECT pg_get_functiondef('nuvio_reserve'::regproc)")
    return _normalised(cursor.fetchone()[0])


def _recorded_for(sql: str) -> Definition:
    """What PostgreSQL records for the function ``sql`` creates: installed in
    a scratch schema in a savepoint that is rolled back."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {SCRATCH}")
        cursor.execute(f"SET LOCAL search_path TO {SCRATCH}")
        cursor.execute(sql)
        recorded = _live(cursor)
        transaction.set_rollback(True)
    return recorded


def test_the_frozen_versions_are_the_text_the_migrations_ran():
    # 0006 and 0008 keep their own copies; neither may change again.
    m0006 = import_module("bookings.migrations.0006_reserve_function")
    m0008 = import_module("bookings.migrations.0008_reserve_function_refusals")
    assert m0006.CREATE == RESERVE_V1
    assert m0006.DROP == RESERVE_DROP
    assert m0008.CREATE == RESERVE_V3
    assert f"DROP FUNCTION IF EXISTS nuvio_reserve({m0008.ARGS})" == RESERVE_DROP


def _installed(cursor) -> int:
    cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'nuvio_reserve'")
    return cursor.fetchone()[0]


def test_the_reserve_function_is_gone_for_good():
    # One source of the reserve rules: bookings.services (migration 0011).
    assert RESERVE_CURRENT is None
    m0011 = import_module("bookings.migrations.0011_drop_reserve_function")
    assert m0011.RESERVE_DROP == RESERVE_DROP
    assert m0011.RESERVE_V3 == RESERVE_V3  # what going back installs


@requires_postgres
@pytest.mark.django_db
def test_the_migrated_database_has_no_reserve_function():
    with connection.cursor() as cursor:
        assert _installed(cursor) == 0


@requires_postgres
@pytest.mark.django_db
def test_the_check_tells_the_first_0008_body_from_v3():
    v3 = _recorded_for(RESERVE_V3)

    # A database migrated to 0008 before 0008 was edited: V2 left in place.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RESERVE_V2)
        left = _live(cursor)
        transaction.set_rollback(True)

    assert left.signature == v3.signature
    assert left.body != v3.body
    assert _recorded_for(RESERVE_V1).signature != v3.signature


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_going_back_to_0010_installs_v3_and_forward_drops_it_again():
    from django.core.management import call_command

    try:
        call_command("migrate", "bookings", "0010", verbosity=0)
        with connection.cursor() as cursor:
            assert _live(cursor) == _recorded_for(RESERVE_V3)
    finally:
        call_command("migrate", "bookings", verbosity=0)
    with connection.cursor() as cursor:
        assert _installed(cursor) == 0
