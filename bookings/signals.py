"""What the booking services announce, for the parts of Nuvio that follow them
(analytics roll-ups, the waiting list, notifications).

Both are sent *inside* the service's transaction, after the change:

- ``bookings_changed(event_id, booking_ids, change, now)``: ``change`` is one
  of ``reserved``, ``confirmed``, ``cancelled``, ``expired``, ``refunded``.
  Receivers that do anything outside the database (e-mail, cache, tasks) must
  defer it with ``transaction.on_commit``, so a rollback sends nothing.
- ``tickets_released(event, quantity, now)``: tickets went back to ``event``
  (a cancel, an expiry, more capacity). The event row is locked by the sender
  and ``event.tickets_taken`` is current, so a receiver may hand the tickets
  on (the waiting list) in the same transaction, before any new buyer can see
  them.
"""

from django.dispatch import Signal

bookings_changed = Signal()
tickets_released = Signal()
