"""The staff dashboard, its per-event page and CSV downloads."""

import csv
import io
import json
import re
import uuid

import pytest
from django.contrib.staticfiles import finders

from analytics.services import rollups_rebuild
from analytics.tests.helpers import D1, D2, D3, EXPECTED_DAILY
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

WHOLE = {"from": D1.isoformat(), "to": D3.isoformat()}


def chart_data(html: str) -> dict:
    match = re.search(
        r'<script id="analytics-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, "the chart data is embedded with json_script"
    return json.loads(match.group(1))


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize(
    "path",
    ["/dashboard/", "/dashboard/daily.csv", "/dashboard/events.csv", "/dashboard/events/{id}/"],
)
def test_anonymous_is_sent_to_log_in_and_customers_get_403(path, client, customer):
    path = path.format(id=uuid.uuid4())
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    client.force_login(customer)
    assert client.get(path).status_code == 403


def test_dashboard_shows_figures_and_embeds_the_chart_data(world, staff_client):
    response = staff_client.get("/dashboard/", WHOLE)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="bookings-total">11<' in html
    assert "980.00 INR" in html  # net revenue
    assert "50.0 %" in html  # cancellation rate
    data = chart_data(html)
    assert data["daily"] == {
        "labels": [day["date"] for day in EXPECTED_DAILY],
        "bookings": [3, 5, 3],
        "revenue": [300.0, 940.0, 250.0],
    }
    assert data["top_events"] == {
        "labels": ["Echo Comedy", "Alpha Concert", "Beta Conference"],
        "tickets": [2, 2, 1],
    }
    assert data["status"]["values"] == [1, 3, 4, 3]
    assert data["utilization"]["labels"][:3] == ["Echo Comedy", "Alpha Concert", "Beta Conference"]
    assert data["utilization"]["percent"][:3] == [100.0, 10.0, 10.0]
    # Charts are drawn by vendored files (no CDN, no inline script) and each has a text alternative.
    assert "/static/vendor/chartjs/chart.umd.js" in html
    assert "/static/js/dashboard.js" in html
    assert "cdn" not in html.lower()
    assert html.count('role="img" aria-label=') == 4
    assert "<details" in html


def test_dashboard_defaults_to_the_last_30_days_and_shows_them(world, staff_client):
    html = staff_client.get("/dashboard/").content.decode()
    assert 'value="2026-02-09"' in html
    assert 'value="2026-03-10"' in html
    assert len(chart_data(html)["daily"]["labels"]) == 30


def test_dashboard_filters_by_category_and_event(world, staff_client):
    music = staff_client.get("/dashboard/", {**WHOLE, "category": "music"}).content.decode()
    assert chart_data(music)["daily"]["bookings"] == [2, 1, 1]
    gamma = staff_client.get("/dashboard/", {**WHOLE, "event": str(world.gamma.pk)})
    assert chart_data(gamma.content.decode())["status"]["values"] == [0, 0, 1, 1]


def test_dashboard_shows_filter_errors_next_to_the_field(staff_client):
    response = staff_client.get("/dashboard/", {"from": "2026-03-10", "to": "2026-03-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_to_errors">Must be on or after from.' in html
    assert 'value="2026-03-10"' in html  # what was typed is kept
    assert "analytics-data" not in html


@pytest.mark.parametrize("query", [{"to": "0001-01-01"}, {"to": "9999-12-31"}])
def test_dashboard_shows_dates_out_of_range_as_a_form_error(staff_client, query):
    response = staff_client.get("/dashboard/", query)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="id_to_errors">Enter a date from 1970-01-01 to 9998-12-31.' in html
    assert "analytics-data" not in html


@pytest.mark.parametrize(("page", "status"), [("daily.csv", 400), ("events/{id}/", 200)])
def test_other_analytics_pages_refuse_dates_out_of_range(staff_client, page, status):
    event = make_event()
    response = staff_client.get(f"/dashboard/{page.format(id=event.pk)}", {"to": "9999-12-31"})
    assert response.status_code == status
    assert "Enter a date from 1970-01-01 to 9998-12-31." in response.content.decode()


def test_dashboard_names_an_unknown_event(staff_client):
    response = staff_client.get("/dashboard/", {"event": str(uuid.uuid4())})
    assert "No such event." in response.content.decode()


def test_daily_csv_has_every_day_of_the_filters(world, staff_client):
    response = staff_client.get(
        "/dashboard/daily.csv", {"from": D1.isoformat(), "to": "2026-03-11"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="nuvio-daily-2026-03-08_2026-03-11.csv"' in response["Content-Disposition"]
    assert read_csv(response) == [
        ["date", "bookings", "tickets", "revenue", "cancellations"],
        ["2026-03-08", "3", "2", "300.00", "1"],
        ["2026-03-09", "5", "2", "940.00", "3"],
        ["2026-03-10", "3", "1", "250.00", "0"],
        ["2026-03-11", "0", "0", "0.00", "0"],
    ]


def test_events_csv_lists_every_event_in_scope(world, staff_client):
    rows = read_csv(staff_client.get("/dashboard/events.csv", WHOLE))

    assert rows[0][:5] == ["id", "name", "category", "starts_at", "capacity"]
    by_name = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_name) == ["Echo Comedy", "Alpha Concert", "Beta Conference", "Gamma Workshop"]
    gamma = by_name["Gamma Workshop"]
    assert (gamma["bookings"], gamma["tickets_sold"], gamma["revenue"], gamma["refunded"]) == (
        "2",
        "0",
        "120.00",
        "0.00",
    )
    assert gamma["cancellation_rate"] == "1.0"
    beta = by_name["Beta Conference"]
    assert (beta["net_revenue"], beta["utilization"]) == ("500.00", "0.1")
    day = read_csv(staff_client.get("/dashboard/events.csv", {"from": D2, "to": D2}))
    assert len(day) == 1 + 4


def test_csv_with_bad_filters_is_400(staff_client):
    response = staff_client.get("/dashboard/daily.csv", {"from": "nope"})
    assert response.status_code == 400
    assert "from: Enter a date as YYYY-MM-DD." in response.content.decode()
    assert staff_client.get("/dashboard/events.csv", {"category": "opera"}).status_code == 400


def test_csv_cells_never_start_a_formula(staff_client, customer, world):
    world.alpha.name = "=HYPERLINK(1)"
    world.alpha.save()
    rollups_rebuild()
    rows = read_csv(staff_client.get("/dashboard/events.csv", WHOLE))
    assert "'=HYPERLINK(1)" in [row[1] for row in rows]


def test_event_page_shows_availability_waitlist_and_its_daily_chart(world, staff_client):
    response = staff_client.get(f"/dashboard/events/{world.alpha.pk}/", WHOLE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpha Concert" in html
    assert 'data-figure="available">16 ' in html
    assert 'data-figure="waitlist">0<' in html
    assert chart_data(html)["daily"]["bookings"] == [2, 1, 1]
    assert f"event={world.alpha.pk}" in html  # its CSV link


def test_event_page_of_an_unknown_event_is_404(staff_client):
    assert staff_client.get(f"/dashboard/events/{uuid.uuid4()}/").status_code == 404


def test_staff_see_a_dashboard_link_and_customers_do_not(staff_client, client, customer):
    assert 'href="/dashboard/"' in staff_client.get("/").content.decode()
    client.force_login(customer)
    assert 'href="/dashboard/"' not in client.get("/").content.decode()


def test_chartjs_is_vendored_with_its_licence_and_no_source_map():
    script = finders.find("vendor/chartjs/chart.umd.js")
    assert script and finders.find("vendor/chartjs/LICENSE") and finders.find("js/dashboard.js")
    with open(script, encoding="utf-8") as handle:
        text = handle.read()
    assert "Chart.js v4" in text[:200]
    assert "sourceMappingURL" not in text
