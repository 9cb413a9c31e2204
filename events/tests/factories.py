"""Test helpers to make events quickly."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from events.models import Event, EventStatus


def make_event(**overrides) -> Event:
    starts_at = overrides.pop("starts_at", timezone.now() + dt.timedelta(days=30))
    fields = {
        "name": "Test Event",
        "venue_name": "Test Hall",
        "city": "Mumbai",
        "starts_at": starts_at,
        "ends_at": overrides.pop("ends_at", starts_at + dt.timedelta(hours=3)),
        "capacity": 100,
        "price": Decimal("500.00"),
        "currency": "INR",
        "status": EventStatus.PUBLISHED,
    }
    fields.update(overrides)
    return Event.objects.create(**fields)
