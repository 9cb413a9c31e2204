"""What the booking services announce, for the parts of Nuvio that follow
them and may lag: analytics roll-ups and notifications.

``bookings_changed(event_id, booking_ids, change, now)`` is sent inside the
service's transaction, after the change; ``change`` is one of ``reserved``,
``confirmed``, ``cancelled``, ``expired``, ``refunded``. Receivers that do
anything outside the database (e-mail, cache, tasks) defer it with
``transaction.on_commit``, so a rollback sends nothing.

No booking rule hangs on it: what must happen in the same transaction (the
waiting list following its offers and getting returned tickets first) is an
explicit call in ``bookings.services``.
"""

from django.dispatch import Signal

bookings_changed = Signal()
