"""Every state change of a booking: reserve, quote, pay, cancel, expire,
refund, and the waiting list that hands returned tickets on.

Callers use the package: ``from bookings import services;
services.booking_reserve(...)``. Its modules only import downward:

- ``_core``     errors, the per-user limit, **taking tickets**
                (``tickets_take_locked``), creating holds (``booking_hold_locked``),
                **seats** (which are free, the best available: ``seats_best``)
- ``waitlist``  joining the waiting list, serving it, following its offers
- ``returns``   **giving tickets back** (``tickets_return_locked``): capacity,
                quotas and code uses together, then the waiting list is served
- ``expiry``    releasing lapsed holds (lazily and in the beat task)
- ``refunds``   refund tiers and sending refunds
- ``reserve``   ``booking_reserve`` and ``booking_quote``
- ``pay``       ``booking_pay``
- ``cancel``    ``booking_cancel``, ``waitlist_leave``, an event's cancellation

and the money arithmetic is ``bookings.pricing`` (pure, no database).

Guarantees (each tested on PostgreSQL with concurrent threads and processes):

- **Never oversold, never over-used.** The event's ``tickets_taken``, each
  ticket type's ``tickets_taken`` (within its quota) and each promo code's
  ``uses`` (within ``max_uses``) move only here, by conditional ``UPDATE``\\ s
  whose row counts are checked, while the event's row lock is held; the
  database also ``CHECK``\\ s them.
- **Lock order.** The event's row first (the conditional ``UPDATE`` on it
  takes it), then its ticket types in ascending id order, then the promo
  code, then bookings; everything that moves an event's counters holds its
  lock, so two operations never wait on each other in a circle.
- **Expiry needs no worker** (``expiry``).
- **No gateway call under a lock**, and money is never kept without a booking.
- **The waiting list first.** Tickets that come back are handed to the
  waiting list in the same transaction, under the event lock, by an explicit
  call (``tickets_return_locked`` → ``waitlist_serve_locked``). While anyone
  waits for a ticket type no new buyer gets a ticket of it.

``bookings.signals.bookings_changed`` tells the followers that may lag
(analytics, notifications); no booking rule depends on it.
"""

from bookings.services._core import (
    MAX_ITEMS,
    MAX_QUANTITY,
    Line,
    booking_hold_locked,
    retry_on_conflict,
    seats_best,
    seats_pick_best_locked,
    tickets_take_locked,
)
from bookings.services.cancel import (
    booking_cancel,
    event_cancel_bookings,
    events_cancelling,
    waitlist_leave,
)
from bookings.services.expiry import holds_release_expired, holds_release_lapsed_locked
from bookings.services.pay import booking_pay
from bookings.services.refunds import (
    booking_refund_quote,
    refund_execute,
    refund_percent,
    refunds_retry_pending,
)
from bookings.services.reserve import (
    PROMO_MESSAGES,
    Quote,
    QuoteItem,
    booking_quote,
    booking_reserve,
    promo_invalid,
)
from bookings.services.returns import tickets_return_locked
from bookings.services.waitlist import (
    waitlist_close_locked,
    waitlist_join,
    waitlist_offers_settle_locked,
    waitlist_serve_locked,
)

__all__ = [
    "MAX_ITEMS",
    "MAX_QUANTITY",
    "PROMO_MESSAGES",
    "Line",
    "Quote",
    "QuoteItem",
    "booking_cancel",
    "booking_hold_locked",
    "booking_pay",
    "booking_quote",
    "booking_refund_quote",
    "booking_reserve",
    "event_cancel_bookings",
    "events_cancelling",
    "holds_release_expired",
    "holds_release_lapsed_locked",
    "promo_invalid",
    "refund_execute",
    "refund_percent",
    "refunds_retry_pending",
    "retry_on_conflict",
    "seats_best",
    "seats_pick_best_locked",
    "tickets_return_locked",
    "tickets_take_locked",
    "waitlist_close_locked",
    "waitlist_join",
    "waitlist_leave",
    "waitlist_offers_settle_locked",
    "waitlist_serve_locked",
]
