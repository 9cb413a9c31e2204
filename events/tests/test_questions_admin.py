"""Staff set an event's time zone, transfer switch and attendee questions in
admin; questions are saved as one list through the event services."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from events.models import Event, EventStatus, Question, QuestionKind
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

ADD = reverse("admin:events_event_add")
QUESTIONS = "questions"  # the inline's prefix
YEAR = timezone.now().year + 2


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )
    client.force_login(user)
    return client


def _change(event) -> str:
    return reverse("admin:events_event_change", args=[event.pk])


def _when(value: dt.datetime, name: str) -> dict:
    return {f"{name}_0": f"{value:%Y-%m-%d}", f"{name}_1": f"{value:%H:%M:%S}"}


def _management(prefix: str, total: int, initial: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def question_row(question: Question | None = None, **fields) -> dict:
    values = {"label": "", "kind": "text", "required": False, "choices": "", "position": "0"}
    if question is not None:
        values |= {
            "label": question.label,
            "kind": question.kind,
            "required": question.required,
            "choices": "\n".join(question.choices),
            "position": str(question.position),
            "id": str(question.pk),
        }
    return values | fields


def form_data(event: Event | None, questions: list[dict], **overrides) -> dict:
    start = event.starts_at if event else dt.datetime(YEAR, 5, 1, 19, tzinfo=dt.UTC)
    data = {
        "name": event.name if event else "Admin Summit",
        "description": "",
        "category": "conference",
        "status": "published",
        "booking_enabled": "on",
        "transfers_enabled": "on",
        "venue_name": "Hall",
        "venue_address": "",
        "city": "Pune",
        "state": "",
        "country": "India",
        "postal_code": "",
        "timezone": event.timezone if event else "Asia/Kolkata",
        **_when(start, "starts_at"),
        **_when(start + dt.timedelta(hours=8), "ends_at"),
        "capacity": str(event.capacity) if event else "100",
        "price": str(event.price) if event else "100.00",
        "currency": "INR",
        "max_tickets_per_user": "4",
        "refund_tiers": "",
        **_management("ticket_types", 0, 0),
        **_management("promo_codes", 0, 0),
        **_management(QUESTIONS, len(questions), sum(1 for q in questions if "id" in q)),
    }
    for i, row in enumerate(questions):
        for name, value in row.items():
            key = f"{QUESTIONS}-{i}-{name}"
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            else:
                data[key] = value
        if event is not None:
            data[f"{QUESTIONS}-{i}-event"] = str(event.pk)
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _errors(response) -> dict:
    errors = dict(response.context["adminform"].form.errors)
    for formset in response.context["inline_admin_formsets"]:
        if formset.formset.prefix == QUESTIONS:
            errors[QUESTIONS] = [*formset.formset.errors, *formset.formset.non_form_errors()]
    return errors


def _questions(event) -> list[tuple]:
    return list(
        Question.objects.filter(event=event)
        .order_by("position")
        .values_list("label", "kind", "required", "choices", "position")
    )


def test_the_pages_offer_the_zone_the_transfer_switch_and_the_questions(admin_client):
    event = make_event()
    Question.objects.create(event=event, label="Diet", kind="choice", choices=["Veg", "Any"])
    for url in (ADD, _change(event)):
        page = admin_client.get(url).content.decode()
        assert 'name="timezone"' in page
        assert 'name="transfers_enabled"' in page
        assert f'name="{QUESTIONS}-TOTAL_FORMS"' in page
    assert "Veg\nAny" in admin_client.get(_change(event)).content.decode()


def test_a_new_event_asks_the_questions_of_its_inline(admin_client):
    response = admin_client.post(
        ADD,
        form_data(
            None,
            [
                question_row(label="T-shirt", kind="choice", choices="S\nM\n\nL ", position="2"),
                question_row(label="Company", position="1", required=True),
            ],
            transfers_enabled=None,  # unticked
        ),
    )
    assert response.status_code == 302, _errors(response)
    event = Event.objects.get()
    assert (event.timezone, event.transfers_enabled) == ("Asia/Kolkata", False)
    # In the order of their positions, numbered from 0 by the service.
    assert _questions(event) == [
        ("Company", "text", True, [], 0),
        ("T-shirt", "choice", False, ["S", "M", "L"], 1),
    ]


def test_the_inline_changes_adds_and_deletes_questions(admin_client):
    event = make_event()
    diet = Question.objects.create(
        event=event, label="Diet", kind="choice", choices=["Veg", "Any"], position=0
    )
    company = Question.objects.create(event=event, label="Company", position=1)
    rows = [
        question_row(diet, choices="Veg\nVegan\nAny", required=True),
        question_row(company, DELETE=True),
        question_row(label="Photos OK?", kind="boolean", position="5"),
    ]
    response = admin_client.post(_change(event), form_data(event, rows))
    assert response.status_code == 302, _errors(response)
    assert _questions(event) == [
        ("Diet", "choice", True, ["Veg", "Vegan", "Any"], 0),
        ("Photos OK?", "boolean", False, [], 1),
    ]
    assert Question.objects.get(label="Diet").pk == diet.pk
    assert not Question.objects.filter(pk=company.pk).exists()


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"label": "Size", "kind": "choice", "choices": ""}, "at least one option"),
        ({"label": "Size", "kind": "choice", "choices": "S\ns"}, "each option once"),
        ({"label": "Company", "kind": "text", "choices": "ACME"}, "Only a choice question"),
        ({"label": "   ", "kind": "boolean"}, "required"),
    ],
)
def test_a_bad_question_is_refused_next_to_its_field(admin_client, row, words):
    event = make_event(name="Before")
    kept = Question.objects.create(event=event, label="Kept")
    response = admin_client.post(
        _change(event), form_data(event, [question_row(kept), question_row(**row)], name="After")
    )
    assert response.status_code == 200
    assert words in str(_errors(response)[QUESTIONS])
    assert _questions(event) == [("Kept", "text", False, [], 0)]
    event.refresh_from_db()
    assert event.name == "Before"


def test_an_unknown_zone_is_refused_and_a_blank_one_keeps_the_zone(admin_client):
    event = make_event(timezone="Europe/London")
    response = admin_client.post(_change(event), form_data(event, [], timezone="Moon/Base"))
    assert response.status_code == 200
    assert "Unknown time zone" in str(_errors(response)["timezone"])
    event.refresh_from_db()
    assert event.timezone == "Europe/London"
    response = admin_client.post(_change(event), form_data(event, [], timezone=""))
    assert response.status_code == 302, _errors(response)
    event.refresh_from_db()
    assert event.timezone == "Europe/London"
    response = admin_client.post(_change(event), form_data(event, [], timezone="Asia/Tokyo"))
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.timezone == "Asia/Tokyo"


def test_a_cancelled_events_questions_are_read_only(admin_client):
    event = make_event(status=EventStatus.CANCELLED)
    Question.objects.create(event=event, label="Diet", kind=QuestionKind.TEXT)
    page = admin_client.get(_change(event)).content.decode()
    assert "Diet" in page
    assert f'name="{QUESTIONS}-0-label"' not in page
