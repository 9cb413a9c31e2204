"""An event's time zone, transfer switch and attendee questions in the API."""

import datetime as dt

import pytest
from django.utils import timezone

from events import services
from events.api.serializers import PUBLIC_FIELDS
from events.models import Event, Question
from events.tests.factories import make_event
from nuvio.errors import Invalid
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db
URL = "/api/events/"

# API.md "Events", in its order.
CONTRACT_FIELDS = [
    "id", "name", "description", "category", "venue_name", "venue_address", "city", "state",
    "country", "postal_code", "timezone", "starts_at", "ends_at", "capacity", "available",
    "price", "currency", "status", "booking_enabled", "max_tickets_per_user", "seated", "queue",
    "questions", "transfers_enabled", "created_at", "updated_at",
]  # fmt: skip

DIET = {"label": "Diet", "kind": "choice", "required": True, "choices": ["Veg", "Vegan", "Any"]}
COMPANY = {"label": "Company", "kind": "text"}
PHOTOS = {"label": "Photos OK?", "kind": "boolean", "required": False}


def _body(**overrides):
    start = timezone.now() + dt.timedelta(days=10)
    body = {
        "name": "Data Summit",
        "venue_name": "Hall",
        "city": "Pune",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=8)).isoformat(),
        "capacity": 100,
        "price": "100.00",
        "status": "published",
    }
    body.update(overrides)
    return body


def _questions(event) -> list[tuple]:
    return [
        (q.label, q.kind, q.required, q.choices, q.position)
        for q in Question.objects.filter(event=event).order_by("position")
    ]


# --- fields ------------------------------------------------------------------


def test_public_fields_are_the_contracts_in_its_order(anon_api):
    assert PUBLIC_FIELDS == CONTRACT_FIELDS
    event = make_event()
    listed = anon_api.get(URL).json()["results"][0]
    assert list(listed) == CONTRACT_FIELDS
    assert list(anon_api.get(f"{URL}{event.pk}/").json()) == [*CONTRACT_FIELDS, "ticket_types"]


def test_create_defaults_zone_transfers_and_no_questions(staff_api, settings):
    settings.NUVIO_TIME_ZONE = "Asia/Kolkata"
    body = staff_api.post(URL, _body(), format="json").json()
    assert body["timezone"] == "Asia/Kolkata"
    assert body["transfers_enabled"] is True
    assert body["questions"] == []
    event = Event.objects.get(pk=body["id"])
    assert (event.timezone, event.transfers_enabled) == ("Asia/Kolkata", True)


def test_create_with_zone_questions_and_transfers_off(staff_api):
    response = staff_api.post(
        URL,
        _body(timezone="Europe/London", transfers_enabled=False, questions=[DIET, COMPANY, PHOTOS]),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["timezone"] == "Europe/London"
    assert body["transfers_enabled"] is False
    assert [(q["label"], q["kind"], q["required"], q["choices"]) for q in body["questions"]] == [
        ("Diet", "choice", True, ["Veg", "Vegan", "Any"]),
        ("Company", "text", False, []),
        ("Photos OK?", "boolean", False, []),
    ]
    assert all(set(q) == {"id", "label", "kind", "required", "choices"} for q in body["questions"])
    event = Event.objects.get(pk=body["id"])
    assert [q[0] for q in _questions(event)] == ["Diet", "Company", "Photos OK?"]
    assert [q["id"] for q in body["questions"]] == [
        str(pk) for pk in Question.objects.filter(event=event).values_list("pk", flat=True)
    ]


def test_unknown_zone_is_invalid_and_creates_nothing(staff_api):
    error = assert_error(
        staff_api.post(URL, _body(timezone="Mars/Olympus_Mons"), format="json"), 400, "invalid"
    )
    assert list(error["details"]) == ["timezone"]
    assert not Event.objects.exists()


def test_patch_zone_and_transfers(staff_api):
    event = make_event()
    response = staff_api.patch(
        f"{URL}{event.pk}/", {"timezone": "America/New_York", "transfers_enabled": False}
    )
    assert response.status_code == 200
    event.refresh_from_db()
    assert (event.timezone, event.transfers_enabled) == ("America/New_York", False)
    error = assert_error(
        staff_api.patch(f"{URL}{event.pk}/", {"timezone": "Nowhere/Land"}), 400, "invalid"
    )
    assert "timezone" in error["details"]
    event.refresh_from_db()
    assert event.timezone == "America/New_York"


def test_the_service_refuses_an_unknown_zone_too(staff):
    event = make_event()
    with pytest.raises(Invalid) as caught:
        services.event_update(actor=staff, event_id=event.pk, data={"timezone": "Atlantis"})
    assert "timezone" in caught.value.details


# --- questions: replaced as a whole list ---------------------------------------


def test_patch_questions_updates_adds_deletes_and_reorders(staff_api, staff):
    event = services.event_create(
        actor=staff,
        data={
            "name": "Q",
            "venue_name": "Hall",
            "city": "Pune",
            "capacity": 10,
            "price": 10,
            "starts_at": timezone.now() + dt.timedelta(days=3),
            "ends_at": timezone.now() + dt.timedelta(days=3, hours=2),
            "questions": [DIET, COMPANY, PHOTOS],
        },
    )
    diet, company, photos = Question.objects.filter(event=event).order_by("position")
    body = [
        {"id": str(photos.pk), "label": "Photos allowed?"},  # renamed, now first
        {"label": "T-shirt", "kind": "choice", "choices": ["S", "M", "L"], "required": True},
        {"id": str(diet.pk)},  # kept as it is
    ]
    response = staff_api.patch(f"{URL}{event.pk}/", {"questions": body}, format="json")
    assert response.status_code == 200, response.content
    assert _questions(event) == [
        ("Photos allowed?", "boolean", False, [], 0),
        ("T-shirt", "choice", True, ["S", "M", "L"], 1),
        ("Diet", "choice", True, ["Veg", "Vegan", "Any"], 2),
    ]
    assert not Question.objects.filter(pk=company.pk).exists()
    assert Question.objects.get(label="Photos allowed?").pk == photos.pk  # same id
    assert [q["label"] for q in response.json()["questions"]] == [
        "Photos allowed?",
        "T-shirt",
        "Diet",
    ]
    # Left out of the body: the questions stay as they are.
    assert staff_api.patch(f"{URL}{event.pk}/", {"name": "Q2"}).status_code == 200
    assert len(_questions(event)) == 3
    # An empty list asks nothing any more.
    assert staff_api.patch(f"{URL}{event.pk}/", {"questions": []}, format="json").status_code == 200
    assert _questions(event) == []


def test_a_put_without_questions_keeps_them(staff_api):
    event = make_event()
    Question.objects.create(event=event, label="Company")
    response = staff_api.put(f"{URL}{event.pk}/", _body(name="Replaced"), format="json")
    assert response.status_code == 200, response.content
    assert [q["label"] for q in response.json()["questions"]] == ["Company"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"label": "", "kind": "text"}, "label"),
        ({"label": "x" * 201, "kind": "text"}, "label"),
        ({"kind": "text"}, "label"),
        ({"label": "Size", "kind": "dropdown"}, "kind"),
        ({"label": "Size", "kind": "choice"}, "choices"),
        ({"label": "Size", "kind": "choice", "choices": []}, "choices"),
        ({"label": "Size", "kind": "choice", "choices": ["S", "S"]}, "choices"),
        ({"label": "Size", "kind": "choice", "choices": ["S", "s"]}, "choices"),
        ({"label": "Size", "kind": "choice", "choices": ["S", ""]}, "choices"),
        ({"label": "Size", "kind": "choice", "choices": "S,M"}, "choices"),
        ({"label": "Name", "kind": "text", "choices": ["a"]}, "choices"),
        ({"label": "OK?", "kind": "boolean", "choices": ["yes"]}, "choices"),
        ({"label": "Size", "required": "maybe"}, "required"),
        ({"id": "00000000-0000-4000-8000-000000000000", "label": "Ghost"}, "id"),
        ({"id": "not-a-uuid", "label": "Ghost"}, "id"),
    ],
)
def test_a_bad_question_is_invalid_per_item_and_changes_nothing(staff_api, item, field):
    event = make_event(name="Before")
    Question.objects.create(event=event, label="Kept", position=0)
    before = _questions(event)
    body = {"name": "After", "questions": [{"label": "Fine", "kind": "text"}, item]}
    error = assert_error(staff_api.patch(f"{URL}{event.pk}/", body, format="json"), 400, "invalid")
    details = error["details"]["questions"]
    assert details[0] == {} and field in details[1], details
    assert _questions(event) == before
    event.refresh_from_db()
    assert event.name == "Before"


def test_a_question_of_another_event_is_no_such_question(staff_api):
    mine, other = make_event(), make_event()
    foreign = Question.objects.create(event=other, label="Theirs")
    body = {"questions": [{"id": str(foreign.pk), "label": "Stolen"}]}
    error = assert_error(staff_api.patch(f"{URL}{mine.pk}/", body, format="json"), 400, "invalid")
    assert "id" in error["details"]["questions"][0]
    assert Question.objects.get(pk=foreign.pk).label == "Theirs"
    assert not Question.objects.filter(event=mine).exists()


def test_a_question_listed_twice_is_invalid(staff_api):
    event = make_event()
    question = Question.objects.create(event=event, label="Once")
    body = {"questions": [{"id": str(question.pk)}, {"id": str(question.pk), "label": "Twice"}]}
    error = assert_error(staff_api.patch(f"{URL}{event.pk}/", body, format="json"), 400, "invalid")
    assert error["details"]["questions"][0] == {}
    assert "id" in error["details"]["questions"][1]
    assert Question.objects.get(pk=question.pk).label == "Once"


def test_at_most_fifty_questions(staff_api):
    event = make_event()
    many = [{"label": f"Q{i}", "kind": "text"} for i in range(51)]
    error = assert_error(
        staff_api.patch(f"{URL}{event.pk}/", {"questions": many}, format="json"), 400, "invalid"
    )
    assert "questions" in error["details"]
    assert not Question.objects.filter(event=event).exists()
    assert (
        staff_api.patch(f"{URL}{event.pk}/", {"questions": many[:50]}, format="json").status_code
        == 200
    )
    assert Question.objects.filter(event=event).count() == 50


def test_a_bad_question_on_create_creates_no_event(staff_api):
    body = _body(questions=[DIET, {"label": "Size", "kind": "choice", "choices": []}])
    error = assert_error(staff_api.post(URL, body, format="json"), 400, "invalid")
    assert error["details"]["questions"][0] == {}
    assert not Event.objects.exists()
    assert not Question.objects.exists()


def test_the_service_checks_the_rules_itself(staff):
    """Callers other than the API (admin, commands) get the same rules,
    checked under the lock, all or nothing."""
    event = make_event(name="Before")
    Question.objects.create(event=event, label="Kept")
    items = [{"label": "Size", "kind": "choice", "choices": ["S", " s "]}]
    with pytest.raises(Invalid) as caught:
        services.event_update(
            actor=staff, event_id=event.pk, data={"name": "After", "questions": items}
        )
    assert "choices" in caught.value.details["questions"][0]
    assert [q[0] for q in _questions(event)] == ["Kept"]
    event.refresh_from_db()
    assert event.name == "Before"


def test_customers_cannot_write_questions(customer_api, anon_api):
    event = make_event()
    body = {"questions": [COMPANY]}
    assert_error(
        customer_api.patch(f"{URL}{event.pk}/", body, format="json"), 403, "permission_denied"
    )
    assert_error(anon_api.patch(f"{URL}{event.pk}/", body, format="json"), 401, "not_authenticated")
    assert not Question.objects.exists()


def test_public_pages_show_the_questions_after_a_change(
    anon_api, staff_api, django_capture_on_commit_callbacks
):
    """The cached public pages follow a change of the questions at once."""
    event = make_event()
    assert anon_api.get(f"{URL}{event.pk}/").json()["questions"] == []
    assert anon_api.get(URL).json()["results"][0]["questions"] == []
    with django_capture_on_commit_callbacks(execute=True):
        staff_api.patch(f"{URL}{event.pk}/", {"questions": [COMPANY]}, format="json")
    assert [q["label"] for q in anon_api.get(f"{URL}{event.pk}/").json()["questions"]] == [
        "Company"
    ]
    assert [q["label"] for q in anon_api.get(URL).json()["results"][0]["questions"]] == ["Company"]


def test_the_list_reads_every_events_questions_in_one_query(
    anon_api, staff_api, django_assert_max_num_queries
):
    for i in range(3):
        event = make_event(name=f"Few {i}")
        Question.objects.create(event=event, label="Company")
    with django_assert_max_num_queries(3):  # count, page, questions
        anon_api.get(URL + "?page_size=100&ordering=name")
    for i in range(30):
        event = make_event(name=f"Many {i}")
        Question.objects.create(event=event, label="Company")
        Question.objects.create(event=event, label="Diet", position=1)
    with django_assert_max_num_queries(3):
        body = anon_api.get(URL + "?page_size=100&ordering=-name").json()
    assert len(body["results"]) == 33
    assert all(r["questions"] for r in body["results"])
    with django_assert_max_num_queries(4):  # and the staff member's token
        staff_api.get(URL + "?page_size=100")
