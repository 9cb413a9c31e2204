"""Chaos under load: faults injected into Nuvio's Procfile stack mid-burst.

    make chaos            # or: python bench/chaos.py [--only redis,kill_web]

It starts its own stack on its own PostgreSQL database (nuvio_chaos) and its
OWN redis-server (port 6390, started and stopped here; the shared Redis is
never touched): gunicorn with 2 sync workers, a Celery worker and beat, holds
of NUVIO_HOLD_SECONDS=20 so they lapse within a scenario. Users with tokens and
one event per scenario are bulk-inserted (as bench/run.py does).

Each scenario runs a burst of simulated buyers (threads, urllib, loopback
only; bounded in count and time): reserve 1-2 tickets with an Idempotency-Key,
then pay (half of them, also with a key), cancel (some) or leave the hold to
lapse; every fourth buyer also reads the event. Mid-burst one fault:

- kill_web:    SIGKILL one gunicorn worker (the master starts another);
- redis:       stop Redis for 10 s, then start it again (empty);
- workers:     stop the Celery worker and beat for longer than the hold time
               (holds must lapse lazily, and the next reserves get their
               tickets), then start them again;
- pg_terminate: pg_terminate_backend every connection of nuvio_chaos, three
               times, a second apart.

After each: buyers whose request failed retry it with the same key (as a
client should); then the checks: inventory_problems() empty, no booking lost
or duplicated (every 201's booking exists once; a booking nobody was told
about belongs to a request that errored, and its retry got it back), no
capacity stuck (once the holds lapsed, tickets_taken = confirmed tickets),
only documented answers (503 busy/unavailable only during the fault), and the
recovery time (from the fault clearing to the first request that ends as the
contract says, and no failure after it). Results: bench/chaos_results.json
and a table; exit 1 if any check fails.
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from run import wait_http  # bench/run.py: the benchmark's stack helpers

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG = "postgres://postgres@127.0.0.1:5432"
DB = "nuvio_chaos"
REDIS_PORT = 6390
WEB_PORT = 8300
HOLD_SECONDS = 20
BEAT_SECONDS = 15  # release-expired-holds runs this often (nuvio/celery.py)
USERS = 600
CARD = "4242424242424242"
DECLINED = "4000000000000002"
BASE = f"http://127.0.0.1:{WEB_PORT}"

ENV = {
    "DATABASE_URL": f"{PG}/{DB}",
    "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
    "DJANGO_SECRET_KEY": "chaos-only-secret-key-not-used-anywhere-else-0123456789",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "NUVIO_HOLD_SECONDS": str(HOLD_SECONDS),
    # One loopback IP stands for every buyer: raise the per-IP and read rates
    # (the per-user write rate stays, and no simulated buyer comes near it).
    "NUVIO_THROTTLE_RATES": "auth=100000/min,register=100000/min,read=10000000/min",
    "NUVIO_LOG_LEVEL": "WARNING",
    "GUNICORN_MAX_REQUESTS": "0",
    "WEB_CONCURRENCY": "2",
    "GUNICORN_BIND": f"127.0.0.1:{WEB_PORT}",
    "NUVIO_SITE_URL": BASE,
    # A request cannot outlive gunicorn's 30 s timeout, so a claim older than
    # that belonged to a killed worker: its key may then be retried.
    "NUVIO_IDEMPOTENCY_STALE_SECONDS": "30",
}
STALE_SECONDS = 30

OK_CONFLICTS = {
    "sold_out",
    "limit_exceeded",
    "booking_closed",
    "hold_expired",
    "invalid_state",
    "idempotency_conflict",
}
FAULT_CODES = {"busy", "unavailable"}


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def sh(*args, env=None, check=True, capture=False):
    return subprocess.run(
        args, env={**os.environ, **(env or {})}, check=check, cwd=ROOT, text=True,
        capture_output=capture,
    )  # fmt: skip


# --- processes -------------------------------------------------------------------


class Stack:
    """Its own redis-server, gunicorn, Celery worker and beat; logs in a temp dir."""

    def __init__(self):
        self.procs: dict[str, subprocess.Popen] = {}
        self.logdir = Path(tempfile.mkdtemp(prefix="nuvio-chaos-"))

    def _start(self, name, args, env=None):
        out = open(self.logdir / f"{name}.log", "a")  # noqa: SIM115 (lives with the process)
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **ENV, **(env or {})}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start_redis(self):
        self._start(
            "redis",
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
        )  # fmt: skip
        deadline = time.time() + 10
        while time.time() < deadline:
            ping = sh("redis-cli", "-p", str(REDIS_PORT), "ping", check=False, capture=True)
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def start_web(self):
        self._start("web", [str(Path(PY).with_name("gunicorn")), "nuvio.wsgi:application"])
        wait_http(f"{BASE}/healthz")

    def start_celery(self):
        celery = str(Path(PY).with_name("celery"))
        self._start(
            "worker", [celery, "-A", "nuvio", "worker", "--concurrency", "1", "--loglevel",
                       "WARNING", "--without-gossip", "--without-mingle"],
        )  # fmt: skip
        self._start(
            "beat", [celery, "-A", "nuvio", "beat", "--loglevel", "WARNING", "--schedule",
                     str(self.logdir / "beat-schedule")],
        )  # fmt: skip

    def stop(self, *names, sig=signal.SIGTERM):
        names = names or tuple(self.procs)
        for name in names:
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
        for name in names:
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def web_workers(self) -> list[int]:
        master = self.procs["web"].pid
        out = sh("pgrep", "-P", str(master), capture=True, check=False).stdout.split()
        return [int(pid) for pid in out]


# --- data ------------------------------------------------------------------------


def seed_users() -> list[str]:
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"c{i}@chaos.test", name=f"Chaos {i}", password=password) for i in range(USERS)]
    )
    tokens = [Token(user=u, key=Token.generate_key()) for u in users]
    return [t.key for t in Token.objects.bulk_create(tokens)]


def make_event(name: str, capacity: int) -> str:
    from django.utils import timezone

    from events.models import Event, TicketType

    starts = timezone.now() + dt.timedelta(days=30)
    event = Event.objects.create(
        name=name, venue_name="Chaos Hall", city="Pune", starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3), capacity=capacity, price=Decimal("100.00"),
        status="published", max_tickets_per_user=4,
    )  # fmt: skip
    TicketType.objects.create(event=event, name="General admission", price=event.price)
    return str(event.pk)


# --- the burst -------------------------------------------------------------------


def call(method: str, path: str, token: str | None = None, body=None, key=None, timeout=15):
    """``(status, json or None, started, ended)``; status 0 for a connection
    error or a timeout (the request may or may not have been carried out)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    started = time.time()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except (OSError, urllib.error.URLError):
        return 0, None, started, time.time()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = {"non_json": raw[:80].decode("latin-1")}
    return status, payload, started, time.time()


class Burst:
    """Simulated buyers until ``stop`` is set or ``max_buyers`` have gone."""

    def __init__(self, tokens, event_id, tag, seed, max_buyers, threads=16):
        self.tokens, self.event_id, self.tag = tokens, event_id, tag
        self.rng = random.Random(seed)
        self.max_buyers, self.threads = max_buyers, threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.log: list[dict] = []  # every request: kind, status, code, t0, t1, key, booking
        self.next_buyer = 0

    def record(self, kind, status, payload, t0, t1, key=None, body=None, token=None, path=None):
        code = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            code = payload["error"].get("code")
        elif isinstance(payload, dict) and "non_json" in payload:
            code = "non_json"
        entry = {
            "kind": kind, "status": status, "code": code, "t0": t0, "t1": t1, "key": key,
            "booking": payload.get("id") if status in (200, 201) and payload else None,
            "body": body, "token": token, "path": path,
        }  # fmt: skip
        with self.lock:
            self.log.append(entry)
        return entry

    def buyer(self, n: int) -> None:
        token = self.tokens[(n * 7919 + zlib.crc32(self.tag.encode())) % len(self.tokens)]
        with self.lock:
            roll, quantity, read = self.rng.random(), self.rng.choice((1, 1, 2)), n % 4 == 0
        if read:
            status, payload, t0, t1 = call("GET", f"/api/events/{self.event_id}/", token)
            self.record("read", status, payload, t0, t1)
        key = f"{self.tag}-r-{n}"
        body = {"event": self.event_id, "quantity": quantity}
        status, payload, t0, t1 = call("POST", "/api/bookings/", token, body, key)
        done = self.record("reserve", status, payload, t0, t1, key, body, token)
        if status != 201 or not done["booking"]:
            return
        booking = done["booking"]
        if roll < 0.5:
            card = DECLINED if roll < 0.05 else CARD
            pay_key, pay_body = f"{self.tag}-p-{n}", {"card_number": card}
            status, payload, t0, t1 = call(
                "POST", f"/api/bookings/{booking}/pay/", token, pay_body, pay_key
            )
            path = f"/api/bookings/{booking}/pay/"
            self.record("pay", status, payload, t0, t1, pay_key, pay_body, token, path)
        elif roll < 0.65:
            path = f"/api/bookings/{booking}/cancel/"
            status, payload, t0, t1 = call("POST", path, token)
            self.record("cancel", status, payload, t0, t1, token=token, path=path)

    def worker(self) -> None:
        while not self.stop.wait(0.01):  # a little think time between buyers
            with self.lock:
                if self.next_buyer >= self.max_buyers:
                    return
                n = self.next_buyer
                self.next_buyer += 1
            self.buyer(n)

    def run_in_background(self) -> threading.Thread:
        def run():
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                for _ in range(self.threads):
                    pool.submit(self.worker)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


# --- checks ----------------------------------------------------------------------


def ok_outcome(entry: dict) -> bool:
    """An answer the contract allows in normal operation."""
    status, code = entry["status"], entry["code"]
    if status in (200, 201, 202, 204):
        return True
    if status == 402:
        return code == "payment_declined"
    if status == 409:
        return code in OK_CONFLICTS
    return False


def fault_outcome(entry: dict) -> bool:
    """An answer allowed while a fault lasts: 503 busy/unavailable, or (for a
    killed worker or a dropped connection) no answer at all."""
    return (entry["status"] == 503 and entry["code"] in FAULT_CODES) or entry["status"] == 0


def retry_failed(burst: Burst) -> Counter:
    """Retry, with the same key and body, each reserve and pay whose answer was
    lost or a 503: the client's side of 'nothing lost'."""
    outcomes: Counter = Counter()
    for entry in list(burst.log):
        if entry["kind"] not in ("reserve", "pay") or ok_outcome(entry):
            continue
        if entry["status"] not in (0, 500, 502, 503, 504):
            continue
        path = "/api/bookings/" if entry["kind"] == "reserve" else entry["path"]
        deadline = entry["t0"] + STALE_SECONDS + 5
        while True:
            status, payload, t0, t1 = call(
                "POST", path, entry["token"], entry["body"], entry["key"]
            )
            retried = burst.record(
                f"{entry['kind']}_retry", status, payload, t0, t1, entry["key"], entry["body"]
            )
            # 409 idempotency_conflict: the first attempt still counts as running
            # (a killed worker's claim, until it is stale); 503: not back yet.
            again = status == 503 or (status == 409 and retried["code"] == "idempotency_conflict")
            if not again or time.time() > deadline:
                break
            time.sleep(1)
        outcomes[f"{status} {retried['code'] or ''}".strip()] += 1
    return outcomes


def wait_capacity_released(event_id: str, timeout: float) -> dict:
    """Wait until every hold has lapsed and been released by the system (the
    beat task, or a reserve); then tickets_taken must equal confirmed tickets."""
    from django.db import connection
    from django.db.models import Sum

    from bookings.models import Booking
    from events.models import Event

    deadline = time.time() + timeout
    while True:
        connection.close()  # a fresh snapshot, and survive pg_terminate_backend
        event = Event.objects.get(pk=event_id)
        confirmed = (
            Booking.objects.filter(event_id=event_id, status="confirmed").aggregate(
                n=Sum("quantity")
            )["n"]
            or 0
        )
        held = Booking.objects.filter(event_id=event_id, status="held").count()
        if (event.tickets_taken == confirmed and held == 0) or time.time() > deadline:
            return {
                "tickets_taken": event.tickets_taken,
                "confirmed_tickets": confirmed,
                "unreleased_holds": held,
                "capacity": event.capacity,
                "stuck": event.tickets_taken - confirmed,
            }
        time.sleep(1)


def booking_accounting(burst: Burst, event_id: str) -> dict:
    """Every 201 names a booking that exists (once: ids are keys); a booking
    nobody got a 201 for must belong to a reserve whose answer was lost."""
    from django.db import connection

    from bookings.models import Booking, IdempotencyRecord, Payment

    connection.close()
    told = {e["booking"] for e in burst.log if e["kind"].startswith("reserve") and e["booking"]}
    told_first = {e["booking"] for e in burst.log if e["kind"] == "reserve" and e["booking"]}
    existing = set(Booking.objects.filter(event_id=event_id).values_list("id", flat=True))
    existing = {str(b) for b in existing}
    keys = dict(
        IdempotencyRecord.objects.filter(resource_id__in=list(existing)).values_list(
            "resource_id", "key"
        )
    )
    keys = {str(k): v for k, v in keys.items()}
    errored_keys = {
        e["key"] for e in burst.log if e["kind"] == "reserve" and e["status"] in (0, 500, 502, 503)
    }
    orphans = existing - told_first
    unexplained = [b for b in orphans if keys.get(b) not in errored_keys]
    # A retry that answered 201 for a different booking than the first hold
    # would be a duplicate: one key, two bookings (the unique key forbids it).
    per_key = Counter(keys.values())
    # A booking charged twice: two payments kept (succeeded, not refunded).
    kept = Counter(
        Payment.objects.filter(booking__event_id=event_id, status="succeeded").values_list(
            "booking_id", flat=True
        )
    )
    # Payments whose answer was a 503 or lost, yet the booking is confirmed
    # (the failure came after the commit): the retry answers "already paid".
    unanswered_pays = {
        e["path"].split("/")[3]
        for e in burst.log
        if e["kind"] == "pay" and e["status"] in (0, 500, 502, 503)
    }
    confirmed_anyway = Booking.objects.filter(pk__in=unanswered_pays, status="confirmed").count()
    return {
        "pays_unanswered": len(unanswered_pays),
        "pays_unanswered_but_confirmed": confirmed_anyway,
        "bookings": len(existing),
        "answered_201": len(told_first),
        "missing_201_bookings": len(told - existing),
        "made_but_answer_lost": len(orphans),
        "lost_answers_recovered_by_retry": len(orphans & told),
        "unexplained": len(unexplained),
        "duplicated_keys": sum(1 for n in per_key.values() if n > 1),
        "charged_twice": sum(1 for n in kept.values() if n > 1),
        "reserves_errored": len(errored_keys),
    }


def inventory(event_id: str) -> list:
    from django.db import connection

    from bookings.inventory import inventory_problems

    connection.close()
    return [p["problems"] for p in inventory_problems([event_id])]


def summarize(burst: Burst, fault_start: float, fault_end: float, grace: float) -> dict:
    """Outcomes by status and code, what was refused outside the fault window,
    and the recovery time."""
    statuses: Counter = Counter()
    undocumented: Counter = Counter()
    for entry in burst.log:
        label = f"{entry['status']} {entry['code'] or ''}".strip()
        statuses[label] += 1
        if ok_outcome(entry):
            continue
        in_fault = entry["t0"] <= fault_end + grace and entry["t1"] >= fault_start
        if in_fault and fault_outcome(entry):
            continue
        undocumented[f"{entry['kind']} {label}"] += 1
    after = sorted((e for e in burst.log if e["t0"] >= fault_end), key=lambda e: e["t1"])
    first_ok = next((e for e in after if ok_outcome(e)), None)
    last_bad = max((e["t1"] for e in after if not ok_outcome(e)), default=None)
    recovery = (first_ok["t1"] - fault_end) if first_ok else None
    first_request = min(e["t0"] for e in burst.log) if burst.log else fault_start
    last_request = max(e["t1"] for e in burst.log) if burst.log else fault_end
    return {
        "requests": len(burst.log),
        "by_status": dict(sorted(statuses.items())),
        "during_fault": sum(
            1 for e in burst.log if e["t0"] <= fault_end and e["t1"] >= fault_start
        ),
        "failed_outside_fault": dict(undocumented),
        "recovery_s": round(recovery, 2) if recovery is not None else None,
        "last_failure_after_fault_s": round(last_bad - fault_end, 2) if last_bad else None,
        "fault_s": round(fault_end - fault_start, 2),
        "burst_s": round(last_request - first_request, 1),
    }


def healthz() -> tuple[int, dict | None]:
    status, payload, _t0, _t1 = call("GET", "/healthz", timeout=10)
    return status, payload


# --- scenarios -------------------------------------------------------------------


def scenario_kill_web(stack: Stack, burst: Burst, facts: dict) -> tuple[float, float]:
    """SIGKILL one web worker, three times 2 s apart (whatever it was doing);
    the master starts a new one each time. The fault clears with the last kill."""
    time.sleep(4)
    start = time.time()
    facts["killed_worker_pids"], facts["workers_back_after_s"] = [], []
    for _ in range(3):
        victim = stack.web_workers()[0]
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        facts["killed_worker_pids"].append(victim)
        deadline = time.time() + 15
        while time.time() < deadline and (
            len(stack.web_workers()) < 2 or victim in stack.web_workers()
        ):
            time.sleep(0.05)
        facts["workers_back_after_s"].append(round(time.time() - killed_at, 2))
        end = killed_at
        time.sleep(2)
    return start, end


def scenario_redis(stack: Stack, burst: Burst, facts: dict) -> tuple[float, float]:
    time.sleep(4)
    start = time.time()
    stack.stop("redis")
    time.sleep(2)
    facts["healthz_during"] = healthz()
    pages = {}
    for path in ("/", f"/events/{burst.event_id}/", "/accounts/login/", "/api/events/"):
        status, _payload, _t0, _t1 = call("GET", path, timeout=10)
        pages[path] = status
    facts["pages_during"] = pages
    time.sleep(max(0.0, 10 - (time.time() - start)))
    stack.start_redis()
    end = time.time()
    time.sleep(3)
    facts["healthz_after"] = healthz()
    return start, end


def scenario_workers(stack: Stack, burst: Burst, facts: dict) -> tuple[float, float]:
    time.sleep(3)
    start = time.time()
    stack.stop("worker", "beat")
    # Longer than a hold: every hold made so far lapses with no worker running.
    time.sleep(HOLD_SECONDS + 12)
    # The small event sold out before the workers stopped; any hold sold while
    # they are down got tickets that lapsed holds gave back, released lazily.
    reserves = [e for e in burst.log if e["kind"] == "reserve"]
    facts["sold_out_before_workers_stopped"] = sum(
        1 for e in reserves if e["code"] == "sold_out" and e["t1"] < start
    )
    resold = sorted(e["t1"] for e in reserves if e["status"] == 201 and e["t0"] >= start)
    facts["holds_sold_while_workers_down"] = len(resold)
    facts["first_resale_after_workers_stopped_s"] = round(resold[0] - start, 2) if resold else None
    from django.db import connection

    from bookings.models import Booking

    connection.close()
    facts["expired_lazily_by_reserves"] = Booking.objects.filter(
        event_id=burst.event_id, status="expired"
    ).count()
    stack.start_celery()
    end = time.time()
    return start, end


def scenario_pg_terminate(stack: Stack, burst: Burst, facts: dict) -> tuple[float, float]:
    from django.db import connection

    time.sleep(4)
    start = time.time()
    killed = []
    for _ in range(3):
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [DB],
            )
            killed.append(cursor.fetchone()[0])
        time.sleep(1)
    facts["connections_terminated"] = killed
    end = time.time()
    return start, end


# name: (fault, event capacity, seconds of load after the fault, grace after
# the fault for 503s). The big events never sell out, so the burst is all
# holds, payments and cancellations; the small one sells out at once and can
# only sell again once its holds lapse.
SCENARIOS = {
    "kill_web": (scenario_kill_web, 100_000, 8, 3.0),
    "redis": (scenario_redis, 100_000, 8, 3.0),
    "workers": (scenario_workers, 60, 6, 3.0),
    "pg_terminate": (scenario_pg_terminate, 100_000, 8, 3.0),
}


def run_scenario(name: str, stack: Stack, tokens: list[str], max_buyers: int) -> dict:
    func, capacity, tail_s, grace = SCENARIOS[name]
    event_id = make_event(f"Chaos {name} {uuid.uuid4().hex[:6]}", capacity)
    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    burst = Burst(tokens, event_id, tag, zlib.crc32(name.encode()), max_buyers)
    log(f"{name}: burst on event capacity {capacity}")
    thread = burst.run_in_background()
    facts: dict = {}
    fault_start, fault_end = func(stack, burst, facts)
    log(f"{name}: fault {fault_end - fault_start:.1f} s; load goes on {tail_s} s")
    time.sleep(tail_s)
    burst.stop.set()
    thread.join(timeout=60)
    result = summarize(burst, fault_start, fault_end, grace)
    result["retries"] = dict(retry_failed(burst))
    log(f"{name}: waiting for holds to lapse and be released")
    result["capacity"] = wait_capacity_released(event_id, HOLD_SECONDS + BEAT_SECONDS + 25)
    result["bookings"] = booking_accounting(burst, event_id)
    result["inventory_problems"] = inventory(event_id)
    result["facts"] = facts
    result["ok"] = verdict(name, result)
    return result


def verdict(name: str, r: dict) -> bool:
    b = r["bookings"]
    ok = (
        not r["inventory_problems"]
        and r["capacity"]["stuck"] == 0
        and r["capacity"]["unreleased_holds"] == 0
        and b["missing_201_bookings"] == 0
        and b["unexplained"] == 0
        and b["duplicated_keys"] == 0
        and b["charged_twice"] == 0
        and not r["failed_outside_fault"]
        and r["recovery_s"] is not None
        and r["recovery_s"] <= 10
    )
    if name == "workers":
        facts = r["facts"]
        ok = (
            ok
            and facts["sold_out_before_workers_stopped"] > 0
            and facts["holds_sold_while_workers_down"] > 0
            and facts["expired_lazily_by_reserves"] > 0
        )
    if name == "redis":
        during = r["facts"]["healthz_during"]
        ok = (
            ok
            and during[0] == 503
            and (during[1] or {}).get("cache") == "unavailable"
            and (during[1] or {}).get("broker") == "unavailable"
            and all(s == 200 for s in r["facts"]["pages_during"].values())
        )
    return ok


def table(results: dict) -> str:
    lines = [
        "| scenario | requests | outcomes by status | fault | recovery | checks |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["scenarios"].items():
        outcomes = ", ".join(f"{k}: {v}" for k, v in r["by_status"].items())
        b = r["bookings"]
        checks = (
            f"inventory {'clean' if not r['inventory_problems'] else 'PROBLEMS'}; "
            f"stuck {r['capacity']['stuck']}; answers lost {b['made_but_answer_lost']} "
            f"(recovered by retry {b['lost_answers_recovered_by_retry']}, unexplained "
            f"{b['unexplained']}); off-contract {sum(r['failed_outside_fault'].values())}"
        )
        lines.append(
            f"| {name} | {r['requests']} | {outcomes} | {r['fault_s']} s | "
            f"{r['recovery_s']} s | {'OK' if r['ok'] else 'FAIL'}: {checks} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Chaos under load against Nuvio's stack.")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--buyers", type=int, default=40_000, help="at most this many per scenario")
    parser.add_argument("--output", default=str(ROOT / "bench" / "chaos_results.json"))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)

    started = time.time()
    log(f"fresh database {DB}; own redis-server on {REDIS_PORT}")
    sh("dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB)
    sh("createdb", "-h", "127.0.0.1", "-U", "postgres", DB)
    os.environ.update(ENV)
    os.environ["DJANGO_SETTINGS_MODULE"] = "nuvio.settings"
    stack = Stack()
    results: dict = {"scenarios": {}}
    try:
        stack.start_redis()
        sh(PY, "manage.py", "migrate", "-v0", env=ENV)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        tokens = seed_users()
        log(f"stack: gunicorn 2 workers, Celery worker and beat; logs in {stack.logdir}")
        stack.start_web()
        stack.start_celery()
        for name in names:
            results["scenarios"][name] = run_scenario(name, stack, tokens, args.buyers)
            r = results["scenarios"][name]
            log(
                f"{name}: {'OK' if r['ok'] else 'FAIL'} - {r['requests']} requests, "
                f"recovery {r['recovery_s']} s, {r['by_status']}"
            )
    finally:
        stack.stop("web", "worker", "beat")
        stack.stop("redis")
    results["machine"] = {
        "cpus": os.cpu_count(),
        "web_workers": 2,
        "hold_seconds": HOLD_SECONDS,
        "elapsed_s": round(time.time() - started, 1),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "logs": str(stack.logdir),
    }
    results["ok"] = all(r["ok"] for r in results["scenarios"].values())
    Path(args.output).write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
    print(table(results))
    log(f"done in {results['machine']['elapsed_s']} s: {'OK' if results['ok'] else 'FAILED'}")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
