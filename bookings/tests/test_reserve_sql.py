"""The reserve's plain SQL (``bookings.services._core``) against the ORM it
stands in for: a new hold, its event, types and items come back exactly as
the ORM loads them from the rows written, on PostgreSQL and SQLite alike,
and showing the hold needs no query."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingItem
from events.models import Event, TicketType
from events.tests.factories import make_event, make_promo_code, make_ticket_type

pytestmark = pytest.mark.django_db


def _loaded(obj, *, types: bool = True) -> dict:
    """Every stored field of ``obj``: its value and, with ``types``, its
    Python type (SQLite hands back text for UUIDs, integers for booleans)."""
    return {
        f.attname: (getattr(obj, f.attname), type(getattr(obj, f.attname)) if types else None)
        for f in type(obj)._meta.concrete_fields
        if f.name != "search_vector"
    }


def test_a_new_hold_is_what_the_orm_reads_back_and_shows_without_a_query(
    customer, django_assert_num_queries
):
    event = make_event(capacity=50, max_tickets_per_user=6, general_admission=False)
    general = make_ticket_type(event, name="General", price=Decimal("99.99"), position=1)
    vip = make_ticket_type(
        event,
        name="VIP",
        price=Decimal("250.00"),
        quota=5,
        max_per_booking=3,
        sale_ends_at=timezone.now() + dt.timedelta(days=1),
        position=2,
    )
    make_promo_code(event, code="SAVE10", discount_percent=10)

    booking, created = services.booking_reserve(
        user=customer,
        event_id=event.pk,
        items=[
            {"ticket_type": str(vip.pk), "quantity": 2},
            {"ticket_type": str(general.pk), "quantity": 3},
        ],
        promo_code="save10",
    )

    assert created
    with django_assert_num_queries(0):
        items = list(booking.items.all())
    stored = Booking.objects.select_related("event", "promo_code").get(pk=booking.pk)
    stored_items = list(BookingItem.objects.filter(booking=stored).select_related("ticket_type"))
    # Values only for what was built in Python (statuses are enum members).
    assert _loaded(booking, types=False) == _loaded(stored, types=False)
    assert [_loaded(item, types=False) for item in items] == [
        _loaded(item, types=False) for item in stored_items
    ]
    # Values and types for what the plan read with plain SQL.
    assert _loaded(booking.event) == _loaded(Event.objects.get(pk=event.pk))
    assert [_loaded(item.ticket_type) for item in items] == [
        _loaded(TicketType.objects.get(pk=item.ticket_type_id)) for item in stored_items
    ]
    assert booking.promo_code.code == stored.promo_code.code == "SAVE10"
    assert (stored.quantity, stored.subtotal, stored.discount, stored.total_price) == (
        5,
        Decimal("799.97"),
        Decimal("80.00"),
        Decimal("719.97"),
    )
