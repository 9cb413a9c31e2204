"""The anonymous event list and event page served early from the shared
page cache (events.middleware; an event page that misses is rendered there
too), on the real Redis: the same answer as the API view, counted once by
the rate limit, and only for the requests it may answer."""

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from events.api.views import EventViewSet
from events.models import EventStatus
from events.tests.factories import make_event
from nuvio.testing import requires_redis

pytestmark = [requires_redis, pytest.mark.django_db]
URL = "/api/events/"


@pytest.fixture
def view_calls(monkeypatch):
    """How often the API view's list or detail ran (the middleware answers
    without it)."""
    calls = []

    def counting(original):
        def call(self, request, *args, **kwargs):
            calls.append(request.path)
            return original(self, request, *args, **kwargs)

        return call

    monkeypatch.setattr(EventViewSet, "list", counting(EventViewSet.list))
    monkeypatch.setattr(EventViewSet, "retrieve", counting(EventViewSet.retrieve))
    return calls


def _headers(response) -> dict:
    return {k: v for k, v in response.items() if k not in ("Date",)}


def test_a_repeated_anonymous_list_is_answered_early_with_the_same_answer(view_calls):
    make_event(name="Early")
    client = APIClient()
    first = client.get(URL + "?city=Pune&page_size=5")
    second = client.get(URL + "?page_size=5&city=Pune")  # the same query, reordered

    assert view_calls == [URL]  # the first rendered the page; the second never reached the view
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert _headers(second) == _headers(first)
    assert second["Vary"] == "Accept, Cookie"


@pytest.mark.parametrize("page", ["list", "detail"])
@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 200),  # a browser: the browsable API
        ({"HTTP_COOKIE": "sessionid=abc"}, 200),  # maybe staff: their list is not shared
        ({"HTTP_AUTHORIZATION": "Token nope"}, 401),  # tokens are checked by the view
    ],
)
def test_requests_it_may_not_answer_go_to_the_view(view_calls, extra, status, page):
    event = make_event(name="Routed")
    url = URL if page == "list" else f"{URL}{event.pk}/"
    client = APIClient()
    client.get(url)  # the list's first renders the page; the detail's is answered early
    seen = len(view_calls)
    response = client.get(url, **extra)
    assert response.status_code == status
    if status == 200:
        assert len(view_calls) == seen + 1
        assert response.content != b"" and (
            extra.get("HTTP_ACCEPT") != "text/html" or b"<html" in response.content
        )


def test_another_format_or_a_changed_catalog_goes_to_the_view(
    view_calls, staff_api, django_capture_on_commit_callbacks
):
    event = make_event(name="Before")
    client = APIClient()
    client.get(URL)
    assert client.get(URL + "?format=api").status_code == 200
    assert len(view_calls) == 2

    with django_capture_on_commit_callbacks(execute=True):  # the edit bumps the catalog version
        staff_api.patch(f"{URL}{event.pk}/", {"name": "After"}, format="json")
    assert [e["name"] for e in client.get(URL).json()["results"]] == ["After"]
    assert len(view_calls) == 3


@pytest.mark.parametrize("page", ["list", "detail"])
def test_each_request_is_counted_once_and_the_view_answers_the_429(settings, view_calls, page):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "3/min"},
    }
    event = make_event(name="Limited")
    url = URL if page == "list" else f"{URL}{event.pk}/"
    client = APIClient()
    statuses = [client.get(url).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]  # the miss that rendered counted once, too
    refused = client.get(url)
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60


def test_an_anonymous_event_page_is_answered_early_and_shared(
    view_calls, django_assert_num_queries
):
    event = make_event(name="Early page")
    url = f"{URL}{event.pk}/"
    client = APIClient()
    # Rendered here and stored: the event, its questions, its public ticket types,
    # their lapsed holds.
    with django_assert_num_queries(4):
        rendered = client.get(url)
    with django_assert_num_queries(0):
        stored = client.get(url)
    assert view_calls == []
    by_the_view = client.get(url + "?format=json")
    assert view_calls == [url]

    assert rendered.status_code == stored.status_code == by_the_view.status_code == 200
    assert rendered.content == stored.content == by_the_view.content
    assert _headers(rendered) == _headers(stored) == _headers(by_the_view)
    assert stored.json()["name"] == "Early page"


@pytest.mark.parametrize("status", [EventStatus.DRAFT, EventStatus.CANCELLED])
def test_an_event_that_is_not_published_is_left_to_the_views_404(view_calls, status):
    event = make_event(status=status)
    url = f"{URL}{event.pk}/"
    response = APIClient().get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert view_calls == [url]


def test_the_html_event_page_is_not_taken_for_the_api(view_calls):
    event = make_event(name="A page for people")
    response = APIClient().get(f"/events/{event.pk}/", HTTP_ACCEPT="*/*")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_a_database_error_while_rendering_early_is_left_to_the_view(view_calls, monkeypatch):
    event = make_event(name="Fallback")
    url = f"{URL}{event.pk}/"

    def lost(event_id):
        raise OperationalError("connection lost")

    monkeypatch.setattr("events.middleware.public_event_json", lost)
    response = APIClient().get(url)
    assert response.status_code == 200  # the view's own query went through
    assert view_calls == [url]
