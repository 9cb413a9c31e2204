"""Read replicas: which reads may leave the primary, and which replica takes them.

``DATABASE_REPLICA_URLS`` names PostgreSQL streaming replicas (aliases
``replica_1``, ``replica_2``, ...). Reads go to one only inside a *replica
scope*, which ``nuvio.replica_middleware`` opens for a GET or HEAD of a page
in ``REPLICA_VIEWS`` (the catalog and the analytics), and only for the models
of ``REPLICA_APPS``. Everything else reads and writes the primary: every
write, the booking, payment, queue, ticket and check-in endpoints, admin and
accounts, the session and the user of the request, any read inside
``transaction.atomic()`` or with ``select_for_update()``, every read of a
request after it wrote something, and every read of a user who wrote in the
last ``NUVIO_REPLICA_STICKY_SECONDS`` (remembered in the cache and in a
signed cookie), so people always see what they just did.

A replica is skipped while it is down or more than
``NUVIO_REPLICA_MAX_LAG_SECONDS`` behind: each process asks each replica its
lag at most once per ``CHECK_SECONDS`` (once per ``DOWN_RECHECK_SECONDS``
after it was found down), in the request that needs it. A read that fails on
a replica in the middle of a request sends the rest of the request to the
primary, and the middleware answers the request again from the primary:
users never see a replica's failure.
"""

import itertools
import logging
import math
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from nuvio.outage import log_outage

logger = logging.getLogger("nuvio.replicas")

# The pages whose reads may go to a replica (resolved URL names): browsing the
# catalog and the analytics. Only their GET and HEAD, and nothing else.
REPLICA_VIEWS = frozenset(
    {
        "home",  # / (HTML browse and search)
        "event-detail",  # /events/{id}/ and /api/events/{id}/ (the same name)
        "event-list",  # /api/events/
        "api-event-ticket-types",  # /api/events/{id}/ticket-types/
        "ticket-type-detail",  # /api/ticket-types/{id}/
        "api-event-seats",  # /api/events/{id}/seats/
        "api-analytics-summary",
        "api-analytics-event",
        "analytics:dashboard",
        "analytics:event",
        "analytics:daily-csv",
        "analytics:events-csv",
        "analytics:event-sales-csv",
    }
)
# Analytics promise a booking in the figures within 5 seconds (API.md): they
# read a replica only while it is at most this far behind.
FRESH_VIEWS = frozenset(name for name in REPLICA_VIEWS if "analytics" in name)
FRESH_MAX_LAG_SECONDS = 1.0
# The apps whose models those pages read: the catalog, the analytics roll-ups
# and the bookings behind availability, seat holds and the figures. Sessions,
# users and tokens stay on the primary.
REPLICA_APPS = frozenset({"events", "analytics", "bookings"})

CHECK_SECONDS = 1.0
DOWN_RECHECK_SECONDS = 5.0

STICKY_COOKIE = "nuvio_primary"
STICKY_SALT = "nuvio.replicas.sticky"

# The lag of a replica, in seconds: 0 when it has replayed all it received.
LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
       END
"""

OK, LAGGING, DOWN = "ok", "lagging", "down"

_scope: ContextVar["ReplicaScope | None"] = ContextVar("nuvio_replica_scope", default=None)
# True while this module asks a replica itself: its failures are expected.
_probing: ContextVar[bool] = ContextVar("nuvio_replica_probing", default=False)


# --- health -------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    status: str
    lag: float | None
    checked_at: float  # time.monotonic()


_health: dict[str, Health] = {}
_health_lock = threading.Lock()
_turn = itertools.count()


def replica_aliases() -> list[str]:
    return settings.DATABASE_REPLICAS


def replica_lag(alias: str) -> float:
    """Seconds ``alias`` is behind the primary (infinite when it cannot tell);
    raises ``DatabaseError`` when it cannot be asked."""
    token = _probing.set(True)
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, lag = cursor.fetchone()
    finally:
        _probing.reset(token)
    if not in_recovery:
        return 0.0  # not a standby (promoted): nothing to wait for
    return math.inf if lag is None else max(float(lag), 0.0)


def _close_quietly(alias: str) -> None:
    # When the server is gone, closing fails, and the connection is dropped all the same.
    with suppress(DatabaseError):
        connections[alias].close()


def _check(alias: str) -> Health:
    now = time.monotonic()
    try:
        lag = replica_lag(alias)
    except Exception as exc:  # a replica's failure is reported, never raised
        _close_quietly(alias)
        log_outage(logger, "replica unreachable; its reads go to the primary", exc)
        return Health(DOWN, None, now)
    status = OK if lag <= settings.NUVIO_REPLICA_MAX_LAG_SECONDS else LAGGING
    return Health(status, lag, now)


def replica_health(alias: str, *, fresh: bool = False) -> Health:
    """The health of ``alias``, asked anew when ``fresh`` or when the last
    answer in this process is older than ``CHECK_SECONDS``."""
    health = _health.get(alias)
    if not fresh and health is not None:
        age = time.monotonic() - health.checked_at
        if age < (DOWN_RECHECK_SECONDS if health.status == DOWN else CHECK_SECONDS):
            return health
    health = _check(alias)
    with _health_lock:
        _health[alias] = health
    return health


def replica_mark_down(alias: str) -> None:
    """Skip ``alias`` in this process until its next check."""
    with _health_lock:
        _health[alias] = Health(DOWN, None, time.monotonic())


def replicas_report() -> dict[str, str]:
    """``{alias: "ok" | "lagging" | "down"}`` of every replica, asked now
    (``/healthz``)."""
    return {alias: replica_health(alias, fresh=True).status for alias in replica_aliases()}


def _connectable(alias: str) -> bool:
    """Whether ``alias``'s connection works, reconnecting if the server
    dropped it (the check Django makes before a request's first query)."""
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except Exception as exc:  # down since its last check
        _close_quietly(alias)
        replica_mark_down(alias)
        log_outage(logger, "replica unreachable; its reads go to the primary", exc)
        return False
    return True


def replica_pick(max_lag: float | None = None) -> str | None:
    """A healthy replica (at most ``max_lag`` seconds behind, when given)
    whose connection works, in turn; None if there is none."""
    healthy = []
    for alias in replica_aliases():
        health = replica_health(alias)
        if health.status == OK and (max_lag is None or (health.lag or 0) <= max_lag):
            healthy.append(alias)
    if not healthy:
        return None
    start = next(_turn)
    for offset in range(len(healthy)):
        alias = healthy[(start + offset) % len(healthy)]
        if _connectable(alias):
            return alias
    return None


# --- sticky window ---------------------------------------------------------------


def _sticky_key(user_id) -> str:
    return f"replicas:primary-until:{user_id}"


def sticky_remember(user_id, until: float) -> None:
    """Keep ``user_id``'s reads on the primary until ``until`` (a Unix time)."""
    cache.set(_sticky_key(user_id), until, max(math.ceil(until - time.time()), 1))


def sticky_until(user_id) -> float:
    return float(cache.get(_sticky_key(user_id)) or 0)


# --- the scope of one request ------------------------------------------------------


def _has_credentials(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME in request.COOKIES or "HTTP_AUTHORIZATION" in request.META


class ReplicaScope:
    """One request's permission to read from a replica."""

    def __init__(self, request: HttpRequest, max_lag: float | None = None):
        self.request = request
        self.max_lag = max_lag  # a bound tighter than NUVIO_REPLICA_MAX_LAG_SECONDS
        self.open = True
        self.alias: str | None = None  # the replica chosen, once a read needs one
        self.failed: DatabaseError | None = None  # a read's failure on a replica
        self._sticky: dict = {}  # user id -> stays on the primary

    def read_alias(self) -> str:
        if (
            not self.open
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
            or self._stays_on_primary()
        ):
            return DEFAULT_DB_ALIAS
        if self.alias is None:
            self.alias = replica_pick(self.max_lag)
            if self.alias is None:
                self.open = False
                return DEFAULT_DB_ALIAS
        return self.alias

    def _stays_on_primary(self) -> bool:
        request = self.request
        user = request.__dict__.get("user")
        if user is None:
            # Before authentication (the catalog's early answers): only a
            # request without credentials is known to be anonymous.
            return _has_credentials(request)
        if not user.is_authenticated:
            # A token is read by the API view, after the session: until then
            # the requester is not known.
            return "HTTP_AUTHORIZATION" in request.META
        sticky = self._sticky.get(user.pk)
        if sticky is None:
            sticky = self._sticky[user.pk] = sticky_until(user.pk) > time.time()
        return sticky

    def wrote(self) -> None:
        # Read your writes within a request too: what follows a write reads the primary.
        self.open = False

    def guard(self, alias: str):
        """An execute wrapper for ``alias``: a failed read closes the scope
        (the rest of the request reads the primary) and is remembered, so
        that the middleware can answer the request again from the primary."""

        def execute(run, sql, params, many, context):
            try:
                return run(sql, params, many, context)
            except DatabaseError as exc:
                if not _probing.get():
                    self.open = False
                    self.failed = exc
                    if isinstance(exc, (OperationalError, InterfaceError)):
                        _close_quietly(alias)
                        replica_mark_down(alias)
                raise

        return execute


def current_scope() -> ReplicaScope | None:
    return _scope.get()


def replica_view(request: HttpRequest) -> str | None:
    """The page in ``REPLICA_VIEWS`` that ``request`` asks for, or None."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    return match.view_name if match.view_name in REPLICA_VIEWS else None


@contextmanager
def replica_reads(request: HttpRequest, view_name: str | None = None):
    """Open a replica scope for ``request`` (asking for page ``view_name``); yields it."""
    scope = ReplicaScope(request, FRESH_MAX_LAG_SECONDS if view_name in FRESH_VIEWS else None)
    token = _scope.set(scope)
    try:
        with ExitStack() as stack:
            for alias in replica_aliases():
                stack.enter_context(connections[alias].execute_wrapper(scope.guard(alias)))
            yield scope
    finally:
        _scope.reset(token)


@contextmanager
def primary_reads():
    """Read from the primary inside the block, whatever the scope: for a read
    whose result is kept beyond the replica's lag (a long-lived shared cache)."""
    token = _scope.set(None)
    try:
        yield
    finally:
        _scope.reset(token)


class ReplicaRouter:
    """Reads of ``REPLICA_APPS`` inside a replica scope go to a healthy
    replica; everything else, and every write, to the primary."""

    def db_for_read(self, model, **hints) -> str:
        scope = _scope.get()
        if scope is None or model._meta.app_label not in REPLICA_APPS:
            return DEFAULT_DB_ALIAS
        return scope.read_alias()

    def db_for_write(self, model, **hints) -> str:
        scope = _scope.get()
        if scope is not None:
            scope.wrote()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS
