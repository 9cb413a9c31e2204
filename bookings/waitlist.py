"""The waiting list of a sold-out event: join, leave, and serving it.

Serving rule: **strict first come, first served.** When tickets come back (a
cancel, an expiry, a refund, more capacity: every path that returns tickets
ends in ``services._give_back``, which sends ``tickets_released`` under the
event's row lock), the receiver here walks the entries still waiting in the
order they joined and gives each a ``held`` booking for its quantity (the
normal hold time), the entry becoming ``offered``. It stops at the first entry
whose quantity does not fit the free tickets: that entry keeps its place and
the entries behind it wait too (nobody overtakes, so a large entry is never
starved by smaller ones). The tickets left free are kept for the waiting
list: while any entry waits (``Event.waitlist_waiting > 0``) the reserve
paths refuse new buyers (``sold_out``).

An entry whose user would go over the event's per-user limit with its offer
(they bought or were given other tickets since joining) is ``closed`` and
skipped: the next entry is served.

An offer is a normal hold. When it is paid the entry is ``fulfilled``; when it
runs out (released by the beat task, or by a reserve that needs its tickets)
or is cancelled, the entry is ``expired`` or ``cancelled`` and its tickets,
given back by the same services, are served to the next entries by the same
receiver, in the same transaction.

Race-free: every change to the entries and to ``waitlist_waiting`` happens
while the event's row lock is held (lock order: the event, then its bookings
and entries), so two releases never serve the same entry or the same tickets
twice.
"""

import datetime as dt
import logging
import uuid

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bookings import notifications, services
from bookings.models import (
    ACTIVE_WAITLIST_STATUSES,
    BookingStatus,
    NotificationKind,
    WaitlistEntry,
    WaitlistStatus,
)
from events.models import Event, EventStatus
from nuvio.errors import BookingClosed, Invalid, InvalidState, LimitExceeded, NotFound

logger = logging.getLogger("nuvio.waitlist")

# Entries read per query while serving, beyond one per free ticket (entries
# closed for the per-user limit do not use tickets).
_SERVE_SLACK = 20


def _plural(n: int, word: str = "ticket") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


# --- join and leave ----------------------------------------------------------


@services.retry_on_conflict
def waitlist_join(*, user: User, event_id, quantity: int, now=None) -> WaitlistEntry:
    """Put ``user`` on the waiting list of a sold-out event for ``quantity``
    tickets; returns the entry with its ``position``.

    Only when no new buyer can get a ticket: nothing is available (lapsed holds
    counting as available, as ``Event.objects.with_available`` says) or people
    are already waiting. Raises ``NotFound`` (no such event, or a draft),
    ``BookingClosed`` (cancelled, not on sale, booking disabled, started),
    ``Invalid`` (quantity outside 1..max_tickets_per_user), ``InvalidState``
    (tickets are available, or the user already has an active entry) or
    ``LimitExceeded`` (the tickets the user already has plus ``quantity`` would
    break the per-user limit).
    """
    now = now or timezone.now()
    try:
        event_id = uuid.UUID(str(event_id))
    except ValueError:
        raise NotFound("No such event.") from None
    with transaction.atomic():
        event = Event.objects.select_for_update().with_available(now).filter(pk=event_id).first()
        if event is None or (event.status == EventStatus.DRAFT and not user.is_staff):
            raise NotFound("No such event.")
        reason = event.booking_closed_reason(now)
        if reason:
            raise BookingClosed(reason)
        limit = event.max_tickets_per_user
        if not isinstance(quantity, int) or not 1 <= quantity <= limit:
            raise Invalid(
                f"Quantity must be between 1 and {limit}.",
                details={"quantity": [f"Must be between 1 and {limit}."]},
            )
        if event.available_now > 0 and not event.waitlist_waiting:
            raise InvalidState(
                "This event is not sold out: book the tickets instead.",
                details={"available": event.available_now},
            )
        active = WaitlistEntry.objects.filter(
            user=user, event=event, status__in=ACTIVE_WAITLIST_STATUSES
        )
        if active.exists():
            raise InvalidState("You are already on the waiting list for this event.")
        already = services._live_quantity(user=user, event_id=event.pk, now=now)
        if already + quantity > limit:
            raise LimitExceeded(
                f"You may hold at most {limit} tickets for this event; you already have {already}.",
                details={"limit": limit, "already_held": already},
            )
        entry = WaitlistEntry.objects.create(
            user=user, event=event, quantity=quantity, created_at=now
        )
        _set_waiting(event, event.waitlist_waiting + 1)
    return WaitlistEntry.objects.with_position().get(pk=entry.pk)


@services.retry_on_conflict
def waitlist_leave(*, user: User, entry_id, now=None) -> WaitlistEntry:
    """Take ``user``'s entry off the waiting list.

    A waiting entry is ``cancelled`` (the entries behind it move up, and are
    served if the tickets free now fit the new first one); an offered entry
    gives its hold back, which goes to the next entries. An entry no longer
    active is left as it is (leaving twice is harmless). Raises ``NotFound``
    for someone else's entry.
    """
    now = now or timezone.now()
    entry = WaitlistEntry.objects.filter(pk=entry_id, user=user).first()
    if entry is None:
        raise NotFound("No such waiting list entry.")
    if not entry.is_active:
        return entry
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=entry.event_id)
        entry = WaitlistEntry.objects.select_related("offered_booking").get(pk=entry.pk)
        if entry.status == WaitlistStatus.WAITING:
            WaitlistEntry.objects.filter(pk=entry.pk).update(
                status=WaitlistStatus.CANCELLED, ended_at=now
            )
            _set_waiting(event, event.waitlist_waiting - 1)
            waitlist_serve_locked(event=event, now=now)
        elif entry.status == WaitlistStatus.OFFERED:
            booking = entry.offered_booking
            if booking.is_lapsed(now):
                # Its time ran out: released as expired (the entry with it).
                services._release_lapsed_locked(event, now)
            elif booking.status == BookingStatus.HELD:
                services._cancel_locked(booking_id=booking.pk, now=now, full_refund=False)
    entry.refresh_from_db()
    return entry


# --- serving -----------------------------------------------------------------


def _set_waiting(event: Event, waiting: int) -> None:
    event.waitlist_waiting = waiting
    Event.objects.filter(pk=event.pk).update(waitlist_waiting=waiting)


def waitlist_serve_locked(*, event: Event, now: dt.datetime) -> list[WaitlistEntry]:
    """Offer the free tickets of ``event`` (locked by the caller, its counters
    current) to the waiting entries, strict first come, first served (see the
    module docstring). Returns the entries offered. Nothing happens while
    booking is closed (the entries keep waiting) or when nobody waits, which
    costs no query."""
    if not event.waitlist_waiting or event.booking_closed_reason(now):
        return []
    offered: list[WaitlistEntry] = []
    left_waiting = event.waitlist_waiting
    waiting = (
        WaitlistEntry.objects.filter(event=event, status=WaitlistStatus.WAITING)
        .select_related("user")
        .order_by("created_at", "id")
    )
    done = False
    while not done:
        free = event.capacity - event.tickets_taken
        if free <= 0:
            break
        batch = list(waiting[: free + _SERVE_SLACK])
        done = len(batch) < free + _SERVE_SLACK
        for entry in batch:
            if entry.quantity > event.capacity - event.tickets_taken:
                done = True  # strict FIFO: the first entry that does not fit holds the line
                break
            booking = services.booking_hold_locked(
                event=event, user=entry.user, quantity=entry.quantity, now=now
            )
            left_waiting -= 1
            if booking is None:
                # The offer would break the per-user limit: close the entry, serve the next.
                WaitlistEntry.objects.filter(pk=entry.pk).update(
                    status=WaitlistStatus.CLOSED, ended_at=now
                )
                logger.info("waitlist entry %s closed: over the per-user limit", entry.pk)
                continue
            WaitlistEntry.objects.filter(pk=entry.pk).update(
                status=WaitlistStatus.OFFERED, offered_booking=booking, offered_at=now
            )
            entry.status, entry.offered_booking, entry.offered_at = (
                WaitlistStatus.OFFERED,
                booking,
                now,
            )
            offered.append(entry)
            expires = booking.expires_at.astimezone(dt.UTC)
            notifications.notify(
                user_id=entry.user_id,
                kind=NotificationKind.WAITLIST_OFFER,
                message=(
                    f"Tickets came back for {event.name}: {_plural(entry.quantity)} "
                    f"{'are' if entry.quantity != 1 else 'is'} held for you until "
                    f"{expires:%H:%M} UTC on {expires:%d %b %Y}. Pay before then to keep them."
                ),
                booking_id=booking.pk,
                event_id=event.pk,
                dedupe_key=f"waitlist_offer:{entry.pk}",
            )
    if left_waiting != event.waitlist_waiting:
        _set_waiting(event, left_waiting)
    return offered


def waitlist_close_locked(*, event: Event, now: dt.datetime) -> int:
    """Close the waiting list of a cancelled event (locked by the caller):
    every active entry becomes ``closed`` and each person still waiting is told
    (an offered entry's person hears about their hold when it is cancelled).
    Returns how many entries were closed; running it again closes nothing."""
    waiting = list(
        WaitlistEntry.objects.filter(event=event, status=WaitlistStatus.WAITING).values_list(
            "id", "user_id"
        )
    )
    closed = WaitlistEntry.objects.filter(event=event, status__in=ACTIVE_WAITLIST_STATUSES).update(
        status=WaitlistStatus.CLOSED, ended_at=now
    )
    if event.waitlist_waiting:
        _set_waiting(event, 0)
    for entry_id, user_id in waiting:
        notifications.notify(
            user_id=user_id,
            kind=NotificationKind.EVENT_CANCELLED,
            message=(
                f"{event.name} was cancelled, so its waiting list is closed. "
                "You were not charged anything."
            ),
            event_id=event.pk,
            dedupe_key=f"event_cancelled:waitlist:{entry_id}",
        )
    return closed


# --- receivers (connected in BookingsConfig.ready) ---------------------------


def on_tickets_released(sender, event: Event, quantity: int, now: dt.datetime, **kwargs) -> None:
    """Tickets came back to ``event`` (locked): the waiting list gets them first."""
    waitlist_serve_locked(event=event, now=now)


def on_bookings_changed(sender, event_id, booking_ids, change: str, now, **kwargs) -> None:
    """Follow the fate of offered holds: paid → ``fulfilled``; ran out or
    cancelled → ``expired``/``cancelled`` (their tickets then come back through
    ``tickets_released`` and go to the next entries)."""
    if change not in ("confirmed", "expired", "cancelled"):
        return  # a new hold (the commonest change) is nobody's offer yet
    entries = WaitlistEntry.objects.filter(offered_booking_id__in=booking_ids)
    if change == "confirmed":
        # An offer paid just after it ran out is still honoured if its tickets were free.
        entries.filter(status__in=[WaitlistStatus.OFFERED, WaitlistStatus.EXPIRED]).update(
            status=WaitlistStatus.FULFILLED, ended_at=now
        )
    elif change in ("expired", "cancelled"):
        status = WaitlistStatus.EXPIRED if change == "expired" else WaitlistStatus.CANCELLED
        entries.filter(status=WaitlistStatus.OFFERED).update(status=status, ended_at=now)


# --- reads -------------------------------------------------------------------


def waitlist_for_user(*, user: User, active_only: bool = False):
    """A user's entries, newest first, with ``position`` (None unless waiting),
    their event and offered booking, in one query."""
    entries = (
        WaitlistEntry.objects.filter(user=user)
        .with_position()
        .select_related("event", "offered_booking")
        .order_by("-created_at", "-id")
    )
    if active_only:
        entries = entries.filter(status__in=ACTIVE_WAITLIST_STATUSES)
    return entries


def waitlist_entry_for(*, user: User, event: Event) -> WaitlistEntry | None:
    """The user's active entry for ``event``, with its position, or None."""
    return (
        waitlist_for_user(user=user, active_only=True).filter(event=event).first()
        if user.is_authenticated
        else None
    )
