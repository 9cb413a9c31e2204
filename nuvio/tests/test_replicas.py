"""Read replicas (``DATABASE_REPLICA_URLS``, ``nuvio.replicas``).

The behaviour is proved against a real PostgreSQL streaming replica that the
module builds for itself (``nuvio.tests.replication``), with Nuvio served by
gunicorn in front and spoken to over HTTP. Pausing the replica's replay
(``pg_wal_replay_pause()``) makes it stale on demand: what a client reads
then shows where the read went. Without PostgreSQL's binaries these tests
skip locally; in CI (``CI=true``) they fail instead, so they can never
silently stop running there.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.urls import get_resolver

from events.models import Event, TicketType
from nuvio import replicas
from nuvio.replicas import (
    FRESH_MAX_LAG_SECONDS,
    FRESH_VIEWS,
    REPLICA_VIEWS,
    STICKY_COOKIE,
    ReplicaRouter,
    current_scope,
    primary_reads,
    replica_reads,
)
from nuvio.tests import replication

ROOT = Path(__file__).resolve().parents[2]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def stack():
    reason = replication.missing()
    if reason:
        if _in_ci():
            pytest.fail(f"read-replica tests cannot run in CI: {reason}", pytrace=False)
        pytest.skip(f"read-replica tests skipped: {reason} (CI runs them)")
    from django.conf import settings

    built = replication.ReplicaStack.start(redis_url=settings.REDIS_URL or None)
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture
def paused(stack):
    """The replica stops replaying (freshly caught up) until the test ends."""
    stack.pause_replay()
    try:
        yield stack
    finally:
        stack.resume_replay()


def _ticket_types(stack, event_id, token=""):
    return stack.get(f"/api/events/{event_id}/ticket-types/", token=token)


# --- against a streaming replica ---------------------------------------------------


def test_anonymous_browse_reads_the_replica(stack, paused):
    event = stack.create_event()  # through the primary, while the replica is paused

    # The replica does not have it yet, and anonymous browsing reads the replica.
    assert stack.get(f"/events/{event['id']}/").status == 404
    assert _ticket_types(stack, event["id"]).status == 404
    assert f"/events/{event['id']}/" not in stack.get(f"/?search={quote(event['name'])}").text
    # The primary has it: its author (who just wrote) reads the primary.
    assert _ticket_types(stack, event["id"], token=stack.staff_token).status == 200
    # A replica behind by less than the bound is healthy, and the site is.
    health = stack.get("/healthz")
    assert health.status == 200
    assert health.json()["replicas"] == {"replica_1": "ok"}

    stack.resume_replay()
    page = stack.get(f"/events/{event['id']}/")
    assert page.status == 200
    assert event["name"] in page.text
    assert f"/events/{event['id']}/" in stack.get(f"/?search={quote(event['name'])}").text


def test_a_booker_sees_their_booking_and_the_new_availability_at_once(stack):
    event = stack.create_event(capacity=10)
    customer = stack.register()
    stack.wait_replayed()
    stack.pause_replay()
    try:
        booked = stack.post("/api/bookings/", {"event": event["id"], "quantity": 2}, token=customer)
        assert booked.status == 201, booked.text

        # The booker's reads stay on the primary: their hold, and availability after it.
        (mine,) = _ticket_types(stack, event["id"], token=customer).json()
        assert mine["available"] == 8
        booking = stack.get(f"/api/bookings/{booked.json()['id']}/", token=customer)
        assert booking.status == 200
        assert booking.json()["status"] == "held"
        # Everyone else reads the replica, which has not replayed the hold yet.
        (theirs,) = _ticket_types(stack, event["id"]).json()
        assert theirs["available"] == 10
    finally:
        stack.resume_replay()
    (theirs,) = _ticket_types(stack, event["id"]).json()
    assert theirs["available"] == 8


def test_a_browsers_signed_cookie_keeps_it_on_the_primary_after_a_write(stack, paused):
    customer = stack.register()
    # Any write by a signed-in user starts the window, whether it succeeded or not.
    wrote = stack.post("/api/bookings/quote/", {"event": str(uuid.uuid4()), "quantity": 1},
                       token=customer)  # fmt: skip
    assert wrote.status == 400
    cookie = wrote.cookie(STICKY_COOKIE)
    assert cookie
    event = stack.create_event()

    # The cookie alone (no token, so no user to look up) keeps the reads on the primary.
    assert stack.get(f"/events/{event['id']}/", cookies=f"{STICKY_COOKIE}={cookie}").status == 200
    assert stack.get(f"/events/{event['id']}/").status == 404
    forged = f"{STICKY_COOKIE}={time.time() + 60:.3f}:forged"
    assert stack.get(f"/events/{event['id']}/", cookies=forged).status == 404
    # Reads are not writes: they start no window.
    assert stack.get("/", token=customer).cookie(STICKY_COOKIE) is None


def test_reads_go_to_the_primary_once_the_replica_lags_beyond_the_bound(stack, paused):
    event = stack.create_event()
    assert stack.get(f"/events/{event['id']}/").status == 404  # within the bound: the replica

    replication.wait_until(
        lambda: stack.replica_status() == "lagging",
        timeout=stack.max_lag_seconds + 10,
        what="the replica to be reported lagging",
        step=0.5,
    )

    page = stack.get(f"/events/{event['id']}/")
    assert page.status == 200
    assert event["name"] in page.text
    assert _ticket_types(stack, event["id"]).status == 200
    assert stack.get("/healthz").status == 200  # users are not affected


def test_a_read_failing_on_the_replica_is_answered_from_the_primary(stack):
    table = TicketType._meta.db_table
    event = stack.create_event()
    # The replica's role loses the ticket types: the event page's second read
    # fails there, after its first (the event) succeeded.
    stack.primary.sql(f"REVOKE SELECT ON {table} FROM {replication.READER}")
    stack.pause_replay()
    try:
        renamed = f"{event['name']} Renamed"
        changed = stack.request(
            "PATCH", f"/api/events/{event['id']}/", token=stack.staff_token, body={"name": renamed}
        )
        assert changed.status == 200, changed.text

        page = stack.get(f"/events/{event['id']}/")
        assert page.status == 200, stack.app_log()[-4000:]
        assert renamed in page.text  # answered again, from the primary
        ticket_types = _ticket_types(stack, event["id"])
        assert ticket_types.status == 200
        assert len(ticket_types.json()) == 1
        assert "a read failed on a replica; answered again from the primary" in stack.app_log()
        assert stack.replica_status() == "ok"  # a failed query is not an outage
    finally:
        stack.primary.sql(f"GRANT SELECT ON {table} TO {replication.READER}")
        stack.resume_replay()


def test_a_stopped_replica_changes_nothing_for_users(stack):
    event = stack.create_event(capacity=10)
    customer = stack.register()
    stack.wait_replayed()
    assert stack.get(f"/events/{event['id']}/").status == 200  # the replica's connection is open

    stack.stop_replica()
    try:
        # At once, before any health check could notice: the dead connection is
        # found and the reads go to the primary.
        for _ in range(3):
            page = stack.get(f"/events/{event['id']}/")
            assert page.status == 200
            assert event["name"] in page.text
        booked = stack.post("/api/bookings/", {"event": event["id"], "quantity": 1}, token=customer)
        assert booked.status == 201, booked.text
        (ticket_type,) = _ticket_types(stack, event["id"]).json()
        assert ticket_type["available"] == 9

        health = stack.get("/healthz")
        assert health.status == 200
        assert health.json() == {
            "database": "ok",
            "cache": "ok",
            "broker": "ok",
            "replicas": {"replica_1": "down"},
        }
    finally:
        stack.start_replica()
    replication.wait_until(
        lambda: stack.replica_status() == "ok", timeout=30, what="the replica to be back"
    )


# --- configuration ---------------------------------------------------------------


def _settings(**env) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "NUVIO_", "DATABASE_", "REDIS_"))
    }
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'databases': s.DATABASES, 'routers': s.DATABASE_ROUTERS, "
        "'middleware': s.MIDDLEWARE, 'replicas': s.DATABASE_REPLICAS, "
        "'sticky': s.NUVIO_REPLICA_STICKY_SECONDS, 'lag': s.NUVIO_REPLICA_MAX_LAG_SECONDS}, "
        "default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "nuvio.settings",
            "DJANGO_SECRET_KEY": "settings-test-" + "0123456789" * 5,
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _parsed(**env) -> dict:
    finished = _settings(**env)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


PRIMARY = "postgres://app@db:5432/nuvio"


def test_without_replicas_nothing_changes():
    parsed = _parsed(DATABASE_URL=PRIMARY)
    assert list(parsed["databases"]) == ["default"]
    assert parsed["routers"] == []
    assert "nuvio.replica_middleware.ReplicaMiddleware" not in parsed["middleware"]
    assert parsed["replicas"] == []


def test_replica_urls_become_aliases_configured_as_the_primary():
    parsed = _parsed(
        DATABASE_URL=PRIMARY,
        DATABASE_REPLICA_URLS="postgres://ro@r1:5432/nuvio, postgres://ro@r2:5432/nuvio?sslmode=require",
        NUVIO_REPLICA_STICKY_SECONDS="3",
        NUVIO_REPLICA_MAX_LAG_SECONDS="0",
    )
    databases = parsed["databases"]
    assert parsed["replicas"] == ["replica_1", "replica_2"]
    assert list(databases) == ["default", "replica_1", "replica_2"]
    default, first, second = databases["default"], databases["replica_1"], databases["replica_2"]
    assert (first["HOST"], first["USER"], second["HOST"]) == ("r1", "ro", "r2")
    for replica in (first, second):
        assert replica["ENGINE"] == default["ENGINE"] == "nuvio.db"
        assert replica["CONN_MAX_AGE"] == default["CONN_MAX_AGE"]
        assert replica["CONN_HEALTH_CHECKS"] is True
        assert replica["TEST"]["MIRROR"] == "default"
        assert replica["OPTIONS"]["options"] == default["OPTIONS"]["options"]
        assert replica["OPTIONS"]["connect_timeout"] == 2
    assert second["OPTIONS"]["sslmode"] == "require"
    assert parsed["routers"] == ["nuvio.replicas.ReplicaRouter"]
    middleware = parsed["middleware"]
    position = middleware.index("nuvio.replica_middleware.ReplicaMiddleware")
    assert middleware[position + 1] == "events.middleware.CatalogListMiddleware"
    assert (parsed["sticky"], parsed["lag"]) == (3, 0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_REPLICA_URLS": "postgres://ro@r1/nuvio"}, "PostgreSQL"),  # SQLite primary
        (
            {"DATABASE_URL": PRIMARY, "DATABASE_REPLICA_URLS": "mysql://ro@r1/nuvio"},
            "PostgreSQL",
        ),
        ({"NUVIO_REPLICA_STICKY_SECONDS": "-1"}, "NUVIO_REPLICA_STICKY_SECONDS"),
        ({"NUVIO_REPLICA_MAX_LAG_SECONDS": "soon"}, "NUVIO_REPLICA_MAX_LAG_SECONDS"),
    ],
)
def test_bad_replica_settings_stop_the_process(env, message):
    finished = _settings(**env)
    assert finished.returncode != 0
    assert "ImproperlyConfigured" in finished.stderr
    assert message in finished.stderr


def test_every_replica_page_is_a_page_of_the_site():
    names = set()

    def collect(resolver, namespace=""):
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                collect(pattern, inner)
            elif pattern.name:
                names.add(namespace + pattern.name)

    collect(get_resolver())
    assert names >= REPLICA_VIEWS
    # Nothing that books, pays, queues, checks in or signs in.
    assert not [name for name in REPLICA_VIEWS if re.search(r"book|pay|queue|check|account", name)]


# --- the router ------------------------------------------------------------------


def test_outside_a_replica_scope_everything_uses_the_primary():
    router = ReplicaRouter()
    assert router.db_for_read(Event) == "default"
    assert router.db_for_write(Event) == "default"
    assert router.allow_relation(object(), object())
    assert router.allow_migrate("default", "events")
    assert not router.allow_migrate("replica_1", "events")


def test_primary_reads_leave_the_scope_for_their_block(rf):
    with replica_reads(rf.get("/")) as scope:
        assert current_scope() is scope
        with primary_reads():
            assert current_scope() is None
            assert ReplicaRouter().db_for_read(Event) == "default"
        assert current_scope() is scope
    assert current_scope() is None


@pytest.mark.django_db
def test_analytics_read_a_replica_only_while_it_is_nearly_caught_up(rf, settings):
    """Staff see a booking in the figures within 5 seconds (API.md): the
    analytics pages take a replica only while it is at most
    FRESH_MAX_LAG_SECONDS behind; the catalog takes it up to the bound."""
    settings.DATABASE_REPLICAS = ["default"]  # the test database, standing in for one
    settings.NUVIO_REPLICA_MAX_LAG_SECONDS = 5
    assert {"analytics:dashboard", "api-analytics-summary"} <= FRESH_VIEWS
    assert "event-list" not in FRESH_VIEWS
    try:
        for lag, catalog, analytics in ((0.2, "default", "default"), (3.0, "default", None)):
            replicas._health["default"] = replicas.Health(replicas.OK, lag, time.monotonic())
            with replica_reads(rf.get("/"), "event-list") as scope:
                assert scope.max_lag is None
                assert replicas.replica_pick(scope.max_lag) == catalog
            with replica_reads(rf.get("/dashboard/"), "analytics:dashboard") as scope:
                # None: no replica fits, the scope closes and reads the primary.
                assert replicas.replica_pick(scope.max_lag) == analytics
                assert scope.max_lag == FRESH_MAX_LAG_SECONDS
    finally:
        replicas._health.pop("default", None)
