"""Nuvio's benchmark: the production stack next to a minimal Django baseline and
pgbench, in one run, on this machine.

    make bench            # or: python bench/run.py [--duration 5] [--reps 3]
    python bench/run.py --only detail,list_20_rows   # a subset (see SCENARIOS)

What it does (see docs/performance.md for the figures of the latest run):

1. Fresh PostgreSQL databases for Nuvio and for the baseline; Redis db 3 flushed.
2. Data by bulk inserts (not HTTP): users with API tokens, a hot event, 1,000
   spread events, sell-out events, a two-type event with a promo code, an
   arena with a 50,000-seat plan, and later a 100,000-event catalog.
3. Nuvio's Procfile stack with production settings (gunicorn with the
   recommended sync workers, Celery worker and beat; throttles on — reads
   raised as an operator would behind a load balancer, the per-user write rate
   left at its default and never exceeded by any simulated user; every
   reserve carries an Idempotency-Key) and the baseline (bench/baseline/)
   under gunicorn with the same worker count.
4. wrk drives each scenario, alternating Nuvio and baseline (A B A B ...),
   `--reps` times; pgbench runs the same booking transaction as the raw floor.
5. After each write scenario: no response >= 500, every reserve answered 201
   (none of them runs out of anything), holds <= capacity, inventory clean.
6. A flash sale through the waiting room (bench/queue_sale.py): every user
   joins the queue around its opening and buys once admitted; next to it the
   same sale without the queue. And a queue poll against the cached list.
7. The same read mix with and without a read replica, and the share of the
   reads that the replica served (bench/replica_reads.py): its own primary,
   replica and apps, once the stack above has stopped (alone with
   ``--only replica_reads``, the stack never starts).
   Results: bench/results.json and a printed table.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen
import queue_sale
import replica_reads

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
NUVIO_DB, BASELINE_DB = "nuvio_bench", "nuvio_bench_baseline"
REDIS_URL = "redis://127.0.0.1:6379/3"
NUVIO_PORT, BASELINE_PORT = 8100, 8200
USERS = 20_000
SPREAD = 1_000
CATALOG = 100_000
SELLOUT_CAPACITY, SELLOUT_REQUESTS = 5_000, 20_000
MEMORY_REQUESTS = 20_000
MULTI_PROMO_CODE = "BENCH10"
# The flash sale through the waiting room: every user is a buyer; the rate
# sells the tickets in about 75 s (one buyer in ten takes 2).
QUEUE_TICKETS, QUEUE_ADMIT_PER_MINUTE = 5_000, 3_600
QUEUE_CONNECTIONS = 128
# Users in the queue that queue_poll's requests poll, in turn.
QUEUE_POLL_USERS = 4_000
# The arena's plan: sections x rows x seats per row.
ARENA_SECTIONS, ARENA_ROWS, ARENA_SEATS_PER_ROW = 10, 50, 100
# What --only can pick: the A/B pairs and solo scenarios by name, and the
# other steps by group (search also grows the catalog to CATALOG events).
SCENARIOS = (
    "hot_reserve_32",
    "multi_reserve_32",
    "hot_reserve_128",
    "spread_reserve_32",
    "list_cached",
    "queue_poll",
    "list_20_rows",
    "detail",
    "list_uncached",
    "seats_50k",
    "pgbench",
    "sellout",
    "queue_sale",
    "search",
    "memory",
    "replica_reads",
)

NUVIO_ENV = {
    "DATABASE_URL": f"{PG}/{NUVIO_DB}",
    "REDIS_URL": REDIS_URL,
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-used-anywhere-else-0123456789",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    # Behind a load balancer the generator's one IP stands for many clients:
    # raise the per-IP and read rates; the per-user write rate stays default.
    "NUVIO_THROTTLE_RATES": "auth=100000/min,register=100000/min,read=10000000/min",
    "GUNICORN_MAX_REQUESTS": "0",  # measure memory growth without recycling
    "NUVIO_LOG_LEVEL": "WARNING",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sh(*args, env=None, check=True, capture=False, cwd=ROOT):
    return subprocess.run(
        args,
        env={**os.environ, **(env or {})},
        check=check,
        cwd=cwd,
        text=True,
        capture_output=capture,
    )


def recreate_database(name: str) -> None:
    sh("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name)
    sh("createdb", "-h", "127.0.0.1", "-U", "postgres", name)


# --- data ------------------------------------------------------------------------

WORDS_A = (
    "Amber Azure Blazing Bold Bright Cosmic Crimson Electric Emerald Golden Grand "
    "Hidden Indigo Ivory Jade Lunar Magic Midnight Mighty Neon Noble Ocean Opal Pearl "
    "Polar Purple Quiet Radiant Royal Ruby Rustic Sacred Scarlet Secret Silver Solar "
    "Sonic Starry Stellar Summer Sunny Swift Velvet Vivid Wild Winter Wooden Young "
    "Zesty"
).split()
WORDS_B = (
    "Beats Carnival Circus Comedy Concert Dance Derby Drums Expo Fair Fest Fiesta "
    "Gala Groove Harmony Jam Jazz Lab Lights Market Marathon Meetup Melody Mela Night "
    "Opera Orchestra Parade Party Poetry Quiz Rally Raga Rhythm Rock Safari Session "
    "Show Soiree Summit Symphony Talk Theatre Tour Trek Waves Workshop Yoga Zone"
).split()
CITIES = ("Mumbai Bengaluru Delhi Pune Chennai Hyderabad Kolkata Goa Jaipur Kochi").split()
CATEGORIES = ("music conference workshop sports theatre comedy festival exhibition other").split()


def catalog_sql(first: int, last: int, status: str = "published") -> str:
    """Events first..last (1-based), named from the same generator whatever the range."""

    def array(words):
        return "(ARRAY[" + ",".join(f"'{w}'" for w in words) + "])"

    a, b, cities, cats = array(WORDS_A), array(WORDS_B), array(CITIES), array(CATEGORIES)
    return f"""
    INSERT INTO events_event (id, name, description, category, venue_name, venue_address,
        city, state, country, postal_code, starts_at, ends_at, capacity, tickets_taken,
        price, currency, status, booking_enabled, max_tickets_per_user, refund_tiers,
        waitlist_waiting, seated, queue_enabled, queue_rate_changes, timezone,
        transfers_enabled, created_at, updated_at)
    SELECT md5('bench' || g)::uuid,
           {a}[1 + g % {len(WORDS_A)}] || ' ' || {b}[1 + (g / {len(WORDS_A)}) % {len(WORDS_B)}]
               || ' ' || {cities}[1 + g % {len(CITIES)}] || ' ' || g,
           'An evening of ' || lower({b}[1 + (g * 31) % {len(WORDS_B)}]) || ' and '
               || lower({a}[1 + (g * 17) % {len(WORDS_A)}]) || ' moments.',
           {cats}[1 + g % {len(CATEGORIES)}],
           'Hall ' || (g % 97), '', {cities}[1 + g % {len(CITIES)}], '', 'India', '',
           now() + ((1 + g % 700) || ' days')::interval,
           now() + ((1 + g % 700) || ' days')::interval + interval '3 hours',
           100000, 0, (g % 50) * 100, 'INR', '{status}', true, 100, '', 0, false, false, '[]',
           'Asia/Kolkata', true, now(), now()
    FROM generate_series({first}, {last}) AS g
    """


# Every event sells at least one ticket type: the one "General admission" type
# the API makes from a price, for the events the SQL above inserts.
GENERAL_ADMISSION_SQL = """
INSERT INTO events_tickettype (id, event_id, name, description, price, quota, tickets_taken,
    waitlist_waiting, hidden, position, created_at, updated_at)
SELECT md5('bench-type' || e.id)::uuid, e.id, 'General admission', '', e.price, NULL,
       e.tickets_taken, e.waitlist_waiting, false, 0, now(), now()
FROM events_event AS e
WHERE NOT EXISTS (SELECT 1 FROM events_tickettype AS t WHERE t.event_id = e.id)
"""


# The arena's plan, in plan order: sections, rows front to back, seats along
# the row; the section's ticket type in turn among three.
ARENA_SEATS_SQL = """
INSERT INTO events_seat (id, event_id, section, row, number, label, x, y, ticket_type_id,
    row_index, position)
SELECT gen_random_uuid(), %(event)s, 'Section ' || s, r::text, n::text,
       'Section ' || s || ' ' || r || '-' || n, (s - 1) * 1100 + n * 10, r * 10,
       (%(types)s::uuid[])[1 + (s - 1) %% 3], (s - 1) * %(rows)s + r - 1,
       ((s - 1) * %(rows)s + r - 1) * %(per_row)s + n - 1
FROM generate_series(1, %(sections)s) AS s, generate_series(1, %(rows)s) AS r,
     generate_series(1, %(per_row)s) AS n
"""


def load_arena(event, types, user) -> None:
    """``event``'s seating plan (ARENA_*), with 2 % of its seats sold, 2 %
    held (each by a booking of its own, without tickets or payments: only
    its seat map is read) and 1 % blocked."""
    import datetime as dt

    from django.db import connection
    from django.db.models import Count, F
    from django.utils import timezone

    from bookings.models import Booking, BookingItem, SeatHold
    from events.models import Event, Seat, TicketType

    with connection.cursor() as cursor:
        cursor.execute(
            ARENA_SEATS_SQL,
            {
                "event": event.pk,
                "types": [str(t.pk) for t in types],
                "sections": ARENA_SECTIONS,
                "rows": ARENA_ROWS,
                "per_row": ARENA_SEATS_PER_ROW,
            },
        )
    now = timezone.now()
    seats = Seat.objects.filter(event=event).annotate(
        in_50=F("position") % 50, in_100=F("position") % 100
    )
    taken = seats.filter(in_50__in=[1, 2])
    bookings, items, holds = [], [], []
    for seat in taken.order_by("position"):
        sold = seat.position % 50 == 1
        booking = Booking(
            user=user,
            event=event,
            quantity=1,
            unit_price=event.price,
            subtotal=event.price,
            total_price=event.price,
            currency=event.currency,
            status="confirmed" if sold else "held",
            expires_at=now + dt.timedelta(days=1),
            confirmed_at=now if sold else None,
        )
        item = BookingItem(
            booking=booking, ticket_type_id=seat.ticket_type_id, quantity=1, unit_price=event.price
        )
        bookings.append(booking)
        items.append(item)
        holds.append(SeatHold(seat=seat, booking=booking, item=item))
    blocked = list(seats.filter(in_100=3))
    holds += [SeatHold(seat=seat) for seat in blocked]
    Booking.objects.bulk_create(bookings, batch_size=2000)
    BookingItem.objects.bulk_create(items, batch_size=2000)
    SeatHold.objects.bulk_create(holds, batch_size=2000)
    for row in (
        BookingItem.objects.filter(booking__event=event)
        .values("ticket_type")
        .annotate(n=Count("id"))
    ):
        TicketType.objects.filter(pk=row["ticket_type"]).update(tickets_taken=row["n"])
    Event.objects.filter(pk=event.pk).update(
        seated=True, capacity=seats.count() - len(blocked), tickets_taken=len(bookings)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_seat")
        cursor.execute("VACUUM ANALYZE bookings_seathold")


def load_nuvio_data():
    """Users with tokens and the events the scenarios need; returns their ids."""
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from events.models import Event, PromoCode, TicketType

    password = make_password(None)
    for start in range(0, USERS, 5000):
        users = User.objects.bulk_create(
            [
                User(email=f"u{i}@bench.test", name=f"User {i}", password=password)
                for i in range(start, min(start + 5000, USERS))
            ]
        )
        Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
    tokens = list(Token.objects.values_list("key", flat=True))
    starts = timezone.now() + dt.timedelta(days=60)

    def event(name, capacity, type_name="General admission"):
        event = Event.objects.create(
            name=name,
            venue_name="Bench Arena",
            city="Pune",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=4),
            capacity=capacity,
            price=Decimal("999.00"),
            status="published",
            max_tickets_per_user=100,
        )
        TicketType.objects.create(event=event, name=type_name, price=event.price)
        return event

    hot = event("Hot Flash Sale", 1_000_000)
    sellouts = [event(f"Sell-out {i}", SELLOUT_CAPACITY) for i in range(4)]
    # Two public types without quotas (the cheaper one at the event's
    # from-price) and a percent code for both, never used up.
    multi = event("Two-Tier Flash Sale", 1_000_000, type_name="Standard")
    standard = multi.ticket_types.get()
    vip = TicketType.objects.create(event=multi, name="VIP", price=Decimal("2499.00"), position=1)
    PromoCode.objects.create(event=multi, code=MULTI_PROMO_CODE, discount_percent=10)
    arena = event("Seated Arena", ARENA_SECTIONS * ARENA_ROWS * ARENA_SEATS_PER_ROW)
    arena_types = [
        arena.ticket_types.get(),
        TicketType.objects.create(event=arena, name="Upper", price=Decimal("1499.00"), position=1),
        TicketType.objects.create(event=arena, name="Floor", price=Decimal("2999.00"), position=2),
    ]
    load_arena(arena, arena_types, users[0])
    with connection.cursor() as cursor:
        cursor.execute(catalog_sql(1, SPREAD))
        cursor.execute(GENERAL_ADMISSION_SQL)
        cursor.execute("VACUUM ANALYZE events_event")
    spread = [
        str(e)
        for e in Event.objects.filter(venue_name__startswith="Hall ").values_list("id", flat=True)
    ]
    return {
        "tokens": tokens,
        "hot": str(hot.pk),
        "multi": str(multi.pk),
        "multi_types": [str(standard.pk), str(vip.pk)],
        "sellouts": [str(e.pk) for e in sellouts],
        "spread": spread,
        "arena": str(arena.pk),
    }


def load_catalog():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(catalog_sql(SPREAD + 1, CATALOG))
        cursor.execute(GENERAL_ADMISSION_SQL)
    # VACUUM also merges the GIN index's pending list, as autovacuum would soon;
    # left to autovacuum, the new ticket types would be vacuumed while the
    # searches over 100,000 events are measured.
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_event")
        cursor.execute("VACUUM ANALYZE events_tickettype")


def check_writes(event_ids: list[str]) -> dict:
    from django.db.models import Q, Sum

    from bookings.inventory import inventory_problems
    from bookings.models import Booking
    from events.models import Event

    problems = inventory_problems(event_ids=event_ids)
    over = 0
    for event in Event.objects.filter(pk__in=event_ids):
        live = Booking.objects.filter(event=event).filter(Q(status="held") | Q(status="confirmed"))
        taken = live.aggregate(n=Sum("quantity"))["n"] or 0
        over += max(0, taken - event.capacity)
    return {"inventory_problems": len(problems), "oversold_tickets": over}


# --- processes -------------------------------------------------------------------


class Stack:
    def __init__(self, workers: int):
        self.workers = workers
        self.procs: dict[str, subprocess.Popen] = {}
        self.logdir = Path(tempfile.mkdtemp(prefix="nuvio-bench-"))

    def start(self, name, args, env, cwd=ROOT):
        out = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_all(self):
        gunicorn = str(Path(PY).with_name("gunicorn"))
        celery = str(Path(PY).with_name("celery"))
        web_env = {
            **NUVIO_ENV,
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_BIND": f"127.0.0.1:{NUVIO_PORT}",
        }
        self.start("nuvio-web", [gunicorn, "nuvio.wsgi:application"], web_env)
        self.start(
            "worker",
            [celery, "-A", "nuvio", "worker", "--concurrency", "1", "--loglevel", "WARNING"],
            NUVIO_ENV,
        )
        self.start(
            "beat",
            [
                celery,
                "-A",
                "nuvio",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.logdir / "beat-schedule"),
            ],
            NUVIO_ENV,
        )
        self.start(
            "baseline-web",
            [
                gunicorn,
                "wsgi:application",
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{BASELINE_PORT}",
                "--worker-class",
                "sync",
                "--keep-alive",
                "5",
            ],
            {
                "BASELINE_DATABASE_URL": f"{PG}/{BASELINE_DB}",
                "PYTHONPATH": str(BENCH / "baseline"),
                "DJANGO_SETTINGS_MODULE": "settings",
            },
            cwd=BENCH / "baseline",
        )
        for port, path in ((NUVIO_PORT, "/healthz"), (BASELINE_PORT, "/hello/")):
            wait_http(f"http://127.0.0.1:{port}{path}")

    def web_worker_pids(self) -> list[int]:
        master = self.procs["nuvio-web"].pid
        out = sh("pgrep", "-P", str(master), capture=True, check=False).stdout.split()
        return [int(pid) for pid in out]

    def stop(self):
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def rss_kib(pids: list[int]) -> list[int]:
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]))
    return sizes


# --- load ------------------------------------------------------------------------


def write_lines(name: str, values) -> str:
    path = Path(tempfile.gettempdir()) / f"nuvio-bench-{name}.txt"
    path.write_text("\n".join(values) + "\n")
    return str(path)


def wrk(port: int, script: str, connections: int, duration: float, env: dict, limit: int = 0):
    threads = 2
    result = sh(
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        f"http://127.0.0.1:{port}",
        env={
            "BENCH_LUA_DIR": str(LUA),
            "BENCH_THREADS": str(threads),
            "BENCH_REQUEST_LIMIT": str(limit),
            **env,
        },
        capture=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("JSON "))
    data = json.loads(line[5:])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["5xx"] = sum(n for code, n in data["statuses"].items() if code.startswith("5"))
    return data


def process_cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes ``pids`` have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            # The fields after the command name (which may hold spaces): utime, stime.
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def redis_pid() -> int:
    info = sh("redis-cli", "-u", REDIS_URL, "info", "server", capture=True).stdout
    return int(re.search(r"process_id:(\d+)", info)[1])


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (postmaster, backends, workers)."""
    out = sh("pgrep", "-x", "postgres", capture=True, check=False).stdout.split()
    return [int(pid) for pid in out]


def with_cpu_split(web_pids: list[int], run) -> dict:
    """``run()``'s wrk result with ``web_cpu_us`` and ``db_cpu_us``: the CPU
    time the web workers and PostgreSQL (every process of the server: its
    backends come and go) spent per request meanwhile."""
    db_pids = postgres_pids()
    web, db = process_cpu_seconds(web_pids), process_cpu_seconds(db_pids)
    result = run()
    per_request = 1e6 / result["requests"]
    result["web_cpu_us"] = (process_cpu_seconds(web_pids) - web) * per_request
    result["db_cpu_us"] = (process_cpu_seconds(db_pids) - db) * per_request
    return result


def with_server_cpu(pids: list[int], run) -> dict:
    """``run()``'s wrk result with ``server_cpu_us``: the CPU time the web
    workers and Redis spent per request meanwhile (the load generator's own
    is left out: what the request costs the servers)."""
    before = process_cpu_seconds(pids)
    result = run()
    result["server_cpu_us"] = (process_cpu_seconds(pids) - before) / result["requests"] * 1e6
    return result


def pgbench(script: str, clients: int, duration: float) -> float:
    result = sh(
        "pgbench",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-n",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(int(duration)),
        "-f",
        str(BENCH / "baseline" / script),
        BASELINE_DB,
        capture=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(result.stdout + result.stderr)


def summarize(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Nuvio vs baseline, side by side.")
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 6))
    )
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 4)))
    parser.add_argument(
        "--sellouts",
        type=int,
        default=int(os.environ.get("BENCH_SELLOUTS", 1)),
        help="sell-out runs (each a fresh event; at most 4)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny numbers: checks the harness")
    parser.add_argument(
        "--only",
        help="comma-separated scenarios to run, of: " + ", ".join(SCENARIOS) + ". A partial "
        "run never touches docs/performance.md and writes to the temp dir unless --output "
        "is given.",
    )
    parser.add_argument("--output", help="default: bench/results.json")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(only - set(SCENARIOS)))}")
    output = args.output or (
        Path(tempfile.gettempdir()) / "nuvio-bench-partial.json" if only else BENCH / "results.json"
    )

    def wanted(name: str) -> bool:
        return only is None or name in only

    global USERS, SPREAD, CATALOG, SELLOUT_CAPACITY, SELLOUT_REQUESTS, MEMORY_REQUESTS
    global QUEUE_TICKETS, QUEUE_ADMIT_PER_MINUTE, QUEUE_POLL_USERS
    if args.smoke:
        USERS, SPREAD, CATALOG = 200, 50, 300
        SELLOUT_CAPACITY, SELLOUT_REQUESTS, MEMORY_REQUESTS = 50, 200, 300
        QUEUE_TICKETS, QUEUE_ADMIT_PER_MINUTE, QUEUE_POLL_USERS = 50, 300, 200
    for tool in ("wrk", "pgbench", "psql", "createdb"):
        if not shutil.which(tool):
            raise SystemExit(f"bench needs {tool} (apt-get install wrk postgresql-client)")

    started = time.time()
    if only == {"replica_reads"}:
        # It builds its own clusters and apps: the stack is not needed.
        results = {
            "scenarios": {},
            "checks": {},
            "sellout": [],
            "raw": {},
            "paired_ratios": {},
            "reserve_non_201": {},
            "replica_reads": replica_reads_step(args),
        }
        results["errors_5xx"] = replica_reads.errors_5xx(results["replica_reads"])
        return finish(results, args, only, output, started)
    log("fresh databases")
    recreate_database(NUVIO_DB)
    recreate_database(BASELINE_DB)
    sh(
        "psql",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-f",
        str(BENCH / "baseline" / "schema.sql"),
        BASELINE_DB,
    )
    sh("redis-cli", "-n", "3", "flushdb", capture=True)
    os.environ.update(NUVIO_ENV)
    os.environ["DJANGO_SETTINGS_MODULE"] = "nuvio.settings"
    sh(PY, "manage.py", "migrate", "-v0", env=NUVIO_ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    log(f"data: {USERS} users with tokens, hot + {SPREAD} spread + sell-out events")
    data = load_nuvio_data()
    files = {
        "tokens": write_lines("tokens", data["tokens"]),
        "hot": write_lines("hot", [one_ticket(data["hot"])]),
        "spread": write_lines("spread", [one_ticket(e) for e in data["spread"]]),
        # One of each type, with the code: two items, a discount on each.
        "multi": write_lines(
            "multi",
            [
                json.dumps(
                    {
                        "event": data["multi"],
                        "items": [{"ticket_type": t, "quantity": 1} for t in data["multi_types"]],
                        "promo_code": MULTI_PROMO_CODE,
                    }
                )
            ],
        ),
        "baseline_hot": write_lines("baseline-hot", ["1"]),
        "baseline_spread": write_lines("baseline-spread", [str(i) for i in range(2, 1002)]),
        "list": write_lines("list", ["/api/events/"]),
        "hello": write_lines("hello", ["/hello/"]),
        "baseline_list": write_lines("baseline-list", ["/events/"]),
        "detail": write_lines("detail", [f"/api/events/{e}/" for e in data["spread"]]),
        "seats": write_lines("seats", [f"/api/events/{data['arena']}/seats/"]),
        # Specific searches (what someone looking for one event types) and a broad one.
        "search": write_lines(
            "search",
            [
                f"/api/events/?search={a}+{b}"
                for a, b in zip(WORDS_A[::3], WORDS_B[::2], strict=False)
            ],
        ),
        "search_broad": write_lines("search-broad", ["/api/events/?search=jazz"]),
    }

    stack = Stack(args.workers)
    results: dict = {"scenarios": {}, "checks": {}}
    try:
        log(f"starting the stacks ({args.workers} sync workers each), logs in {stack.logdir}")
        stack.start_all()
        d, reps = args.duration, args.reps
        reserve = {"BENCH_TOKENS": files["tokens"]}

        def nuvio_reserve(bodies_file, conns, tag="r"):
            env = {**reserve, "BENCH_BODIES": bodies_file, "BENCH_TAG": tag}
            run = wrk(NUVIO_PORT, "reserve.lua", conns, d, env)
            # Capacity is never exhausted: every answer should be a new hold.
            run["non_201"] = sum(n for code, n in run["statuses"].items() if code != "201")
            return run

        def base_book(events_file, conns):
            return wrk(BASELINE_PORT, "baseline_book.lua", conns, d, {"BENCH_EVENTS": events_file})

        def get(port, paths_file, conns=32, nonce=False, script="get.lua"):
            env = {"BENCH_PATHS": paths_file, **({"BENCH_NONCE": "1"} if nonce else {})}
            return wrk(port, script, conns, d, env)

        # In each repetition the scenarios run in this order, each A/B pair
        # (nuvio, then baseline) back to back.
        steps = {
            "hot_reserve_32": {
                "nuvio": lambda: nuvio_reserve(files["hot"], 32),
                "baseline": lambda: base_book(files["baseline_hot"], 32),
            },
            # Set against the hot reserve that ran just before it.
            "multi_reserve_32": {"nuvio": lambda: nuvio_reserve(files["multi"], 32, tag="m")},
            "hot_reserve_128": {
                "nuvio": lambda: nuvio_reserve(files["hot"], 128),
                "baseline": lambda: base_book(files["baseline_hot"], 128),
            },
            "spread_reserve_32": {
                "nuvio": lambda: nuvio_reserve(files["spread"], 32),
                "baseline": lambda: base_book(files["baseline_spread"], 32),
            },
            "list_cached": {
                "nuvio": lambda: get(NUVIO_PORT, files["list"]),
                "baseline": lambda: get(BASELINE_PORT, files["hello"]),
            },
            # A waiting buyer's poll of its place, set against the cached
            # event list right after it: a poll should cost less.
            "queue_poll": {
                "nuvio": lambda: with_server_cpu(
                    server_pids, lambda: wrk(NUVIO_PORT, "queue_poll.lua", 32, d, queue_poll_env)
                ),
                "list_cached": lambda: with_server_cpu(
                    server_pids, lambda: get(NUVIO_PORT, files["list"])
                ),
            },
            "list_20_rows": {
                "nuvio": lambda: get(NUVIO_PORT, files["list"]),
                "baseline": lambda: get(BASELINE_PORT, files["baseline_list"]),
            },
            # The event page every buyer reloads, against the baseline's
            # smallest list page: one event should cost no more than 20 rows.
            "detail": {
                "nuvio": lambda: get(NUVIO_PORT, files["detail"]),
                "baseline": lambda: get(BASELINE_PORT, files["baseline_list"]),
            },
            "list_uncached": {"nuvio": lambda: get(NUVIO_PORT, files["list"], nonce=True)},
            # A 50,000-seat arena's whole seat map, gzipped as a browser asks
            # for it, against the same 20-row page: the map every buyer
            # reloads should cost no more than the baseline's smallest list.
            "seats_50k": {
                "nuvio": lambda: get(NUVIO_PORT, files["seats"], script="get_gzip.lua"),
                "baseline": lambda: get(BASELINE_PORT, files["baseline_list"]),
            },
        }
        steps = {name: sides for name, sides in steps.items() if wanted(name)}
        # The same searches over 1,000 and then 100,000 events, measured just
        # before and just after the catalog grows, so little drift lies between.
        # Each with the CPU it cost the web workers and PostgreSQL per request.
        web_pids = stack.web_worker_pids()
        searches = {
            "search": lambda: with_cpu_split(
                web_pids, lambda: get(NUVIO_PORT, files["search"], nonce=True)
            ),
            "search_broad": lambda: with_cpu_split(
                web_pids, lambda: get(NUVIO_PORT, files["search_broad"], nonce=True)
            ),
        }
        queue_poll_env = {}
        server_pids = [*web_pids, redis_pid()]
        if "queue_poll" in steps:
            queue_poll_env = queue_poll_setup(data["tokens"][:QUEUE_POLL_USERS])
            log(f"queue poll: {QUEUE_POLL_USERS} users joined {queue_poll_env['BENCH_PATH']}")
        log("warm-up")
        wrk(NUVIO_PORT, "get.lua", 8, 1, {"BENCH_PATHS": files["list"]})
        if "seats_50k" in steps:
            results["seats_50k"] = seat_map_facts(data["arena"])
            log(f"seat map: {results['seats_50k']}")
        wrk(BASELINE_PORT, "get.lua", 8, 1, {"BENCH_PATHS": files["hello"]})

        raw: dict = {name: {side: [] for side in sides} for name, sides in steps.items()}
        for rep in range(reps):
            log(f"repetition {rep + 1}/{reps}")
            for name, sides in steps.items():
                for side, run in sides.items():
                    raw[name][side].append(run())

        if wanted("pgbench"):
            log("pgbench: the raw booking transaction")
            raw["pgbench_hot"] = {
                "pgbench": [pgbench("pgbench_hot.sql", 32, d) for _ in range(reps)]
            }
            raw["pgbench_spread"] = {
                "pgbench": [pgbench("pgbench_spread.sql", 32, d) for _ in range(reps)]
            }
        results["checks"]["after_reserves"] = check_writes(
            [data["hot"], data["multi"], *data["spread"]]
        )

        sellouts = []
        sellout_runs = min(args.sellouts, len(data["sellouts"])) if wanted("sellout") else 0
        if sellout_runs:
            log(f"sell-out: capacity {SELLOUT_CAPACITY}, {SELLOUT_REQUESTS} requests")
        for rep in range(sellout_runs):
            event_id = data["sellouts"][rep]
            run = loadgen.run(
                "127.0.0.1",
                NUVIO_PORT,
                reserve_request(data["tokens"], [event_id], f"s{rep}"),
                SELLOUT_REQUESTS,
                128,
            )
            run["5xx"] = sum(n for code, n in run["statuses"].items() if code.startswith("5"))
            run.update(sellout_facts(event_id))
            run["check"] = check_writes([event_id])
            sellouts.append(run)
        results["sellout"] = sellouts

        if wanted("queue_sale"):
            results["queue_sale"] = queue_sale.run(
                host="127.0.0.1",
                port=NUVIO_PORT,
                tokens=data["tokens"],
                tickets=QUEUE_TICKETS,
                admit_per_minute=QUEUE_ADMIT_PER_MINUTE,
                connections=QUEUE_CONNECTIONS,
                log=log,
            )

        if wanted("search"):
            log(f"search over {SPREAD} events, then a catalog of {CATALOG} events and the same")
            for name, run in searches.items():
                raw[f"{name}_1k"] = {"nuvio": [run() for _ in range(reps)]}
            load_catalog()
            for name, run in searches.items():
                raw[f"{name}_100k"] = {"nuvio": [run() for _ in range(reps)]}
            raw["list_cached_100k"] = {
                "nuvio": [get(NUVIO_PORT, files["list"]) for _ in range(reps)]
            }

        if wanted("memory"):
            log(f"memory: web worker RSS around {MEMORY_REQUESTS} requests")
            pids = stack.web_worker_pids()
            before = rss_kib(pids)
            half = MEMORY_REQUESTS // 2
            details = [f"/api/events/{e}/" for e in data["spread"]]
            mem_runs = [
                loadgen.run(
                    "127.0.0.1",
                    NUVIO_PORT,
                    reserve_request(data["tokens"], data["spread"], "m"),
                    half,
                    32,
                ),
                loadgen.run(
                    "127.0.0.1",
                    NUVIO_PORT,
                    lambda i: ("GET", details[i % len(details)], {}, None),
                    half,
                    32,
                ),
            ]
            for run in mem_runs:
                run["5xx"] = sum(n for code, n in run["statuses"].items() if code.startswith("5"))
            after = rss_kib(pids)
            results["memory"] = {
                "requests": sum(r["requests"] for r in mem_runs),
                "rss_before_kib": before,
                "rss_after_kib": after,
                "growth": (sum(after) - sum(before)) / sum(before),
                "5xx": sum(r["5xx"] for r in mem_runs),
            }
        sales = results.get("queue_sale")
        sale_events = [sales[side]["event"] for side in ("queue", "no_queue")] if sales else []
        results["checks"]["final"] = check_writes(
            [data["hot"], data["multi"], *data["spread"], *data["sellouts"], *sale_events]
        )
    finally:
        stack.stop()
    if wanted("replica_reads"):
        results["replica_reads"] = replica_reads_step(args)

    results["raw"] = raw
    results["scenarios"] = {
        name: {
            side: summarize([r["rps"] if isinstance(r, dict) else r for r in runs])
            for side, runs in sides.items()
        }
        for name, sides in raw.items()
    }
    p95_shown = ("search_1k", "search_100k", "search_broad_1k", "search_broad_100k", "detail")
    for name in (*p95_shown, "seats_50k"):
        if name not in raw:
            continue
        results["scenarios"][name]["nuvio_p95_ms"] = summarize(
            [r["p95_ms"] for r in raw[name]["nuvio"]]
        )
        for cpu in ("web_cpu_us", "db_cpu_us"):
            if cpu in raw[name]["nuvio"][0]:
                results["scenarios"][name][cpu] = summarize([r[cpu] for r in raw[name]["nuvio"]])
    results["errors_5xx"] = (
        sum(
            r["5xx"]
            for sides in raw.values()
            for runs in sides.values()
            for r in runs
            if isinstance(r, dict)
        )
        + sum(r["5xx"] for r in results["sellout"])
        + results.get("memory", {}).get("5xx", 0)
        + sum(
            results["queue_sale"][side]["5xx"]
            for side in ("queue", "no_queue")
            if "queue_sale" in results
        )
        + replica_reads.errors_5xx(results.get("replica_reads"))
    )
    # The reserve scenarios never exhaust capacity, quotas or the code's uses,
    # so every answer should be 201; anything else (a 409, a 429) is an error.
    results["reserve_non_201"] = {
        name: sum(r["non_201"] for r in sides["nuvio"])
        for name, sides in raw.items()
        if sides.get("nuvio") and "non_201" in sides["nuvio"][0]
    }
    # Each A/B pair ran back to back: its ratio cancels the machine's drift
    # between repetitions, and the spread of those ratios shows the noise.
    results["paired_ratios"] = {
        name: summarize(
            [n["rps"] / b["rps"] for n, b in zip(sides["nuvio"], sides["baseline"], strict=True)]
        )
        for name, sides in raw.items()
        if "baseline" in sides
    }
    # The two-item reserve ran right after the hot reserve's pair, in each repetition.
    if "multi_reserve_32" in raw and "hot_reserve_32" in raw:
        results["paired_ratios"]["multi_vs_hot_reserve_32"] = summarize(
            [
                m["rps"] / h["rps"]
                for m, h in zip(
                    raw["multi_reserve_32"]["nuvio"], raw["hot_reserve_32"]["nuvio"], strict=True
                )
            ]
        )
    # The queue poll ran right before its cached list, in each repetition.
    if "queue_poll" in raw:
        sides = raw["queue_poll"]
        pairs = list(zip(sides["nuvio"], sides["list_cached"], strict=True))
        results["paired_ratios"]["queue_poll_vs_cached_list"] = summarize(
            [p["rps"] / c["rps"] for p, c in pairs]
        )
        # What each costs the servers (web workers and Redis), per request.
        results["paired_ratios"]["queue_poll_cpu_vs_cached_list"] = summarize(
            [p["server_cpu_us"] / c["server_cpu_us"] for p, c in pairs]
        )
    return finish(results, args, only, output, started)


def replica_reads_step(args) -> dict:
    """bench/replica_reads.py's figures, with the bench's worker count, on its
    Redis (or BENCH_REDIS_URL's: the apps' keys are prefixed and removed)."""
    reason = replica_reads.missing()
    if reason:
        log(f"replica reads skipped: {reason}")
        return {"skipped": reason}
    return replica_reads.run(
        redis_url=os.environ.get("BENCH_REDIS_URL", REDIS_URL),
        workers=args.workers,
        duration=args.duration,
        reps=args.reps,
        smoke=args.smoke,
        log=log,
    )


def finish(results: dict, args, only: set | None, output, started: float) -> int:
    """Ratios and machine facts added, the results saved and printed; the exit status."""
    results["ratios"] = ratios(results)
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": sh(
            "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version", capture=True
        ).stdout.strip(),
        "workers": args.workers,
        "duration_s": args.duration,
        "reps": args.reps,
        "sellouts": args.sellouts,
        "smoke": args.smoke,
        "only": sorted(only) if only else None,
        "elapsed_s": round(time.time() - started, 1),
    }
    Path(output).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(table(results))
    if not args.smoke and not only:
        update_performance_doc(results)
    ok = (
        results["errors_5xx"] == 0
        and not any(results["reserve_non_201"].values())
        and all(
            c["inventory_problems"] == 0 and c["oversold_tickets"] == 0
            for c in results["checks"].values()
        )
        and all(
            s["holds"] == SELLOUT_CAPACITY and s["check"]["inventory_problems"] == 0
            for s in results["sellout"]
        )
        and queue_sale_ok(results.get("queue_sale"))
    )
    log(f"done in {results['machine']['elapsed_s']} s: {'OK' if ok else 'GUARANTEE BROKEN'}")
    return 0 if ok else 1


def queue_poll_setup(tokens: list[str]) -> dict:
    """An event whose queue opened a second ago, admitting 60 a minute,
    joined by each of ``tokens`` (most of them then wait for minutes);
    queue_poll.lua's environment."""
    event = queue_sale.sale_event(
        "Queue Poll Sale",
        1_000,
        queue={"opens_at": time.time() - 1, "admit_per_minute": 60, "pass_minutes": 120},
    )
    path = f"/api/events/{event}/queue/"
    run = loadgen.run(
        "127.0.0.1",
        NUVIO_PORT,
        lambda i: ("POST", path, {"Authorization": f"Token {tokens[i]}"}, None),
        len(tokens),
        32,
    )
    if run["statuses"] != {"201": len(tokens)}:
        raise RuntimeError(f"queue poll: joining answered {run['statuses']}")
    return {"BENCH_PATH": path, "BENCH_TOKENS": write_lines("queue-tokens", tokens)}


def queue_sale_ok(sale: dict | None) -> bool:
    """Through the queue: sold out, every admission in place order; both
    sales: nothing oversold, inventory clean, no 5xx, no buyer left with an
    unexpected answer."""
    if sale is None:
        return True
    queued = sale["queue"]
    return (
        queued["sold_out"]
        and queued["order"]["in_order"] == 1
        and queued["order"]["off_schedule_answers"] == 0
        and all(
            sale[side]["oversold_tickets"] == 0
            and sale[side]["inventory_problems"] == 0
            and sale[side]["5xx"] == 0
            and sale[side]["buyer_errors"] == 0
            for side in ("queue", "no_queue")
        )
    )


def seat_map_facts(event: str) -> dict:
    """The arena's seat map as a browser gets it: its seats by status, and
    its size gzipped and not."""
    import gzip
    from collections import Counter

    request = urllib.request.Request(
        f"http://127.0.0.1:{NUVIO_PORT}/api/events/{event}/seats/",
        headers={"Accept-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        zipped = response.read()
    plain = gzip.decompress(zipped)
    seats = json.loads(plain)["seats"]
    return {
        "seats": len(seats),
        "statuses": dict(Counter(seat["status"] for seat in seats)),
        "gzip_bytes": len(zipped),
        "json_bytes": len(plain),
    }


def one_ticket(event: str) -> str:
    """The body of a reserve of 1 ticket of a one-type event."""
    return json.dumps({"event": event, "quantity": 1})


def reserve_request(tokens: list[str], events: list[str], tag: str):
    """Requests like reserve.lua's: rotating users, 1 ticket, a fresh Idempotency-Key."""
    stamp = int(time.time())

    def make(index: int):
        headers = {
            "Authorization": f"Token {tokens[(index * 7 + 3) % len(tokens)]}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{tag}-{stamp}-{index}",
        }
        body = one_ticket(events[index % len(events)])
        return "POST", "/api/bookings/", headers, body

    return make


def update_performance_doc(results: dict) -> None:
    """Put the latest table into docs/performance.md, between its markers."""
    doc = ROOT / "docs" / "performance.md"
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    machine = results["machine"]
    block = (
        f"{start}\nLatest run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{machine['cpus']} CPUs, PostgreSQL {machine['postgres']}, Python {machine['python']}, "
        f"{machine['workers']} gunicorn sync workers each, {machine['reps']} × "
        f"{machine['duration_s']:.0f} s per scenario, {machine['sellouts']} sell-out run(s), "
        f"{machine['elapsed_s']:.0f} s in all.\n"
        f"{table(results)}\n{end}"
    )
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{start}\n{end}\n"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    doc.write_text(before + block + after)


def sellout_facts(event_id: str) -> dict:
    from django.db.models import Max, Min

    from bookings.models import Booking

    rows = Booking.objects.filter(event_id=event_id)
    span = rows.aggregate(first=Min("created_at"), last=Max("created_at"))
    holds = rows.filter(status="held").count()
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else None
    return {"holds": holds, "seconds_to_sell_out": seconds}


def ratios(results: dict) -> dict:
    """The targets' figures; a partial run (--only) has those its scenarios give."""
    s = results["scenarios"]

    def med(name, side="nuvio"):
        return s[name][side]["median"]

    def p95(name):
        return s[name]["nuvio_p95_ms"]["median"]

    formulas = {
        "hot_reserve_vs_baseline_32": lambda: (
            med("hot_reserve_32") / med("hot_reserve_32", "baseline")
        ),
        "hot_reserve_vs_baseline_128": lambda: (
            med("hot_reserve_128") / med("hot_reserve_128", "baseline")
        ),
        "multi_vs_hot_reserve_32": lambda: med("multi_reserve_32") / med("hot_reserve_32"),
        "hot_vs_spread_nuvio": lambda: med("hot_reserve_32") / med("spread_reserve_32"),
        "hot_vs_spread_baseline": lambda: (
            med("hot_reserve_32", "baseline") / med("spread_reserve_32", "baseline")
        ),
        "cached_list_vs_baseline_hello": lambda: (
            med("list_cached") / med("list_cached", "baseline")
        ),
        "detail_vs_baseline_20_rows": lambda: med("detail") / med("detail", "baseline"),
        "seats_50k_vs_baseline_20_rows": lambda: med("seats_50k") / med("seats_50k", "baseline"),
        "search_p95_100k_vs_1k": lambda: p95("search_100k") / p95("search_1k"),
        "search_broad_p95_100k_vs_1k": lambda: p95("search_broad_100k") / p95("search_broad_1k"),
        "rss_growth": lambda: results["memory"]["growth"],
        "hot_reserve_vs_pgbench_32": lambda: med("hot_reserve_32") / med("pgbench_hot", "pgbench"),
        "queue_poll_vs_cached_list": lambda: med("queue_poll") / med("queue_poll", "list_cached"),
        "queue_poll_cpu_vs_cached_list": lambda: results["paired_ratios"][
            "queue_poll_cpu_vs_cached_list"
        ]["median"],
        "queue_sale_in_order": lambda: results["queue_sale"]["queue"]["order"]["in_order"],
        "replica_reads_vs_primary_only": lambda: (
            results["replica_reads"]["with_replica"]["rps"]["median"]
            / results["replica_reads"]["primary_only"]["rps"]["median"]
        ),
        "replica_reads_share": lambda: results["replica_reads"]["with_replica"]["replica_share"][
            "statements"
        ],
    }
    found = {}
    for name, formula in formulas.items():
        # A scenario not run, or one that got no answer in a smoke run's second.
        with contextlib.suppress(KeyError, ZeroDivisionError):
            value = formula()
            if value is not None:
                found[name] = value
    return found


def table(results: dict) -> str:
    s, r = results["scenarios"], results["ratios"]
    lines = [
        "",
        "| scenario | Nuvio req/s (median, min–max) | baseline req/s | ratio (pairs' range) |",
        "|---|---|---|---|",
    ]

    def fmt(summary):
        return f"{summary['median']:,.0f} ({summary['min']:,.0f}–{summary['max']:,.0f})"

    for name, sides in s.items():
        if name.startswith("pgbench"):
            lines.append(f"| {name} (raw SQL, TPS) | | {fmt(sides['pgbench'])} | |")
            continue
        nuvio = fmt(sides["nuvio"])
        base = fmt(sides["baseline"]) if "baseline" in sides else ""
        ratio = ""
        if base:
            paired = results["paired_ratios"][name]
            ratio = (
                f"{sides['nuvio']['median'] / sides['baseline']['median']:.2f}× "
                f"(pairs {paired['min']:.2f}–{paired['max']:.2f})"
            )
        elif name == "queue_poll" and "queue_poll_vs_cached_list" in r:
            paired = results["paired_ratios"]["queue_poll_vs_cached_list"]
            cpu = results["paired_ratios"]["queue_poll_cpu_vs_cached_list"]
            ratio = (
                f"{r['queue_poll_vs_cached_list']:.2f}× the cached list's "
                f"{fmt(sides['list_cached'])} (pairs {paired['min']:.2f}–{paired['max']:.2f}); "
                f"server CPU per request {cpu['median']:.2f}× the list's "
                f"(pairs {cpu['min']:.2f}–{cpu['max']:.2f})"
            )
        elif name == "multi_reserve_32" and "multi_vs_hot_reserve_32" in r:
            paired = results["paired_ratios"]["multi_vs_hot_reserve_32"]
            ratio = (
                f"{r['multi_vs_hot_reserve_32']:.2f}× hot_reserve_32's Nuvio "
                f"(pairs {paired['min']:.2f}–{paired['max']:.2f})"
            )
        extra = f", p95 {sides['nuvio_p95_ms']['median']:.1f} ms" if "nuvio_p95_ms" in sides else ""
        if "web_cpu_us" in sides:
            extra += (
                f"; CPU per request: web {sides['web_cpu_us']['median'] / 1000:.2f} ms, "
                f"PostgreSQL {sides['db_cpu_us']['median'] / 1000:.2f} ms"
            )
        lines.append(f"| {name} | {nuvio}{extra} | {base} | {ratio} |")
    if results.get("replica_reads"):
        lines.append(replica_reads.table_line(results["replica_reads"]))
    for i, run in enumerate(results["sellout"], 1):
        lines.append(
            f"| sell-out #{i} | {run['holds']} holds of {SELLOUT_CAPACITY}, "
            f"sold out in {run['seconds_to_sell_out']:.2f} s, statuses {run['statuses']} | | |"
        )
    m = results.get("memory")
    if m:
        lines.append(
            f"| memory | RSS {sum(m['rss_before_kib']) // 1024} → "
            f"{sum(m['rss_after_kib']) // 1024} MiB over {m['requests']:,} requests "
            f"({m['growth']:+.1%}) | | |"
        )
    lines += ["", "| target | measured | goal |", "|---|---|---|"]
    goals = [
        ("hot reserve vs baseline, 32 conns", "hot_reserve_vs_baseline_32", "≥ 1.0×"),
        ("hot reserve vs baseline, 128 conns", "hot_reserve_vs_baseline_128", ""),
        (
            "two-item reserve with a code / hot reserve, 32 conns (info)",
            "multi_vs_hot_reserve_32",
            "",
        ),
        ("hot / spread reserve (Nuvio)", "hot_vs_spread_nuvio", "≥ 0.9"),
        ("cached list vs baseline JSON hello", "cached_list_vs_baseline_hello", "≥ 0.5×"),
        ("queue poll vs cached event list (Nuvio)", "queue_poll_vs_cached_list", "> 1.0×"),
        (
            "queue poll's server CPU per request vs the cached list's",
            "queue_poll_cpu_vs_cached_list",
            "< 1.0×",
        ),
        ("flash sale: admissions in place order", "queue_sale_in_order", "100 %"),
        ("event page vs baseline 20-row list", "detail_vs_baseline_20_rows", "≥ 1.0×"),
        (
            "50,000-seat map (gzip) vs baseline 20-row list",
            "seats_50k_vs_baseline_20_rows",
            "≥ 1.0×",
        ),
        ("search p95, 100k vs 1k events", "search_p95_100k_vs_1k", "≤ 1.5×"),
        ("broad search p95, 100k vs 1k (info)", "search_broad_p95_100k_vs_1k", ""),
        ("web worker RSS growth", "rss_growth", "≤ 5 %"),
        (
            "read mix with a replica / on the primary alone, req/s (info)",
            "replica_reads_vs_primary_only",
            "",
        ),
        ("reads served by the replica, of the statements (info)", "replica_reads_share", ""),
    ]
    for label, key, goal in goals:
        if key not in r:
            continue
        value = r[key]
        if "RSS" in label:
            shown = f"{value:+.1%}"
        elif "place order" in label or "served by the replica" in label:
            shown = f"{value:.2%}"
        else:
            shown = f"{value:.2f}"
        lines.append(f"| {label} | {shown} | {goal} |")
    if results.get("queue_sale"):
        lines.append(queue_sale.table(results["queue_sale"]))
    if results.get("replica_reads"):
        lines.append(replica_reads.table(results["replica_reads"]))
    lines.append(
        f"\n5xx responses: {results['errors_5xx']}; non-201 reserve answers: "
        f"{results['reserve_non_201']}; checks: {results['checks']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
