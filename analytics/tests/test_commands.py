"""`manage.py analytics_report` (three formats) and `manage.py analytics_rebuild`."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from analytics.models import DailyEventStats
from analytics.tests.helpers import D1, D2, D3, EXPECTED_DAILY, EXPECTED_SUMMARY

pytestmark = pytest.mark.django_db

WHOLE = ["--from", D1.isoformat(), "--to", D3.isoformat()]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_report_json_is_the_apis_answer(world, staff_api):
    report = json.loads(run("analytics_report", *WHOLE, "--format", "json"))

    api = staff_api.get("/api/analytics/summary/", {"from": D1, "to": D3}).json()
    assert report == api
    for key, value in EXPECTED_SUMMARY.items():
        assert report[key] == value
    assert report["daily"] == EXPECTED_DAILY


def test_report_csv_has_figures_top_events_and_daily_sections(world):
    text = run("analytics_report", *WHOLE, "--format", "csv")

    figures, top, daily = (list(csv.reader(io.StringIO(part))) for part in text.split("\n\n"))
    assert figures[0] == ["figure", "value"]
    assert dict(figures[1:]) == {
        "bookings": "11",
        "held": "1",
        "confirmed": "3",
        "cancelled": "4",
        "expired": "3",
        "tickets_sold": "5",
        "revenue": "1490.00",
        "refunded": "510.00",
        "net_revenue": "980.00",
        "cancellation_rate": "0.5",
        "utilization": "0.061",
        "currency": "INR",
    }
    assert [row[1] for row in top[1:]] == ["Echo Comedy", "Alpha Concert", "Beta Conference"]
    assert daily[0] == ["date", "bookings", "tickets", "revenue", "cancellations"]
    assert daily[2] == ["2026-03-09", "5", "2", "940.00", "3"]


def test_report_table_is_for_people(world):
    text = run("analytics_report", *WHOLE)

    assert "Bookings created 2026-03-08 to 2026-03-10" in text
    assert "net_revenue" in text and "980.00" in text
    assert "0.5000 (50.0 %)" in text
    assert "1. Echo Comedy" in text
    assert "2026-03-09" in text


def test_report_filters_by_event_and_category(world):
    gamma = json.loads(
        run("analytics_report", *WHOLE, "--event", str(world.gamma.pk), "--format", "json")
    )
    assert gamma["bookings"]["total"] == 2
    music = json.loads(run("analytics_report", *WHOLE, "--category", "music", "--format", "json"))
    assert music["revenue"] == "300.00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-10", "--to", "2026-03-01"], "--to: Must be on or after from."),
        (["--from", "03/01/2026", "--to", "2026-03-01"], "--from: Enter a date as YYYY-MM-DD."),
        (["--from", D1.isoformat(), "--to", D2.isoformat(), "--event", "x"], "--event"),
    ],
)
def test_report_refuses_bad_filters(args, message):
    with pytest.raises(CommandError, match=message):
        run("analytics_report", *args)


def test_rebuild_recomputes_the_rollups(world):
    # 9 rows: D1 Alpha, Beta; D2 Alpha, Beta, Gamma, Echo; D3 Alpha, Beta, Gamma.
    before = list(DailyEventStats.objects.order_by("event_id", "day").values())
    assert len(before) == 9
    DailyEventStats.objects.update(revenue=0)  # 4 had none (holds only): 5 now wrong

    assert "Dry run: 5 roll-up rows differ" in run("analytics_rebuild", "--dry-run")
    assert DailyEventStats.objects.filter(revenue=0).count() == 9

    output = run("analytics_rebuild", "--event", str(world.alpha.pk), "--from", D1.isoformat())
    assert "Rebuilt 3 roll-up rows" in output
    assert "Rebuilt 9 roll-up rows" in run("analytics_rebuild", "--to", D3.isoformat())
    after = list(DailyEventStats.objects.order_by("event_id", "day").values())
    ignore = {"id", "refreshed_at"}
    strip = lambda rows: [{k: v for k, v in row.items() if k not in ignore} for row in rows]  # noqa: E731
    assert strip(after) == strip(before)


def test_rebuild_refuses_an_unknown_event_or_a_backwards_range():
    with pytest.raises(CommandError, match="No such event"):
        run("analytics_rebuild", "--event", "00000000-0000-0000-0000-000000000001")
    with pytest.raises(CommandError, match="--from must be on or before --to"):
        run("analytics_rebuild", "--from", "2026-03-10", "--to", "2026-03-01")
