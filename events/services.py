"""Every state change of an event. Views, the API, admin actions and commands
call these; each runs in one transaction and invalidates the catalog cache
after commit."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from events import cache as catalog_cache
from events.models import Event, EventStatus
from nuvio.errors import Invalid, InvalidState

EDITABLE_FIELDS = {
    "name",
    "description",
    "category",
    "venue_name",
    "venue_address",
    "city",
    "state",
    "country",
    "postal_code",
    "starts_at",
    "ends_at",
    "capacity",
    "price",
    "currency",
    "status",
    "booking_enabled",
    "max_tickets_per_user",
    "refund_tiers",
}


def _check_dates(starts_at, ends_at) -> None:
    if ends_at <= starts_at:
        raise Invalid(
            "The event must end after it starts.",
            details={"ends_at": ["Must be after starts_at."]},
        )


def event_create(*, actor: User, data: dict[str, Any], now=None) -> Event:
    """Create an event (draft unless ``status`` says published).

    Raises ``Invalid`` when it would start in the past or end before it starts.
    """
    now = now or timezone.now()
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if data.get("status") == EventStatus.CANCELLED:
        raise Invalid(
            "A new event cannot be cancelled.",
            details={"status": ["Choose draft or published."]},
        )
    if data["starts_at"] <= now:
        raise Invalid(
            "The event must start in the future.",
            details={"starts_at": ["Must be in the future."]},
        )
    _check_dates(data["starts_at"], data["ends_at"])
    with transaction.atomic():
        event = Event.objects.create(created_by=actor, **data)
        catalog_cache.catalog_changed()
    return event


def event_update(*, actor: User, event_id, data: dict[str, Any]) -> Event:
    """Change an event's facts under its row lock.

    Capacity never drops below the tickets already held or confirmed
    (``Invalid``); a cancelled event cannot be edited or reopened, and an event
    with tickets out cannot go back to draft (``InvalidState``). Cancelling goes
    through ``event_cancel``, which refunds everyone.
    """
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event.status == EventStatus.CANCELLED:
            raise InvalidState("A cancelled event cannot be changed.")
        new_status = data.get("status", event.status)
        if new_status == EventStatus.CANCELLED:
            raise Invalid(
                "Cancel an event with its cancel action, which refunds every booking.",
                details={"status": ["Use POST /api/events/{id}/cancel/ to cancel."]},
            )
        if (
            new_status == EventStatus.DRAFT
            and event.status == EventStatus.PUBLISHED
            and event.tickets_taken > 0
        ):
            raise InvalidState(
                "Tickets are held or sold for this event: it cannot go back to draft."
            )
        capacity = data.get("capacity", event.capacity)
        if capacity < event.tickets_taken:
            raise Invalid(
                f"Capacity cannot be below the {event.tickets_taken} tickets held or sold.",
                details={"capacity": [f"Must be at least {event.tickets_taken} (tickets taken)."]},
            )
        _check_dates(data.get("starts_at", event.starts_at), data.get("ends_at", event.ends_at))
        for field, value in data.items():
            setattr(event, field, value)
        event.save()
        catalog_cache.catalog_changed()
    return event


def event_delete(*, actor: User, event_id) -> None:
    """Delete an event that never had a booking; otherwise ``InvalidState``."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event_has_bookings(event):
            raise InvalidState(
                "This event has bookings and cannot be deleted; cancel it instead.",
            )
        event.delete()
        catalog_cache.catalog_changed()


def event_has_bookings(event: Event) -> bool:
    return event.tickets_taken > 0 or event.bookings.exists()


def event_publish(*, actor: User, event_id) -> Event:
    return event_update(actor=actor, event_id=event_id, data={"status": EventStatus.PUBLISHED})


def event_unpublish(*, actor: User, event_id) -> Event:
    return event_update(actor=actor, event_id=event_id, data={"status": EventStatus.DRAFT})
