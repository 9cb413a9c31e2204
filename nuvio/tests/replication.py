"""A PostgreSQL primary with a streaming replica, and Nuvio serving HTTP in front.

``ReplicaStack.start()`` builds both clusters from PostgreSQL's own binaries
(``initdb``, ``pg_ctl``, ``pg_basebackup -R``) in a temporary folder, on
free ports from 55432 up, tuned to start fast (``fsync=off``, small
buffers): the primary is migrated and given a staff account, then copied
into the replica, which streams from it. The application runs in a
subprocess (gunicorn, one sync worker: one process, so one view of the
replicas' health) with ``DATABASE_URL`` on the primary and
``DATABASE_REPLICA_URLS`` on the replica, where it logs in as ``reader``, a
role that may only read (as a production replica's role should). PostgreSQL
refuses to run as root: as root, its commands run as the ``postgres`` user.
"""

import datetime as dt
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("NUVIO_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_TOOLS = ("initdb", "pg_ctl", "pg_basebackup")
FIRST_PORT = 55432
DATABASE = "nuvio"
READER = "reader"
STAFF_EMAIL = "staff@example.com"
PASSWORD = "correct-horse-battery-staple"

CLUSTER_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
fsync = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_receiver_status_interval = 1s
"""

SETUP = f"""
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

call_command("migrate", interactive=False, verbosity=0)
staff = get_user_model().objects.create_user(
    email={STAFF_EMAIL!r}, password={PASSWORD!r}, name="Stella Staff", is_staff=True
)
print(Token.objects.create(user=staff).key)
"""


def missing() -> str | None:
    """Why the stack cannot be built here, or None."""
    absent = [tool for tool in PG_TOOLS if not (PG_BIN / tool).is_file()]
    if absent:
        return f"PostgreSQL's {', '.join(absent)} not found in {PG_BIN} (NUVIO_PG_BIN)"
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return "running as root, and runuser (to run PostgreSQL as postgres) is missing"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run PostgreSQL as"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int, first: int = FIRST_PORT) -> list[int]:
    ports = [port for port in range(first, first + 200) if _port_free(port)]
    return ports[:count]


def _any_free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout: float, what: str, step: float = 0.1):
    """Poll ``predicate`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


@dataclass
class Response:
    status: int
    text: str
    headers: dict[str, list[str]]

    def cookie(self, name: str) -> str | None:
        """The value this response sets for cookie ``name``, if any."""
        for header in self.headers.get("set-cookie", []):
            key, _, rest = header.partition("=")
            if key.strip() == name:
                return rest.split(";", 1)[0].strip('"')
        return None

    def json(self):
        return json.loads(self.text)


@dataclass
class Cluster:
    name: str
    path: Path
    port: int

    def url(self, user: str = "postgres") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{DATABASE}"

    def sql(self, statement: str, params=(), *, database: str = DATABASE):
        """The first row of ``statement``, run in autocommit."""
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        ) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchone() if cursor.description else None


class ReplicaStack:
    def __init__(self, root: Path, redis_url: str | None):
        self.root = root
        self.redis_url = redis_url
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        primary_port, replica_port = _free_ports(2)
        self.primary = Cluster("primary", root / "primary", primary_port)
        self.replica = Cluster("replica", root / "replica", replica_port)
        self.app_port = _any_free_port()
        self.base_url = f"http://127.0.0.1:{self.app_port}"
        self.cache_prefix = f"nuvio-replicas-{uuid.uuid4().hex[:8]}"
        self.log_path = root / "app.log"
        self.server: subprocess.Popen | None = None
        self.staff_token = ""
        self.max_lag_seconds = 3
        self.sticky_seconds = 5

    # --- building and tearing down ---------------------------------------------

    @classmethod
    def start(cls, *, redis_url: str | None) -> "ReplicaStack":
        root = Path(tempfile.mkdtemp(prefix="nuvio-replication-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        stack = cls(root, redis_url)
        try:
            stack._build()
        except BaseException:
            stack.stop()
            raise
        return stack

    def _pg(self, tool: str, *args: str) -> None:
        finished = subprocess.run(
            [*self.as_postgres, str(PG_BIN / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"{tool} failed: {finished.stdout}{finished.stderr}")

    def _configure(self, cluster: Cluster) -> None:
        conf = CLUSTER_CONF.format(port=cluster.port, sockets=self.root)
        with open(cluster.path / "postgresql.conf", "a") as file:
            file.write(conf)

    def _build(self) -> None:
        self._build_clusters()
        self._start_app()

    def _build_clusters(self) -> None:
        """The primary, migrated, and its replica, caught up."""
        primary, replica = self.primary, self.replica
        self._pg("initdb", "-D", str(primary.path), "-U", "postgres", "-A", "trust", "-N",
                 "--no-instructions")  # fmt: skip
        self._configure(primary)
        self.start_cluster(primary)
        # Copied while small, the replica then streams the migrations.
        self._pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(replica.path), "-R", "-X", "stream", "-c", "fast", "--no-sync",
                 "--no-manifest")  # fmt: skip
        with open(replica.path / "postgresql.conf", "a") as file:
            file.write(f"port = {replica.port}\n")
        self.start_cluster(replica)
        primary.sql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self._setup_primary()
        self.wait_replayed()

    def _setup_primary(self) -> None:
        finished = subprocess.run(
            [sys.executable, "-c", SETUP],
            cwd=ROOT,
            env=self._app_env(replicas=False),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"migrating the primary failed: {finished.stderr[-3000:]}")
        self.staff_token = finished.stdout.strip().splitlines()[-1]
        self.primary.sql(f"CREATE ROLE {READER} LOGIN")
        self.primary.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")

    def _app_env(self, *, replicas: bool) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "NUVIO_", "DATABASE_", "REDIS_", "PYTEST_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="nuvio.settings",
            DJANGO_SECRET_KEY="replica-stack-" + "0123456789" * 5,
            DATABASE_URL=self.primary.url(),
            NUVIO_CACHE_PREFIX=self.cache_prefix,
            NUVIO_MAIL_DIR=str(self.root / "mail"),
            NUVIO_THROTTLE_RATES="auth=10000/min,register=10000/hour,write=10000/min,read=100000/min",
            NUVIO_LOG_LEVEL="WARNING",
        )
        if replicas:
            env.update(
                DATABASE_REPLICA_URLS=self.replica.url(READER),
                NUVIO_REPLICA_MAX_LAG_SECONDS=str(self.max_lag_seconds),
                NUVIO_REPLICA_STICKY_SECONDS=str(self.sticky_seconds),
            )
            if self.redis_url:
                env["REDIS_URL"] = self.redis_url
        return env

    def _start_app(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the server writes it until stop)
        env = self._app_env(replicas=True)
        env.update(GUNICORN_BIND=f"127.0.0.1:{self.app_port}", WEB_CONCURRENCY="1")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "nuvio.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def up():
            if self.server.poll() is not None:
                raise RuntimeError(f"the app exited: {self.app_log()[-3000:]}")
            try:
                return self.get("/healthz").status == 200
            except OSError:
                return False

        wait_until(up, timeout=60, what="the app to answer /healthz")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)  # a quick shutdown
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        for cluster in (self.replica, self.primary):
            if (cluster.path / "postmaster.pid").exists():
                subprocess.run(
                    [*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(cluster.path),
                     "-m", "immediate", "-w", "stop"],
                    capture_output=True, timeout=60, check=False,
                )  # fmt: skip
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(f"{self.cache_prefix}:*"))
            if keys:
                client.delete(*keys)
        shutil.rmtree(self.root, ignore_errors=True)

    def app_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- the clusters --------------------------------------------------------------

    def start_cluster(self, cluster: Cluster) -> None:
        self._pg("pg_ctl", "-D", str(cluster.path), "-l", str(self.root / f"{cluster.name}.log"),
                 "-w", "-t", "60", "start")  # fmt: skip

    def stop_replica(self) -> None:
        self._pg("pg_ctl", "-D", str(self.replica.path), "-m", "fast", "-w", "stop")

    def start_replica(self) -> None:
        self.start_cluster(self.replica)

    def wait_replayed(self) -> None:
        """Until the replica has replayed everything the primary wrote so far."""
        (target,) = self.primary.sql("SELECT pg_current_wal_insert_lsn()::text")

        def replayed():
            (behind,) = self.replica.sql(
                "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) > 0", [target]
            )
            return not behind

        wait_until(replayed, timeout=30, what="the replica to replay the primary's WAL")

    def pause_replay(self) -> None:
        """Stop replaying, having just replayed a fresh commit: the replica's
        lag (now minus its last replayed commit's time) starts from about 0."""
        self.primary.sql("SELECT txid_current()")  # a commit record, stamped now
        self.wait_replayed()
        self.replica.sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        """Replay again, until caught up and the app knows it (a fresh check
        by ``/healthz`` is what the app's next reads go by)."""
        self.replica.sql("SELECT pg_wal_replay_resume()")
        self.wait_replayed()
        wait_until(lambda: self.replica_status() == "ok", timeout=30, what="the replica healthy")

    def replica_status(self) -> str:
        return self.get("/healthz").json()["replicas"]["replica_1"]

    # --- HTTP ----------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, token: str = "", body=None, cookies: str = ""
    ) -> Response:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json, text/html")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        if cookies:
            request.add_header("Cookie", cookies)
        try:
            answer = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as error:
            answer = error
        with answer:
            headers: dict[str, list[str]] = {}
            for name, value in answer.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            return Response(answer.status, answer.read().decode(), headers)

    def get(self, path: str, *, token: str = "", cookies: str = "") -> Response:
        return self.request("GET", path, token=token, cookies=cookies)

    def post(self, path: str, body, *, token: str = "") -> Response:
        return self.request("POST", path, token=token, body=body)

    # --- data, through the API (so through the primary) ----------------------------

    def create_event(self, **overrides) -> dict:
        start = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
        body = {
            "name": f"Replica Night {uuid.uuid4().hex[:8]}",
            "description": "Live quartet",
            "category": "music",
            "venue_name": "Blue Frog",
            "venue_address": "Mathuradas Mills",
            "city": "Mumbai",
            "country": "India",
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=3)).isoformat(),
            "capacity": 10,
            "price": "499.00",
            "status": "published",
            **overrides,
        }
        response = self.post("/api/events/", body, token=self.staff_token)
        assert response.status == 201, response.text
        return response.json()

    def register(self) -> str:
        """A new customer's token."""
        email = f"customer-{uuid.uuid4().hex[:8]}@example.com"
        response = self.post(
            "/api/auth/register/", {"email": email, "password": PASSWORD, "name": "Cara Customer"}
        )
        assert response.status == 201, response.text
        return response.json()["token"]
