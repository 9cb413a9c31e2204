"""`GET /api/analytics/summary/` and `GET /api/analytics/events/{id}/`:
permissions, the exact shape, filters and their errors, caching."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.selectors import DEFAULT_DAYS
from analytics.tests.helpers import (
    D1,
    D2,
    D3,
    EXPECTED_DAILY,
    EXPECTED_SUMMARY,
    NOW,
    at,
    settle,
)
from bookings import services
from bookings.tests.helpers import GOOD_CARD, confirmed, hold
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

SUMMARY = "/api/analytics/summary/"
WHOLE = {"from": D1.isoformat(), "to": D3.isoformat()}
SUMMARY_KEYS = {
    "bookings",
    "tickets_sold",
    "revenue",
    "refunded",
    "net_revenue",
    "cancellation_rate",
    "utilization",
    "currency",
    "top_events",
    "daily",
}


def event_url(event) -> str:
    return f"/api/analytics/events/{event.pk}/"


@pytest.fixture
def staff_direct(staff):
    """A staff client that authenticates without a query, to count the view's own."""
    client = APIClient()
    client.force_authenticate(staff)
    return client


# --- permissions ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [SUMMARY, "/api/analytics/events/{id}/"])
def test_anonymous_is_401_customer_403_staff_200(path, anon_api, customer_api, staff_api):
    path = path.format(id=make_event().pk)
    anon = anon_api.get(path)
    assert anon.status_code == 401
    assert anon.json()["error"]["code"] == "not_authenticated"
    customer = customer_api.get(path)
    assert customer.status_code == 403
    assert customer.json()["error"]["code"] == "permission_denied"
    assert staff_api.get(path).status_code == 200


def test_unknown_event_is_404(staff_api):
    response = staff_api.get(f"/api/analytics/events/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert staff_api.get("/api/analytics/events/not-a-uuid/").status_code == 404


# --- figures -------------------------------------------------------------------------


def test_summary_answers_the_hand_computed_figures(world, staff_api):
    body = staff_api.get(SUMMARY, WHOLE).json()

    assert set(body) == SUMMARY_KEYS
    for key, value in EXPECTED_SUMMARY.items():
        assert body[key] == value, key
    assert body["daily"] == EXPECTED_DAILY
    assert [(e["name"], e["tickets_sold"], e["revenue"]) for e in body["top_events"]] == [
        ("Echo Comedy", 2, "320.00"),
        ("Alpha Concert", 2, "300.00"),
        ("Beta Conference", 1, "750.00"),
    ]
    assert set(body["top_events"][0]) == {
        "id",
        "name",
        "tickets_sold",
        "capacity",
        "utilization",
        "revenue",
    }
    assert body["top_events"][0]["id"] == str(world.echo.pk)


def test_event_figures_have_the_summary_fields_plus_available_and_waitlist(world, staff_api):
    body = staff_api.get(event_url(world.alpha), WHOLE).json()

    assert set(body) == SUMMARY_KEYS | {
        "available",
        "waitlist",
        "ticket_types",
        "promo_codes",
        "sections",
        "queue",
    }
    assert (body["available"], body["waitlist"], body["queue"]) == (16, 0, None)
    assert body["bookings"] == {
        "total": 4,
        "held": 1,
        "confirmed": 1,
        "cancelled": 2,
        "expired": 0,
    }
    assert (body["revenue"], body["refunded"], body["net_revenue"]) == (
        "300.00",
        "100.00",
        "200.00",
    )
    assert [day["bookings"] for day in body["daily"]] == [2, 1, 1]


def test_filters_narrow_the_figures(world, staff_api):
    day = staff_api.get(SUMMARY, {"from": D2.isoformat(), "to": D2.isoformat()}).json()
    assert day["bookings"]["total"] == 5
    assert day["daily"] == [EXPECTED_DAILY[1]]

    music = staff_api.get(SUMMARY, {**WHOLE, "category": "music"}).json()
    assert (music["bookings"]["total"], music["revenue"]) == (4, "300.00")

    gamma = staff_api.get(SUMMARY, {**WHOLE, "event": str(world.gamma.pk)}).json()
    assert gamma["bookings"] == {
        "total": 2,
        "held": 0,
        "confirmed": 0,
        "cancelled": 1,
        "expired": 1,
    }

    both = staff_api.get(SUMMARY, {**WHOLE, "category": "music", "event": str(world.gamma.pk)})
    assert both.json()["bookings"]["total"] == 0  # Gamma is a workshop


def test_without_dates_the_range_is_the_last_30_days_up_to_today(world, staff_api):
    body = staff_api.get(SUMMARY).json()

    dates = [day["date"] for day in body["daily"]]
    assert len(dates) == DEFAULT_DAYS
    assert dates[-1] == NOW.date().isoformat()
    assert dates[0] == (NOW.date() - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    assert body["bookings"]["total"] == 11
    only_to = staff_api.get(SUMMARY, {"to": D2.isoformat()}).json()
    assert only_to["daily"][-1]["date"] == D2.isoformat()
    assert len(only_to["daily"]) == DEFAULT_DAYS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026/03/10"}, "to"),
        ({"to": "2026-03-10T10:00:00Z"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-09"}, "to"),
        ({"from": "2025-03-09", "to": "2026-03-10"}, "to"),  # 367 days
        ({"category": "opera"}, "category"),
        ({"event": "42"}, "event"),
        ({"event": str(uuid.UUID(int=7))}, "event"),  # well formed, no such event
    ],
)
def test_malformed_filters_are_400_invalid_naming_the_parameter(staff_api, query, field):
    response = staff_api.get(SUMMARY, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {field}
    assert error["details"][field]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "0001-01-01"}, "to"),  # the default `from` would be before year 1
        ({"to": "9999-12-31"}, "to"),  # the range would end in year 10000
        ({"from": "9999-12-31"}, "from"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
    ],
)
@pytest.mark.parametrize("path", [SUMMARY, "/api/analytics/events/{id}/"])
def test_dates_at_the_ends_of_the_calendar_are_400_invalid(staff_api, path, query, field):
    event = make_event()
    response = staff_api.get(path.format(id=event.pk), query)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert error["details"][field] == ["Enter a date from 1970-01-01 to 9998-12-31."]


def test_the_last_allowed_dates_answer(staff_api):
    response = staff_api.get(SUMMARY, {"from": "9998-12-01", "to": "9998-12-31"})
    assert response.status_code == 200
    assert response.json()["daily"][-1]["date"] == "9998-12-31"
    response = staff_api.get(SUMMARY, {"to": "1970-01-01"})
    assert response.status_code == 200
    assert response.json()["daily"][0]["date"] == "1969-12-03"


def test_a_366_day_range_is_allowed(staff_api):
    response = staff_api.get(SUMMARY, {"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200
    assert len(response.json()["daily"]) == 366


def test_event_figures_reject_malformed_dates(staff_api):
    event = make_event()
    response = staff_api.get(event_url(event), {"from": "03/01/2026"})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"from"}


# --- freshness and cost -----------------------------------------------------------------


def test_a_new_confirmed_booking_shows_once_the_rollups_are_refreshed(
    world, staff_api, outsider, django_capture_on_commit_callbacks
):
    before = staff_api.get(SUMMARY, WHOLE).json()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed(outsider, world.idle, 3)
    settle()  # what the beat task does within 2 seconds

    after = staff_api.get(SUMMARY, WHOLE).json()
    assert after["bookings"]["total"] == before["bookings"]["total"] + 1
    assert after["tickets_sold"] == before["tickets_sold"] + 3
    assert after["revenue"] == "1520.00"
    assert after["daily"][-1]["bookings"] == 4


def test_a_cached_summary_runs_no_query(world, staff_direct, django_assert_num_queries):
    first = staff_direct.get(SUMMARY, WHOLE)
    with django_assert_num_queries(0):
        second = staff_direct.get(SUMMARY, WHOLE)
    assert second.json() == first.json()
    staff_direct.get(event_url(world.alpha), WHOLE)
    with django_assert_num_queries(0):
        assert staff_direct.get(event_url(world.alpha), WHOLE).status_code == 200


def test_figures_expire_within_seconds_without_any_change(world, staff_direct, time_machine):
    assert staff_direct.get(SUMMARY, WHOLE).json()["bookings"]["held"] == 1
    time_machine.move_to(at(D3, 12, 11), tick=False)  # the running hold lapsed at 12:10
    assert staff_direct.get(SUMMARY, WHOLE).json()["bookings"]["held"] == 0


def _many_bookings(users, events, time_machine, capture, days: int) -> None:
    with capture(execute=True):
        for n in range(days):
            time_machine.move_to(at(D1, 8) + dt.timedelta(days=n), tick=False)
            for i, event in enumerate(events):
                user = users[(n + i) % len(users)]
                booking = hold(user, event, 1)
                if (n + i) % 3:
                    services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)
    time_machine.move_to(NOW, tick=False)
    settle()


def test_uncached_cost_does_not_grow_with_bookings(
    staff_direct,
    customer,
    outsider,
    time_machine,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    time_machine.move_to(at(D1, 7), tick=False)
    events = [make_event(name=f"E{i}", capacity=500, max_tickets_per_user=100) for i in range(4)]
    users = [customer, outsider]
    _many_bookings(users, events[:1], time_machine, django_capture_on_commit_callbacks, days=1)

    def count(path) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_direct.get(path, WHOLE).status_code == 200
        return len(queries)

    small = count(SUMMARY), count(event_url(events[0]))
    _many_bookings(users, events, time_machine, django_capture_on_commit_callbacks, days=3)
    large = count(SUMMARY), count(event_url(events[0]))

    assert small == large
    # Summary: totals with top events, daily series, lapsed holds, and with
    # Redis the wait for a roll-up writer (nothing is marked). Per event: the
    # event (with its availability), the same four, its waiting list, and its
    # ticket types, promo codes and items grouped by (type, code).
    with django_assert_max_num_queries(4):
        staff_direct.get(SUMMARY, {**WHOLE, "category": "other"})
    with django_assert_max_num_queries(9):
        staff_direct.get(event_url(events[1]), WHOLE)
