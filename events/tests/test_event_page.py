"""The event page, ``GET /api/events/{id}/``: what everyone but staff gets is
what the event's serializer says, shared for at most 2 s (events.cache; in
production answered by events.middleware); staff see drafts, nobody else
does, from the cache or not."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from events.models import Event, EventStatus
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db
URL = "/api/events/"


def _detail(event) -> str:
    return f"{URL}{event.pk}/"


def test_the_public_page_is_the_serializers_answer(anon_api, customer_api, staff_api):
    event = make_event(
        name="Café Ünïcode & Jazz",
        description='Quotes " and \\ backslashes',
        price=Decimal("1234.50"),
        starts_at=timezone.now() + dt.timedelta(days=3, microseconds=123456),
    )
    staff_view = staff_api.get(_detail(event))  # staff: DRF's serializer, never shared
    assert staff_view.status_code == 200
    for api in (anon_api, customer_api, anon_api):
        response = api.get(_detail(event))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content == staff_view.content


def test_the_page_is_shared_and_its_availability_at_most_two_seconds_old(
    anon_api, customer_api, time_machine, django_assert_num_queries
):
    time_machine.move_to(timezone.now(), tick=False)
    event = make_event(capacity=10)
    assert anon_api.get(_detail(event)).json()["available"] == 10
    with django_assert_num_queries(0):
        assert anon_api.get(_detail(event)).json()["available"] == 10

    reserved = customer_api.post("/api/bookings/", {"event": str(event.pk), "quantity": 3})
    assert reserved.status_code == 201
    time_machine.shift(dt.timedelta(seconds=2))
    assert anon_api.get(_detail(event)).json()["available"] == 7

    # A hold whose time ran out counts as available before anyone releases it.
    expires_at = dt.datetime.fromisoformat(reserved.json()["expires_at"].replace("Z", "+00:00"))
    time_machine.move_to(expires_at + dt.timedelta(seconds=1), tick=False)
    assert anon_api.get(_detail(event)).json()["available"] == 10

    # While people wait on the waiting list, nothing is available to a new buyer.
    Event.objects.filter(pk=event.pk).update(waitlist_waiting=1)
    time_machine.shift(dt.timedelta(seconds=2))
    assert anon_api.get(_detail(event)).json()["available"] == 0


@pytest.mark.parametrize("status", [EventStatus.DRAFT, EventStatus.CANCELLED])
def test_an_event_that_is_not_published_is_404_for_everyone_but_staff(
    anon_api, customer_api, staff_api, status
):
    event = make_event(status=status)
    assert staff_api.get(_detail(event)).json()["status"] == status  # first: never shared
    for api in (anon_api, customer_api):
        response = api.get(_detail(event))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_shared_page_goes_at_once_when_the_event_is_unpublished_or_cancelled(
    anon_api, customer_api, staff_api, django_capture_on_commit_callbacks
):
    drafted, cancelled = make_event(name="Drafted"), make_event(name="Cancelled")
    for event in (drafted, cancelled):
        assert anon_api.get(_detail(event)).status_code == 200
        assert customer_api.get(_detail(event)).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        assert staff_api.patch(_detail(drafted), {"status": "draft"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_api.post(_detail(cancelled) + "cancel/").status_code == 202

    for event in (drafted, cancelled):
        for api in (anon_api, customer_api):
            assert api.get(_detail(event)).status_code == 404
    assert staff_api.get(_detail(drafted)).json()["status"] == "draft"


def test_an_unknown_event_is_404(anon_api):
    response = anon_api.get(f"{URL}00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_lists_query_parameters_do_not_apply_to_one_event(anon_api, staff_api):
    # They filter the list; on one event they used to build and validate a
    # FilterSet for every page load (a bad value was a 400, a filter a 404).
    event = make_event(category="music")
    for api in (anon_api, staff_api):
        for query in ("?category=sports", "?ordering=bogus", "?starts_after=yesterday"):
            response = api.get(_detail(event) + query)
            assert response.status_code == 200, (query, response.content)
            assert response.json()["id"] == str(event.pk)
