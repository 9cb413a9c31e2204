"""The public list's rows are read from EventSerializer's fields directly
(``public_event_rows``): they must be what the serializer makes of the same
events, for events that use every field, and what the API answers."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking, BookingStatus
from events.api.serializers import PUBLIC_ROW_COLUMNS, EventSerializer, public_event_rows
from events.models import Category, Event, Question, QuestionKind
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied(django_user_model):
    """Events that differ in every field the list shows."""
    now = timezone.now().replace(microsecond=0)
    plain = make_event(name="Plain", description="")
    full = make_event(
        name="Mela “Ünïcode” <b>&",
        description="Line one\nline two",
        category=Category.FESTIVAL,
        venue_address="1 Road",
        state="MH",
        country="India",
        postal_code="400001",
        timezone="America/New_York",
        starts_at=now + dt.timedelta(days=9, microseconds=123456),
        ends_at=now + dt.timedelta(days=9, hours=2, seconds=1),
        capacity=7,
        tickets_taken=7,
        price=Decimal("0.50"),
        currency="USD",
        booking_enabled=False,
        max_tickets_per_user=1,
        transfers_enabled=False,
        queue_enabled=True,
        queue_opens_at=now + dt.timedelta(days=2),
        queue_admit_per_minute=60,
        queue_pass_minutes=10,
    )
    Question.objects.create(event=full, label="Size", kind=QuestionKind.CHOICE, choices=["S", "M"])
    Question.objects.create(event=full, label="Diet", required=True, position=1)
    waiting = make_event(name="Waiting", waitlist_waiting=3, capacity=5, tickets_taken=5)
    queue_off = make_event(name="Queue once", queue_admit_per_minute=30)
    # A hold that ran out: its tickets count as available before release.
    lapsed = make_event(name="Lapsed", capacity=10, tickets_taken=4)
    buyer = django_user_model.objects.create_user(email="b@example.com", password="x-Pass-1234")
    Booking.objects.create(
        user=buyer, event=lapsed, quantity=4, unit_price=Decimal("500.00"),
        subtotal=Decimal("2000.00"), total_price=Decimal("2000.00"), currency="INR",
        status=BookingStatus.HELD, expires_at=now - dt.timedelta(minutes=1),
    )  # fmt: skip
    return [plain, full, waiting, queue_off, lapsed]


def _page(*columns):
    questions = Prefetch("questions", queryset=Question.objects.order_by("position", "id"))
    events = Event.objects.with_available().prefetch_related(questions).order_by("name")
    return list(events.only(*columns) if columns else events)


def test_rows_are_what_the_serializer_makes_of_the_same_events(varied, django_assert_num_queries):
    expected = EventSerializer(_page(), many=True).data
    page = _page(*PUBLIC_ROW_COLUMNS)

    with django_assert_num_queries(0):  # no column the page's query left out
        rows = public_event_rows(page)

    assert rows == expected
    assert [list(row) for row in rows] == [list(row) for row in expected]  # field order too
    by_name = {row["name"]: row for row in rows}
    assert by_name["Lapsed"]["available"] == 10
    assert by_name["Waiting"]["available"] == 0
    assert by_name["Plain"]["queue"] is None
    assert by_name["Queue once"]["queue"]["admit_per_minute"] == 30
    assert [q["label"] for q in by_name["Mela “Ünïcode” <b>&"]["questions"]] == ["Size", "Diet"]


def test_the_api_list_answers_the_serializers_representation(client, varied):
    answer = client.get("/api/events/?ordering=name")

    assert answer.status_code == 200
    body = json.loads(answer.content)
    expected = json.loads(json.dumps(EventSerializer(_page(), many=True).data))
    assert body["results"] == expected
    assert body["count"] == len(varied)


def _questions_queries(client, params) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/events/", params).status_code == 200
    return [q["sql"] for q in queries.captured_queries if "events_question" in q["sql"]]


def test_only_the_events_that_ask_have_their_questions_read(client, varied):
    # A page without such events reads none; with one, only its questions.
    (page_query,) = _questions_queries(client, {"search": "Plain"})
    assert "EXISTS" in page_query
    reads = _questions_queries(client, {"ordering": "name"})
    assert len(reads) == 2
    asking = Event.objects.get(name__startswith="Mela").pk
    assert str(asking).replace("-", "") in reads[1].replace("-", "")
    others = Event.objects.exclude(pk=asking).values_list("pk", flat=True)
    assert not any(str(pk).replace("-", "") in reads[1].replace("-", "") for pk in others)
