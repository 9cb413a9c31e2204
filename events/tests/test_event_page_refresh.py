"""An event page brought up to date (``public_event_refresh``) is the page a
full render gives (``public_event_json``), whatever moved without a catalog
change: bookings, lapsed holds, the waiting list, sale windows, the start.
And the shared page cache refreshes a page too old under the same catalog
version with one query, instead of rendering it again."""

import datetime as dt
import json
import time
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from bookings import services
from bookings.models import Booking
from events import cache as catalog_cache
from events.api.serializers import public_event_json, public_event_refresh
from events.models import Event, EventStatus, TicketType
from events.tests.factories import make_event, make_ticket_type
from nuvio.testing import requires_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def show():
    """Three types: a public one with a quota, a public one without, a hidden one."""
    event = make_event(general_admission=False, capacity=20, name="Refreshed")
    make_ticket_type(event, name="Balcony", price="300.00", quota=5, position=0)
    make_ticket_type(event, name="Stalls", price="200.00", position=1)
    make_ticket_type(event, name="Press", price="0.00", hidden=True, position=2)
    return event


def _type(event, name) -> TicketType:
    return TicketType.objects.get(event=event, name=name)


def _reserve(user, event, name, quantity):
    booking, _ = services.booking_reserve(
        user=user,
        event_id=event.pk,
        items=[{"ticket_type": _type(event, name).pk, "quantity": quantity}],
    )
    return booking


def _lapse(booking):
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _update_type(event, name, **fields):
    TicketType.objects.filter(pk=_type(event, name).pk).update(**fields)


def _update_event(event, **fields):
    Event.objects.filter(pk=event.pk).update(**fields)


HOUR = dt.timedelta(hours=1)

# (what is done before the page is stored, what moves after; the clock's
# step when it is the clock that moves)
CHANGES = {
    "tickets held": (None, lambda user, event: _reserve(user, event, "Balcony", 3), None),
    "a type sold out": (
        lambda user, event: _reserve(user, event, "Balcony", 4),
        lambda user, event: _update_type(event, "Balcony", tickets_taken=5),
        None,
    ),
    "a hold lapsed": (
        lambda user, event: _reserve(user, event, "Stalls", 4),
        lambda user, event: _lapse(Booking.objects.get(user=user)),
        None,
    ),
    "people wait for a type": (
        None,
        lambda user, event: _update_type(event, "Balcony", waitlist_waiting=1),
        None,
    ),
    "people wait for the event": (
        None,
        lambda user, event: _update_event(event, waitlist_waiting=1),
        None,
    ),
    "a sale window closes": (
        lambda user, event: _update_type(event, "Stalls", sale_ends_at=timezone.now() + HOUR),
        None,
        2 * HOUR,
    ),
    "a sale window opens": (
        lambda user, event: _update_type(event, "Stalls", sale_starts_at=timezone.now() + HOUR),
        None,
        2 * HOUR,
    ),
    "the event starts": (None, None, dt.timedelta(days=31)),
    "a hold's time runs out": (
        lambda user, event: _reserve(user, event, "Stalls", 4),
        None,
        2 * HOUR,
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_refreshed_page_is_the_page_a_full_render_gives(change, show, customer):
    before, after, step = CHANGES[change]
    if before:
        before(customer, show)
    stale = public_event_json(show.pk)
    if after:
        after(customer, show)
    with time_machine.travel(timezone.now() + (step or dt.timedelta()), tick=False):
        fresh = public_event_json(show.pk)
        refreshed = public_event_refresh(show.pk, stale)
    assert fresh != stale  # the change shows on the page
    assert refreshed == fresh


def test_a_hidden_types_lapsed_hold_counts_for_the_event(show, customer, django_user_model):
    Event.objects.filter(pk=show.pk).update(capacity=6)
    stale = public_event_json(show.pk)
    press = _type(show, "Press")
    TicketType.objects.filter(pk=press.pk).update(hidden=False)
    booking = _reserve(customer, show, "Press", 4)
    TicketType.objects.filter(pk=press.pk).update(hidden=True)
    before = json.loads(public_event_json(show.pk))
    _lapse(booking)
    fresh = public_event_json(show.pk)
    assert json.loads(fresh)["available"] == before["available"] + 4
    assert public_event_refresh(show.pk, stale) == fresh


def test_a_refresh_is_one_query(show, customer, django_assert_num_queries):
    stale = public_event_json(show.pk)
    _reserve(customer, show, "Stalls", 2)
    with django_assert_num_queries(1):
        page = public_event_refresh(show.pk, stale)
    assert json.loads(page)["available"] == 18


def test_no_refresh_for_an_event_no_longer_published_or_with_other_public_types(show):
    stale = public_event_json(show.pk)
    TicketType.objects.filter(pk=_type(show, "Press").pk).update(hidden=False)
    assert public_event_refresh(show.pk, stale) is None  # a full render decides
    Event.objects.filter(pk=show.pk).update(status=EventStatus.DRAFT)
    assert public_event_refresh(show.pk, stale) is None
    assert public_event_json(show.pk) is None


@requires_redis
def test_the_cache_refreshes_a_page_too_old_without_rendering_it(
    show, customer, monkeypatch, django_assert_num_queries
):
    page = catalog_cache.event_page(show.pk)
    renders = []

    def render():
        renders.append(1)
        return public_event_json(show.pk)

    def refresh(stale):
        return public_event_refresh(show.pk, stale)

    first = catalog_cache.cached_page(page, render, refresh)
    _reserve(customer, show, "Stalls", 2)
    assert catalog_cache.cached_page(page, render, refresh) == first  # fresh: served as stored
    clock = time.time() + catalog_cache.PAGE_TTL_SECONDS
    monkeypatch.setattr(catalog_cache, "time", SimpleNamespace(time=lambda: clock))
    with django_assert_num_queries(1):
        refreshed = catalog_cache.cached_page(page, render, refresh)
    assert renders == [1]
    assert refreshed == public_event_json(show.pk)
    assert json.loads(refreshed)["available"] == json.loads(first)["available"] - 2
