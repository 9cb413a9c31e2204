"""The deploy smoke's checks, against the Procfile stack that .ci/deploy_smoke started.

    python .ci/deploy_smoke.py --base-url URL --maildir DIR --stack-log FILE \\
        --database-url URL --staff-email EMAIL   (password: DJANGO_SUPERUSER_PASSWORD)

Standard library only: it runs in the smoke's tool virtualenv, never in the
app's. One PASS or FAIL line per check, and exit status 1 if any failed:

a) /healthz is 200 with the database, the cache and the broker ok;
b) a new user reserves, pays with the mock card and gets one ticket per seat;
c) a staff cancellation of the event (202) is carried out by the worker: the
   booking ends cancelled with a full refund;
d) the confirmation e-mail with the ticket codes reaches the SMTP sink;
e) a hold left unpaid is released by beat and the worker: its status is read
   straight from PostgreSQL (an API read could release it lazily), and the
   event is never touched again through the API;
and that web, worker and beat ran throughout, with no import error in their output.
"""

# ruff: noqa: S310, S603, S607  (loopback HTTP to the stack, psql with fixed arguments)

import argparse
import datetime as dt
import json
import mailbox
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from email.message import Message

CARD_OK = "4242424242424242"
HEALTHY = {"database": "ok", "cache": "ok", "broker": "ok"}
CANCEL_WITHIN = 20  # seconds for the worker to cancel and refund a booking
MAIL_WITHIN = 30  # seconds for the confirmation e-mail to reach the sink
# Beat releases lapsed holds every 15 s (nuvio/celery.py): a hold must be
# expired within one period of lapsing, plus a margin for a busy machine.
EXPIRE_AFTER_LAPSE_WITHIN = 30


class CheckFailed(Exception):
    pass


class Smoke:
    def __init__(self, args: argparse.Namespace):
        self.base = args.base_url.rstrip("/")
        self.maildir = args.maildir
        self.stack_log = args.stack_log
        self.database_url = args.database_url
        self.staff_email = args.staff_email
        self.staff_password = os.environ["DJANGO_SUPERUSER_PASSWORD"]
        self.results: list[tuple[str, bool]] = []

    # --- plumbing ------------------------------------------------------------

    def call(self, method: str, path: str, token: str | None = None, body=None):
        """``(status, payload)``; status 0 when the server could not be reached."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            return 0, {"connection_error": str(exc)}
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, {"non_json": raw[:200].decode("latin-1")}

    def expect(self, what: str, status: int, payload, wanted: int):
        if status != wanted:
            raise CheckFailed(f"{what}: expected {wanted}, got {status} {payload}")
        return payload

    def check(self, name: str, fn) -> bool:
        try:
            detail = fn()
        except Exception as exc:  # an answer of the wrong shape fails the check, not the run
            reason = str(exc) if isinstance(exc, CheckFailed) else f"unexpected {exc!r}"
            print(f"FAIL {name}: {reason}", flush=True)
            self.results.append((name, False))
            return False
        print(f"PASS {name}: {detail}", flush=True)
        self.results.append((name, True))
        return True

    def skip(self, name: str, reason: str) -> None:
        print(f"FAIL {name}: not run ({reason})", flush=True)
        self.results.append((name, False))

    def psql(self, sql: str) -> str:
        done = subprocess.run(
            ["psql", self.database_url, "-XtAq", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode:
            raise CheckFailed(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()

    def log_matches(self, pattern: str, within: float = 10) -> list[str]:
        """Lines of the stack's log matching ``pattern``, waiting a little for them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        while True:
            with open(self.stack_log, encoding="utf-8", errors="replace") as log:
                found = [line.rstrip() for line in log if regex.search(line)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def stopped(self) -> list[str]:
        """honcho's lines for Procfile processes that ended (it stops the rest)."""
        return self.log_matches(r"system\s*\| \S+ stopped \(rc=", within=0)

    # --- the checks ------------------------------------------------------------

    def healthz(self) -> str:
        deadline = time.monotonic() + 60  # gunicorn boots
        answered = None  # the last answer, once the web process answers at all
        while True:
            status, payload = self.call("GET", "/healthz")
            if (status, payload) == (200, HEALTHY):
                return f"200 {payload}"
            if status:
                if answered is None:  # the first connections are made within 15 s
                    deadline = min(deadline, time.monotonic() + 15)
                answered = f"{status} {payload}"
            stopped = self.stopped()
            if stopped or time.monotonic() > deadline:
                said = f"answered {answered}" if answered else "never answered"
                ended = f"; the stack stopped: {stopped[0]}" if stopped else ""
                raise CheckFailed(f"GET /healthz {said}{ended}")
            time.sleep(0.5)

    def setup(self) -> str:
        """A staff token, two published events and a customer."""
        status, payload = self.call(
            "POST",
            "/api/auth/token/",
            body={"email": self.staff_email, "password": self.staff_password},
        )
        self.staff = self.expect("staff token", status, payload, 200)["token"]
        starts = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        self.events = {}
        for tag in ("paid", "lapsing"):
            status, payload = self.call(
                "POST",
                "/api/events/",
                self.staff,
                {
                    "name": f"Deploy smoke ({tag})",
                    "venue_name": "Smoke Hall",
                    "city": "Pune",
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + dt.timedelta(hours=3)).isoformat(),
                    "capacity": 10,
                    "price": "250.00",
                    "status": "published",
                },
            )
            self.events[tag] = self.expect(f"create event {tag}", status, payload, 201)["id"]
        self.email = f"smoke-{secrets.token_hex(4)}@example.com"
        status, payload = self.call(
            "POST",
            "/api/auth/register/",
            body={"email": self.email, "password": secrets.token_urlsafe(16), "name": "Smoke"},
        )
        self.user = self.expect("register", status, payload, 201)["token"]
        return f"staff token, events {self.events}, user {self.email} registered"

    def make_lapsing_hold(self) -> str:
        status, payload = self.call(
            "POST", "/api/bookings/", self.user, {"event": self.events["lapsing"], "quantity": 1}
        )
        hold = self.expect("reserve (hold left to lapse)", status, payload, 201)
        if hold["status"] != "held":
            raise CheckFailed(f"the new booking is {hold['status']}, not held")
        self.hold_id = str(uuid.UUID(hold["id"]))
        self.hold_expires = dt.datetime.fromisoformat(hold["expires_at"])
        return f"booking {self.hold_id} held until {hold['expires_at']}, left unpaid"

    def book_pay_tickets(self) -> str:
        status, payload = self.call(
            "POST", "/api/bookings/", self.user, {"event": self.events["paid"], "quantity": 2}
        )
        booking = self.expect("reserve", status, payload, 201)
        self.booking_id = booking["id"]
        status, payload = self.call(
            "POST", f"/api/bookings/{self.booking_id}/pay/", self.user, {"card_number": CARD_OK}
        )
        paid = self.expect("pay", status, payload, 200)
        if paid["status"] != "confirmed":
            raise CheckFailed(f"paid booking is {paid['status']}, not confirmed")
        self.total_price = Decimal(paid["total_price"])
        status, payload = self.call("GET", f"/api/bookings/{self.booking_id}/tickets/", self.user)
        listed = self.expect("tickets", status, payload, 200)
        tickets = listed["results"] if isinstance(listed, dict) else listed
        self.codes = [ticket["code"] for ticket in tickets]
        if len(self.codes) != booking["quantity"] or not all(self.codes):
            raise CheckFailed(f"{len(self.codes)} tickets for {booking['quantity']} seats")
        return (
            f"registered, reserved 2, paid {paid['currency']} {paid['total_price']}, "
            f"{len(self.codes)} tickets listed"
        )

    def confirmation_mail(self) -> str:
        deadline = time.monotonic() + MAIL_WITHIN
        seen = 0
        while True:
            messages = list(mailbox.Maildir(self.maildir, create=False))
            seen = len(messages)
            for message in messages:
                subject = message.get("Subject", "")
                if self.email in message.get("To", "") and subject.startswith("Your tickets for"):
                    text = _plain_text(message)
                    missing = [code for code in self.codes if code not in text]
                    if missing:
                        raise CheckFailed(f"e-mail lacks ticket codes {missing}")
                    return f"'{subject}' to {self.email}, with the ticket codes"
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"no confirmation e-mail for {self.email} within {MAIL_WITHIN} s "
                    f"({seen} messages at the sink)"
                )
            time.sleep(0.5)

    def cancellation_by_worker(self) -> str:
        event_id = self.events["paid"]
        status, payload = self.call("POST", f"/api/events/{event_id}/cancel/", self.staff)
        self.expect("cancel event", status, payload, 202)
        started = time.monotonic()
        while True:
            status, booking = self.call("GET", f"/api/bookings/{self.booking_id}/", self.user)
            self.expect("read booking", status, booking, 200)
            if booking["status"] == "cancelled":
                break
            if time.monotonic() - started > CANCEL_WITHIN:
                raise CheckFailed(
                    f"booking still {booking['status']} {CANCEL_WITHIN} s after the cancellation"
                )
            time.sleep(0.5)
        took = time.monotonic() - started
        refund = booking["refund"] or {}
        if refund.get("percent") != 100 or Decimal(refund.get("amount", "-1")) != self.total_price:
            raise CheckFailed(f"refund {refund}, expected 100 % of {self.total_price}")
        ran = self.log_matches(
            r"worker\.\d+\s*\|.*bookings\.tasks\.cancel_event_bookings\[[^\]]+\] succeeded"
        )
        if not ran:
            raise CheckFailed("booking cancelled, but the worker's log shows no cancel task")
        return (
            f"202, booking cancelled after {took:.1f} s with refund {refund['amount']} "
            f"({refund['percent']} %, {refund['status']}); the worker ran the cancel task"
        )

    def hold_released_by_beat(self) -> str:
        deadline = self.hold_expires + dt.timedelta(seconds=EXPIRE_AFTER_LAPSE_WITHIN)
        sql = f"SELECT status FROM bookings_booking WHERE id = '{self.hold_id}'"  # noqa: S608 (a parsed UUID)
        while True:
            status = self.psql(sql)
            if status == "expired":
                break
            if status != "held":
                raise CheckFailed(f"the unpaid hold became {status!r}")
            if dt.datetime.now(dt.UTC) > deadline:
                raise CheckFailed(
                    f"hold still held {EXPIRE_AFTER_LAPSE_WITHIN} s after it lapsed "
                    "(is beat running?)"
                )
            time.sleep(1)
        late = (dt.datetime.now(dt.UTC) - self.hold_expires).total_seconds()
        freed = self.log_matches(r"worker\.\d+\s*\|.*release_expired_holds: \d+ tickets? freed")
        if not freed:
            raise CheckFailed("hold expired, but the worker's log shows no release by beat's job")
        return f"status expired in the database {late:.1f} s after it lapsed; worker: {freed[-1]}"

    def ran_throughout(self) -> str:
        if self.stopped():
            raise CheckFailed("; ".join(self.stopped()))
        return "web, worker and beat still running at the end"

    def no_import_errors(self) -> str:
        found = self.log_matches(r"ModuleNotFoundError|ImportError|No module named", within=0)
        if found:
            raise CheckFailed("; ".join(found[:5]))
        return "no import error in the web, worker and beat output"

    # --- the run ---------------------------------------------------------------

    def run(self) -> int:
        self.check("a) healthz", self.healthz)
        if not self.check("setup (staff token, events, customer)", self.setup):
            for name in ("b) book, pay, tickets", "c) event cancellation by the worker",
                         "d) confirmation e-mail", "e) lapsed hold released by beat"):  # fmt: skip
                self.skip(name, "setup failed")
        else:
            hold_made = self.check("hold left to lapse", self.make_lapsing_hold)
            if self.check("b) book, pay, tickets", self.book_pay_tickets):
                self.check("d) confirmation e-mail", self.confirmation_mail)
                self.check("c) event cancellation by the worker", self.cancellation_by_worker)
            else:
                self.skip("d) confirmation e-mail", "no paid booking")
                self.skip("c) event cancellation by the worker", "no paid booking")
            if hold_made:
                self.check("e) lapsed hold released by beat", self.hold_released_by_beat)
            else:
                self.skip("e) lapsed hold released by beat", "no hold")
        self.check("processes", self.ran_throughout)
        self.check("process logs", self.no_import_errors)
        failed = [name for name, ok in self.results if not ok]
        if failed:
            print(f"deploy smoke: FAILED ({len(failed)} of {len(self.results)} checks)")
            return 1
        print(f"deploy smoke: all {len(self.results)} checks passed")
        return 0


def _plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--stack-log", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--staff-email", required=True)
    return Smoke(parser.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
