"""Times as people read them: in the event's own zone, with its abbreviation,
on the browse card, the event page, the booking pages, the e-mails, the
messages and the .ics file. The API and its filters stay in UTC."""

import datetime as dt
import re
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import icalendar
import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.template import Context, Template
from django.test import Client

from bookings import notifications, services
from bookings.calendar import vtimezone
from bookings.models import Notification, NotificationKind
from bookings.tests.helpers import confirmed, hold
from events.models import Event
from events.tests.factories import make_event
from nuvio.timezones import human

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# "Now" in these tests: before every event below. A hold made then runs
# 15 minutes, to 12:15 UTC.
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
HOLD_SECONDS = 900
SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample_events.csv"


@dataclass(frozen=True)
class Case:
    zone: str
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime  # UTC
    start: str  # the start as people read it
    end: str  # the end, the same local day: its clock
    wall: str  # DTSTART's local wall time in the .ics
    hold_until: str  # a hold made at NOW
    pay_by: str  # the same, as the status badge says it


CASES = [
    # A half-hour offset: 14:00 UTC is 19:30 in India.
    Case(
        "Asia/Kolkata",
        dt.datetime(2026, 12, 14, 14, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 14, 17, 0, tzinfo=UTC),
        "Mon 14 Dec 2026, 19:30 IST",
        "22:30 IST",
        "20261214T193000",
        "Mon 02 Nov 2026, 17:45 IST",
        "17:45 IST",
    ),
    # London the night before its clocks go forward (01:00 GMT, 28 March 2027)...
    Case(
        "Europe/London",
        dt.datetime(2027, 3, 27, 19, 30, tzinfo=UTC),
        dt.datetime(2027, 3, 27, 22, 30, tzinfo=UTC),
        "Sat 27 Mar 2027, 19:30 GMT",
        "22:30 GMT",
        "20270327T193000",
        "Mon 02 Nov 2026, 12:15 GMT",
        "12:15 GMT",
    ),
    # ...and the night after: the same 19:30 is an hour earlier in UTC.
    Case(
        "Europe/London",
        dt.datetime(2027, 3, 28, 18, 30, tzinfo=UTC),
        dt.datetime(2027, 3, 28, 21, 30, tzinfo=UTC),
        "Sun 28 Mar 2027, 19:30 BST",
        "22:30 BST",
        "20270328T193000",
        "Mon 02 Nov 2026, 12:15 GMT",
        "12:15 GMT",
    ),
    # Behind UTC: it starts and ends on the 13th in New York, across
    # midnight UTC (its end is still only a clock on the page).
    Case(
        "America/New_York",
        dt.datetime(2026, 12, 13, 23, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 14, 3, 0, tzinfo=UTC),
        "Sun 13 Dec 2026, 18:00 EST",
        "22:00 EST",
        "20261213T180000",
        "Mon 02 Nov 2026, 07:15 EST",
        "07:15 EST",
    ),
]
IDS = ["kolkata", "london-gmt", "london-bst", "new-york"]


@pytest.fixture(autouse=True)
def _now(settings):
    settings.NUVIO_HOLD_SECONDS = HOLD_SECONDS
    with time_machine.travel(NOW, tick=False):
        yield


def _event(case: Case, **overrides):
    return make_event(
        name="Night Show",
        timezone=case.zone,
        starts_at=case.starts_at,
        ends_at=case.ends_at,
        **overrides,
    )


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


# --- pages ----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_browse_card_says_the_start_in_the_events_zone(client, case):
    event = _event(case)
    html = client.get("/").content.decode()
    assert f'<time datetime="{_iso(event.starts_at)}">{case.start}</time>' in html
    assert "UTC" not in html


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_event_page_says_start_and_end_in_the_events_zone(client, case):
    event = _event(case)
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert f'<time datetime="{_iso(event.starts_at)}">{case.start}</time> \u2013' in html
    assert f'<time datetime="{_iso(event.ends_at)}">{case.end}</time>' in html


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_booking_page_says_the_event_and_the_deadline_in_the_events_zone(
    client, customer, case
):
    event = _event(case)
    booking = hold(customer, event, 2)
    client.force_login(customer)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert f'<time datetime="{_iso(event.starts_at)}">{case.start}</time>' in html
    # The deadline: in the event's zone for people without JavaScript, and
    # its UTC instant for your-time.js to say in the viewer's own zone.
    expires = "2026-11-02T12:15:00+00:00"
    assert f'data-expires-at="{expires}"' in html
    assert f'<time datetime="{expires}" data-your-time>{case.hold_until}</time>' in html
    assert f'pay by <time datetime="{expires}">{case.pay_by}</time>' in html
    assert '<script src="/static/js/your-time.js"></script>' in html
    assert "{#" not in html and "{%" not in html

    listing = client.get("/bookings/").content.decode()
    assert f'<time datetime="{_iso(event.starts_at)}">{case.start}</time>' in listing
    assert f'pay by <time datetime="{expires}">{case.pay_by}</time>' in listing


def test_a_london_hold_across_the_clock_change_ends_in_summer_time(client, customer):
    # At 00:50 GMT on 28 March 2027 a 15-minute hold runs to 01:05 UTC,
    # after the clocks went forward at 01:00: 02:05 BST.
    event = _event(CASES[2])
    with time_machine.travel(dt.datetime(2027, 3, 28, 0, 50, tzinfo=UTC), tick=False):
        booking = hold(customer, event)
        client.force_login(customer)
        html = client.get(f"/bookings/{booking.pk}/").content.decode()
    assert "data-your-time>Sun 28 Mar 2027, 02:05 BST</time>" in html


# --- e-mails, messages and the .ics ---------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_confirmation_email_and_its_ics_are_in_the_events_zone(
    customer, case, django_capture_on_commit_callbacks
):
    event = _event(case)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed(customer, event, 2)

    (message,) = mail.outbox
    assert f"When: {case.start}\n" in message.body
    (html, _) = message.alternatives[0]
    assert f"{case.start}<br>" in html
    # No time in UTC (the ticket codes and the inline QR images are random
    # letters and may well spell it).
    assert not re.search(r"\d:\d\d\s*UTC", message.body + html)

    (attachment,) = message.attachments
    ics = attachment.content
    assert f"DTSTART;TZID={case.zone}:{case.wall}" in ics
    calendar = icalendar.Calendar.from_ical(ics)
    (vevent,) = calendar.walk("VEVENT")
    assert vevent["DTSTART"].params["TZID"] == vevent["DTEND"].params["TZID"] == case.zone
    assert vevent.decoded("DTSTART") == event.starts_at
    assert vevent.decoded("DTEND") == event.ends_at
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == case.zone
    # The file's own VTIMEZONE, read as RFC 5545 says, gives the same instants.
    for name, instant in (("DTSTART", event.starts_at), ("DTEND", event.ends_at)):
        wall = vevent.decoded(name).replace(tzinfo=None)
        assert wall - _offset_by_vtimezone(zone, instant) == instant.replace(tzinfo=None)


def _offset_by_vtimezone(zone, instant: dt.datetime) -> dt.timedelta:
    """The UTC offset at ``instant`` by the VTIMEZONE alone: the observance
    with the latest onset (local time in its TZOFFSETFROM) not after it."""
    best = None
    for observance in zone.subcomponents:
        offset_from = observance["TZOFFSETFROM"].td
        onsets = [observance.decoded("DTSTART")]
        rdates = observance.get("RDATE", [])
        for rdate in rdates if isinstance(rdates, list) else [rdates]:
            onsets += [value.dt for value in rdate.dts]
        for onset in onsets:
            at = onset.replace(tzinfo=UTC) - offset_from
            if at <= instant and (best is None or at > best[0]):
                best = (at, observance["TZOFFSETTO"].td)
    assert best is not None, "no observance before the event"
    return best[1]


def test_the_vtimezone_changes_at_the_right_instants():
    for name, first, changes in [
        # London: forward at 01:00 UTC, back at 01:00 UTC.
        ("Europe/London", 2027, [(dt.datetime(2027, 3, 28, 1, 0), dt.datetime(2027, 10, 31, 1))]),
        # New York: forward at 02:00 EST (07:00 UTC), back at 02:00 EDT (06:00 UTC).
        ("America/New_York", 2027, [(dt.datetime(2027, 3, 14, 7), dt.datetime(2027, 11, 7, 6))]),
    ]:
        when = dt.datetime(first, 6, 1, tzinfo=UTC)
        zone = vtimezone(name, first=when, last=when)
        for forward, back in changes:
            second = dt.timedelta(seconds=1)
            winter = _offset_by_vtimezone(zone, forward.replace(tzinfo=UTC) - second)
            summer = _offset_by_vtimezone(zone, forward.replace(tzinfo=UTC))
            assert summer - winter == dt.timedelta(hours=1)
            assert _offset_by_vtimezone(zone, back.replace(tzinfo=UTC) - second) == summer
            assert _offset_by_vtimezone(zone, back.replace(tzinfo=UTC)) == winter


def test_the_hold_reminder_says_the_deadline_in_the_events_zone(
    customer, django_capture_on_commit_callbacks
):
    event = _event(CASES[0])
    hold(customer, event, 2)
    with django_capture_on_commit_callbacks(execute=True):
        count = notifications.notifications_remind_expiring_holds(
            now=NOW + dt.timedelta(minutes=12)
        )
    assert count == 1
    reminder = Notification.objects.get(kind=NotificationKind.HOLD_EXPIRING)
    assert reminder.message == (
        "Your hold on 2 tickets for Night Show expires at 17:45 IST. Pay now to keep them."
    )
    (message,) = mail.outbox
    assert "After Mon 02 Nov 2026, 17:45 IST the tickets go back on sale." in message.body
    assert (
        "After Mon 02 Nov 2026, 17:45 IST the 2 tickets go back on sale."
        in (message.alternatives[0][0])
    )


def test_a_waitlist_offer_says_its_deadline_in_the_events_zone(
    customer, outsider, django_capture_on_commit_callbacks
):
    event = _event(CASES[3], capacity=1)
    held = hold(customer, event, 1)
    services.waitlist_join(user=outsider, event_id=event.pk, quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(user=customer, booking_id=held.pk)

    offer = Notification.objects.get(kind=NotificationKind.WAITLIST_OFFER)
    # The offer's hold runs as long as any, from now: to 07:15 in New York.
    assert offer.booking.expires_at == dt.datetime(2026, 11, 2, 12, 15, tzinfo=UTC)
    assert "held for you until Mon 02 Nov 2026, 07:15 EST. Pay before then" in offer.message
    (message,) = mail.outbox
    assert "If you don't pay by Mon 02 Nov 2026, 07:15 EST, the tickets go" in message.body

    client_html = _list_page_of(outsider)
    assert (
        'Pay before <time datetime="2026-11-02T12:15:00+00:00" data-your-time>'
        "Mon 02 Nov 2026, 07:15 EST</time>"
    ) in client_html
    assert '<script src="/static/js/your-time.js"></script>' in client_html


def _list_page_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/bookings/").content.decode()


def test_cancel_event_says_the_start_in_the_events_zone():
    event = _event(CASES[0])
    out = StringIO()
    call_command("cancel_event", str(event.pk), "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[0] == "Night Show (Mon 14 Dec 2026, 19:30 IST)"


# --- the filters themselves ---------------------------------------------------------


def test_the_filters_take_an_event_a_row_a_zone_name_or_nothing(settings):
    settings.NUVIO_TIME_ZONE = "Europe/London"
    event = _event(CASES[0])
    template = Template(
        "{% load event_time %}"
        "{{ t|local_time:event }}|{{ t|local_time:row }}|{{ t|local_time:'America/New_York' }}|"
        "{{ t|local_time }}|{{ t|local_date:event }}|{{ t|local_clock:event }}|"
        "{{ t|zone_abbreviation:event }}|{{ missing|local_time:event }}|{{ none|local_clock }}"
    )
    text = template.render(
        Context({"t": event.starts_at, "event": event, "row": {"timezone": "Asia/Kolkata"}})
    )
    assert text.split("|") == [
        "Mon 14 Dec 2026, 19:30 IST",
        "Mon 14 Dec 2026, 19:30 IST",
        "Mon 14 Dec 2026, 09:00 EST",
        "Mon 14 Dec 2026, 14:00 GMT",
        "Mon 14 Dec 2026",
        "19:30 IST",
        "IST",
        "",
        "",
    ]


# --- the API's date filters: UTC dates ----------------------------------------------


def test_starts_after_and_before_take_a_date_as_midnight_utc_whatever_the_zone(anon_api):
    # Kiritimati is UTC+14, Pago Pago UTC-11: their local dates are a day
    # apart from UTC's around midnight.
    events = {
        # Thu 1 Jan 2027 13:00 local, but still 31 Dec in UTC.
        "Kiritimati 1 Jan": dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
        # Sat 2 Jan 2027 00:30 local, 1 Jan in UTC.
        "Kiritimati 2 Jan": dt.datetime(2027, 1, 1, 10, 30, tzinfo=UTC),
        # Thu 31 Dec 2026 13:30 local, already 1 Jan in UTC.
        "Pago Pago 31 Dec": dt.datetime(2027, 1, 1, 0, 30, tzinfo=UTC),
        # Fri 1 Jan 2027 12:00 local, 1 Jan 23:00 in UTC.
        "Pago Pago 1 Jan": dt.datetime(2027, 1, 1, 23, 0, tzinfo=UTC),
    }
    for name, starts_at in events.items():
        zone = "Pacific/Kiritimati" if name.startswith("Kiritimati") else "Pacific/Pago_Pago"
        make_event(name=name, timezone=zone, starts_at=starts_at)

    def names(query: str) -> list[str]:
        response = anon_api.get(f"/api/events/?{query}")
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names("starts_after=2027-01-01") == [
        "Pago Pago 31 Dec",
        "Kiritimati 2 Jan",
        "Pago Pago 1 Jan",
    ]
    assert names("starts_before=2027-01-01") == ["Kiritimati 1 Jan"]
    assert names("starts_after=2027-01-01&starts_before=2027-01-02") == [
        "Pago Pago 31 Dec",
        "Kiritimati 2 Jan",
        "Pago Pago 1 Jan",
    ]
    # A datetime with an offset is that instant: local midnight in Kiritimati.
    assert names("starts_after=2027-01-01T00:00:00%2B14:00") == [
        "Kiritimati 1 Jan",
        "Pago Pago 31 Dec",
        "Kiritimati 2 Jan",
        "Pago Pago 1 Jan",
    ]
    # The API itself stays in UTC.
    first = anon_api.get("/api/events/?starts_before=2027-01-01").json()["results"][0]
    assert first["starts_at"] == "2026-12-31T23:00:00Z"


def test_the_schema_says_a_date_filter_means_midnight_utc(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    parameters = {
        p["name"]: p for p in response.json()["paths"]["/api/events/"]["get"]["parameters"]
    }
    for name in ("starts_after", "starts_before"):
        assert "midnight UTC" in parameters[name]["description"]


# --- importing and seeding events in their zones ------------------------------------

IMPORT_HEADER = "name,venue_name,city,timezone,starts_at,ends_at,capacity,price,status"


def _import_csv(tmp_path, *rows: str) -> tuple[str, str]:
    """The command's output and errors; a ``CommandError`` comes with them."""
    path = tmp_path / "events.csv"
    path.write_text("\n".join([IMPORT_HEADER, *rows]) + "\n", encoding="utf-8")
    out, err = StringIO(), StringIO()
    try:
        call_command("import_events", str(path), stdout=out, stderr=err)
    except CommandError as error:
        return f"{out.getvalue()}{error}", err.getvalue()
    return out.getvalue(), err.getvalue()


def test_import_takes_each_events_zone(tmp_path, settings):
    out, err = _import_csv(
        tmp_path,
        "Kolkata Gig,Hall,Kolkata,Asia/Kolkata,2026-12-14T19:30:00+05:30,"
        "2026-12-14T22:30:00+05:30,100,250.00,published",
        "London Gig,Hall,London,Europe/London,2027-03-28T19:30:00+01:00,"
        "2027-03-28T22:30:00+01:00,100,250.00,published",
        "Default Gig,Hall,Pune,,2026-12-14T14:00:00Z,2026-12-14T17:00:00Z,100,250.00,published",
    )
    assert "Imported 3 events." in out and err == ""
    zones = dict(Event.objects.values_list("name", "timezone"))
    assert zones == {
        "Kolkata Gig": "Asia/Kolkata",
        "London Gig": "Europe/London",
        "Default Gig": settings.NUVIO_TIME_ZONE,
    }
    london = Event.objects.get(name="London Gig")
    assert london.starts_at == dt.datetime(2027, 3, 28, 18, 30, tzinfo=UTC)
    assert human(london.starts_at, london.timezone) == "Sun 28 Mar 2027, 19:30 BST"


def test_import_reports_an_unknown_zone_on_its_line_with_the_rows_other_errors(tmp_path):
    out, err = _import_csv(
        tmp_path,
        "Good,Hall,Pune,Asia/Kolkata,2026-12-14T19:30:00+05:30,"
        "2026-12-14T22:30:00+05:30,100,250.00,published",
        "Mars,Hall,Pune,Mars/Olympus,2026-12-14T19:30:00+05:30,"
        "2026-12-14T22:30:00+05:30,100,250.00,published",
        "Worse,Hall,Pune,IST,2026-12-14T19:30:00+05:30,"
        "2026-12-14T22:30:00+05:30,0,250.00,published",
    )
    assert "2 of 3 rows are invalid; nothing was imported" in out
    assert not Event.objects.exists()
    lines = err.splitlines()
    assert (
        "line 3: timezone: Unknown time zone 'Mars/Olympus': use an IANA name such as Asia/Kolkata."
    ) in lines
    assert any(line.startswith("line 4: timezone: Unknown time zone 'IST'") for line in lines)
    assert any(line.startswith("line 4: capacity:") for line in lines)
    assert not any(line.startswith("line 2") for line in lines)


def test_the_sample_file_is_in_indias_zone(staff):
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        call_command("import_events", str(SAMPLE), stdout=StringIO())
    assert set(Event.objects.values_list("timezone", flat=True)) == {"Asia/Kolkata"}
    ragas = Event.objects.get(name="Monsoon Ragas")
    assert human(ragas.starts_at, ragas.timezone) == "Sat 10 Jul 2027, 19:00 IST"


def test_seed_demo_events_are_in_indias_zone_at_local_times():
    call_command("seed_demo", stdout=StringIO())
    events = list(Event.objects.all())
    assert events and {event.timezone for event in events} == {"Asia/Kolkata"}
    starts = {event.name: human(event.starts_at, event.timezone, "%H:%M") for event in events}
    assert starts["Bollywood Unplugged: Live at the Dome"] == "19:30 IST"
    assert starts["Lodhi Garden 10K Run"] == "06:00 IST"
    assert starts["A Carnatic Evening at Shanmukhananda Hall"] == "18:30 IST"
    # Conferences and workshops show off attendee questions.
    summit = Event.objects.get(name="Product Leaders Summit Mumbai")
    asked = [(q.label, q.kind, q.required) for q in summit.questions.order_by("position")]
    assert asked[:2] == [("Company", "text", True), ("Lunch", "choice", True)]
    assert not Event.objects.get(name="Lodhi Garden 10K Run").questions.exists()
