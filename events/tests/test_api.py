import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from events.models import Event, EventStatus
from events.tests.factories import make_event
from nuvio.testing import requires_postgres

pytestmark = pytest.mark.django_db
URL = "/api/events/"


def _body(**overrides):
    start = timezone.now() + dt.timedelta(days=10)
    body = {
        "name": "Jazz Night",
        "description": "Live quartet",
        "category": "music",
        "venue_name": "Blue Frog",
        "venue_address": "Mathuradas Mills",
        "city": "Mumbai",
        "state": "Maharashtra",
        "country": "India",
        "postal_code": "400013",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=3)).isoformat(),
        "capacity": 100,
        "price": "499.00",
        "status": "published",
    }
    body.update(overrides)
    return body


def _detail(event):
    return f"{URL}{event.pk}/"


# --- staff writes ------------------------------------------------------------


def test_staff_creates_event_with_defaults(staff_api, staff):
    response = staff_api.post(URL, _body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["available"] == 100
    assert body["currency"] == "INR"
    assert body["max_tickets_per_user"] == 4
    assert body["booking_enabled"] is True
    assert body["price"] == "499.00"
    event = Event.objects.get(pk=body["id"])
    assert event.created_by == staff
    assert event.price == Decimal("499.00")
    assert set(body) == {
        "id", "name", "description", "category", "venue_name", "venue_address", "city",
        "state", "country", "postal_code", "starts_at", "ends_at", "capacity", "available",
        "price", "currency", "status", "booking_enabled", "max_tickets_per_user", "seated",
        "queue", "timezone", "questions", "transfers_enabled", "created_at", "updated_at",
        "ticket_types",
    }  # fmt: skip
    # One public type at the price, limited only by the event's capacity.
    (general,) = body["ticket_types"]
    assert (general["name"], general["price"], general["quota"], general["hidden"]) == (
        "General admission", "499.00", None, False,
    )  # fmt: skip


def test_new_event_is_draft_unless_published(staff_api):
    body = _body()
    del body["status"]
    assert staff_api.post(URL, body, format="json").json()["status"] == "draft"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("capacity", 0),
        ("capacity", 1_000_001),
        ("capacity", "lots"),
        ("price", "-1.00"),
        ("price", "10.005"),
        ("price", 1e20),
        ("max_tickets_per_user", 0),
        ("max_tickets_per_user", 101),
        ("status", "archived"),
        ("category", "opera-ish"),
        ("currency", "RUPEES"),
        ("starts_at", "next tuesday"),
        ("booking_enabled", "perhaps"),
    ],
)
def test_create_rejects_bad_value_naming_field(staff_api, field, value):
    response = staff_api.post(URL, _body(**{field: value}), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert not Event.objects.exists()


def test_create_rejects_end_before_start(staff_api):
    start = timezone.now() + dt.timedelta(days=3)
    body = _body(starts_at=start.isoformat(), ends_at=(start - dt.timedelta(hours=1)).isoformat())
    response = staff_api.post(URL, body, format="json")

    assert response.status_code == 400
    assert "ends_at" in response.json()["error"]["details"]


def test_create_rejects_start_in_the_past(staff_api):
    start = timezone.now() - dt.timedelta(hours=1)
    body = _body(starts_at=start.isoformat(), ends_at=(start + dt.timedelta(hours=3)).isoformat())
    response = staff_api.post(URL, body, format="json")

    assert response.status_code == 400
    assert "starts_at" in response.json()["error"]["details"]


def test_create_cannot_be_cancelled(staff_api):
    response = staff_api.post(URL, _body(status="cancelled"), format="json")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["details"]


def test_customer_cannot_write_events(customer_api):
    event = make_event()
    for response in (
        customer_api.post(URL, _body(), format="json"),
        customer_api.patch(_detail(event), {"name": "Hacked"}, format="json"),
        customer_api.delete(_detail(event)),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    event.refresh_from_db()
    assert event.name == "Test Event"


def test_anonymous_cannot_write_events(anon_api):
    event = make_event()
    for response in (
        anon_api.post(URL, _body(), format="json"),
        anon_api.put(_detail(event), _body(), format="json"),
        anon_api.delete(_detail(event)),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_staff_updates_event(staff_api):
    event = make_event()
    response = staff_api.patch(
        _detail(event), {"name": "Renamed", "price": "750.50"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["price"] == "750.50"
    event.refresh_from_db()
    assert event.price == Decimal("750.50")


def test_put_replaces_event(staff_api):
    event = make_event()
    response = staff_api.put(_detail(event), _body(name="Replaced"), format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Replaced"


def test_capacity_cannot_drop_below_tickets_taken(staff_api):
    event = make_event(capacity=10)
    Event.objects.filter(pk=event.pk).update(tickets_taken=6)

    response = staff_api.patch(_detail(event), {"capacity": 5}, format="json")
    assert response.status_code == 400
    assert "capacity" in response.json()["error"]["details"]
    assert staff_api.patch(_detail(event), {"capacity": 6}, format="json").status_code == 200


def test_update_rejects_end_before_existing_start(staff_api):
    event = make_event()
    response = staff_api.patch(
        _detail(event),
        {"ends_at": (event.starts_at - dt.timedelta(minutes=1)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "ends_at" in response.json()["error"]["details"]


def test_status_cancelled_only_through_cancel_action(staff_api):
    event = make_event()
    response = staff_api.patch(_detail(event), {"status": "cancelled"}, format="json")
    assert response.status_code == 400
    event.refresh_from_db()
    assert event.status == EventStatus.PUBLISHED


def test_cancelled_event_cannot_be_edited(staff_api):
    event = make_event(status=EventStatus.CANCELLED)
    response = staff_api.patch(_detail(event), {"status": "published"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_event_with_tickets_out_cannot_go_back_to_draft(staff_api):
    event = make_event()
    Event.objects.filter(pk=event.pk).update(tickets_taken=1)
    response = staff_api.patch(_detail(event), {"status": "draft"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_delete_event_without_bookings(staff_api):
    event = make_event()
    assert staff_api.delete(_detail(event)).status_code == 204
    assert not Event.objects.filter(pk=event.pk).exists()


def test_delete_event_that_had_a_booking_is_invalid_state(staff_api, customer):
    from bookings.models import Booking

    event = make_event()
    Booking.objects.create(
        user=customer, event=event, quantity=1, unit_price=event.price,
        subtotal=event.price, total_price=event.price, currency="INR", status="expired",
        expires_at=timezone.now(),
    )  # fmt: skip
    response = staff_api.delete(_detail(event))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert Event.objects.filter(pk=event.pk).exists()


# --- database constraints, the last line of defence --------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"capacity": 0},
        {"price": Decimal("-1")},
        {"max_tickets_per_user": 0},
        {"status": "archived"},
        {"tickets_taken": 101},
    ],
)
def test_database_refuses_impossible_events(change):
    event = make_event(capacity=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(**change)


def test_database_refuses_end_before_start():
    event = make_event()
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.filter(pk=event.pk).update(ends_at=event.starts_at)


# --- browse ------------------------------------------------------------------


def _names(response):
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["results"]]


def test_browse_shows_published_upcoming_to_everyone(anon_api, customer_api):
    make_event(name="Live")
    make_event(name="Draft", status=EventStatus.DRAFT)
    make_event(name="Off", status=EventStatus.CANCELLED)
    past = make_event(name="Past")
    Event.objects.filter(pk=past.pk).update(
        starts_at=timezone.now() - dt.timedelta(days=2),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )
    assert _names(anon_api.get(URL)) == ["Live"]
    assert _names(customer_api.get(URL)) == ["Live"]
    assert _names(customer_api.get(URL + "?upcoming=false")) == ["Past"]


def test_staff_browse_sees_all_statuses_and_filters_status(staff_api):
    make_event(name="Live")
    make_event(name="Draft", status=EventStatus.DRAFT)
    assert sorted(_names(staff_api.get(URL))) == ["Draft", "Live"]
    assert _names(staff_api.get(URL + "?status=draft")) == ["Draft"]


def test_drafts_are_404_for_customers(customer_api, staff_api):
    draft = make_event(status=EventStatus.DRAFT)
    assert customer_api.get(_detail(draft)).status_code == 404
    assert staff_api.get(_detail(draft)).status_code == 200


def test_filters(anon_api):
    now = timezone.now()
    make_event(name="A", category="music", city="Pune", price=Decimal("100"),
               starts_at=now + dt.timedelta(days=5))  # fmt: skip
    make_event(name="B", category="sports", city="Goa", price=Decimal("900"),
               starts_at=now + dt.timedelta(days=20))  # fmt: skip
    make_event(name="C", category="music", city="Goa", price=Decimal("0"),
               starts_at=now + dt.timedelta(days=40), capacity=5, tickets_taken=5)  # fmt: skip

    assert _names(anon_api.get(URL + "?category=music")) == ["A", "C"]
    assert _names(anon_api.get(URL + "?city=goa")) == ["B", "C"]
    assert _names(anon_api.get(URL + "?min_price=100&max_price=900")) == ["A", "B"]
    assert _names(anon_api.get(URL + "?max_price=0")) == ["C"]
    assert _names(anon_api.get(URL + "?available=true")) == ["A", "B"]
    assert _names(anon_api.get(URL + "?available=false")) == ["C"]
    day10 = (now + dt.timedelta(days=10)).date().isoformat()
    day30 = (now + dt.timedelta(days=30)).isoformat()
    assert _names(anon_api.get(URL + f"?starts_after={day10}")) == ["B", "C"]
    assert _names(anon_api.get(URL, {"starts_before": day30})) == ["A", "B"]
    assert _names(anon_api.get(URL, {"starts_after": day10, "starts_before": day30})) == ["B"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("starts_at", ["A", "B", "C"]),
        ("-starts_at", ["C", "B", "A"]),
        ("price", ["C", "A", "B"]),
        ("-price", ["B", "A", "C"]),
        ("name", ["A", "B", "C"]),
        ("-available", ["B", "A", "C"]),
    ],
)
def test_ordering(anon_api, ordering, expected):
    now = timezone.now()
    make_event(name="A", price=Decimal("100"), starts_at=now + dt.timedelta(days=5), capacity=50)
    make_event(name="B", price=Decimal("900"), starts_at=now + dt.timedelta(days=6), capacity=80)
    make_event(name="C", price=Decimal("0"), starts_at=now + dt.timedelta(days=7), capacity=10)
    assert _names(anon_api.get(URL + f"?ordering={ordering}")) == expected


@pytest.mark.parametrize(
    "query",
    [
        "category=opera",
        "starts_after=yesterday",
        "starts_before=2026-13-01",
        "min_price=cheap",
        "max_price=-5",
        "available=maybe",
        "upcoming=yes-please",
        "status=archived",
        "ordering=random",
        "page=0",
        "page=abc",
        "page_size=0",
        "page_size=ten",
    ],
)
def test_malformed_query_is_invalid_naming_parameter(anon_api, query):
    response = anon_api.get(f"{URL}?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert query.split("=")[0] in error["details"]


def test_search_plain_match(anon_api):
    make_event(name="Jazz Night", description="Quartet")
    make_event(name="Rock Show", venue_name="Jazz Club")
    make_event(name="Cooking Class", description="Pasta")
    assert sorted(_names(anon_api.get(URL + "?search=jazz"))) == ["Jazz Night", "Rock Show"]
    assert _names(anon_api.get(URL + "?search=pasta")) == ["Cooking Class"]
    assert _names(anon_api.get(URL + "?search=opera")) == []


@requires_postgres
def test_search_is_ranked_full_text_on_postgres(anon_api):
    make_event(name="Evening of Music", description="Jazz standards all night")
    make_event(name="Jazz Festival", description="Three stages of jazz")
    make_event(name="Festivals of Europe", description="A talk")
    # The name weighs more than the description; stems match (festivals ~ festival).
    assert _names(anon_api.get(URL + "?search=jazz")) == ["Jazz Festival", "Evening of Music"]
    assert sorted(_names(anon_api.get(URL + "?search=festival"))) == [
        "Festivals of Europe",
        "Jazz Festival",
    ]
    assert _names(anon_api.get(URL, {"search": "jazz -festival"})) == ["Evening of Music"]


def test_pagination_edges(anon_api):
    now = timezone.now()
    for i in range(25):
        make_event(name=f"E{i:02}", starts_at=now + dt.timedelta(days=i + 1))

    first = anon_api.get(URL).json()
    assert first["count"] == 25
    assert len(first["results"]) == 20
    assert first["previous"] is None and "page=2" in first["next"]
    second = anon_api.get(first["next"]).json()
    assert [e["name"] for e in second["results"]] == [f"E{i:02}" for i in range(20, 25)]
    assert second["next"] is None
    assert len(anon_api.get(URL + "?page_size=5").json()["results"]) == 5
    assert len(anon_api.get(URL + "?page_size=1000").json()["results"]) == 25
    response = anon_api.get(URL + "?page=3")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_list_query_count_is_constant(anon_api, staff_api, django_assert_max_num_queries):
    for i in range(3):
        make_event(name=f"Few {i}")
    # The count, the page, and the page's events' questions.
    with django_assert_max_num_queries(3):
        anon_api.get(URL + "?page_size=100&search=x")
    for i in range(60):
        make_event(name=f"Many {i}")
    with django_assert_max_num_queries(3):
        assert len(anon_api.get(URL + "?page_size=100").json()["results"]) == 63
    # Staff lists are not cached: token lookup + count + page + questions.
    with django_assert_max_num_queries(4):
        staff_api.get(URL + "?page_size=100")


# --- caching -----------------------------------------------------------------


def test_staff_edit_shows_at_once_on_cached_list(
    anon_api, staff_api, django_capture_on_commit_callbacks
):
    event = make_event(name="Before")
    assert _names(anon_api.get(URL)) == ["Before"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        staff_api.patch(_detail(event), {"name": "After"}, format="json")
    assert len(callbacks) == 1
    assert _names(anon_api.get(URL)) == ["After"]


def test_cached_list_served_without_queries(anon_api, django_assert_num_queries):
    make_event(name="Cached")
    anon_api.get(URL)
    with django_assert_num_queries(0):
        assert _names(anon_api.get(URL)) == ["Cached"]


def test_list_availability_is_at_most_two_seconds_stale(anon_api, time_machine):
    event = make_event(capacity=10)
    time_machine.move_to(timezone.now(), tick=False)
    assert anon_api.get(URL).json()["results"][0]["available"] == 10
    Event.objects.filter(pk=event.pk).update(tickets_taken=4)
    time_machine.shift(dt.timedelta(seconds=2.1))
    assert anon_api.get(URL).json()["results"][0]["available"] == 6


def test_detail_availability_is_at_most_two_seconds_stale(anon_api, time_machine):
    event = make_event(capacity=10)
    time_machine.move_to(timezone.now(), tick=False)
    assert anon_api.get(_detail(event)).json()["available"] == 10
    Event.objects.filter(pk=event.pk).update(tickets_taken=3)
    time_machine.shift(dt.timedelta(seconds=2))
    assert anon_api.get(_detail(event)).json()["available"] == 7


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("starts_after=0001-01-01", 200),
        ("starts_before=9999-12-31T23:59:59", 200),
        ("starts_after=9999-12-31T23:59:59-05:00", 400),  # year 10000 in UTC
        ("starts_before=0001-01-01T00:00:00+05:00", 400),  # year 0 in UTC
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_answered(anon_api, staff_api, query, status):
    make_event(name="A")
    for api in (anon_api, staff_api):
        response = api.get(f"{URL}?{query}")
        assert response.status_code == status, response.content
        if status == 400:
            assert response.json()["error"]["code"] == "invalid"
            assert query.split("=")[0] in response.json()["error"]["details"]
