"""A flash sale through the waiting room, and the same sale without it.

bench/run.py runs it (``--only queue_sale``) on its production stack: an
event with ``tickets`` tickets and its queue opening a few seconds after the
start; ``buyers`` simulated buyers (one user each) join the queue at random
times from before the opening to a few seconds after it, then each asks for
its place again when the answer's ``retry_after`` says (never sooner, with a
little jitter), and once admitted reserves 1 ticket (one buyer in ten: 2)
with an Idempotency-Key. A buyer between two polls holds no connection: the
requests in flight are capped (``connections``), each on a connection of its
own as gunicorn's sync workers close them. Busy (503) and throttled (429)
answers are retried after their Retry-After with the same key; a buyer told
``sold_out`` with fewer tickets left than it asked for asks for those. Once
a buyer is told the event is sold out, the sale is over: the buyers still
waiting leave at their next poll, as the waiting room's page would tell them.

Without the queue: the same buyers, the same quantities, on an event of the
same size without a waiting room, all reserving at once (as the sell-out
scenario does), each until it holds tickets or is refused.

Everything is measured from the answers and the database:

- admission order: the server admits places in order if, whenever some
  buyer is seen admitted, no buyer with a smaller place is seen waiting in
  an answer asked for later (the admitted places are a prefix of the place
  order at every moment). ``in_order`` is the share of admitted buyers for
  whom that holds; ``off_schedule`` counts answers that contradict the
  contract's clock (at time t the first admit_per_minute x (t - opens_at) /
  60 places are admitted);
- holds per second and the time to sell out: from the opening (without the
  queue: from the start of the burst) to the creation of the last hold;
- p50/p99 latency of joins, polls and reserves (from the connection to the
  last byte of the answer);
- oversold tickets and the inventory check (``inventory_problems``).
"""

import asyncio
import bisect
import datetime as dt
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

MAX_TRIES = 12  # attempts of one request that answers 503/429 or fails to connect


@dataclass
class Buyer:
    index: int
    token: str
    quantity: int
    join_at: float  # when it means to join (epoch seconds)
    joined: float | None = None  # when its join was answered
    joined_early: bool | None = None  # joined before the opening (no place yet)
    place: int | None = None
    places_seen: set = field(default_factory=set)
    admitted_seen: float | None = None  # first answer saying "admitted"
    outcome: str = "pending"  # held, refused, left, expired, error: ...
    reserved: float | None = None  # when its reserve was answered
    tickets: int = 0


@dataclass
class Log:
    # (buyer, sent, received, status, place) for every queue answer (join or poll)
    answers: list = field(default_factory=list)
    latencies: dict = field(default_factory=lambda: {"join": [], "poll": [], "reserve": []})
    # The same from the moment the buyer asked: with the wait for one of the
    # ``connections`` (where a crowd's requests would wait in the server's
    # accept queue instead).
    waited: dict = field(default_factory=lambda: {"join": [], "poll": [], "reserve": []})
    statuses: dict = field(
        default_factory=lambda: {"join": Counter(), "poll": Counter(), "reserve": Counter()}
    )


async def _http(host, port, method, path, headers, body=None):
    """One request on a new connection: ``(status, headers, body bytes)``."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        head.append("Content-Type: application/json")
    head.append(f"Content-Length: {len(payload)}")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        answer_headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        length = answer_headers.get("content-length")
        chunked = "chunked" in answer_headers.get("transfer-encoding", "").lower()
        if chunked:
            parts = []
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                parts.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        elif length is not None:
            data = await reader.readexactly(int(length))
        else:
            data = await reader.read()
    finally:
        writer.close()
    return status, answer_headers, data


def _json(data: bytes):
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def _error_code(payload) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return payload["error"].get("code")
    return None


class Sale:
    """One run of the buyers against one event, through the queue or not."""

    def __init__(self, *, host, port, event_id, buyers, connections, queued, tag, seed, deadline):
        self.host, self.port, self.event_id = host, port, event_id
        self.buyers, self.queued, self.tag = buyers, queued, tag
        self.rng = random.Random(seed)
        self.deadline = deadline
        self.slots = asyncio.Semaphore(connections)
        self.over = asyncio.Event()  # someone was told it is sold out
        self.log = Log()

    async def call(self, kind, buyer, method, path, body=None, key=None):
        """``(status, payload, headers, sent, received)``; status 0 when the
        connection failed (the request may or may not have been carried out)."""
        headers = {"Authorization": f"Token {buyer.token}"}
        if key:
            headers["Idempotency-Key"] = key
        asked = time.time()
        async with self.slots:
            sent = time.time()
            try:
                status, answer_headers, data = await asyncio.wait_for(
                    _http(self.host, self.port, method, path, headers, body), 60
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                self.log.statuses[kind]["connection_error"] += 1
                return 0, None, {}, sent, time.time()
            received = time.time()
        self.log.latencies[kind].append(received - sent)
        self.log.waited[kind].append(received - asked)
        payload = _json(data)
        code = _error_code(payload)
        self.log.statuses[kind][f"{status} {code}" if code else str(status)] += 1
        return status, payload, answer_headers, sent, received

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False at once if the sale is over meanwhile."""
        if self.over.is_set():
            return False
        try:
            await asyncio.wait_for(self.over.wait(), max(0.0, seconds))
        except TimeoutError:
            return True
        return False

    def backoff(self, headers) -> float:
        try:
            wait = float(headers.get("retry-after", 1))
        except ValueError:
            wait = 1.0
        return wait * (1 + self.rng.random() * 0.5)

    async def queue_call(self, buyer, method) -> dict | None:
        """Join (POST) or poll (GET) the queue; the answer's body, or None."""
        kind = "join" if method == "POST" else "poll"
        path = f"/api/events/{self.event_id}/queue/"
        for _ in range(MAX_TRIES):
            status, payload, headers, sent, received = await self.call(kind, buyer, method, path)
            if status in (200, 201) and isinstance(payload, dict):
                place = payload.get("position")
                self.log.answers.append((buyer.index, sent, received, payload.get("status"), place))
                if place is not None:
                    buyer.place = place
                    buyer.places_seen.add(place)
                if payload.get("status") == "admitted" and buyer.admitted_seen is None:
                    buyer.admitted_seen = received
                if kind == "join":
                    buyer.joined, buyer.joined_early = received, place is None
                return payload
            if status in (0, 429, 503):
                if time.time() > self.deadline:
                    break
                await asyncio.sleep(self.backoff(headers))
                continue
            buyer.outcome = f"error: {kind} {status} {_error_code(payload) or ''}".strip()
            return None
        if buyer.outcome == "pending":
            buyer.outcome = f"error: {kind} gave up"
        return None

    async def reserve(self, buyer) -> str:
        """Reserve until held, refused, sent back to the queue or given up:
        ``held``, ``refused``, ``queue_required`` or ``error: ...``."""
        quantity, attempt, tries = buyer.quantity, 1, 0
        while tries < MAX_TRIES:
            key = f"{self.tag}-{buyer.index}-{attempt}"
            body = {"event": self.event_id, "quantity": quantity}
            status, payload, headers, _, received = await self.call(
                "reserve", buyer, "POST", "/api/bookings/", body, key
            )
            code = _error_code(payload)
            buyer.reserved = received
            if status == 201:
                buyer.tickets = quantity
                return "held"
            if status in (0, 429, 503) or code == "idempotency_conflict":
                tries += 1  # the same key again: never two holds for one click
                await asyncio.sleep(self.backoff(headers))
                continue
            if code == "sold_out":
                left = ((payload or {}).get("error", {}).get("details") or {}).get("available")
                if isinstance(left, int) and 0 < left < quantity:
                    quantity, attempt = left, attempt + 1
                    continue
                self.over.set()
                return "refused"
            if code == "queue_required":
                return "queue_required"
            return f"error: reserve {status} {code or ''}".strip()
        return "error: reserve gave up"

    async def buyer_queued(self, buyer) -> None:
        await asyncio.sleep(max(0.0, buyer.join_at - time.time()))
        answer = await self.queue_call(buyer, "POST")
        sent_back = 0
        while answer is not None:
            status = answer.get("status")
            if status == "admitted":
                if self.over.is_set():
                    buyer.outcome = "left"
                    return
                outcome = await self.reserve(buyer)
                if outcome != "queue_required" or sent_back >= 3:
                    buyer.outcome = outcome
                    return
                sent_back += 1  # told to queue although admitted: ask again
                wait = 1.0
            elif status == "expired":
                buyer.outcome = "expired"
                return
            else:
                wait = float(answer.get("retry_after") or 1)
            if time.time() > self.deadline:
                buyer.outcome = "error: deadline"
                return
            # Never sooner than retry_after; up to 10 % (at most 2 s) later.
            if not await self.pause(wait + min(2.0, wait * 0.1) * self.rng.random()):
                buyer.outcome = "left"
                return
            answer = await self.queue_call(buyer, "GET")

    async def buyer_direct(self, buyer) -> None:
        await asyncio.sleep(max(0.0, buyer.join_at - time.time()))
        buyer.outcome = await self.reserve(buyer)

    async def run(self) -> None:
        work = self.buyer_queued if self.queued else self.buyer_direct
        await asyncio.gather(*(work(b) for b in self.buyers))


def make_buyers(tokens, *, start, window, seed) -> list[Buyer]:
    """One buyer per token, joining at a random time in [start, start + window]
    (all at ``start`` when window is 0); one in ten wants 2 tickets."""
    rng = random.Random(seed)
    return [
        Buyer(
            index=i,
            token=token,
            quantity=2 if rng.random() < 0.1 else 1,
            join_at=start + rng.random() * window,
        )
        for i, token in enumerate(tokens)
    ]


# --- figures ---------------------------------------------------------------------


def percentile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def latency(values: list[float], waited: list[float]) -> dict:
    """Percentiles of ``values`` (on the connection) and of ``waited`` (from
    the moment the buyer asked)."""
    return {
        "count": len(values),
        "p50_ms": percentile_ms(values, 0.5),
        "p99_ms": percentile_ms(values, 0.99),
        "max_ms": max(values) * 1000 if values else None,
        "asked_p50_ms": percentile_ms(waited, 0.5),
        "asked_p99_ms": percentile_ms(waited, 0.99),
    }


def admission_order(buyers: list[Buyer], answers: list, opens_at: float, per_minute: int) -> dict:
    """Whether the places were admitted in order, from the answers alone."""
    waiting = sorted((sent, place) for _, sent, _, status, place in answers
                     if status == "waiting" and place is not None)  # fmt: skip
    sent_times = [sent for sent, _ in waiting]
    # suffix_min[i]: the smallest place seen waiting in an answer asked for at
    # or after waiting[i] was.
    suffix_min = [0] * (len(waiting) + 1)
    suffix_min[-1] = float("inf")
    for i in range(len(waiting) - 1, -1, -1):
        suffix_min[i] = min(waiting[i][1], suffix_min[i + 1])
    admitted = [b for b in buyers if b.admitted_seen is not None and b.place is not None]
    out_of_order = 0
    for buyer in admitted:
        later = bisect.bisect_right(sent_times, buyer.admitted_seen)
        if suffix_min[later] < buyer.place:
            out_of_order += 1

    def due(t: float) -> int:  # places admitted by time t, by the contract's clock
        return max(0, int(per_minute * (t - opens_at) / 60)) if t >= opens_at else 0

    off_schedule = sum(
        1
        for _, sent, received, status, place in answers
        if place is not None
        and (
            (status == "admitted" and place > due(received))
            or (status == "waiting" and place <= due(sent))
        )
    )
    went_back = 0
    by_buyer: dict = {}
    for index, _sent, _, status, _ in sorted(answers, key=lambda a: a[1]):
        if by_buyer.get(index) == "admitted" and status == "waiting":
            went_back += 1
        by_buyer[index] = status
    places = [b.place for b in buyers if b.place is not None]
    # How long after its place was due each buyer saw it: the cost of polling
    # at retry_after instead of being told.
    lags = [b.admitted_seen - (opens_at + 60 * b.place / per_minute) for b in admitted]
    return {
        "admission_lag_s": {"p50": _quantile(lags, 0.5), "p99": _quantile(lags, 0.99)},
        "admitted_buyers": len(admitted),
        "out_of_order": out_of_order,
        "in_order": 1 - out_of_order / len(admitted) if admitted else None,
        "off_schedule_answers": off_schedule,
        "admitted_then_waiting": went_back,
        "places": len(places),
        "duplicate_places": len(places) - len(set(places)),
        "place_changed": sum(1 for b in buyers if len(b.places_seen) > 1),
    }


def database_facts(event_id: str, since: float) -> dict:
    """Holds of the event from the database: their count and tickets, the
    time from ``since`` to the last one, the busiest second; oversold tickets
    and the inventory check."""
    from django.db.models import Q, Sum

    from bookings.inventory import inventory_problems
    from bookings.models import Booking
    from events.models import Event

    event = Event.objects.get(pk=event_id)
    live = Booking.objects.filter(event=event).filter(Q(status="held") | Q(status="confirmed"))
    created = sorted(t.timestamp() for t in live.values_list("created_at", flat=True))
    tickets = live.aggregate(n=Sum("quantity"))["n"] or 0
    seconds = created[-1] - since if created else None
    per_second = Counter(int(t - since) for t in created)
    return {
        "capacity": event.capacity,
        "tickets_taken": event.tickets_taken,
        "holds": len(created),
        "tickets_held": tickets,
        "sold_out": tickets == event.capacity,
        "seconds_to_sell_out": seconds,
        "first_hold_s": created[0] - since if created else None,
        "holds_per_second": len(created) / seconds if seconds else None,
        "tickets_per_second": tickets / seconds if seconds else None,
        "peak_holds_in_a_second": max(per_second.values()) if per_second else 0,
        "oversold_tickets": max(0, tickets - event.capacity, event.tickets_taken - event.capacity),
        "inventory_problems": len(inventory_problems(event_ids=[event_id])),
    }


def summary(sale: Sale, *, since: float, elapsed: float) -> dict:
    log, buyers = sale.log, sale.buyers
    five = sum(n for s in log.statuses.values() for code, n in s.items() if code.startswith("5"))
    outcomes = Counter(b.outcome for b in buyers)
    facts = {
        "buyers": len(buyers),
        "elapsed_s": elapsed,
        "outcomes": dict(outcomes),
        "refused": outcomes["refused"],
        "buyer_errors": sum(n for o, n in outcomes.items() if o.startswith("error")),
        "statuses": {kind: dict(c) for kind, c in log.statuses.items() if c},
        "reserve": latency(log.latencies["reserve"], log.waited["reserve"]),
        "5xx": five,
        **database_facts(sale.event_id, since),
    }
    if sale.queued:
        joined = [b for b in buyers if b.joined is not None]
        waits = [b.admitted_seen - since for b in buyers if b.admitted_seen is not None]
        facts.update(
            join=latency(log.latencies["join"], log.waited["join"]),
            poll=latency(log.latencies["poll"], log.waited["poll"]),
            joined=len(joined),
            joined_before_opening=sum(1 for b in joined if b.joined_early),
            last_join_s=max(b.joined for b in joined) - since if joined else None,
            polls_per_second=len(log.latencies["poll"]) / elapsed if elapsed else None,
            polls_per_buyer=len(log.latencies["poll"]) / len(buyers),
            admitted_seen_s={"p50": _quantile(waits, 0.5), "p99": _quantile(waits, 0.99)},
        )
    return facts


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --- the two sales ---------------------------------------------------------------


def sale_event(name: str, tickets: int, *, queue: dict | None = None) -> str:
    """A published one-type event of ``tickets`` tickets; with ``queue``
    (``opens_at, admit_per_minute, pass_minutes``) its waiting room enabled."""
    from django.utils import timezone

    from events.models import Event, TicketType

    starts = timezone.now() + dt.timedelta(days=45)
    fields = {}
    if queue:
        fields = {
            "queue_enabled": True,
            "queue_opens_at": dt.datetime.fromtimestamp(queue["opens_at"], tz=dt.UTC),
            "queue_admit_per_minute": queue["admit_per_minute"],
            "queue_pass_minutes": queue["pass_minutes"],
        }
    event = Event.objects.create(
        name=name, venue_name="Bench Stadium", city="Mumbai", starts_at=starts,
        ends_at=starts + dt.timedelta(hours=3), capacity=tickets, price=Decimal("1499.00"),
        status="published", max_tickets_per_user=4, **fields,
    )  # fmt: skip
    TicketType.objects.create(event=event, name="General admission", price=event.price)
    return str(event.pk)


def run(
    *,
    host: str,
    port: int,
    tokens: list[str],
    tickets: int,
    admit_per_minute: int,
    connections: int = 128,
    open_delay: float = 3.0,
    join_window: float = 8.0,
    pass_minutes: int = 15,
    max_seconds: float = 150.0,
    seed: int = 7,
    log=print,
) -> dict:
    """The sale through the queue, then the same sale without it; their figures."""
    start = time.time() + 1.0
    opens_at = start + open_delay
    tag = f"qs{int(start)}"
    queued_event = sale_event(
        "Stadium Flash Sale (queue)",
        tickets,
        queue={
            "opens_at": opens_at,
            "admit_per_minute": admit_per_minute,
            "pass_minutes": pass_minutes,
        },
    )
    log(
        f"queue sale: {len(tokens)} buyers join from {open_delay:.0f} s before the opening "
        f"to {join_window - open_delay:.0f} s after it, {tickets} tickets, "
        f"{admit_per_minute} admitted a minute"
    )
    sale = Sale(
        host=host, port=port, event_id=queued_event, connections=connections, queued=True,
        buyers=make_buyers(tokens, start=start, window=join_window, seed=seed), tag=tag,
        seed=seed, deadline=opens_at + max_seconds,
    )  # fmt: skip
    asyncio.run(sale.run())
    queued = summary(sale, since=opens_at, elapsed=time.time() - opens_at)
    queued["order"] = admission_order(sale.buyers, sale.log.answers, opens_at, admit_per_minute)
    queued["event"] = queued_event

    direct_event = sale_event("Stadium Flash Sale (no queue)", tickets)
    log(f"the same sale without the queue: {len(tokens)} buyers reserve at once")
    start = time.time() + 0.5
    sale = Sale(
        host=host, port=port, event_id=direct_event, connections=connections, queued=False,
        buyers=make_buyers(tokens, start=start, window=0, seed=seed), tag=f"{tag}-direct",
        seed=seed, deadline=start + max_seconds,
    )  # fmt: skip
    asyncio.run(sale.run())
    direct = summary(sale, since=start, elapsed=time.time() - start)
    direct["event"] = direct_event
    return {
        "buyers": len(tokens),
        "tickets": tickets,
        "admit_per_minute": admit_per_minute,
        "pass_minutes": pass_minutes,
        "connections": connections,
        "open_delay_s": open_delay,
        "join_window_s": join_window,
        "queue": queued,
        "no_queue": direct,
    }


def table(facts: dict) -> str:
    """The two sales side by side, in Markdown."""
    q, d = facts["queue"], facts["no_queue"]

    def num(value, spec=",.0f", unit=""):
        return "–" if value is None else f"{value:{spec}}{unit}"

    def lat(figures):
        return (
            f"{num(figures['p50_ms'])} / {num(figures['p99_ms'], ',.0f', ' ms')} "
            f"(asked: {num(figures['asked_p99_ms'], ',.0f', ' ms')})"
        )

    order = q["order"]
    rows = [
        ("tickets held / capacity", f"{q['tickets_held']:,} / {q['capacity']:,}",
         f"{d['tickets_held']:,} / {d['capacity']:,}"),
        ("holds (bookings)", num(q["holds"]), num(d["holds"])),
        ("time to sell out (from the opening / the burst)",
         num(q["seconds_to_sell_out"], ".1f", " s"), num(d["seconds_to_sell_out"], ".1f", " s")),
        ("holds per second (mean; busiest second)",
         f"{num(q['holds_per_second'], '.1f')}; {q['peak_holds_in_a_second']}",
         f"{num(d['holds_per_second'], '.1f')}; {d['peak_holds_in_a_second']}"),
        ("reserve p50 / p99", lat(q["reserve"]), lat(d["reserve"])),
        ("reserve requests", num(q["reserve"]["count"]), num(d["reserve"]["count"])),
        (f"queue poll p50 / p99 ({num(q['poll']['count'])} polls, "
         f"{num(q['polls_per_second'])}/s)", lat(q["poll"]), ""),
        ("join p50 / p99", lat(q["join"]), ""),
        ("joined (before the opening); last join answered",
         f"{q['joined']:,} ({q['joined_before_opening']:,}); "
         f"{num(q['last_join_s'], '.1f', ' s')} after the opening", ""),
        ("admitted in place order", f"{num(order['in_order'], '.2%')} of "
         f"{order['admitted_buyers']:,} (off the clock: {order['off_schedule_answers']})", ""),
        ("admission seen after its place was due, p50 / p99",
         f"{num(order['admission_lag_s']['p50'], '.1f')} / "
         f"{num(order['admission_lag_s']['p99'], '.1f', ' s')}", ""),
        ("buyers refused / left without tickets",
         f"{q['refused']:,} / {q['outcomes'].get('left', 0):,}", f"{d['refused']:,} / 0"),
        ("oversold; inventory problems", f"{q['oversold_tickets']}; {q['inventory_problems']}",
         f"{d['oversold_tickets']}; {d['inventory_problems']}"),
        ("5xx", num(q["5xx"]), num(d["5xx"])),
    ]  # fmt: skip
    lines = [
        "",
        f"Flash sale: {facts['buyers']:,} buyers for {facts['tickets']:,} tickets, "
        f"{facts['admit_per_minute']:,} admitted a minute, {facts['connections']} requests "
        "in flight at most (p50 / p99 on the connection; asked: p99 from the moment the "
        "buyer asked, with the wait for a connection)",
        "",
        "| | through the queue | without the queue |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {a} | {b} |" for label, a, b in rows]
    return "\n".join(lines)
