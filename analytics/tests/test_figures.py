"""The figures against hand-computed expectations (see ``helpers``)."""

import datetime as dt
from decimal import Decimal

import pytest

from analytics.selectors import Filters, analytics_event, analytics_summary
from analytics.tests.helpers import D1, D2, D3, EXPECTED_DAILY, EXPECTED_SUMMARY, NOW, at
from bookings.models import Booking, BookingStatus, Refund

pytestmark = pytest.mark.django_db


def test_the_world_has_bookings_in_every_state(world):
    b = world.bookings
    statuses = {n: Booking.objects.get(pk=b[n].pk).effective_status(NOW) for n in b}
    assert statuses == {
        1: "confirmed",
        2: "cancelled",
        3: "expired",
        4: "cancelled",
        5: "cancelled",
        6: "cancelled",
        7: "expired",
        8: "confirmed",
        9: "held",
        10: "expired",
        11: "confirmed",
    }
    assert Booking.objects.get(pk=b[10].pk).status == BookingStatus.HELD  # lapsed, not released
    refunds = {r.booking_id: (r.percent, r.amount, r.reason) for r in Refund.objects.all()}
    assert refunds == {
        b[2].pk: (100, Decimal("100.00"), "cancelled"),
        b[4].pk: (50, Decimal("250.00"), "cancelled"),
        b[5].pk: (0, Decimal("0.00"), "cancelled"),
        b[7].pk: (100, Decimal("160.00"), "not_honoured"),
    }


def _plain(figures: dict) -> dict:
    """Money as strings, dates as ISO, as the API shows them."""
    result = {
        key: str(value) if isinstance(value, Decimal) else value for key, value in figures.items()
    }
    result["daily"] = [
        {
            **day,
            "date": day["date"].isoformat(),
            "revenue": str(day["revenue"]),
        }
        for day in figures["daily"]
    ]
    result["top_events"] = [{**e, "revenue": str(e["revenue"])} for e in figures["top_events"]]
    return result


def test_summary_of_everything_matches_the_hand_computed_figures(world):
    figures = _plain(analytics_summary(filters=Filters(day_from=D1, day_to=D3), now=NOW))

    for key, value in EXPECTED_SUMMARY.items():
        assert figures[key] == value, key
    assert figures["daily"] == EXPECTED_DAILY
    assert figures["top_events"] == [
        # Echo and Alpha sold 2 each: Echo first, by revenue (320 against 300).
        {
            "id": world.echo.pk,
            "name": "Echo Comedy",
            "tickets_sold": 2,
            "capacity": 2,
            "utilization": 1.0,
            "revenue": "320.00",
        },
        {
            "id": world.alpha.pk,
            "name": "Alpha Concert",
            "tickets_sold": 2,
            "capacity": 20,
            "utilization": 0.1,
            "revenue": "300.00",
        },
        {
            "id": world.beta.pk,
            "name": "Beta Conference",
            "tickets_sold": 1,
            "capacity": 10,
            "utilization": 0.1,
            "revenue": "750.00",
        },
    ]


def test_a_day_counts_the_bookings_created_that_day(world):
    figures = _plain(analytics_summary(filters=Filters(day_from=D2, day_to=D2), now=NOW))

    assert figures["bookings"] == {
        "total": 5,
        "held": 0,
        "confirmed": 1,
        "cancelled": 3,
        "expired": 1,
    }
    assert figures["tickets_sold"] == 2
    assert (figures["revenue"], figures["refunded"], figures["net_revenue"]) == (
        "940.00",
        "410.00",  # 250 + 0 + 160
        "530.00",
    )
    assert figures["cancellation_rate"] == 0.6667  # 2 of 3 paid
    assert figures["utilization"] == 0.0244  # 2 / 82
    assert figures["daily"] == [EXPECTED_DAILY[1]]


def test_category_filter(world):
    figures = _plain(
        analytics_summary(filters=Filters(day_from=D1, day_to=D3, category="music"), now=NOW)
    )

    assert figures["bookings"] == {
        "total": 4,
        "held": 1,
        "confirmed": 1,
        "cancelled": 2,
        "expired": 0,
    }
    assert (figures["tickets_sold"], figures["revenue"], figures["refunded"]) == (
        2,
        "300.00",
        "100.00",
    )
    assert figures["cancellation_rate"] == 0.5
    assert figures["utilization"] == 0.1
    assert [e["name"] for e in figures["top_events"]] == ["Alpha Concert"]


def test_event_with_a_lapsed_hold_and_a_cancellation_only(world):
    figures = _plain(
        analytics_summary(filters=Filters(day_from=D1, day_to=D3, event_id=world.gamma.pk), now=NOW)
    )

    assert figures["bookings"] == {
        "total": 2,
        "held": 0,
        "confirmed": 0,
        "cancelled": 1,
        "expired": 1,  # the lapsed hold
    }
    assert (figures["tickets_sold"], figures["revenue"], figures["net_revenue"]) == (
        0,
        "120.00",
        "120.00",
    )
    assert figures["cancellation_rate"] == 1.0
    assert figures["utilization"] == 0.0
    assert figures["top_events"] == []


def test_per_event_figures_add_exact_availability_and_waitlist(world):
    alpha = analytics_event(event_id=world.alpha.pk, day_from=D1, day_to=D3, now=NOW)
    assert alpha["available"] == 16  # 20 - 2 confirmed - 2 held
    assert alpha["waitlist"] == 0
    assert alpha["currency"] == "INR"
    assert alpha["bookings"]["total"] == 4
    gamma = analytics_event(event_id=world.gamma.pk, day_from=D1, day_to=D3, now=NOW)
    assert gamma["available"] == 50  # the lapsed hold's ticket is available at once


def test_an_event_without_bookings_has_zeros_every_day(world):
    idle = _plain(analytics_event(event_id=world.idle.pk, day_from=D1, day_to=D3, now=NOW))
    assert idle["bookings"] == dict.fromkeys(
        ["total", "held", "confirmed", "cancelled", "expired"], 0
    )
    assert (idle["revenue"], idle["cancellation_rate"], idle["utilization"]) == ("0.00", 0.0, 0.0)
    assert idle["available"] == 30
    assert [day["bookings"] for day in idle["daily"]] == [0, 0, 0]


def test_a_hold_counts_as_expired_once_its_time_runs_out(world, time_machine):
    later = at(D3, 12, 11)  # #9 (created 11:55) lapsed at 12:10
    time_machine.move_to(later, tick=False)
    figures = analytics_summary(filters=Filters(day_from=D1, day_to=D3), now=later)
    assert figures["bookings"]["held"] == 0
    assert figures["bookings"]["expired"] == 4


def test_days_outside_the_bookings_are_zeros(world):
    figures = analytics_summary(
        filters=Filters(day_from=D1 - dt.timedelta(days=2), day_to=D3 + dt.timedelta(days=1)),
        now=NOW,
    )
    assert [day["bookings"] for day in figures["daily"]] == [0, 0, 3, 5, 3, 0]
    assert figures["bookings"]["total"] == 11
