"""One event's sales per ticket type and per promo code outside its page: the
staff CSV download, ``manage.py analytics_report --event``, and the mark of
hidden ticket types. All from the selector of `GET /api/analytics/events/{id}/`."""

import csv
import datetime as dt
import io
import json
import uuid
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from analytics.selectors import analytics_event
from analytics.services import rollups_rebuild
from analytics.tests.test_sales_breakdown import NOW, RANGE, TODAY, book
from bookings.models import BookingStatus
from events.tests.factories import make_event, make_promo_code, make_ticket_type

pytestmark = pytest.mark.django_db

HEADER = [
    "kind",
    "id",
    "name",
    "hidden",
    "quota",
    "tickets_sold",
    "revenue",
    "uses",
    "discount_total",
    "currency",
]


@pytest.fixture
def jazz(customer, outsider, time_machine):
    """An event with two types, one of them hidden and unlocked by its one
    code (10 % off). By hand:

    #1 confirmed       GA 2 x 100
    #2 confirmed       CREW: Backstage 1 x (300 - 30), GA 1 x (100 - 10)
    #3 held (running)  CREW: GA 2 x (100 - 10)              uses yes, sold no
    """
    time_machine.move_to(NOW, tick=False)
    event = make_event(name="Rooftop Jazz", capacity=50, general_admission=False)
    ga = make_ticket_type(event, name="General admission", price=Decimal("100.00"), position=0)
    backstage = make_ticket_type(
        event, name="Backstage", price=Decimal("300.00"), quota=5, hidden=True, position=1
    )
    crew = make_promo_code(event, code="CREW", discount_percent=10, unlocks=[backstage])
    confirmed = BookingStatus.CONFIRMED
    book(customer, event, [(ga, 2, 0)], status=confirmed, paid=True)
    book(outsider, event, [(backstage, 1, 30), (ga, 1, 10)], code=crew, status=confirmed, paid=True)
    book(
        customer,
        event,
        [(ga, 2, 10)],
        code=crew,
        status=BookingStatus.HELD,
        expires_at=NOW + dt.timedelta(minutes=10),
    )
    rollups_rebuild()
    return {"event": event, "ga": ga, "backstage": backstage, "crew": crew}


def sales_url(event_id) -> str:
    return f"/dashboard/events/{event_id}/sales.csv"


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- the CSV download ----------------------------------------------------------------


def test_sales_csv_rows_are_the_selectors_figures(jazz, staff_client):
    event, ga, backstage, crew = jazz["event"], jazz["ga"], jazz["backstage"], jazz["crew"]
    response = staff_client.get(sales_url(event.pk), RANGE)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert (
        f'filename="nuvio-sales-{event.pk}-{RANGE["from"]}_{RANGE["to"]}.csv"'
        in response["Content-Disposition"]
    )
    rows = read_csv(response)
    assert rows == [
        HEADER,
        ["ticket_type", str(ga.pk), "General admission", "false", "", "3", "290.00", "", "", "INR"],
        ["ticket_type", str(backstage.pk), "Backstage", "true", "5", "1", "270.00", "", "", "INR"],
        ["promo_code", str(crew.pk), "CREW", "", "", "", "", "4", "40.00", "INR"],
    ]
    # Exactly the selector's figures, row for row.
    figures = analytics_event(
        event_id=event.pk, day_from=TODAY - dt.timedelta(days=1), day_to=TODAY, now=NOW
    )
    assert [row[1:7] for row in rows[1:3]] == [
        [
            str(kind["id"]),
            kind["name"],
            str(kind["hidden"]).lower(),
            "" if kind["quota"] is None else str(kind["quota"]),
            str(kind["tickets_sold"]),
            str(kind["revenue"]),
        ]
        for kind in figures["ticket_types"]
    ]
    assert [[row[1], row[2], row[7], row[8]] for row in rows[3:]] == [
        [str(code["id"]), code["code"], str(code["uses"]), str(code["discount_total"])]
        for code in figures["promo_codes"]
    ]


def test_sales_csv_counts_the_bookings_created_in_the_dates_given(jazz, staff_client, customer):
    book(
        customer,
        jazz["event"],
        [(jazz["ga"], 4, 0)],
        status=BookingStatus.CONFIRMED,
        paid=True,
        created_at=NOW - dt.timedelta(days=5),
    )
    rollups_rebuild()
    wider = {**RANGE, "from": (TODAY - dt.timedelta(days=7)).isoformat()}

    assert read_csv(staff_client.get(sales_url(jazz["event"].pk), RANGE))[1][5:7] == [
        "3",
        "290.00",
    ]
    assert read_csv(staff_client.get(sales_url(jazz["event"].pk), wider))[1][5:7] == [
        "7",
        "690.00",
    ]


def test_sales_csv_cells_never_start_a_formula(jazz, staff_client):
    jazz["ga"].name = "=HYPERLINK(1)"
    jazz["ga"].save()
    jazz["crew"].code = "@CREW"
    jazz["crew"].save()

    rows = read_csv(staff_client.get(sales_url(jazz["event"].pk), RANGE))
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert rows[3][2] == "'@CREW"


def test_sales_csv_is_for_staff_only(jazz, client, customer):
    path = sales_url(jazz["event"].pk)
    response = client.get(path, RANGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    client.force_login(customer)
    assert client.get(path, RANGE).status_code == 403


def test_sales_csv_refuses_bad_dates_and_unknown_events(jazz, staff_client):
    response = staff_client.get(sales_url(jazz["event"].pk), {"from": "nope"})
    assert response.status_code == 400
    assert "from: Enter a date as YYYY-MM-DD." in response.content.decode()
    backwards = {"from": RANGE["to"], "to": RANGE["from"]}
    assert staff_client.get(sales_url(jazz["event"].pk), backwards).status_code == 400
    assert staff_client.get(sales_url(uuid.uuid4()), RANGE).status_code == 404


def test_the_event_page_and_the_dashboard_link_to_the_sales_csv(jazz, staff_client):
    event = jazz["event"]
    link = f'href="{sales_url(event.pk)}?from={RANGE["from"]}&amp;to={RANGE["to"]}"'
    page = staff_client.get(f"/dashboard/events/{event.pk}/", RANGE).content.decode()
    assert link in page
    dashboard = staff_client.get("/dashboard/", {**RANGE, "event": event.pk}).content.decode()
    assert link in dashboard
    assert "sales.csv" not in staff_client.get("/dashboard/", RANGE).content.decode()


# --- the hidden mark -----------------------------------------------------------------


def _row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


def test_the_selector_flags_hidden_types(jazz):
    figures = analytics_event(event_id=jazz["event"].pk, day_from=TODAY, day_to=TODAY, now=NOW)
    assert [(row["name"], row["hidden"]) for row in figures["ticket_types"]] == [
        ("General admission", False),
        ("Backstage", True),
    ]


@pytest.mark.parametrize("page", ["event", "dashboard"])
def test_the_breakdown_marks_hidden_types(jazz, staff_client, page):
    event = jazz["event"]
    if page == "event":
        response = staff_client.get(f"/dashboard/events/{event.pk}/", RANGE)
    else:
        response = staff_client.get("/dashboard/", {**RANGE, "event": event.pk})
    html = response.content.decode()

    backstage = _row(html, f'data-ticket-type="{jazz["backstage"].pk}"')
    assert ">Backstage <span" in backstage
    assert ">hidden</span>" in backstage
    assert ">hidden</span>" not in _row(html, f'data-ticket-type="{jazz["ga"].pk}"')


# --- manage.py analytics_report --event ------------------------------------------------


DATES = ["--from", RANGE["from"], "--to", RANGE["to"]]


def report(event_id, *args) -> str:
    return run("analytics_report", *DATES, "--event", str(event_id), *args)


def test_report_for_one_event_prints_its_breakdown(jazz):
    text = report(jazz["event"].pk)

    assert "Ticket types" in text and "Promo codes" in text
    lines = text.splitlines()
    ga = next(line for line in lines if "General admission" in line)
    assert ga.split() == ["General", "admission", "3", "capacity", "290.00"]
    backstage = next(line for line in lines if "Backstage" in line)
    assert backstage.split() == ["Backstage", "(hidden)", "1", "5", "270.00"]
    crew = next(line for line in lines if line.strip().startswith("CREW"))
    assert crew.split() == ["CREW", "4", "40.00"]
    # Not for every event at once.
    every_event = run("analytics_report", *DATES)
    assert "Ticket types" not in every_event and "Backstage" not in every_event
    # An unknown event is refused, naming the option.
    with pytest.raises(CommandError, match=r"--event: No such event\."):
        report(uuid.uuid4())


def test_report_csv_adds_the_sales_table_for_one_event_only(jazz):
    text = report(jazz["event"].pk, "--format", "csv")

    sections = [list(csv.reader(io.StringIO(part))) for part in text.split("\n\n")]
    assert len(sections) == 4
    assert sections[3] == [
        HEADER,
        [
            "ticket_type",
            str(jazz["ga"].pk),
            "General admission",
            "false",
            "",
            "3",
            "290.00",
            "",
            "",
            "INR",
        ],
        [
            "ticket_type",
            str(jazz["backstage"].pk),
            "Backstage",
            "true",
            "5",
            "1",
            "270.00",
            "",
            "",
            "INR",
        ],
        ["promo_code", str(jazz["crew"].pk), "CREW", "", "", "", "", "4", "40.00", "INR"],
    ]
    every_event = run("analytics_report", *DATES, "--format", "csv")
    assert len(every_event.split("\n\n")) == 3


def test_report_json_for_one_event_has_the_event_apis_breakdown(jazz, staff_api):
    event = jazz["event"]
    data = json.loads(report(event.pk, "--format", "json"))

    api = staff_api.get(f"/api/analytics/events/{event.pk}/", RANGE).json()
    assert data["ticket_types"] == api["ticket_types"]
    assert data["promo_codes"] == api["promo_codes"]
    assert [row["revenue"] for row in data["ticket_types"]] == ["290.00", "270.00"]
    summary = staff_api.get("/api/analytics/summary/", {**RANGE, "event": event.pk}).json()
    assert {k: v for k, v in data.items() if k not in ("ticket_types", "promo_codes")} == summary
