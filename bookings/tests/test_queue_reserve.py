"""Reserving on an event sold through its waiting room needs a live
admission, checked on the server from the user's place."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import Booking
from events import queue
from events.tests.factories import make_event
from events.tests.queue_helpers import (
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    queued_event,
    room_of,
)
from nuvio.errors import QueueRequired
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db


def _reserve(client, event, **extra):
    return client.post("/api/bookings/", {"event": str(event.pk), "quantity": 1, **extra})


def test_reserve_and_quote_refuse_without_an_admission(customer, customer_api, time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event(rate=6, pass_minutes=1)
    path = f"/api/events/{event.pk}/queue/"

    error = assert_error(_reserve(customer_api, event), 409, "queue_required")
    assert error["details"] == {"queue": path}
    quote = customer_api.post("/api/bookings/quote/", {"event": str(event.pk), "quantity": 1})
    assert assert_error(quote, 409, "queue_required")["details"] == {"queue": path}

    queue.queue_join(room=room_of(event), user=customer)  # place 1, admitted at 10 s
    error = assert_error(_reserve(customer_api, event), 409, "queue_required")
    assert error["details"] == {"queue": path}
    assert not Booking.objects.exists()

    time_machine.move_to(at(10), tick=False)
    assert customer_api.post("/api/bookings/quote/", {"event": str(event.pk), "quantity": 1})
    assert _reserve(customer_api, event).status_code == 201
    assert _reserve(customer_api, event).status_code == 201  # as often as the pass lasts

    time_machine.move_to(at(70), tick=False)  # the minute's pass ran out
    assert_error(_reserve(customer_api, event), 409, "queue_required")
    assert Booking.objects.count() == 2


def test_early_arrivals_reserve_once_their_shuffled_place_is_admitted(customer, time_machine):
    time_machine.move_to(at(-60), tick=False)
    event = queued_event(rate=60)
    queue.queue_join(room=room_of(event), user=customer)
    with pytest.raises(QueueRequired):
        services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    # Nobody asked since the opening: the reserve's check shuffles the early arrivals.
    time_machine.move_to(at(1), tick=False)
    booking, created = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    assert created and booking.event_id == event.pk


def test_staff_queue_like_everyone(staff, staff_api, time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    assert_error(_reserve(staff_api, event), 409, "queue_required")
    queue.queue_join(room=room_of(event), user=staff)
    time_machine.move_to(at(1), tick=False)
    assert _reserve(staff_api, event).status_code == 201


def test_another_users_admission_does_not_count(customer, outsider_api, time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    queue.queue_join(room=room_of(event), user=customer)
    time_machine.move_to(at(5), tick=False)
    assert_error(_reserve(outsider_api, event), 409, "queue_required")


def test_an_event_without_a_room_never_asks_the_store(customer, monkeypatch):
    def no_store():
        raise AssertionError("the waiting room's store was asked")

    monkeypatch.setattr(queue, "store", no_store)
    event = make_event()
    services.booking_quote(user=customer, event_id=event.pk, quantity=1)
    services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    disabled = queued_event(queue_enabled=False)
    services.booking_reserve(user=customer, event_id=disabled.pk, quantity=1)


def test_the_check_adds_no_database_query(customer, outsider, time_machine):
    time_machine.move_to(at(0), tick=False)
    plain = make_event()
    event = queued_event()
    queue.queue_join(room=room_of(event), user=customer)
    time_machine.move_to(at(5), tick=False)
    services.booking_reserve(user=outsider, event_id=plain.pk, quantity=1)  # warm up
    with CaptureQueriesContext(connection) as on_plain:
        services.booking_reserve(user=outsider, event_id=plain.pk, quantity=1)
    with CaptureQueriesContext(connection) as on_queued:
        services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    assert len(on_queued) == len(on_plain)


def test_the_book_form_sends_to_the_waiting_room(customer, time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    page = Client()
    page.force_login(customer)
    response = page.post("/bookings/new/", {"event": str(event.pk), "quantity": 1})
    assert response.status_code == 302
    assert response["Location"] == f"/events/{event.pk}/queue/"
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == ["This sale goes through its waiting room: join the queue first."]
    assert not Booking.objects.exists()

    queue.queue_join(room=room_of(event), user=customer)
    time_machine.move_to(at(1), tick=False)
    response = page.post("/bookings/new/", {"event": str(event.pk), "quantity": 1})
    assert response.status_code == 302
    assert response["Location"].startswith("/bookings/")
    assert Booking.objects.filter(user=customer).count() == 1
