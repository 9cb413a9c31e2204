"""The anonymous event list served early from the shared page cache
(events.middleware), on the real Redis: the same answer as the API view,
counted once by the rate limit, and only for the requests it may answer."""

import pytest
from rest_framework.test import APIClient

from events.api.views import EventViewSet
from events.tests.factories import make_event
from nuvio.testing import requires_redis

pytestmark = [requires_redis, pytest.mark.django_db]
URL = "/api/events/"


@pytest.fixture
def view_calls(monkeypatch):
    """How often the API view's list ran (the middleware answers without it)."""
    calls = []
    original = EventViewSet.list

    def counting(self, request, *args, **kwargs):
        calls.append(request.path)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(EventViewSet, "list", counting)
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


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 200),  # a browser: the browsable API
        ({"HTTP_COOKIE": "sessionid=abc"}, 200),  # maybe staff: their list is not shared
        ({"HTTP_AUTHORIZATION": "Token nope"}, 401),  # tokens are checked by the view
    ],
)
def test_requests_it_may_not_answer_go_to_the_view(view_calls, extra, status):
    make_event(name="Routed")
    client = APIClient()
    client.get(URL)
    response = client.get(URL, **extra)
    assert response.status_code == status
    if status == 200:
        assert len(view_calls) == 2
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


def test_each_request_is_counted_once_and_the_view_answers_the_429(settings, view_calls):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "3/min"},
    }
    make_event(name="Limited")
    client = APIClient()
    statuses = [client.get(URL).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]  # the miss that rendered counted once, too
    refused = client.get(URL)
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
