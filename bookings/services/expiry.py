"""Holds that ran out.

A hold past ``expires_at`` is shown as expired and its tickets count as
available at once (``Booking.effective_status``,
``EventQuerySet.with_available``, ``events.selectors.ticket_types_lapsed``),
worker or not. It is *released* (status and counters) by the beat task
(``holds_release_expired``) or by the next reserve that needs its tickets,
each exactly once because only a row still ``held`` can be released.
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from bookings.models import Booking, BookingStatus
from bookings.services._core import bookings_announce
from bookings.services.returns import tickets_return_locked
from bookings.services.waitlist import waitlist_offers_settle_locked
from events.models import Event


def holds_release_lapsed_locked(*, event: Event, now: dt.datetime) -> int:
    """Release the event's lapsed holds; the caller holds the event's lock.

    Each becomes ``expired``, an offer of the waiting list among them ends,
    and their capacity, quotas and code uses come back (to the waiting list
    first: ``tickets_return_locked``). Only rows still ``held`` change, so a
    hold is released once whoever gets there first. Returns the tickets freed.
    """
    lapsed = list(
        Booking.objects.lapsed_holds(now)
        .filter(event=event)
        .select_for_update()
        .only("id", "quantity", "promo_code_id")
    )
    if not lapsed:
        return 0
    ids = [booking.pk for booking in lapsed]
    Booking.objects.filter(id__in=ids, status=BookingStatus.HELD).update(
        status=BookingStatus.EXPIRED, expired_at=now
    )
    waitlist_offers_settle_locked(booking_ids=ids, change="expired", now=now)
    bookings_announce(event.pk, ids, "expired", now)
    return tickets_return_locked(event=event, bookings=lapsed, now=now)


def holds_release_expired(*, now=None, batch_size: int = 100) -> int:
    """Release every lapsed hold, a batch of events at a time; returns tickets freed.

    Events another worker (or a busy sale) has locked are skipped
    (``skip_locked``) and picked up on a later run; the read side already
    counts their lapsed holds as available meanwhile.
    """
    now = now or timezone.now()
    freed = 0
    while True:
        event_ids = list(
            Booking.objects.lapsed_holds(now)
            .values_list("event_id", flat=True)
            .distinct()[:batch_size]
        )
        if not event_ids:
            return freed
        progress = 0
        for event_id in event_ids:
            with transaction.atomic():
                event = (
                    Event.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
                )
                if event is not None:
                    progress += holds_release_lapsed_locked(event=event, now=now)
        freed += progress
        if progress == 0:
            return freed  # everything left is locked by someone else: next run
