"""``nuvio.front.SharedPageFront``: the early answers (events.middleware)
given without Django's request handler, and everything else handed to the
application. Driven as the WSGI server drives it; each answer it gives is
compared with the application's own answer to the same request."""

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from events import queue
from events.tests.factories import make_event
from events.tests.queue_helpers import (
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    queue_url,
    queued_event,
)
from nuvio.front import SharedPageFront
from nuvio.testing import requires_redis

pytestmark = pytest.mark.django_db
URL = "/api/events/"


class Counting:
    """The application behind the front, counting the requests it gets."""

    def __init__(self):
        self.app, self.paths = WSGIHandler(), []

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        return self.app(environ, start_response)


@pytest.fixture
def front():
    # As Django's test client does: the test's transaction keeps its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield SharedPageFront(Counting())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _get(app, path, query="", method="GET", **headers) -> tuple[str, list, bytes]:
    environ = RequestFactory()._base_environ(
        PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method, **headers
    )
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return answer["status"], sorted(answer["headers"]), body


@requires_redis
@pytest.mark.parametrize("page", ["list", "event"])
def test_a_shared_page_is_the_applications_answer_without_the_application(front, page):
    event = make_event(name="Front")
    path = URL if page == "list" else f"{URL}{event.pk}/"
    through_app = _get(front.app, path, "page_size=5")  # renders and stores the page
    served = len(front.app.paths)

    answer = _get(front, path, "page_size=5")

    assert answer == through_app
    assert answer[0] == "200 OK" and b"Front" in answer[2]
    assert len(front.app.paths) == served  # the application never saw it
    header_names = {name for name, _ in answer[1]}
    # What the middleware before the early answers adds is there too.
    assert {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} <= header_names


@requires_redis
def test_an_event_page_missing_from_the_cache_is_rendered_by_the_front(front):
    event = make_event(name="Rendered here")
    answer = _get(front, f"{URL}{event.pk}/")
    assert front.app.paths == []
    assert answer == _get(front.app, f"{URL}{event.pk}/")


def test_a_poll_is_the_applications_answer_without_the_application(front, customer, time_machine):
    time_machine.move_to(at(-30), tick=False)
    event = queued_event()
    queue.queue_join(room=queue.WaitingRoom.of(event), user=customer)
    token = f"Token {Token.objects.create(user=customer).key}"

    through_app = _get(front.app, queue_url(event), "format=json", HTTP_AUTHORIZATION=token)
    answer = _get(front, queue_url(event), HTTP_AUTHORIZATION=token)

    assert front.app.paths == [queue_url(event)]  # only the one asked of it
    assert answer[0] == through_app[0] == "200 OK"
    assert answer[2] == through_app[2]
    assert dict(answer[1])["Content-Type"] == "application/json"


@requires_redis
def test_a_miss_and_a_refusal_go_to_the_application_counted_once(front, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "3/min"},
    }
    make_event(name="Limited")
    statuses = [_get(front, URL, "city=Pune")[0] for _ in range(4)]

    # The first missed (rendered by the view), the fourth was refused by it:
    # both were counted once, by the front, the view reusing its verdict.
    assert statuses == ["200 OK", "200 OK", "200 OK", "429 Too Many Requests"]
    assert front.app.paths == [URL, URL]


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        (URL, "POST", {}),  # not a read
        ("/api/me/", "GET", {}),  # not a page the early answers serve
        (URL, "GET", {"HTTP_COOKIE": "sessionid=abc"}),  # maybe staff
        (URL, "GET", {"HTTP_ACCEPT": "text/html"}),  # the browsable API
    ],
)
def test_other_requests_go_to_the_application(front, path, method, headers):
    _get(front, path, method=method, **headers)
    assert front.app.paths == [path]


@requires_redis
def test_a_failing_early_answer_is_logged_and_the_application_answers(front, monkeypatch, caplog):
    make_event(name="Still served")

    def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setattr(front.early, "_early_answer", broken)  # the front's alone
    status, _, body = _get(front, URL)
    assert status == "200 OK" and b"Still served" in body
    assert front.app.paths == [URL]
    assert "early answer failed" in caplog.text
