"""The same read mix with and without a read replica, and the share of the
reads that the replica served.

    python bench/replica_reads.py [--duration 6] [--reps 3] [--workers 4] [--smoke]
    python bench/run.py --only replica_reads     # as a step of the benchmark

What it does:

1. A PostgreSQL primary and a streaming replica of it, built from PostgreSQL's
   binaries in a temporary folder (``nuvio.tests.replication``: ``initdb``,
   ``pg_basebackup -R``; as the ``postgres`` user when run as root), on free
   ports from ``--first-port`` (10 ports looked at), both loading
   ``pg_stat_statements``. The primary is migrated and given a catalog
   through it: ``EVENTS`` published events, each with its ticket type (the
   benchmark's own catalog builder, bench/run.py), and ``USERS`` users with
   API tokens; then the replica replays all of it.
2. Nuvio twice, side by side, with the same production settings (gunicorn
   sync workers, Redis, read throttles raised as bench/run.py raises them),
   each with its own cache prefix: one on the primary alone, the other with
   ``DATABASE_REPLICA_URLS`` naming the replica (read as a role that may only
   read), the lag bound and sticky window at their defaults.
3. wrk sends each the same read mix (bench/lua/get_signed.lua), one after the
   other, ``--reps`` times: list pages (plain, by city, by category),
   searches, event pages and ticket types, each path with a unique query
   parameter so that no list page comes from the cache; one request in ten
   is signed in with an API token (those stay on the primary, as do the
   reads of the session and token). An anonymous event page is still
   answered from its shared cached page, brought up to date from one
   precompiled query on the primary (docs/operations.md, "Read replicas"):
   what the share below shows.
4. Measured for each run: requests per second, p50/p95/p99 latency and the
   answers that were not 2xx (wrk), the statements each cluster ran for the
   application's database, with the rows they returned and the buffer
   blocks they touched (``pg_stat_statements``, counted before and after the
   run), and the CPU time each cluster and the web workers used. The share
   that the replica served is replica / (primary + replica) of those
   statements (rows and blocks alongside); with the primary alone it is 0.

Nothing is asserted on the figures. Both clusters and the load generator
share the same machine, so a replica cannot add capacity here: the runs show
what the routing costs and how much of the database work moves off the
primary. The clusters run with ``fsync=off``, as in the replica tests, and
128 MB of shared buffers each.

Run alone, it prints the table (and writes the figures with ``--output``);
bench/run.py keeps them under ``replica_reads`` in bench/results.json. Every
process it starts and its temporary folder are removed on the way out, on
Ctrl-C or SIGTERM too.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from nuvio.tests import replication  # noqa: E402 (after the path is set)

EVENTS = 2_000
USERS = 50
PATH_LINES = 2_000
CONNECTIONS = 32
FIRST_PORT = 55440
PORTS_LOOKED_AT = 10
SCRIPT = "get_signed.lua"
SIDES = ("primary_only", "with_replica")
# The read mix, in shares of the requests. "signed_in" is any of the others
# with an API token.
MIX = {"list": 25, "search": 15, "event": 30, "ticket_types": 20, "signed_in": 10}
# Added to the replica tests' cluster settings: statement counts, and room for
# two apps' connections.
EXTRA_CONF = """
shared_buffers = 128MB
max_connections = 100
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.track_utility = off
"""
# The statements a cluster ran for the app's database (the counting itself left out).
STATEMENTS_SQL = """
SELECT s.userid, s.queryid, s.calls, s.rows, s.shared_blks_hit + s.shared_blks_read,
       left(regexp_replace(s.query, '\\s+', ' ', 'g'), 160)
FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'
"""

LOAD = """
import json, sys
import django
django.setup()
from django.contrib.auth.hashers import make_password
from django.db import connection
from rest_framework.authtoken.models import Token
from accounts.models import User

job = json.load(sys.stdin)
with connection.cursor() as cursor:
    for statement in job["sql"]:
        cursor.execute(statement)
password = make_password(None)
users = User.objects.bulk_create(
    [User(email=f"reader{i}@bench.test", name=f"Reader {i}", password=password)
     for i in range(job["users"])]
)
tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE")
print(json.dumps([t.key for t in tokens]))
"""


def missing() -> str | None:
    """Why the scenario cannot run here, or None."""
    reason = replication.missing()
    if reason:
        return reason
    if not shutil.which("wrk"):
        return "wrk is missing (apt-get install wrk)"
    return None


def _free_ports(first: int, count: int) -> list[int]:
    ports = []
    for port in range(first, first + PORTS_LOOKED_AT):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    if len(ports) < count:
        raise RuntimeError(f"{count} free ports needed in {first}-{first + PORTS_LOOKED_AT - 1}")
    return ports[:count]


def _cpu_seconds(pid: int) -> dict[int, float]:
    """User plus system CPU time of ``pid`` and of each of its children, by pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The fields after the command name (which may hold spaces):
            # state, parent, ..., utime, stime.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between the two readings (a process started between
    them counts whole; one that ended is lost)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class ReadsStack(replication.ReplicaStack):
    """The replica tests' primary and replica, with ``pg_stat_statements`` and
    the benchmark's catalog, and Nuvio served twice in front: on the primary
    alone and with the replica."""

    def __init__(self, root: Path, redis_url: str, *, first_port: int, workers: int):
        super().__init__(root, redis_url)
        primary, replica, *apps = _free_ports(first_port, 4)
        self.primary = replication.Cluster("primary", root / "primary", primary)
        self.replica = replication.Cluster("replica", root / "replica", replica)
        self.app_ports = dict(zip(SIDES, apps, strict=True))
        self.workers = workers
        self.cache_prefix = f"nuvio-replica-reads-{uuid.uuid4().hex[:8]}"
        self.servers: dict[str, subprocess.Popen] = {}

    @classmethod
    def open(cls, *, redis_url: str, first_port: int, workers: int) -> "ReadsStack":
        """Both clusters built, migrated and caught up (no app yet)."""
        root = Path(tempfile.mkdtemp(prefix="nuvio-replica-reads-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(root, "postgres", "postgres")
            stack = cls(root, redis_url, first_port=first_port, workers=workers)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        try:
            stack._build_clusters()
        except BaseException:
            stack.stop()
            raise
        return stack

    def _configure(self, cluster: replication.Cluster) -> None:
        super()._configure(cluster)
        with open(cluster.path / "postgresql.conf", "a") as file:
            file.write(EXTRA_CONF)

    def _setup_primary(self) -> None:
        super()._setup_primary()
        self.primary.sql("CREATE EXTENSION pg_stat_statements")

    # --- data ------------------------------------------------------------------------

    def load(self, events: int, users: int) -> dict:
        """``events`` published events with their ticket types and ``users``
        users with API tokens, through the primary; once the replica has
        replayed them, ``{"events": [ids], "tokens": [keys]}``."""
        import run as bench_run

        sql = [bench_run.catalog_sql(1, events), bench_run.GENERAL_ADMISSION_SQL]
        finished = subprocess.run(
            [sys.executable, "-c", LOAD],
            cwd=ROOT,
            env=self._app_env(replicas=False),
            input=json.dumps({"sql": sql, "users": users}),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"loading the catalog failed: {finished.stderr[-3000:]}")
        tokens = json.loads(finished.stdout.strip().splitlines()[-1])
        self.wait_replayed()
        return {"events": self.rows("SELECT id::text FROM events_event ORDER BY id"),
                "tokens": tokens}  # fmt: skip

    def rows(self, statement: str, cluster: replication.Cluster | None = None) -> list:
        """Every row of ``statement`` on ``cluster`` (the primary), a lone
        column as its value."""
        cluster = cluster or self.primary
        with psycopg.connect(
            host="127.0.0.1",
            port=cluster.port,
            user="postgres",
            dbname=replication.DATABASE,
            autocommit=True,
        ) as conn:
            found = conn.execute(statement).fetchall()
        return [row[0] if len(row) == 1 else row for row in found]

    # --- the two apps ----------------------------------------------------------------

    def serve(self) -> None:
        """Nuvio on the primary alone, and Nuvio with the replica, both up."""
        import run as bench_run

        shared = {
            key: bench_run.NUVIO_ENV[key]
            for key in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "NUVIO_THROTTLE_RATES",
                        "GUNICORN_MAX_REQUESTS", "NUVIO_LOG_LEVEL")
        }  # fmt: skip
        for side, port in self.app_ports.items():
            env = self._app_env(replicas=side == "with_replica")
            # The replica's lag bound and sticky window at their defaults.
            env.pop("NUVIO_REPLICA_MAX_LAG_SECONDS", None)
            env.pop("NUVIO_REPLICA_STICKY_SECONDS", None)
            env.update(
                shared,
                REDIS_URL=self.redis_url,
                NUVIO_CACHE_PREFIX=f"{self.cache_prefix}-{side}",
                WEB_CONCURRENCY=str(self.workers),
                GUNICORN_BIND=f"127.0.0.1:{port}",
            )
            log = open(self.root / f"{side}.log", "ab")  # noqa: SIM115 (the server writes it)
            self.servers[side] = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                 "nuvio.wsgi:application"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            log.close()
        for side in self.app_ports:
            replication.wait_until(
                lambda side=side: self._healthy(side), timeout=90, what=f"the {side} app"
            )

    def _healthy(self, side: str):
        server = self.servers[side]
        if server.poll() is not None:
            log = (self.root / f"{side}.log").read_text(errors="replace")
            raise RuntimeError(f"the {side} app exited: {log[-3000:]}")
        try:
            with urllib.request.urlopen(self.url(side, "/healthz"), timeout=5) as answer:
                health = json.loads(answer.read())
        except (OSError, ValueError):
            return None
        if side == "with_replica" and health.get("replicas", {}).get("replica_1") != "ok":
            return None
        return health

    def url(self, side: str, path: str) -> str:
        return f"http://127.0.0.1:{self.app_ports[side]}{path}"

    def server_pid(self, side: str) -> int:
        return self.servers[side].pid

    def stop(self) -> None:
        for server in self.servers.values():
            if server.poll() is None:
                server.send_signal(signal.SIGINT)  # a quick shutdown
        for server in self.servers.values():
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(f"{self.cache_prefix}-*"))
            if keys:
                client.delete(*keys)
        super().stop()

    # --- what the clusters did -------------------------------------------------------

    def postmaster_pid(self, cluster: replication.Cluster) -> int:
        return int((cluster.path / "postmaster.pid").read_text().split()[0])

    def reading(self, side: str) -> dict:
        """Each cluster's statements and CPU, and the app's CPU, now."""
        found = {"web": _cpu_seconds(self.server_pid(side))}
        for cluster in (self.primary, self.replica):
            statements = {}
            for userid, queryid, calls, rows, blocks, query in self.rows(STATEMENTS_SQL, cluster):
                statements[(userid, queryid)] = (calls, rows, blocks, query)
            found[cluster.name] = {
                "statements": statements,
                "cpu": _cpu_seconds(self.postmaster_pid(cluster)),
            }
        return found


# --- the read mix ------------------------------------------------------------------


def read_mix(events: list[str], tokens: list[str], lines: int, seed: int = 11):
    """``lines`` paths in the MIX's shares (a signed-in line carries a tab
    and a token) and the count of each kind."""
    import run as bench_run

    rng = random.Random(seed)
    pages = max(1, len(events) // 20)
    cities, categories = bench_run.CITIES, bench_run.CATEGORIES

    def anonymous(kind: str) -> str:
        if kind == "list":
            which = rng.random()
            if which < 0.5:
                return f"/api/events/?page={rng.randint(1, pages)}"
            if which < 0.75:
                page = rng.randint(1, max(1, pages // len(cities)))
                return f"/api/events/?city={rng.choice(cities)}&page={page}"
            page = rng.randint(1, max(1, pages // len(categories)))
            return f"/api/events/?category={rng.choice(categories)}&page={page}"
        if kind == "search":
            if rng.random() < 0.5:  # a broad word, or a name's two words
                return f"/api/events/?search={rng.choice(bench_run.WORDS_B).lower()}"
            words = rng.choice(bench_run.WORDS_A), rng.choice(bench_run.WORDS_B)
            return "/api/events/?search={}+{}".format(*words)
        if kind == "event":
            return f"/api/events/{rng.choice(events)}/"
        return f"/api/events/{rng.choice(events)}/ticket-types/"

    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=lines)
    paths = []
    for kind in kinds:
        if kind == "signed_in":
            other = rng.choices(list(MIX)[:-1], weights=list(MIX.values())[:-1])[0]
            paths.append(f"{anonymous(other)}\t{rng.choice(tokens)}")
        else:
            paths.append(anonymous(kind))
    counts = Counter(kinds)
    return paths, {kind: counts[kind] for kind in MIX}


def check_paths(stack: ReadsStack, paths: list[str]) -> None:
    """One path of each kind answers 200 on both apps (a harness check)."""
    seen, sample = set(), []
    for line in paths:
        path, _, token = line.partition("\t")
        kind = (path.split("?")[0].rstrip("/").rsplit("/", 1)[-1], "?" in path, bool(token))
        if kind not in seen:
            seen.add(kind)
            sample.append((path, token))
    for side in SIDES:
        for path, token in sample[:12]:
            request = urllib.request.Request(stack.url(side, path))
            if token:
                request.add_header("Authorization", f"Token {token}")
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            if status != 200:
                raise RuntimeError(f"{side}: GET {path} answered {status}")


# --- runs --------------------------------------------------------------------------


def _cluster_figures(before: dict, after: dict) -> dict:
    calls = rows = blocks = 0
    by_statement = []
    for key, (n, r, b, query) in after["statements"].items():
        was = before["statements"].get(key, (0, 0, 0, query))
        delta = (n - was[0], r - was[1], b - was[2])
        calls, rows, blocks = calls + delta[0], rows + delta[1], blocks + delta[2]
        if delta[0]:
            by_statement.append((delta[0], query))
    by_statement.sort(reverse=True)
    return {
        "statements": calls,
        "rows": rows,
        "blocks": blocks,
        "cpu_s": _cpu_delta(before["cpu"], after["cpu"]),
        "top": [{"calls": n, "query": query} for n, query in by_statement[:5]],
    }


def measure(stack: ReadsStack, side: str, paths_file: str, duration: float, connections: int):
    """One run of the mix against ``side``'s app, after a second's warm-up."""
    import run as bench_run

    env = {"BENCH_PATHS": paths_file, "BENCH_NONCE": "1"}
    port = stack.app_ports[side]
    bench_run.wrk(port, SCRIPT, 8, 1, env)
    before = stack.reading(side)
    result = bench_run.wrk(port, SCRIPT, connections, duration, env)
    after = stack.reading(side)
    statuses = result["statuses"]
    run = {key: result[key] for key in ("requests", "rps", "p50_ms", "p95_ms", "p99_ms", "5xx")}
    run["statuses"] = statuses
    run["non_2xx"] = sum(n for code, n in statuses.items() if not code.startswith("2"))
    run["socket_errors"] = sum(
        result[f"errors_{kind}"] for kind in ("connect", "read", "write", "timeout")
    )
    run["web_cpu_s"] = _cpu_delta(before["web"], after["web"])
    run["primary"] = _cluster_figures(before["primary"], after["primary"])
    run["replica"] = _cluster_figures(before["replica"], after["replica"])
    run["replica_share"] = {
        what: (
            run["replica"][what] / total
            if (total := run["replica"][what] + run["primary"][what])
            else None
        )
        for what in ("statements", "rows", "blocks")
    }
    return run


def _top(lists) -> list[dict]:
    """The most frequent statements of several runs' top lists, added up."""
    calls = Counter()
    for top in lists:
        for entry in top:
            calls[entry["query"]] += entry["calls"]
    return [{"calls": n, "query": query} for query, n in calls.most_common(5)]


def _summary(runs: list[dict]) -> dict:
    def spread(values):
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    requests = sum(r["requests"] for r in runs) or 1

    def per_request_ms(pick):
        return sum(pick(r) for r in runs) / requests * 1000

    shares = {
        what: [r["replica_share"][what] for r in runs if r["replica_share"][what] is not None]
        for what in ("statements", "rows", "blocks")
    }
    return {
        "rps": spread([r["rps"] for r in runs]),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p95_ms": statistics.median(r["p95_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "5xx": sum(r["5xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "statements": {
            name: sum(r[name]["statements"] for r in runs) for name in ("primary", "replica")
        },
        "statements_per_request": {
            name: sum(r[name]["statements"] for r in runs) / requests
            for name in ("primary", "replica")
        },
        "replica_share": {
            what: statistics.median(values) if values else 0.0 for what, values in shares.items()
        },
        "primary_top": _top(r["primary"]["top"] for r in runs),
        "cpu_ms_per_request": {
            "primary": per_request_ms(lambda r: r["primary"]["cpu_s"]),
            "replica": per_request_ms(lambda r: r["replica"]["cpu_s"]),
            "web": per_request_ms(lambda r: r["web_cpu_s"]),
        },
    }


def run(
    *,
    redis_url: str,
    workers: int = 4,
    duration: float = 6.0,
    reps: int = 1,
    smoke: bool = False,
    first_port: int = FIRST_PORT,
    connections: int = CONNECTIONS,
    log=print,
) -> dict:
    """Build the pair, run the mix without and with the replica ``reps``
    times (in that order each time); the figures."""
    events, users = (200, 10) if smoke else (EVENTS, USERS)
    started = time.time()
    log(f"replica reads: a primary and its replica on ports from {first_port}")
    stack = ReadsStack.open(redis_url=redis_url, first_port=first_port, workers=workers)
    try:
        log(f"replica reads: {events} events and {users} users with tokens, through the primary")
        data = stack.load(events, users)
        paths, mix = read_mix(data["events"], data["tokens"], PATH_LINES)
        paths_file = stack.root / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        log(f"replica reads: two apps of {workers} sync workers, on the primary / with the replica")
        stack.serve()
        check_paths(stack, paths)
        (version,) = stack.primary.sql("SHOW server_version")
        runs: dict = {side: [] for side in SIDES}
        for rep in range(reps):
            for side in SIDES:
                log(f"replica reads: {side}, run {rep + 1}/{reps}, {duration:.0f} s")
                runs[side].append(measure(stack, side, str(paths_file), duration, connections))
    finally:
        stack.stop()
    return {
        "events": events,
        "users": users,
        "mix": mix,
        "workers": workers,
        "connections": connections,
        "duration_s": duration,
        "reps": reps,
        "postgres": version,
        "elapsed_s": round(time.time() - started, 1),
        **{side: _summary(side_runs) for side, side_runs in runs.items()},
        "runs": runs,
    }


def errors_5xx(facts: dict | None) -> int:
    if not facts or "skipped" in facts:
        return 0
    return sum(facts[side]["5xx"] for side in SIDES)


def table_line(facts: dict) -> str:
    """bench/run.py's row for the scenario table."""
    if "skipped" in facts:
        return f"| replica_reads | skipped: {facts['skipped']} | | |"
    alone, replica = facts["primary_only"], facts["with_replica"]
    return (
        f"| replica_reads (primary only → with a replica) | {alone['rps']['median']:,.0f} → "
        f"{replica['rps']['median']:,.0f}, p95 {alone['p95_ms']:.1f} → "
        f"{replica['p95_ms']:.1f} ms | | {replica['replica_share']['statements']:.0%} of the "
        "statements on the replica |"
    )


def table(facts: dict) -> str:
    """The two runs side by side, in Markdown."""
    if "skipped" in facts:
        return f"\nRead replica: skipped ({facts['skipped']})"
    alone, replica = facts["primary_only"], facts["with_replica"]

    def rps(side):
        s = side["rps"]
        return f"{s['median']:,.0f} ({s['min']:,.0f}–{s['max']:,.0f})"

    def latency(side):
        return f"{side['p50_ms']:.1f} / {side['p95_ms']:.1f} / {side['p99_ms']:.1f} ms"

    def statements(side):
        per = side["statements_per_request"]
        return (
            f"{side['statements']['primary']:,} / {side['statements']['replica']:,} "
            f"({per['primary']:.2f} / {per['replica']:.2f} a request)"
        )

    def share(side):
        s = side["replica_share"]
        return f"{s['statements']:.1%}; {s['rows']:.1%}; {s['blocks']:.1%}"

    def cpu(side):
        c = side["cpu_ms_per_request"]
        return f"{c['primary']:.2f} / {c['replica']:.2f} / {c['web']:.2f} ms"

    rows = [
        ("req/s (median, min–max)", rps(alone), rps(replica)),
        ("latency p50 / p95 / p99 (medians)", latency(alone), latency(replica)),
        ("requests; non-2xx; 5xx",
         f"{alone['requests']:,}; {alone['non_2xx']}; {alone['5xx']}",
         f"{replica['requests']:,}; {replica['non_2xx']}; {replica['5xx']}"),
        ("statements, primary / replica", statements(alone), statements(replica)),
        ("served by the replica: statements; rows; buffer blocks", share(alone), share(replica)),
        ("CPU per request: primary / replica / web workers", cpu(alone), cpu(replica)),
    ]  # fmt: skip
    mix = ", ".join(f"{kind} {n}" for kind, n in facts["mix"].items())
    lines = [
        "",
        f"Read replica: the same read mix ({facts['events']:,} events; {PATH_LINES:,} paths: "
        f"{mix}; list pages uncached), {facts['workers']} sync workers, "
        f"{facts['connections']} connections, {facts['reps']} × {facts['duration_s']:.0f} s "
        f"each, PostgreSQL {facts['postgres']}, the clusters on this machine",
        "",
        "| | primary only | with a replica |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {a} | {b} |" for label, a, b in rows]
    top = replica["primary_top"][:3]
    if top:
        lines += ["", "Still on the primary with a replica (the most frequent statements):"]
        lines += [f"- {t['calls']:,} × `{t['query'][:110]}`" for t in top]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 6))
    )
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 4)))
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        help="the apps' Redis (their keys are prefixed, and removed at the end)",
    )
    parser.add_argument(
        "--first-port",
        type=int,
        default=FIRST_PORT,
        help=f"the clusters and apps take free ports among the {PORTS_LOOKED_AT} from here",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a small catalog, one 1 s run of each app"
    )
    parser.add_argument("--output", help="also write the figures to this JSON file")
    args = parser.parse_args()
    reason = missing()
    if reason:
        raise SystemExit(f"replica reads cannot run here: {reason}")
    # SIGTERM unwinds like Ctrl-C: every process and folder is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)

    try:
        facts = run(
            redis_url=args.redis_url,
            workers=args.workers,
            duration=1.0 if args.smoke else args.duration,
            reps=1 if args.smoke else args.reps,
            smoke=args.smoke,
            first_port=args.first_port,
            connections=args.connections,
            log=log,
        )
    except KeyboardInterrupt:
        log("interrupted: every process and folder of the run removed")
        return 130
    if args.output:
        Path(args.output).write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    print(table(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
