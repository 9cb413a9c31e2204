"""The waiting list of a sold-out ticket type: joining it, serving it, and
following its offers.

Serving rule: **first come, first served, per ticket type.** When tickets
come back, ``waitlist_serve_locked`` runs under the event's row lock: a
cancel or an expiry gives them back through ``returns.tickets_return_locked``,
which calls it; more capacity or quota (``events.services``) and an entry
leaving (``waitlist_leave``) call it directly. The entries still
waiting are walked in the order they joined, whatever their type. An entry
fits when its quantity is within both the event's free capacity and its
type's free quota; it then gets a ``held`` booking for its quantity (the
normal hold time) and becomes ``offered``. An entry that does not fit keeps
its place, and the later entries *of its type* wait behind it (nobody
overtakes within a type, so a large entry is never starved by smaller ones);
entries of other types are still served. While anyone waits for a type
(``TicketType.waitlist_waiting > 0``) the reserve refuses new buyers of that
type: what comes back is theirs.

An entry whose user would go over the event's per-user limit with its offer
is ``closed`` and skipped: the next entry is served.

An offer is a normal hold. The services that pay, cancel or expire a hold
call ``waitlist_offers_settle_locked``: paid → the entry is ``fulfilled``;
ran out or cancelled → ``expired``/``cancelled``, and the tickets given back
go to the next entries.

Race-free: every change to the entries and to the ``waitlist_waiting``
counters (the event's, the sum, and each type's) happens while the event's
row lock is held.
"""

import datetime as dt
import logging
import uuid

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from bookings import notifications
from bookings.models import (
    ACTIVE_WAITLIST_STATUSES,
    NotificationKind,
    WaitlistEntry,
    WaitlistStatus,
)
from bookings.services._core import (
    booking_hold_locked,
    live_quantity,
    retry_on_conflict,
    seats_free_count,
)
from events.models import Event, EventStatus, TicketType
from events.selectors import ticket_type_available, ticket_types_lapsed
from nuvio.errors import BookingClosed, Invalid, InvalidState, LimitExceeded, NotFound
from nuvio.timezones import human

logger = logging.getLogger("nuvio.waitlist")

# Entries read per query while serving.
_SERVE_BATCH = 100


def _plural(n: int, word: str = "ticket") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def waiting_add_locked(event: Event, changes: dict) -> None:
    """Move the ``waitlist_waiting`` counters: ``changes`` maps a ticket type
    id to the entries that started (+) or stopped (-) waiting for it; the
    event's counter moves by their sum. The event is locked by the caller."""
    changes = {type_id: n for type_id, n in changes.items() if n}
    if not changes:
        return
    event.waitlist_waiting += sum(changes.values())
    Event.objects.filter(pk=event.pk).update(waitlist_waiting=event.waitlist_waiting)
    for type_id in sorted(changes):
        TicketType.objects.filter(pk=type_id).update(
            waitlist_waiting=F("waitlist_waiting") + changes[type_id]
        )


# --- join ----------------------------------------------------------------------


def _type_to_wait_for(event: Event, ticket_type_id) -> TicketType:
    types = list(TicketType.objects.filter(event=event))
    if ticket_type_id is not None:
        try:
            wanted = uuid.UUID(str(ticket_type_id))
        except ValueError:
            wanted = None
        found = [t for t in types if t.pk == wanted and not t.hidden]
        if not found:
            raise Invalid(
                "No such ticket type for this event.",
                details={"ticket_type": ["Not a ticket type of this event."]},
            )
        return found[0]
    public = [t for t in types if not t.hidden]
    if not public:
        raise BookingClosed("No tickets are on sale for this event.")
    if len(public) > 1:
        raise Invalid(
            "This event sells several ticket types: choose the one to wait for.",
            details={"ticket_type": ["Choose a ticket type."]},
        )
    return public[0]


@retry_on_conflict
def waitlist_join(
    *, user: User, event_id, quantity: int, ticket_type_id=None, now=None
) -> WaitlistEntry:
    """Put ``user`` on the waiting list of a sold-out ticket type for
    ``quantity`` tickets; returns the entry with its ``position``.

    ``ticket_type_id`` may be left out when the event has one public type.
    Only when no new buyer can get a ticket of that type: none is available
    (lapsed holds counting as available) or people already wait for it.
    Raises ``NotFound`` (no such event, or a draft), ``BookingClosed``
    (cancelled, not on sale, booking disabled, started; the type's sale
    window closed: details ``reason``, ``ticket_type``), ``Invalid`` (no such
    type, or one is needed; quantity outside 1..max_tickets_per_user or above
    the type's ``max_per_booking``), ``InvalidState`` (tickets are available,
    or the user already has an active entry for the event) or
    ``LimitExceeded`` (the tickets the user already has plus ``quantity``
    would break the per-user limit).
    """
    now = now or timezone.now()
    try:
        event_id = uuid.UUID(str(event_id))
    except ValueError:
        raise NotFound("No such event.") from None
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None or (event.status == EventStatus.DRAFT and not user.is_staff):
            raise NotFound("No such event.")
        reason = event.booking_closed_reason(now)
        if reason:
            raise BookingClosed(reason)
        ticket_type = _type_to_wait_for(event, ticket_type_id)
        closed = ticket_type.sale_closed_reason(now)
        if closed:
            not_yet = ticket_type.sale_starts_at and now < ticket_type.sale_starts_at
            raise BookingClosed(
                closed,
                details={
                    "reason": "not_started" if not_yet else "ended",
                    "ticket_type": str(ticket_type.pk),
                },
            )
        limit = event.max_tickets_per_user
        if ticket_type.max_per_booking:
            limit = min(limit, ticket_type.max_per_booking)
        if not isinstance(quantity, int) or not 1 <= quantity <= limit:
            raise Invalid(
                f"Quantity must be between 1 and {limit}.",
                details={"quantity": [f"Must be between 1 and {limit}."]},
            )
        lapsed = ticket_types_lapsed(event_id=event.pk, now=now)
        available = ticket_type_available(
            ticket_type,
            event_free=event.capacity - event.tickets_taken + sum(lapsed.values()),
            lapsed=lapsed.get(ticket_type.pk, 0),
        )
        if event.seated and available > 0:  # the type's own seats may be gone
            available = min(
                available, seats_free_count(event=event, ticket_type=ticket_type, now=now)
            )
        if available > 0:
            raise InvalidState(
                "This event is not sold out: book the tickets instead."
                if ticket_type_id is None
                else f"{ticket_type.name} is not sold out: book the tickets instead.",
                details={"available": available},
            )
        active = WaitlistEntry.objects.filter(
            user=user, event=event, status__in=ACTIVE_WAITLIST_STATUSES
        )
        if active.exists():
            raise InvalidState("You are already on the waiting list for this event.")
        already = live_quantity(user=user, event_id=event.pk, now=now)
        if already + quantity > event.max_tickets_per_user:
            raise LimitExceeded(
                f"You may hold at most {event.max_tickets_per_user} tickets for this event; "
                f"you already have {already}.",
                details={"limit": event.max_tickets_per_user, "already_held": already},
            )
        entry = WaitlistEntry.objects.create(
            user=user, event=event, ticket_type=ticket_type, quantity=quantity, created_at=now
        )
        waiting_add_locked(event, {ticket_type.pk: 1})
    return WaitlistEntry.objects.with_position().select_related("ticket_type").get(pk=entry.pk)


# --- serving -------------------------------------------------------------------


def waitlist_serve_locked(*, event: Event, now: dt.datetime) -> list[WaitlistEntry]:
    """Offer the free tickets of ``event`` (locked by the caller, its counters
    current) to the waiting entries, first come first served per type (see
    the module docstring). Returns the entries offered. Nothing happens while
    booking is closed (the entries keep waiting) or when nobody waits, which
    costs no query; the entries of a type whose sale window is closed wait."""
    if not event.waitlist_waiting or event.booking_closed_reason(now):
        return []
    types = {t.pk: t for t in TicketType.objects.filter(event=event, waitlist_waiting__gt=0)}
    blocked = {pk for pk, t in types.items() if t.sale_closed_reason(now)}
    offered: list[WaitlistEntry] = []
    stopped: dict = {}
    last = None
    while event.capacity > event.tickets_taken and len(blocked) < len(types):
        waiting = WaitlistEntry.objects.filter(
            event=event, status=WaitlistStatus.WAITING, ticket_type_id__in=list(types)
        ).exclude(ticket_type_id__in=blocked)
        if last is not None:
            waiting = waiting.filter(
                Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, id__gt=last.pk)
            )
        batch = list(waiting.select_related("user").order_by("created_at", "id")[:_SERVE_BATCH])
        if not batch:
            break
        for entry in batch:
            last = entry
            ticket_type = types[entry.ticket_type_id]
            if ticket_type.pk in blocked:
                continue
            free = event.capacity - event.tickets_taken
            if ticket_type.quota is not None:
                free = min(free, ticket_type.quota - ticket_type.tickets_taken)
            if event.seated:  # the type's own seats, whatever the capacity says
                free = min(free, seats_free_count(event=event, ticket_type=ticket_type))
            if entry.quantity > free:
                blocked.add(ticket_type.pk)  # nobody overtakes it within its type
                continue
            booking = booking_hold_locked(
                event=event, user=entry.user, ticket_type=ticket_type, quantity=entry.quantity,
                now=now,
            )  # fmt: skip
            stopped[ticket_type.pk] = stopped.get(ticket_type.pk, 0) - 1
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
            _tell_offer(event, entry, booking)
            if event.capacity == event.tickets_taken:
                break
    waiting_add_locked(event, stopped)
    return offered


def _tell_offer(event: Event, entry: WaitlistEntry, booking) -> None:
    notifications.notify(
        user_id=entry.user_id,
        kind=NotificationKind.WAITLIST_OFFER,
        message=(
            f"Tickets came back for {event.name}: {_plural(entry.quantity)} "
            f"{'are' if entry.quantity != 1 else 'is'} held for you until "
            f"{human(booking.expires_at, event.timezone)}. Pay before then to keep them."
        ),
        booking_id=booking.pk,
        event_id=event.pk,
        dedupe_key=f"waitlist_offer:{entry.pk}",
    )


def waitlist_offers_settle_locked(*, booking_ids, change: str, now: dt.datetime) -> None:
    """Follow the fate of offered holds among ``booking_ids`` (their event
    locked by the caller): ``confirmed`` → the entry is ``fulfilled`` (an
    offer paid just after it ran out still counts, if its tickets were
    free); ``expired`` or ``cancelled`` → the entry is too. The tickets of an
    ended offer come back through ``tickets_return_locked``, which serves the
    next entries."""
    entries = WaitlistEntry.objects.filter(offered_booking_id__in=booking_ids)
    if change == "confirmed":
        entries.filter(status__in=[WaitlistStatus.OFFERED, WaitlistStatus.EXPIRED]).update(
            status=WaitlistStatus.FULFILLED, ended_at=now
        )
    elif change in ("expired", "cancelled"):
        status = WaitlistStatus.EXPIRED if change == "expired" else WaitlistStatus.CANCELLED
        entries.filter(status=WaitlistStatus.OFFERED).update(status=status, ended_at=now)
    else:
        raise ValueError(f"not a change of an offer: {change}")


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
        event.waitlist_waiting = 0
        Event.objects.filter(pk=event.pk).update(waitlist_waiting=0)
    TicketType.objects.filter(event=event, waitlist_waiting__gt=0).update(waitlist_waiting=0)
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
