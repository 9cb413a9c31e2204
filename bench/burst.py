"""A burst of concurrent bookings against a running Nuvio, then an inventory check.

    python bench/burst.py --url http://127.0.0.1:8000 --users 400 --capacity 300 \
        --requests 2000 --concurrency 64

It prepares its data straight in the database the server uses (same
DATABASE_URL): users with API tokens and one published event. Then every
simulated user reserves 1-2 tickets (some pay, some cancel) over HTTP, as fast
as the concurrency allows. It prints the outcomes by status and error code,
runs `check_inventory`, and exits non-zero on any 5xx, any oversell or any
inventory mismatch.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")

CARD = "4242424242424242"


def prepare(users: int, capacity: int, max_per_user: int) -> tuple[str, list[str]]:
    import datetime as dt
    from decimal import Decimal

    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from events.models import Event, TicketType

    run = uuid.uuid4().hex[:8]
    password = make_password(None)
    people = User.objects.bulk_create(
        [User(email=f"burst-{run}-{i}@bench.test", name=f"Burst {i}", password=password)
         for i in range(users)]
    )  # fmt: skip
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in people])
    starts = timezone.now() + dt.timedelta(days=30)
    event = Event.objects.create(
        name=f"Burst {run}", venue_name="Bench Arena", city="Pune", starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3), capacity=capacity, price=Decimal("100.00"),
        status="published", max_tickets_per_user=max_per_user,
    )  # fmt: skip
    TicketType.objects.create(event=event, name="General admission", price=event.price)
    return str(event.pk), [t.key for t in tokens]


def call(url: str, token: str, method: str, path: str, body=None, key=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, {"error": {"code": f"non-json {payload[:60]!r}"}}
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return 0, {"error": {"code": f"connection: {exc}"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--capacity", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-per-user", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    event_id, tokens = prepare(args.users, args.capacity, args.max_per_user)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    outcomes: Counter = Counter()

    def one(i: int) -> None:
        token = tokens[i % len(tokens)]
        key = f"burst-{i}"
        status, body = call(
            args.url, token, "POST", "/api/bookings/",
            {"event": event_id, "quantity": rng.randint(1, 2)}, key,
        )  # fmt: skip
        label = f"reserve {status} {(body or {}).get('error', {}).get('code', '')}".strip()
        followup = None
        if status == 201:
            booking = body["id"]
            roll = rng.random()
            if roll < 0.5:
                followup = call(args.url, token, "POST", f"/api/bookings/{booking}/pay/",
                                {"card_number": CARD}, f"pay-{i}")  # fmt: skip
                followup = ("pay", *followup)
            elif roll < 0.6:
                followup = ("cancel", *call(args.url, token, "POST",
                                            f"/api/bookings/{booking}/cancel/"))  # fmt: skip
        with lock:
            outcomes[label] += 1
            if followup:
                name, code, fbody = followup
                err = (fbody or {}).get("error", {}).get("code", "") if code >= 400 else ""
                outcomes[f"{name} {code} {err}".strip()] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(one, range(args.requests)))
    elapsed = time.perf_counter() - started

    from django.core.management import call_command

    from events.models import Event

    event = Event.objects.get(pk=event_id)
    total = sum(outcomes.values())
    print(f"\n{total} requests in {elapsed:.1f} s ({total / elapsed:.0f} req/s), "
          f"concurrency {args.concurrency}")  # fmt: skip
    for label, count in sorted(outcomes.items()):
        print(f"  {label:40} {count}")
    print(f"event capacity {event.capacity}, tickets taken {event.tickets_taken}")
    server_errors = sum(c for label, c in outcomes.items() if " 5" in label or " 0 " in label)
    failed = server_errors > 0 or event.tickets_taken > event.capacity
    try:
        call_command("check_inventory", event=event_id)
    except Exception as exc:  # CommandError on any mismatch
        print(f"check_inventory: {exc}")
        failed = True
    print("RESULT:", "FAIL" if failed else "OK", f"(5xx or connection errors: {server_errors})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
