"""A Redis outage is logged once per cause and interval, not once per request."""

import logging
import threading

import pytest
from django.core.cache import caches
from django.test import Client

from conftest import PASSWORD
from events.tests.factories import make_event
from nuvio import outage
from nuvio.outage import log_outage
from nuvio.testing import requires_redis

# Nothing listens on port 1: every connection is refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def _no_outage_seen(monkeypatch):
    monkeypatch.setattr(outage, "_last", {})


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    yield
    caches["default"].close()


def _outage_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("nuvio.")]


@requires_redis
@pytest.mark.django_db
def test_requests_during_an_outage_log_each_cause_once(
    redis_down, caplog, settings, customer, customer_api, anon_api
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "5/min"},
    }
    event = make_event(capacity=500, max_tickets_per_user=100)
    page = Client()
    statuses = []
    with caplog.at_level(logging.INFO):
        for i in range(40):
            statuses += [
                customer_api.get("/api/events/").status_code,
                anon_api.get(f"/api/events/{event.pk}/").status_code,
                customer_api.get("/api/me/").status_code,
                customer_api.post(
                    "/api/bookings/",
                    {"event": str(event.pk), "quantity": 1},
                    HTTP_IDEMPOTENCY_KEY=f"k{i}",
                ).status_code,
                page.post(
                    "/accounts/login/", {"username": customer.email, "password": PASSWORD}
                ).status_code,
            ]

    # Behaviour as before: the cache and the rate limits fail open.
    assert statuses == [200, 200, 200, 201, 302] * 40
    records = caplog.records
    assert not [r for r in records if r.exc_info or r.exc_text], "no tracebacks"
    causes = [(r.name, r.getMessage().split(" (")[0]) for r in _outage_lines(caplog)]
    assert len(causes) == len(set(causes)), causes  # each cause once in the interval
    assert ("nuvio.cache", "cache unavailable; answered without it") in causes
    assert ("nuvio.throttling", "throttle store unavailable; rate limits not enforced") in causes
    assert len(records) <= 10, [r.getMessage() for r in records]
    assert all(r.levelno == logging.WARNING for r in _outage_lines(caplog))


def test_a_cause_is_logged_again_after_the_interval_with_the_count(caplog, time_machine):
    logger = logging.getLogger("nuvio.test")
    time_machine.move_to("2026-06-01 12:00:00Z", tick=False)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            log_outage(logger, "store away", ConnectionError("refused"))
        log_outage(logger, "store away", TimeoutError("slow"))  # another cause
        time_machine.shift(outage.INTERVAL_SECONDS)
        log_outage(logger, "store away", ConnectionError("refused"))

    assert [r.getMessage() for r in caplog.records] == [
        "store away (ConnectionError: refused)",
        "store away (TimeoutError: slow)",
        "store away (ConnectionError: refused); 4 more since the last report",
    ]


def test_threads_failing_together_log_one_line(caplog):
    logger = logging.getLogger("nuvio.test")
    start = threading.Barrier(8)

    def fail():
        start.wait()
        for _ in range(50):
            log_outage(logger, "store away", ConnectionError("refused"))

    with caplog.at_level(logging.WARNING):
        threads = [threading.Thread(target=fail) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(caplog.records) == 1


def test_the_cache_filter_leaves_other_records_alone(caplog):
    logger = logging.getLogger("nuvio.cache")
    with caplog.at_level(logging.INFO):
        logger.info("plain %s", "line")
        logger.info("plain %s", "line")
    assert [r.getMessage() for r in caplog.records] == ["plain line", "plain line"]
