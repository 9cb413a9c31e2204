"""The list and its search over a catalog of a few thousand events: the same
events, in the same order, with the same count and links as a plain reading
of API.md ("Events") computed here, and the query plans that keep the list
fast as the catalog grows."""

import datetime as dt
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking, BookingStatus
from events.models import Category, Event, EventStatus
from nuvio.testing import requires_postgres

pytestmark = pytest.mark.django_db

URL = "/api/events/"
SIZE = 2400
# fmt: off
WORDS_A = [
    "Amber", "Azure", "Bold", "Cosmic", "Crimson", "Golden", "Hidden", "Indigo", "Lunar",
    "Mighty", "Ocean", "Polar", "Radiant", "Rustic", "Secret", "Silver", "Sonic", "Summer",
    "Velvet", "Winter", "Zesty",
]
WORDS_B = [
    "Beats", "Carnival", "Circus", "Comedy", "Concert", "Dance", "Derby", "Expo", "Fest",
    "Gala", "Harmony", "Jazz", "Lights", "Marathon", "Melody", "Night", "Opera", "Party",
    "Quiz", "Raga", "Rock", "Show", "Talk", "Yoga",
]
CITIES = [
    "Mumbai", "Bengaluru", "Delhi", "Pune", "Chennai", "Hyderabad", "Kolkata", "Goa", "Jaipur",
    "Kochi",
]
# fmt: on
CATEGORIES = Category.values


@pytest.fixture
def catalog(django_user_model):
    """SIZE events named like the benchmark's catalog, with ties in start and
    price (the id decides), past ones, drafts and cancelled ones, full ones,
    waiting lists, and holds: lapsed (their tickets available again), live
    ones and expired ones (not counted)."""
    anchor = timezone.now().replace(minute=0, second=0, microsecond=0)
    events = []
    for i in range(SIZE):
        a, b, city = WORDS_A[i % 21], WORDS_B[(i // 21) % 24], CITIES[i % 10]
        starts_at = anchor + dt.timedelta(days=i % 400 - 60, hours=i % 3)
        status = EventStatus.PUBLISHED
        if i % 13 == 0:
            status = EventStatus.DRAFT
        elif i % 17 == 0:
            status = EventStatus.CANCELLED
        events.append(
            Event(
                name=f"{a} {b} {city} {i}",
                description=f"An evening of {WORDS_B[i * 7 % 24].lower()} and "
                f"{WORDS_A[i * 5 % 21].lower()} moments.",
                category=CATEGORIES[i % len(CATEGORIES)],
                venue_name=f"Hall {i % 97}",
                city=city,
                starts_at=starts_at,
                ends_at=starts_at + dt.timedelta(hours=3),
                capacity=100,
                tickets_taken=100 if i % 7 == 0 else i * 13 % 100,
                waitlist_waiting=3 if i % 19 == 0 else 0,
                price=Decimal(i * 37 % 50 * 100),
                currency="INR",
                status=status,
            )
        )
    Event.objects.bulk_create(events, batch_size=500)

    buyer = django_user_model.objects.create_user(
        email="buyer@example.com", password="x", name="Buyer"
    )
    now = timezone.now()
    holds = []
    for i, event in enumerate(events):
        if i % 14 == 0:  # full, with a lapsed hold: tickets available again
            holds.append((event, BookingStatus.HELD, now - dt.timedelta(hours=1), 1 + i % 3))
        if i % 10 == 3:  # not full, with a lapsed hold
            holds.append((event, BookingStatus.HELD, now - dt.timedelta(minutes=5), 2))
        if i % 21 == 0:  # a hold still running: not available
            holds.append((event, BookingStatus.HELD, now + dt.timedelta(hours=1), 4))
        if i % 28 == 7:  # released already: not counted twice
            holds.append((event, BookingStatus.EXPIRED, now - dt.timedelta(hours=2), 5))
    Booking.objects.bulk_create(
        Booking(
            user=buyer,
            event=event,
            quantity=quantity,
            subtotal=Decimal("0.00"),
            total_price=Decimal("0.00"),
            currency="INR",
            status=status,
            expires_at=expires_at,
        )
        for event, status, expires_at, quantity in holds
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE events_event")
            cursor.execute("ANALYZE bookings_booking")
    return events


# --- the reference: API.md read plainly --------------------------------------


def _rows() -> list[dict]:
    now = timezone.now()
    lapsed: dict = {}
    for booking in Booking.objects.filter(status=BookingStatus.HELD, expires_at__lte=now):
        lapsed[booking.event_id] = lapsed.get(booking.event_id, 0) + booking.quantity
    rows = []
    for event in Event.objects.all():
        free = event.capacity - event.tickets_taken + lapsed.get(event.pk, 0)
        rows.append(
            {
                "id": event.pk,
                "name": event.name,
                "status": event.status,
                "category": event.category,
                "city": event.city,
                "starts_at": event.starts_at,
                "price": event.price,
                "available": 0 if event.waitlist_waiting else free,
            }
        )
    return rows


def _ranks(search: str) -> dict:
    """Each matching event's rank, as PostgreSQL's ranked full text gives it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id, ts_rank(search_vector, websearch_to_tsquery('english', %s))
            FROM events_event
            WHERE search_vector @@ websearch_to_tsquery('english', %s)
            """,
            [search, search],
        )
        return dict(cursor.fetchall())


def _sorted(rows: list[dict], keys: list[tuple[str, bool]]) -> list[dict]:
    """``rows`` by ``keys`` ((field, descending) pairs), the id last."""
    rows = sorted(rows, key=lambda row: row["id"])
    for field, descending in reversed(keys):
        rows = sorted(rows, key=lambda row: row[field], reverse=descending)
    return rows


def _expected(rows: list[dict], params: dict, *, staff: bool = False) -> list:
    now = timezone.now()
    if not staff:
        rows = [r for r in rows if r["status"] == EventStatus.PUBLISHED]
        if "upcoming" not in params:
            rows = [r for r in rows if r["starts_at"] > now]
    if "status" in params:
        rows = [r for r in rows if r["status"] == params["status"]]
    if "upcoming" in params:
        upcoming = params["upcoming"] == "true"
        rows = [r for r in rows if (r["starts_at"] > now) == upcoming]
    if "category" in params:
        rows = [r for r in rows if r["category"] == params["category"]]
    if "city" in params:
        rows = [r for r in rows if r["city"].casefold() == params["city"].casefold()]
    if "starts_after" in params:
        after = dt.datetime.fromisoformat(params["starts_after"]).replace(tzinfo=dt.UTC)
        rows = [r for r in rows if r["starts_at"] >= after]
    if "starts_before" in params:
        before = dt.datetime.fromisoformat(params["starts_before"]).replace(tzinfo=dt.UTC)
        rows = [r for r in rows if r["starts_at"] < before]
    if "min_price" in params:
        rows = [r for r in rows if r["price"] >= Decimal(params["min_price"])]
    if "max_price" in params:
        rows = [r for r in rows if r["price"] <= Decimal(params["max_price"])]
    if "available" in params:
        available = params["available"] == "true"
        rows = [r for r in rows if (r["available"] > 0) == available]
    ranks = _ranks(params["search"]) if "search" in params else None
    if ranks is not None:
        rows = [r | {"rank": ranks[r["id"]]} for r in rows if r["id"] in ranks]

    ordering = params.get("ordering")
    if ordering in ("name", "-name"):
        # The database's collation decides how names sort.
        ids = [r["id"] for r in rows]
        names = Event.objects.filter(pk__in=ids).order_by(ordering, "id")
        return list(names.values_list("id", flat=True))
    if ordering == "-available":
        keys = [("available", True), ("starts_at", False)]
    elif ordering:
        keys = [(ordering.lstrip("-"), ordering.startswith("-"))]
    elif ranks is not None:
        keys = [("rank", True), ("starts_at", False)]
    else:
        keys = [("starts_at", False)]
    return [r["id"] for r in _sorted(rows, keys)]


def _page_number(link: str | None) -> int | None:
    if link is None:
        return None
    return int(parse_qs(urlsplit(link).query).get("page", ["1"])[0])


def _assert_same(client, rows, params, *, staff=False, page_size=100, every_page=False):
    """The list's pages for ``params`` are the reference's, each with its count
    and links: the first two and the last, or every one following ``next``."""
    expected = [str(pk) for pk in _expected(rows, params, staff=staff)]
    last = max(1, -(-len(expected) // page_size))
    numbers = range(1, last + 1) if every_page else sorted({1, min(2, last), last})
    link = None
    for number in numbers:
        if link is None or not every_page:
            page = {"page": number} if number > 1 else {}
            link = URL + "?" + urlencode(params | {"page_size": page_size} | page)
        response = client.get(link)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == len(expected), params
        assert _page_number(body["previous"]) == (number - 1 if number > 1 else None), params
        assert _page_number(body["next"]) == (number + 1 if number < last else None), params
        start = (number - 1) * page_size
        got = [row["id"] for row in body["results"]]
        assert got == expected[start : start + page_size], (params, number)
        link = body["next"]


# --- the answers -------------------------------------------------------------

LIST_QUERIES = [
    {},
    {"ordering": "starts_at"},
    {"ordering": "-starts_at"},
    {"ordering": "price"},
    {"ordering": "-price"},
    {"ordering": "name"},
    {"ordering": "-name"},
    {"ordering": "-available"},
    {"available": "true"},
    {"available": "false"},
    {"available": "true", "ordering": "-available"},
    {"available": "false", "upcoming": "false"},
    {"category": "music", "min_price": "1000", "max_price": "3000"},
    {"city": "pune", "ordering": "-price"},
    {"upcoming": "false", "ordering": "-starts_at"},
]
STAFF_QUERIES = [
    {},
    {"status": "draft", "ordering": "price"},
    {"status": "cancelled", "available": "false"},
    {"upcoming": "true", "available": "true"},
]


def test_list_matches_the_contract_at_size(catalog, anon_api, staff_api):
    rows = _rows()
    for params in LIST_QUERIES:
        _assert_same(anon_api, rows, params)
    day = (timezone.now() + dt.timedelta(days=30)).date()
    window = {"starts_after": str(day), "starts_before": str(day + dt.timedelta(days=90))}
    _assert_same(anon_api, rows, window)
    # The page everyone asks for, and every page after it.
    _assert_same(anon_api, rows, {}, page_size=20, every_page=True)
    _assert_same(anon_api, rows, {"available": "true", "ordering": "-available"}, every_page=True)
    for params in STAFF_QUERIES:
        _assert_same(staff_api, rows, params, staff=True)


SEARCHES = [
    {"search": "Amber Beats"},
    {"search": "Bold Circus"},
    {"search": "Golden Derby"},
    {"search": "jazz"},
    {"search": "music"},
    {"search": "Mumbai"},
    {"search": '"silver gala"'},
    {"search": "jazz -mumbai"},
    {"search": "nothing-matches-this"},
    {"search": "jazz", "ordering": "price"},
    {"search": "jazz", "ordering": "-available"},
    {"search": "night", "available": "true"},
    {"search": "night", "available": "false"},
    {"search": "opera", "city": "Goa", "upcoming": "false"},
]
STAFF_SEARCHES = [{"search": "jazz"}, {"search": "Amber Beats", "status": "draft"}]


@requires_postgres
def test_search_matches_the_ranked_contract_at_size(catalog, anon_api, staff_api):
    rows = _rows()
    for params in SEARCHES:
        _assert_same(anon_api, rows, params, every_page=True)
        _assert_same(anon_api, rows, params, page_size=20)
    for params in STAFF_SEARCHES:
        _assert_same(staff_api, rows, params, staff=True, every_page=True)


# --- the plans ---------------------------------------------------------------


def _list_queries(client, params: dict) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "events_event" in q["sql"]]


def _plan(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@requires_postgres
def test_available_reads_lapsed_holds_only_for_full_events(catalog, anon_api):
    # ``available`` counts lapsed holds (a subquery per event): only an event
    # that is full with no one waiting needs it; the others decide by their
    # own counters.
    now = timezone.now()
    full = Event.objects.filter(
        status=EventStatus.PUBLISHED,
        starts_at__gt=now,
        waitlist_waiting=0,
        tickets_taken__gte=100,
    ).count()
    upcoming = Event.objects.filter(status=EventStatus.PUBLISHED, starts_at__gt=now).count()
    assert 0 < full < upcoming // 5
    for value in ("true", "false"):
        count_sql = _list_queries(anon_api, {"available": value})[0]
        assert count_sql.startswith('SELECT COUNT(*) AS "__count"')
        subplans = [
            node
            for node in _nodes(_plan(count_sql))
            if node.get("Parent Relationship") == "SubPlan"
        ]
        assert subplans, count_sql
        assert max(node["Actual Loops"] for node in subplans) <= full, value


@requires_postgres
def test_a_search_reads_its_matches_once(catalog, anon_api):
    # Ranking reads every match: the same pass counts them and picks the
    # page's keys, and the page's rows are read by key. Counting in a query
    # of its own would read every match again.
    for search in ("jazz", "Mumbai", "night"):
        matches = anon_api.get(URL, {"search": search, "page_size": 1}).json()["count"]
        assert matches > 40, search
        queries = _list_queries(anon_api, {"search": search})
        assert not any(sql.startswith("SELECT COUNT(*)") for sql in queries), queries
        assert len(queries) == 2, queries
        heap_rows = [
            node["Actual Rows"]
            for sql in queries
            for node in _nodes(_plan(sql))
            if node["Node Type"] in ("Bitmap Heap Scan", "Seq Scan")
            and node.get("Relation Name") == "events_event"
        ]
        # Every match once, and the page's 20 rows again by key.
        assert sum(heap_rows) <= matches + 20, (search, heap_rows)
