"""Tickets coming back: the one way every cancelled or expired booking gives
back what it took, and hands it to the waiting list first."""

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from django.db.models import F, Sum

from bookings.models import Booking, BookingItem
from bookings.services._core import seats_release_locked
from bookings.services.waitlist import waitlist_serve_locked
from events.models import Event, PromoCode, TicketType


def tickets_return_locked(*, event: Event, bookings: Sequence[Booking], now: dt.datetime) -> int:
    """Give back what ``bookings`` took (they were just cancelled or expired;
    ``event``, theirs, is locked by the caller and its counters current): the
    event's capacity, each ticket type's quota and each promo code's uses,
    together, and the seats of a seated event. Then serve the waiting list
    with them, in the same transaction, so returned tickets reach the people
    waiting before any new buyer (this may create other people's holds).
    Returns the tickets given back."""
    if not bookings:
        return 0
    quantity = sum(booking.quantity for booking in bookings)
    per_type = dict(
        BookingItem.objects.filter(booking_id__in=[booking.pk for booking in bookings])
        .order_by()
        .values_list("ticket_type_id")
        .annotate(n=Sum("quantity"))
    )
    per_code = Counter()
    for booking in bookings:
        if booking.promo_code_id is not None:
            per_code[booking.promo_code_id] += booking.quantity

    # The lock order: the event (locked already), its types by id, its codes.
    event.tickets_taken -= quantity
    Event.objects.filter(pk=event.pk).update(tickets_taken=event.tickets_taken)
    for type_id in sorted(per_type):
        TicketType.objects.filter(pk=type_id).update(
            tickets_taken=F("tickets_taken") - per_type[type_id]
        )
    for code_id in sorted(per_code):
        PromoCode.objects.filter(pk=code_id).update(uses=F("uses") - per_code[code_id])
    if event.seated:
        seats_release_locked(booking_ids=[booking.pk for booking in bookings], now=now)

    waitlist_serve_locked(event=event, now=now)
    return quantity
