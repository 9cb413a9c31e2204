import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.management.commands import seed_demo
from events import services
from events.models import Category, Event, EventStatus
from events.tests.factories import make_event
from nuvio.errors import InvalidState

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:events_event_changelist")
ADD = reverse("admin:events_event_add")
HEADER = (
    "name,description,category,venue_name,venue_address,city,state,country,postal_code,"
    "starts_at,ends_at,capacity,price,currency,status,booking_enabled,max_tickets_per_user"
)
# Well in the future whenever the tests run.
YEAR = timezone.now().year + 2
SAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "sample_events.csv"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Admin ----------------------------------------------------------------------


def test_admin_changelist_renders_with_available_column(admin_client):
    make_event(name="Jazz Night", capacity=100, tickets_taken=30)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert "Jazz Night" in response.text
    assert ">70<" in response.text  # available = 100 - 30


def test_admin_changelist_filters_and_search_work(admin_client):
    make_event(name="Jazz Night", city="Mumbai")
    make_event(name="Rock Night", city="Pune", category=Category.MUSIC)
    response = admin_client.get(CHANGELIST, {"q": "jazz", "city": "Mumbai", "status": "published"})
    assert response.status_code == 200
    assert "Jazz Night" in response.text and "Rock Night" not in response.text


def test_admin_change_form_renders(admin_client):
    event = make_event(tickets_taken=5)
    response = admin_client.get(reverse("admin:events_event_change", args=[event.pk]))
    assert response.status_code == 200


def test_publish_action_publishes_selected_events(admin_client):
    drafts = [make_event(name=f"Draft {i}", status=EventStatus.DRAFT) for i in range(2)]
    response = admin_client.post(
        CHANGELIST,
        {"action": "publish_selected", "_selected_action": [e.pk for e in drafts]},
        follow=True,
    )
    assert response.status_code == 200
    assert Event.objects.filter(status=EventStatus.PUBLISHED).count() == 2
    assert "Published 2 events." in _messages(response)


def test_unpublish_action_refuses_an_event_with_tickets_taken(admin_client):
    quiet = make_event(name="Quiet Gig")
    busy = make_event(name="Busy Gig", tickets_taken=3)
    response = admin_client.post(
        CHANGELIST,
        {"action": "unpublish_selected", "_selected_action": [quiet.pk, busy.pk]},
        follow=True,
    )
    quiet.refresh_from_db()
    busy.refresh_from_db()
    assert quiet.status == EventStatus.DRAFT
    assert busy.status == EventStatus.PUBLISHED
    messages = _messages(response)
    assert "Unpublished 1 event." in messages
    assert any("Busy Gig" in m and "cannot go back to draft" in m for m in messages)
    assert "cannot go back to draft" in response.text


def _form(**overrides) -> dict:
    data = {
        "name": "Admin Gig",
        "description": "",
        "category": "music",
        "status": "published",
        "booking_enabled": "on",
        "venue_name": "Blue Hall",
        "venue_address": "",
        "city": "Mumbai",
        "state": "",
        "country": "India",
        "postal_code": "",
        "starts_at_0": f"{YEAR}-05-01",
        "starts_at_1": "19:00:00",
        "ends_at_0": f"{YEAR}-05-01",
        "ends_at_1": "22:00:00",
        "capacity": "200",
        "price": "499.00",
        "currency": "inr",
        "max_tickets_per_user": "4",
        "refund_tiers": "",
        # The ticket-type and promo-code inlines, sent empty: nothing to change there.
        "ticket_types-TOTAL_FORMS": "0",
        "ticket_types-INITIAL_FORMS": "0",
        "promo_codes-TOTAL_FORMS": "0",
        "promo_codes-INITIAL_FORMS": "0",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        "transfers_enabled": "on",
    }
    data.update(overrides)
    return data


def test_admin_add_creates_through_the_service(admin_client, admin_user):
    response = admin_client.post(ADD, _form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = Event.objects.get()
    assert event.name == "Admin Gig"
    assert event.created_by == admin_user
    assert event.currency == "INR"
    assert event.starts_at == dt.datetime(YEAR, 5, 1, 19, tzinfo=dt.UTC)


def test_admin_add_refuses_ends_before_start(admin_client):
    response = admin_client.post(ADD, _form(ends_at_1="18:00:00"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"ends_at": ["Must be after the start."]}
    assert "Must be after the start." in response.text
    assert not Event.objects.exists()


def test_admin_add_refuses_past_start_cancelled_status_and_bad_numbers(admin_client):
    response = admin_client.post(
        ADD,
        _form(
            starts_at_0="2020-01-01",
            ends_at_0="2020-01-01",
            status="cancelled",
            capacity="0",
            price="-1",
            max_tickets_per_user="101",
            currency="RUPEE",
        ),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {
        "starts_at",
        "status",
        "capacity",
        "price",
        "max_tickets_per_user",
        "currency",
    }
    assert not Event.objects.exists()


def test_admin_change_saves_only_changed_fields_and_keeps_capacity_above_taken(admin_client):
    event = make_event(name="Old Name", capacity=100, tickets_taken=40)
    url = reverse("admin:events_event_change", args=[event.pk])
    start, end = event.starts_at, event.ends_at
    times = {
        "starts_at_0": f"{start:%Y-%m-%d}",
        "starts_at_1": f"{start:%H:%M:%S}",
        "ends_at_0": f"{end:%Y-%m-%d}",
        "ends_at_1": f"{end:%H:%M:%S}",
    }

    response = admin_client.post(url, _form(name="New Name", capacity="30", **times))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["capacity"] == [
        "Must be at least 40 (tickets taken)."
    ]

    response = admin_client.post(url, _form(name="New Name", capacity="120", **times))
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.name, event.capacity, event.tickets_taken) == ("New Name", 120, 40)


def test_admin_change_shows_a_service_refusal_instead_of_failing(admin_client, monkeypatch):
    # The row can change between the form's checks and the service's locked write.
    def refuse(**kwargs):
        raise InvalidState("Tickets were sold meanwhile.")

    monkeypatch.setattr(services, "event_update", refuse)
    event = make_event(name="Race Gig")
    url = reverse("admin:events_event_change", args=[event.pk])
    data = _form(
        name="Renamed",
        starts_at_0=f"{event.starts_at:%Y-%m-%d}",
        starts_at_1=f"{event.starts_at:%H:%M:%S}",
        ends_at_0=f"{event.ends_at:%Y-%m-%d}",
        ends_at_1=f"{event.ends_at:%H:%M:%S}",
    )
    response = admin_client.post(url, data, follow=True)
    assert response.status_code == 200
    assert "Tickets were sold meanwhile." in _messages(response)
    event.refresh_from_db()
    assert event.name == "Race Gig"


def test_admin_cancelled_event_is_read_only(admin_client):
    event = make_event(status=EventStatus.CANCELLED)
    url = reverse("admin:events_event_change", args=[event.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {})
    assert response.status_code == 200
    assert "A cancelled event cannot be changed." in response.text


def test_admin_delete_refuses_an_event_with_tickets_taken(admin_client):
    event = make_event(name="Sold Gig", tickets_taken=2)
    url = reverse("admin:events_event_delete", args=[event.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "cannot be deleted; cancel it instead" in response.text

    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "cannot be deleted; cancel it instead" in response.text
    assert Event.objects.filter(pk=event.pk).exists()


def test_admin_delete_removes_an_event_without_bookings(admin_client):
    event = make_event()
    url = reverse("admin:events_event_delete", args=[event.pk])
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Event.objects.exists()


def test_admin_delete_selected_refuses_when_one_event_has_tickets_taken(admin_client):
    free, taken = make_event(name="Free"), make_event(name="Taken", tickets_taken=1)
    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [free.pk, taken.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert "cannot be deleted; cancel it instead" in response.text
    assert Event.objects.count() == 2


# import_events -----------------------------------------------------------------


def _row(name="Imported Gig", **overrides) -> str:
    cells = {
        "name": name,
        "description": "",
        "category": "music",
        "venue_name": "Blue Hall",
        "venue_address": "",
        "city": "Pune",
        "state": "",
        "country": "",
        "postal_code": "",
        "starts_at": f"{YEAR}-06-01T19:00:00+05:30",
        "ends_at": f"{YEAR}-06-01T22:00:00+05:30",
        "capacity": "100",
        "price": "250.00",
        "currency": "",
        "status": "published",
        "booking_enabled": "",
        "max_tickets_per_user": "",
    }
    cells.update(overrides)
    return ",".join(cells.values())


def _csv(tmp_path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _import(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_events", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_creates_every_row_with_defaults(tmp_path):
    path = _csv(tmp_path, _row("One"), _row("Two"), _row("Three", status="draft"))
    out, err = _import(path)
    assert "Imported 3 events." in out and err == ""
    assert Event.objects.count() == 3
    event = Event.objects.get(name="One")
    assert event.currency == "INR" and event.max_tickets_per_user == 4
    assert event.booking_enabled is True and event.created_by is None
    assert event.price == Decimal("250.00")
    assert Event.objects.get(name="Three").status == EventStatus.DRAFT
    # Each sells one public "General admission" type at its price.
    for event in Event.objects.all():
        assert list(event.ticket_types.values_list("name", "price", "quota", "hidden")) == [
            ("General admission", event.price, None, False)
        ]


def test_import_sample_file_is_valid(staff):
    # Its events are dated 2027: import them from a time before the first one.
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=dt.UTC), tick=False):
        out, _ = _import(SAMPLE, "--created-by", staff.email)
    assert "Imported 5 events." in out
    assert Event.objects.count() == 5
    assert set(Event.objects.values_list("created_by", flat=True)) == {staff.pk}


def test_import_with_a_bad_row_imports_nothing_and_reports_lines(tmp_path):
    path = _csv(tmp_path, _row("Good"), _row("No seats", capacity="0"), _row(price="10.123"))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 of 3 rows are invalid"):
        call_command("import_events", str(path), stdout=out, stderr=err)
    errors = err.getvalue()
    assert "line 3: capacity:" in errors
    assert "line 4: price:" in errors and "decimal places" in errors
    assert "line 2" not in errors
    assert not Event.objects.exists()


def test_import_reports_past_start_and_ends_before_start(tmp_path):
    path = _csv(
        tmp_path,
        _row("Past", starts_at="2020-01-01T10:00:00Z", ends_at="2020-01-01T12:00:00Z"),
        _row("Backwards", ends_at=f"{YEAR}-06-01T18:00:00+05:30"),
        _row("", capacity=""),
    )
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("import_events", str(path), stdout=out, stderr=err)
    errors = err.getvalue()
    assert "line 2: starts_at: Must be in the future." in errors
    assert "line 3: ends_at: Must be after starts_at." in errors
    assert "line 4: name:" in errors and "line 4: capacity:" in errors


def test_import_skip_invalid_imports_the_good_rows(tmp_path):
    path = _csv(tmp_path, _row("Good"), _row("Bad", capacity="0"), _row("Also good"))
    out, err = _import(path, "--skip-invalid")
    assert "Skipped 1 invalid rows." in out and "Imported 2 events." in out
    assert "line 3: capacity:" in err
    assert set(Event.objects.values_list("name", flat=True)) == {"Good", "Also good"}


def test_import_dry_run_writes_nothing(tmp_path):
    path = _csv(tmp_path, _row("One"), _row("Two"))
    out, _ = _import(path, "--dry-run")
    assert "2 events would be imported" in out
    assert not Event.objects.exists()


def test_import_unknown_column_is_an_error(tmp_path):
    path = _csv(tmp_path, _row() + ",x", header=HEADER + ",colour")
    with pytest.raises(CommandError, match="Unknown columns: 'colour'"):
        _import(path)
    assert not Event.objects.exists()


def test_import_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        _import(tmp_path / "missing.csv")


def test_import_created_by_must_be_staff(tmp_path, customer):
    path = _csv(tmp_path, _row())
    with pytest.raises(CommandError, match="not an active staff member"):
        _import(path, "--created-by", customer.email)
    with pytest.raises(CommandError, match="No user"):
        _import(path, "--created-by", "nobody@example.com")


# seed_demo -------------------------------------------------------------------


def test_seed_demo_events_are_idempotent_and_varied():
    call_command("seed_demo", stdout=StringIO())
    count = Event.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert Event.objects.count() == count == len(seed_demo.EVENTS) + 1  # and the seated one
    assert 35 <= count <= 45

    now = timezone.now()
    events = list(Event.objects.all())
    assert {e.city for e in events} == set(seed_demo.STATES)
    assert {e.category for e in events} == set(Category.values)
    assert any(e.status == EventStatus.DRAFT for e in events)
    assert any(e.available == 0 for e in events)
    assert any(e.starts_at < now for e in events)
    assert any(e.price == 0 for e in events)
    assert all(e.created_by.email == "staff@nuvio.test" for e in events)
