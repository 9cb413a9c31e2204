"""Keeping the analytics roll-ups (``DailyEventStats``) exact, and the
figures read from them at most ``FRESHNESS_SECONDS`` (5 s) behind the bookings.

How a booking change reaches the figures:

1. The booking services send ``bookings_changed`` inside their transaction.
   ``on_bookings_changed`` notes the (event, creation day) pairs touched and
   defers everything else with ``transaction.on_commit``: a rolled-back change
   leaves no trace, and nothing slow runs while the service holds its locks.
2. After commit, in the embedded mode (no ``REDIS_URL``) the pairs are
   recomputed at once (``rollups_refresh``). In production they are *marked*:
   added to a Redis set, one ``SADD``, the only cost on the booking request path
   (a reserve knows its pair without a query). If Redis cannot take the pairs
   they are recomputed at once instead, so no change is ever lost to a Redis
   outage.
3. Two things apply the marks, each recomputing the marked pairs from the
   bookings of that event and day (one grouped query for a chunk of pairs,
   through the ``(event_id, created_at)`` index) and bumping the figures
   version, so cached figures are recomputed on the next request:
   the beat task ``analytics.tasks.refresh_rollups`` every 2 seconds
   (``rollups_drain``), which keeps the set short; and every computation of
   the figures, first (``rollups_catch_up``). The worker shares its queue with
   the e-mails, so under a burst it can be many seconds late; the figures do
   not depend on it.

Refreshes, drains, catch-ups and ``rollups_rebuild`` take one PostgreSQL
advisory lock for their transaction, so they run one at a time. Marks leave
the set only under that lock, taken *before* the ``SPOP`` and kept until the
roll-ups written for them are committed (or the marks are back on the set):
so a catch-up that finds the set empty only has to wait for the lock's
holder, if any, to know that every mark made before is in the committed
roll-ups, none half applied elsewhere. Each writer reads the bookings only
once it holds the lock: whichever writes a row last has read the newest
bookings. A change whose pairs were lost between commit and the Redis call
(the process died there) is repaired by ``analytics_rebuild``.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from decimal import Decimal
from itertools import islice

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from redis.exceptions import RedisError

from analytics.cache import bump_figures_version
from analytics.models import DailyEventStats
from bookings.models import (
    Booking,
    BookingStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from nuvio import redis_batch
from nuvio.outage import log_outage

logger = logging.getLogger("nuvio.analytics")

Pair = tuple[uuid.UUID, dt.date]

DIRTY_KEY = "analytics:dirty"
REFRESH_CHUNK = 100
# A drain takes marks off the set by batches, one transaction (and one hold of
# the lock, which catch-ups wait for) per batch.
DRAIN_BATCH = REFRESH_CHUNK
DRAIN_MAX_BATCHES = 200
_ALL_MARKS = 2**31 - 1
# pg_advisory_xact_lock key of the roll-up writers ("NUVIOANL" in ASCII).
_LOCK_KEY = int.from_bytes(b"NUVIOANL", "big") & 0x7FFF_FFFF_FFFF_FFFF
FIGURES = [
    "bookings",
    "held",
    "confirmed",
    "cancelled",
    "cancelled_paid",
    "expired",
    "tickets",
    "revenue",
    "refunded",
]
_MONEY = DecimalField(max_digits=14, decimal_places=2)
_ZERO = Value(Decimal("0.00"), output_field=_MONEY)


# --- days and pairs --------------------------------------------------------------


def utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of ``day``."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _pair(event_id, day: dt.date) -> Pair:
    return uuid.UUID(str(event_id)), day


def _encode(pair: Pair) -> str:
    return f"{pair[0].hex}:{pair[1].isoformat()}"


def _decode(member: bytes | str) -> Pair:
    text = member.decode() if isinstance(member, bytes) else member
    event_hex, day = text.split(":")
    return uuid.UUID(event_hex), dt.date.fromisoformat(day)


# --- from a booking change to dirty pairs ----------------------------------------


def on_bookings_changed(sender, *, event_id, booking_ids, change: str, now, **kwargs) -> None:
    """Receiver of ``bookings.signals.bookings_changed`` (connected in
    ``AnalyticsConfig.ready``): after commit, the roll-ups of the changed
    bookings' (event, creation day) pairs are refreshed or queued.

    A reserve creates its booking at ``now``, so its pair is known without a
    query: the reserve path pays one Redis call after commit and nothing
    inside its transaction. Other changes look the creation days up after
    commit (one query by primary key)."""
    if change == "reserved":
        pairs = {_pair(event_id, utc_day(now))}
        # Lambdas, not functools.partial: Django logs a failing robust callback
        # by its __qualname__, which a partial lacks.
        transaction.on_commit(lambda: _rollups_touched(pairs), robust=True)
    else:
        ids = list(booking_ids)
        transaction.on_commit(lambda: _bookings_touched(event_id, ids), robust=True)


def _bookings_touched(event_id, booking_ids: list) -> None:
    created = (
        Booking.objects.filter(pk__in=booking_ids).order_by().values_list("created_at", flat=True)
    )
    _rollups_touched({_pair(event_id, utc_day(moment)) for moment in created})


def _rollups_touched(pairs: set[Pair]) -> None:
    if not pairs:
        return
    if settings.REDIS_URL and _queue(pairs):
        return
    rollups_refresh(pairs=pairs)


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _dirty_key() -> str:
    # The cache's own prefix keeps the set next to this deployment's keys.
    return cache.make_key(DIRTY_KEY)


def _queue(pairs: Iterable[Pair]) -> bool:
    """Add pairs to the dirty set; False if Redis could not take them."""
    pairs = set(pairs)
    members = [_encode(pair) for pair in pairs]
    batch = redis_batch.current()
    if batch is not None:  # sent with the request's other Redis writes
        batch.add(
            lambda pipe: pipe.sadd(_dirty_key(), *members),
            on_error=lambda: rollups_refresh(pairs=pairs),
        )
        return True
    try:
        _redis().sadd(_dirty_key(), *members)
    except (RedisError, OSError) as exc:
        log_outage(logger, "analytics: Redis unavailable; refreshing roll-ups at once", exc)
        return False
    return True


# --- recomputing roll-ups --------------------------------------------------------


def _rollup_rows(bookings: QuerySet[Booking]) -> QuerySet:
    """The roll-up figures of ``bookings`` grouped by (event, UTC creation day),
    computed by the database in one grouped query.

    ``revenue`` is the money charged: every recorded payment, whether or not it
    was refunded later (a declined charge is never recorded). ``refunded`` is
    every refund issued, pending at the gateway or settled (``failed`` ones
    excluded): a pending refund is money already owed back. Counting them so
    keeps a row exact when the refund job settles a refund later without a
    booking change.
    """
    paid = (
        Payment.objects.filter(booking=OuterRef("pk"))
        .exclude(status=PaymentStatus.DECLINED)
        .order_by()
        .values("booking")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    refunded = (
        Refund.objects.filter(booking=OuterRef("pk"))
        .exclude(status=RefundStatus.FAILED)
        .order_by()
        .values("booking")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        bookings.annotate(
            day=TruncDate("created_at", tzinfo=dt.UTC),
            paid=Coalesce(Subquery(paid, output_field=_MONEY), _ZERO),
            given_back=Coalesce(Subquery(refunded, output_field=_MONEY), _ZERO),
        )
        .order_by()
        .values("event_id", "day")
        .annotate(
            bookings=Count("id"),
            held=Count("id", filter=Q(status=BookingStatus.HELD)),
            confirmed=Count("id", filter=Q(status=BookingStatus.CONFIRMED)),
            cancelled=Count("id", filter=Q(status=BookingStatus.CANCELLED)),
            cancelled_paid=Count(
                "id", filter=Q(status=BookingStatus.CANCELLED, confirmed_at__isnull=False)
            ),
            expired=Count("id", filter=Q(status=BookingStatus.EXPIRED)),
            tickets=Coalesce(Sum("quantity", filter=Q(status=BookingStatus.CONFIRMED)), 0),
            revenue=Coalesce(Sum("paid"), _ZERO),
            refunded=Coalesce(Sum("given_back"), _ZERO),
        )
    )


def _stats(row: dict) -> DailyEventStats:
    return DailyEventStats(
        event_id=row["event_id"], day=row["day"], **{name: row[name] for name in FIGURES}
    )


def _lock_writers() -> None:
    """Serialize roll-up writers (refresh, drain, rebuild) for this transaction.
    SQLite runs one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _chunks(items: list, size: int):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _refresh_chunk(pairs: list[Pair]) -> None:
    with transaction.atomic():
        _lock_writers()
        where = Q()
        for event_id, day in pairs:
            where |= Q(
                event_id=event_id,
                created_at__gte=day_start(day),
                created_at__lt=day_start(day + dt.timedelta(days=1)),
            )
        rows = [_stats(row) for row in _rollup_rows(Booking.objects.filter(where))]
        if rows:
            DailyEventStats.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["event", "day"],
                update_fields=[*FIGURES, "refreshed_at"],
            )
        # Bookings are never deleted, but a pair left without any is zero: no row.
        present = {(row.event_id, row.day) for row in rows}
        gone = [pair for pair in pairs if pair not in present]
        if gone:
            stale = Q()
            for event_id, day in gone:
                stale |= Q(event_id=event_id, day=day)
            DailyEventStats.objects.filter(stale).delete()


def rollups_refresh(*, pairs: Iterable[tuple]) -> int:
    """Recompute the roll-up rows of the given (event id, day) pairs from
    their bookings, then bump the figures version; returns how many pairs.

    Call it outside a transaction: the version is bumped as soon as the
    roll-ups are written."""
    unique = sorted({_pair(event_id, day) for event_id, day in pairs})
    for chunk in _chunks(unique, REFRESH_CHUNK):
        _refresh_chunk(chunk)
    if unique:
        bump_figures_version()
    return len(unique)


def _apply_marks(client, key: str, count: int) -> int:
    """Take up to ``count`` marks off the set and recompute their pairs, in one
    transaction that holds the writers' lock from before the ``SPOP`` until
    the roll-ups are committed; returns how many pairs. If the refresh fails,
    the marks go back on the set before the lock is released, and the error
    goes up."""
    with transaction.atomic():
        _lock_writers()
        members = client.spop(key, count)
        if not members:
            return 0
        pairs = sorted({_decode(m) for m in members})
        try:
            for chunk in _chunks(pairs, REFRESH_CHUNK):
                _refresh_chunk(chunk)
        except Exception:
            client.sadd(key, *members)
            raise
    return len(pairs)


def rollups_drain(*, batch_size: int = DRAIN_BATCH) -> int:
    """Refresh the pairs queued in Redis (production mode); returns how many.

    Pairs are taken off the set atomically (``SPOP``), so two drains never
    refresh the same pair twice; a pair changed again meanwhile is simply
    queued again. If a refresh fails, its pairs go back on the set for the next
    run and the error goes up (the task retries). A no-op without Redis.
    """
    if not settings.REDIS_URL:
        return 0
    client, key = _redis(), _dirty_key()
    done = 0
    try:
        for _ in range(DRAIN_MAX_BATCHES):  # under a flood, leave the rest for the next run
            refreshed = _apply_marks(client, key, batch_size)
            done += refreshed
            if refreshed < batch_size:
                break
    finally:
        if done:
            bump_figures_version()
    return done


def _lock_timed_out(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_not_available


def _wait_for_writers() -> None:
    """Wait until the roll-up writer that holds the lock now, if any, has
    committed. The shared lock, taken and released by one statement in
    autocommit, conflicts only with a writer's: readers never wait for each
    other."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [_LOCK_KEY])


def rollups_catch_up() -> int:
    """Apply every mark in the set now (production mode; a no-op without
    Redis), before figures are computed; returns how many pairs it refreshed.

    When it returns, the committed roll-ups include every booking change
    whose mark was made before it started, whichever of this call, a drain or
    another catch-up applied it. Marks are only taken off the set under the
    writers' lock, so when the set is empty it is enough to wait for the
    lock's holder, if any, to commit (``_wait_for_writers``); otherwise it
    takes the whole set under the lock and refreshes it. That is what bounds
    how old the figures are, whatever the worker's backlog. When the worker
    keeps up it costs one ``SCARD`` and one statement.

    If Redis is unavailable, or the lock is not free within ``lock_timeout``
    (a rebuild is running), it logs and returns: the figures then come from
    the roll-ups as they are rather than not at all."""
    if not settings.REDIS_URL:
        return 0
    try:
        client, key = _redis(), _dirty_key()
        if client.scard(key):
            # A count above the set's size takes the whole set, in one command.
            done = _apply_marks(client, key, _ALL_MARKS)
        else:
            done = 0
            _wait_for_writers()
    except (RedisError, OSError) as exc:
        log_outage(logger, "analytics: Redis unavailable; figures from the roll-ups", exc)
        return 0
    except OperationalError as exc:
        if not _lock_timed_out(exc):
            raise
        logger.warning("analytics: roll-ups locked (a rebuild?); figures from them as they are")
        return 0
    if done:
        bump_figures_version()
    return done


def rollups_pending() -> int:
    """How many pairs wait in the dirty set (0 in the embedded mode)."""
    return _redis().scard(_dirty_key()) if settings.REDIS_URL else 0


# --- from scratch ------------------------------------------------------------------


def _scope(event_id, day_from: dt.date | None, day_to: dt.date | None):
    """The bookings and the roll-up rows of one event and/or creation days."""
    bookings = Booking.objects.all()
    rollups = DailyEventStats.objects.all()
    if event_id is not None:
        bookings = bookings.filter(event_id=event_id)
        rollups = rollups.filter(event_id=event_id)
    if day_from is not None:
        bookings = bookings.filter(created_at__gte=day_start(day_from))
        rollups = rollups.filter(day__gte=day_from)
    if day_to is not None:
        bookings = bookings.filter(created_at__lt=day_start(day_to + dt.timedelta(days=1)))
        rollups = rollups.filter(day__lte=day_to)
    return bookings, rollups


def rollups_rebuild(
    *,
    event_id=None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    chunk_size: int = 5000,
) -> int:
    """Recompute the roll-ups from the bookings, from scratch: every row of
    one event and/or a range of creation days (all of them by default) is
    deleted and written again in one transaction. For backfills and repairs;
    returns the number of rows written.

    It holds the writers' lock for its whole transaction, so refreshes queued
    meanwhile wait for it and then apply anything that changed."""
    bookings, rollups = _scope(event_id, day_from, day_to)
    written = 0
    with transaction.atomic():
        _lock_writers()
        rollups.delete()
        rows = _rollup_rows(bookings).iterator(chunk_size=chunk_size)
        while batch := [_stats(row) for row in islice(rows, chunk_size)]:
            DailyEventStats.objects.bulk_create(batch)
            written += len(batch)
    bump_figures_version()
    return written


def rollups_stale(
    *, event_id=None, day_from: dt.date | None = None, day_to: dt.date | None = None
) -> list[Pair]:
    """The (event id, day) pairs in scope whose roll-up row differs from a
    recomputation from the bookings (the rebuild's dry run, and the check of
    the tests)."""
    bookings, rollups = _scope(event_id, day_from, day_to)
    expected = {
        (row["event_id"], row["day"]): tuple(row[name] for name in FIGURES)
        for row in _rollup_rows(bookings)
    }
    stored = {
        (row["event_id"], row["day"]): tuple(row[name] for name in FIGURES)
        for row in rollups.values("event_id", "day", *FIGURES)
    }
    keys = expected.keys() | stored.keys()
    return sorted(key for key in keys if expected.get(key) != stored.get(key))
