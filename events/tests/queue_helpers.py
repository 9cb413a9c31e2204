"""Shared helpers of the waiting-room tests: a queued event, users, and a
clean room for each test (the embedded mode's store lives in this process)."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from events import queue
from events.models import Event
from events.tests.factories import make_event

# A sale well ahead of any real clock; tests travel there with time_machine.
OPENS = dt.datetime(2031, 3, 1, 10, 0, tzinfo=dt.UTC)


def queued_event(*, opens_at=OPENS, rate: int = 60, pass_minutes: int = 10, **fields) -> Event:
    """A published event sold through its waiting room, starting a month
    after ``opens_at``."""
    fields.setdefault("starts_at", opens_at + dt.timedelta(days=30))
    fields.setdefault("queue_enabled", True)
    return make_event(
        queue_opens_at=opens_at,
        queue_admit_per_minute=rate,
        queue_pass_minutes=pass_minutes,
        **fields,
    )


def room_of(event: Event) -> queue.WaitingRoom:
    """The event's room as it is in the database now."""
    return queue.WaitingRoom.of(Event.objects.get(pk=event.pk))


def make_users(n: int, prefix: str = "fan") -> list:
    model = get_user_model()
    return [
        model.objects.create_user(email=f"{prefix}{i}@example.com", password="x", name=f"Fan {i}")
        for i in range(n)
    ]


def at(seconds: float) -> dt.datetime:
    """``seconds`` after the opening (negative: before it)."""
    return OPENS + dt.timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def clean_queue():
    """No places nor cached rooms left from another test."""
    queue.local_store.clear()
    queue._rooms.clear()
    yield
    queue.local_store.clear()
    queue._rooms.clear()


def queue_url(event) -> str:
    return f"/api/events/{event.pk}/queue/"
