"""Every state change of an event. Views, the API, admin actions and commands
call these; each runs in one transaction and invalidates the catalog cache
after commit."""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bookings.signals import tickets_released
from bookings.tasks import cancel_event_bookings
from bookings.waitlist import waitlist_serve_locked
from events import cache as catalog_cache
from events.models import Event, EventStatus
from nuvio.errors import Invalid, InvalidState, NotFound

logger = logging.getLogger("nuvio.events")

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

    More capacity is handed out like tickets that come back: the new tickets go
    to the waiting list first (``tickets_released``, still under the lock).
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
        old_capacity = event.capacity
        for field, value in data.items():
            setattr(event, field, value)
        event.save()
        now = timezone.now()
        if event.capacity > old_capacity:
            tickets_released.send(
                sender=Event, event=event, quantity=event.capacity - old_capacity, now=now
            )
        elif event.waitlist_waiting:
            # Booking may have reopened (enabled again, start moved later): serve
            # whoever waits for the tickets already free.
            waitlist_serve_locked(event=event, now=now)
        catalog_cache.catalog_changed()
    return event


def event_cancel(*, actor: User | None, event_id) -> Event:
    """Cancel an event and refund every booking in full, in the background.

    The event becomes ``cancelled`` now, under its row lock, so from this
    commit on no reserve succeeds (``booking_closed``); then, after commit, the
    ``cancel_event_bookings`` task releases every hold, cancels every confirmed
    booking with a 100 % refund, closes the waiting list and notifies each
    holder. Cancelling a cancelled event dispatches the task again, which
    finishes what a dead worker left (nobody is refunded twice). Raises
    ``NotFound`` for no such event.
    """
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        if event.status != EventStatus.CANCELLED:
            event.status = EventStatus.CANCELLED
            event.save(update_fields=["status", "updated_at"])
            catalog_cache.catalog_changed()
        logger.info("event %s cancelled by %s", event.pk, actor or "a command")
        transaction.on_commit(
            lambda: cancel_event_bookings.delay(str(event.pk)),
            robust=True,  # if the broker is away, the beat's resume task dispatches it
        )
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
