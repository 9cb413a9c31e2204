"""Analytics benchmark: the staff summary at 10,000 and at 1,000,000 bookings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nuvio_bench_analytics \\
    REDIS_URL=redis://127.0.0.1:6379/5 python bench/analytics_bench.py

It (re)creates the scratch PostgreSQL database named in DATABASE_URL (the name
must contain "bench": it is dropped first), migrates it, creates 1,000 events
and 5,000 customers, then loads bookings straight into PostgreSQL with
``INSERT ... SELECT generate_series`` (with their payments and refunds; no
ticket rows, which analytics never reads): first 10,000, then 990,000 more over
the same events. Each event sells over the 90 days before it starts (starts
spread over the past 270 and the next 90 days); bookings are 62 % confirmed,
10 % cancelled after payment (refunds at 100 %, 50 % and 0 %), 5 % cancelled
holds, the rest expired, plus a few hundred running and a few lapsed holds.

After each load the roll-ups are built with ``analytics.services.rollups_rebuild``
and ``GET /api/analytics/summary/`` (default range: the last 30 days) is timed
through the whole Django/DRF stack, cold (analytics cache keys deleted before
each run) and cached, as the median of several runs; also the same summary
from the selector alone (database work only), the per-event figures and a
365-day range. Prints a table and writes bench/analytics_results.json.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/nuvio_bench_analytics"
EVENTS = 1_000
USERS = 5_000
SMALL, LARGE = 10_000, 1_000_000
MAX_SCALE = 10_000_000
RUNS = 15
CHUNK = 250_000  # bookings per INSERT ... SELECT


def _prepare_environment() -> str:
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-abcdefghijklmnopqrstuvwxyz")
    os.environ["NUVIO_CACHE_PREFIX"] = "nuvio-bench-analytics"  # only this script's keys
    os.environ["NUVIO_THROTTLE_RATES"] = "read=10000000/min"
    os.environ.setdefault("NUVIO_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if parsed.scheme not in ("postgres", "postgresql") or "bench" not in name:
        sys.exit(f"DATABASE_URL must name a scratch PostgreSQL database with 'bench' in it: {url}")
    return url


def _recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _timed(label: str, func, *args, **kwargs):
    started = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.1f} s", flush=True)
    return result, elapsed


# --- data ----------------------------------------------------------------------------


def _create_people_and_events(now):
    import datetime as dt
    from decimal import Decimal

    from accounts.models import User
    from events.models import Category, Event, EventStatus

    User.objects.bulk_create(
        [
            User(email=f"bench{n}@example.com", name=f"Bench {n}", password="!")
            for n in range(USERS)
        ],
        batch_size=1000,
    )
    staff = User.objects.create(email="bench-staff@example.com", name="Staff", is_staff=True)
    categories = Category.values
    span = dt.timedelta(days=360) / EVENTS
    events = []
    for n in range(EVENTS):
        starts = now - dt.timedelta(days=270) + span * n
        events.append(
            Event(
                name=f"Bench event {n:04d}",
                category=categories[n % len(categories)],
                venue_name="Bench Hall",
                city="Mumbai",
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=3),
                capacity=20_000,
                price=Decimal(200 + (n % 9) * 150),
                currency="INR",
                status=EventStatus.PUBLISHED,
            )
        )
    Event.objects.bulk_create(events, batch_size=500)
    return staff


_SETUP_SQL = """
DROP TABLE IF EXISTS bench_event, bench_user;
CREATE TEMP TABLE bench_event AS
SELECT (row_number() OVER (ORDER BY starts_at, id) - 1)::int AS n, id, price, currency,
       starts_at - interval '90 days' AS sale_from, LEAST(starts_at, %(now)s) AS sale_to
  FROM events_event;
CREATE UNIQUE INDEX ON bench_event (n);
CREATE TEMP TABLE bench_user AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id FROM accounts_user WHERE NOT is_staff;
CREATE UNIQUE INDEX ON bench_user (n);
"""

# One chunk of bookings into a staging table, with everything its payment and
# refund need; kind: 0 confirmed, 1 cancelled after payment, 2 cancelled hold,
# 3 expired, 4 held (running), 5 held (lapsed).
_STAGE_SQL = """
DROP TABLE IF EXISTS bench_new;
CREATE TEMP TABLE bench_new AS
SELECT gen_random_uuid() AS id, gen_random_uuid() AS payment_id, u.id AS user_id,
       e.id AS event_id, r.q, e.price, e.currency, k.kind, k.created, r.rtier
  FROM (SELECT g, g %% %(events)s AS en, (g / %(events)s) %% %(users)s AS un,
               1 + floor(random() * 4)::int AS q, random() AS rpos, random() AS rkind,
               random() AS rtier
          FROM generate_series(%(start)s, %(stop)s - 1) AS g) AS r
  JOIN bench_event e ON e.n = r.en
  JOIN bench_user u ON u.n = r.un
  CROSS JOIN LATERAL (
    SELECT CASE WHEN r.g %% 2000 = 7 THEN %(now)s - interval '10 minutes' * r.rpos
                WHEN r.g %% 5000 = 11 THEN %(now)s - interval '20 minutes'
                                           - interval '40 minutes' * r.rpos
                ELSE e.sale_from + r.rpos * (e.sale_to - e.sale_from) END AS created,
           CASE WHEN r.g %% 2000 = 7 THEN 4
                WHEN r.g %% 5000 = 11 THEN 5
                WHEN r.rkind < 0.62 THEN 0 WHEN r.rkind < 0.72 THEN 1
                WHEN r.rkind < 0.77 THEN 2 ELSE 3 END AS kind
  ) AS k;
"""

_INSERT_SQL = """
INSERT INTO bookings_booking (id, user_id, event_id, quantity, unit_price, total_price,
       currency, status, expires_at, created_at, confirmed_at, cancelled_at, expired_at)
SELECT id, user_id, event_id, q, price, price * q, currency,
       CASE kind WHEN 0 THEN 'confirmed' WHEN 3 THEN 'expired' WHEN 4 THEN 'held'
                 WHEN 5 THEN 'held' ELSE 'cancelled' END,
       created + interval '15 minutes', created,
       CASE WHEN kind IN (0, 1) THEN created + interval '3 minutes' END,
       CASE WHEN kind IN (1, 2) THEN LEAST(created + interval '2 days', %(now)s) END,
       CASE WHEN kind = 3 THEN created + interval '15 minutes' END
  FROM bench_new;
INSERT INTO bookings_payment (id, booking_id, gateway_intent_id, amount, currency, status,
       card_last4, created_at, updated_at)
SELECT payment_id, id, 'pi_bench_' || replace(payment_id::text, '-', ''), price * q, currency,
       CASE WHEN kind = 0 OR rtier >= 0.8 THEN 'succeeded'
            WHEN rtier < 0.6 THEN 'refunded' ELSE 'partially_refunded' END,
       '4242', created + interval '3 minutes', created + interval '3 minutes'
  FROM bench_new WHERE kind IN (0, 1);
INSERT INTO bookings_refund (id, booking_id, payment_id, amount, percent, currency, status,
       reason, gateway_reference, created_at, updated_at)
SELECT gen_random_uuid(), id, payment_id, round(price * q * t.percent / 100, 2), t.percent,
       currency, 'succeeded', 'cancelled', 'bench',
       LEAST(created + interval '2 days', %(now)s), LEAST(created + interval '2 days', %(now)s)
  FROM bench_new
  CROSS JOIN LATERAL (SELECT CASE WHEN rtier < 0.6 THEN 100 WHEN rtier < 0.8 THEN 50
                                  ELSE 0 END AS percent) AS t
 WHERE kind = 1;
"""

_TAKEN_SQL = """
UPDATE events_event e SET tickets_taken = s.taken
  FROM (SELECT event_id, SUM(quantity) AS taken FROM bookings_booking
         WHERE status IN ('held', 'confirmed') GROUP BY event_id) AS s
 WHERE e.id = s.event_id;
"""


def _load_bookings(start: int, stop: int, now) -> None:
    from django.db import connection, transaction

    params = {"events": EVENTS, "users": USERS, "now": now}
    with connection.cursor() as cursor:
        cursor.execute(_SETUP_SQL, {"now": now})
        cursor.execute("SELECT setseed(%s)", [start / MAX_SCALE])
        for first in range(start, stop, CHUNK):
            with transaction.atomic():
                last = min(first + CHUNK, stop)
                cursor.execute(_STAGE_SQL, {**params, "start": first, "stop": last})
                cursor.execute(_INSERT_SQL, params)
        cursor.execute(_TAKEN_SQL)


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- measuring ----------------------------------------------------------------------


def _clear_figures() -> None:
    from django.core.cache import cache

    cache.delete_pattern("analytics:*")


def _median_ms(func, *, cold: bool, runs: int = RUNS) -> float:
    if not cold:
        func()  # warm the cache
    times = []
    for _ in range(runs):
        if cold:
            _clear_figures()
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _measure(staff, scale: int) -> dict:
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from analytics.models import DailyEventStats
    from analytics.selectors import Filters, analytics_summary
    from events.models import Event

    client = APIClient()
    client.force_authenticate(staff)
    year = Filters.default()
    year = Filters(day_from=year.day_to - dt.timedelta(days=364), day_to=year.day_to)
    busiest = (
        DailyEventStats.objects.filter(day__gte=Filters.default().day_from)
        .values("event_id")
        .order_by("-bookings")
        .first()
    )
    event_id = busiest["event_id"] if busiest else Event.objects.values("id").first()["id"]

    def get(path, params=None):
        def call():
            response = client.get(path, params or {})
            assert response.status_code == 200, response.content[:300]
            return response

        return call

    summary = get("/api/analytics/summary/")
    with CaptureQueriesContext(connection) as queries:
        _clear_figures()
        body = summary().json()
    default = Filters.default()
    result = {
        "bookings": scale,
        "rollup_rows_total": DailyEventStats.objects.count(),
        "rollup_rows_30_days": DailyEventStats.objects.filter(day__gte=default.day_from).count(),
        "summary_queries_cold": len(queries),
        "summary_bookings_30_days": body["bookings"]["total"],
        "summary_cold_ms": _median_ms(summary, cold=True),
        "summary_cached_ms": _median_ms(summary, cold=False),
        "summary_db_only_ms": _median_ms(lambda: analytics_summary(filters=default), cold=False),
        "event_cold_ms": _median_ms(get(f"/api/analytics/events/{event_id}/"), cold=True),
        "summary_365_days_cold_ms": _median_ms(
            get("/api/analytics/summary/", {"from": year.day_from, "to": year.day_to}),
            cold=True,
            runs=7,
        ),
    }
    summary()  # cached now
    with CaptureQueriesContext(connection) as queries:
        summary()
    result["summary_queries_cached"] = len(queries)
    return result


def _refresh_ms(count: int = 200) -> float:
    """Time to recompute ``count`` dirty (event, day) pairs, as the beat task does."""
    from analytics.models import DailyEventStats
    from analytics.services import rollups_refresh

    pairs = list(
        DailyEventStats.objects.order_by("-bookings").values_list("event_id", "day")[:count]
    )
    started = time.perf_counter()
    rollups_refresh(pairs=pairs)
    return round((time.perf_counter() - started) * 1000, 1)


def _arguments() -> list[int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scales",
        default=f"{SMALL},{LARGE}",
        help="Booking counts to measure at, ascending (default: %(default)s); "
        "the ratio is 1M over 10k. E.g. 10000,1000000,3000000 shows the plateau.",
    )
    scales = sorted({int(value) for value in parser.parse_args().scales.split(",")})
    if not {SMALL, LARGE} <= set(scales) or scales[-1] > MAX_SCALE:
        parser.error(f"--scales must include {SMALL} and {LARGE}, at most {MAX_SCALE}")
    return scales


KEYS = [
    "summary_cold_ms",
    "summary_cached_ms",
    "summary_db_only_ms",
    "event_cold_ms",
    "summary_365_days_cold_ms",
]
COUNTS = [
    "rollup_rows_30_days",
    "rollup_rows_total",
    "summary_queries_cold",
    "summary_queries_cached",
]


def main() -> None:
    scales = _arguments()
    url = _prepare_environment()
    _recreate_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from analytics.services import rollups_rebuild

    started = time.perf_counter()
    print(f"Scratch database: {urlparse(url).path.lstrip('/')}", flush=True)
    call_command("migrate", verbosity=0)
    now = timezone.now()
    staff = _create_people_and_events(now)

    results = {}
    loaded = 0
    for scale in scales:
        print(f"\n{scale:,} bookings", flush=True)
        _, load_s = _timed(f"load {scale - loaded:,} bookings", _load_bookings, loaded, scale, now)
        loaded = scale
        rows, rebuild_s = _timed("rebuild roll-ups", rollups_rebuild)
        _, vacuum_s = _timed("vacuum analyze", _vacuum)
        figures = _measure(staff, scale)
        figures.update(
            load_seconds=round(load_s, 1),
            rebuild_seconds=round(rebuild_s, 1),
            rebuild_rows=rows,
            vacuum_seconds=round(vacuum_s, 1),
            refresh_200_pairs_ms=_refresh_ms(),
        )
        results[str(scale)] = figures
        print(f"  {figures}", flush=True)

    small, large = results[str(SMALL)], results[str(LARGE)]
    ratios = {key: round(large[key] / small[key], 2) for key in KEYS if small[key]}
    report = {
        "events": EVENTS,
        "users": USERS,
        "runs": RUNS,
        "default_range_days": 30,
        "results": results,
        "ratio_1m_over_10k": ratios,
        "goal": "summary 1M / 10k within 2x, cold and cached",
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    print("\nGET /api/analytics/summary/ (median ms; 30 days unless named)")
    print(f"{'':28}" + "".join(f"{scale:>12,}" for scale in scales) + f"{'1M/10k':>9}")
    for key in KEYS:
        values = "".join(f"{results[str(scale)][key]:>12}" for scale in scales)
        print(f"{key:28}{values}{ratios.get(key, '-'):>9}")
    for key in COUNTS:
        print(f"{key:28}" + "".join(f"{results[str(scale)][key]:>12}" for scale in scales))
    from django.core.cache import cache

    cache.delete_pattern("*")  # this script's own keys (its own prefix) only
    print(f"\nTotal {report['total_seconds']} s")
    out = ROOT / "bench" / "analytics_results.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
