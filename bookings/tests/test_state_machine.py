"""Property-based tests of the booking state machine (hypothesis).

Random sequences of what people and staff do to one event (reserve, pay with
a good or a declined card, cancel, let time pass and release lapsed holds,
join and leave the waiting list, change the capacity, cancel the event), on a
clock moved forward by the test and passed to the services as ``now=``.
After every step:

- the counters agree with the bookings: capacity = free + active holds +
  confirmed, and every other check of ``inventory_problems()``;
- nobody holds or owns more than the per-user limit;
- no payment is refunded beyond its amount;
- every charge bought a confirmed booking or was refunded;
- a reserve is refused for lack of tickets only when there are not enough
  free (or people wait on the list), and succeeds only when there are.

Bounded (a few dozen sequences of a few dozen steps) so it runs in seconds;
each sequence runs in a savepoint rolled back at its end.
"""

import contextlib
import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.models import User
from bookings import services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, Payment, PaymentStatus, Refund
from events import services as event_services
from events.models import Event, EventStatus
from events.tests.factories import make_event
from nuvio.errors import NuvioError, SoldOut

pytestmark = pytest.mark.django_db

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
LIMIT = 3
_serial = itertools.count()


class BookingMachine(RuleBasedStateMachine):
    bookings = Bundle("bookings")
    entries = Bundle("entries")

    def __init__(self):
        super().__init__()
        self.savepoint = transaction.savepoint()
        run = next(_serial)
        self.now = timezone.now()
        self.hold = dt.timedelta(seconds=django_settings.NUVIO_HOLD_SECONDS)
        self.staff = User.objects.create_user(
            email=f"sm-staff-{run}@example.com", password="x", name="Staff", is_staff=True
        )
        self.users = [
            User.objects.create_user(email=f"sm-{run}-{i}@example.com", password="x", name=f"U{i}")
            for i in range(3)
        ]
        self.event: Event | None = None

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    # --- setup -------------------------------------------------------------------

    @precondition(lambda self: self.event is None)
    @rule(capacity=st.integers(1, 8), days=st.sampled_from([1, 4, 30]))
    def open_event(self, capacity, days):
        """The event: its start decides the refund tier (0 %, 50 %, 100 %)."""
        self.event = make_event(
            capacity=capacity,
            max_tickets_per_user=LIMIT,
            price=Decimal("99.50"),  # exact in binary: SQLite compares floats
            starts_at=self.now + dt.timedelta(days=days, hours=1),
        )

    def _open(self) -> bool:
        return self.event is not None

    # --- people ------------------------------------------------------------------

    @precondition(_open)
    @rule(target=bookings, who=st.integers(0, 2), quantity=st.integers(1, LIMIT + 1))
    def reserve(self, who, quantity):
        user = self.users[who]
        event = Event.objects.get(pk=self.event.pk)
        free = event.capacity - self._live_tickets()
        try:
            booking, _ = services.booking_reserve(
                user=user, event_id=event.pk, quantity=quantity, now=self.now
            )
        except SoldOut:
            assert free < quantity or event.waitlist_waiting, (free, quantity)
            return None
        except NuvioError:
            return None
        assert event.status == EventStatus.PUBLISHED
        assert free >= quantity and not event.waitlist_waiting, (free, quantity)
        return booking.pk

    @rule(booking_id=bookings, good=st.booleans())
    def pay(self, booking_id, good):
        if booking_id is None:
            return
        owner = Booking.objects.get(pk=booking_id).user
        with contextlib.suppress(NuvioError):
            services.booking_pay(
                user=owner,
                booking_id=booking_id,
                card_number=GOOD_CARD if good else DECLINED_CARD,
                now=self.now,
            )

    @rule(booking_id=consumes(bookings))
    def cancel(self, booking_id):
        if booking_id is None:
            return
        owner = Booking.objects.get(pk=booking_id).user
        with contextlib.suppress(NuvioError):
            services.booking_cancel(user=owner, booking_id=booking_id, now=self.now)

    @rule(seconds=st.integers(1, 2 * django_settings.NUVIO_HOLD_SECONDS))
    def time_passes(self, seconds):
        self.now += dt.timedelta(seconds=seconds)

    @rule()
    def release_lapsed_holds(self):
        services.holds_release_expired(now=self.now)

    @precondition(_open)
    @rule(target=entries, who=st.integers(0, 2), quantity=st.integers(1, LIMIT))
    def join_waitlist(self, who, quantity):
        try:
            entry = services.waitlist_join(
                user=self.users[who], event_id=self.event.pk, quantity=quantity, now=self.now
            )
        except NuvioError:
            return None
        return entry.pk

    @rule(entry_id=consumes(entries))
    def leave_waitlist(self, entry_id):
        if entry_id is None:
            return
        from bookings.models import WaitlistEntry

        entry = WaitlistEntry.objects.get(pk=entry_id)
        services.waitlist_leave(user=entry.user, entry_id=entry_id, now=self.now)

    # --- staff -------------------------------------------------------------------

    @precondition(_open)
    @rule(delta=st.integers(-3, 4))
    def change_capacity(self, delta):
        event = Event.objects.get(pk=self.event.pk)
        try:
            event_services.event_update(
                actor=self.staff,
                event_id=event.pk,
                data={"capacity": max(1, event.capacity + delta)},
            )
        except NuvioError:
            assert event.status == EventStatus.CANCELLED or event.capacity + delta < (
                event.tickets_taken
            )

    @precondition(_open)
    @rule(roll=st.integers(0, 3))
    def cancel_event(self, roll):
        if roll:  # one time in four: the rest of the run goes on after it
            return
        event_services.event_cancel(actor=self.staff, event_id=self.event.pk)
        services.event_cancel_bookings(event_id=self.event.pk, now=self.now)
        live = Booking.objects.filter(
            event=self.event, status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]
        )
        assert not live.exists()

    # --- invariants --------------------------------------------------------------

    def _live_tickets(self) -> int:
        """Held (not lapsed) and confirmed tickets of the event, at self.now."""
        live = Booking.objects.filter(event=self.event).filter(
            Q(status=BookingStatus.CONFIRMED)
            | Q(status=BookingStatus.HELD, expires_at__gt=self.now)
        )
        return live.aggregate(n=Sum("quantity"))["n"] or 0

    @invariant()
    def counters_agree(self):
        if self.event is not None:
            assert inventory_problems([self.event.pk], now=self.now) == []

    @invariant()
    def nobody_over_the_limit(self):
        if self.event is None:
            return
        for user in self.users:
            live = Booking.objects.filter(event=self.event, user=user).filter(
                Q(status=BookingStatus.CONFIRMED)
                | Q(status=BookingStatus.HELD, expires_at__gt=self.now)
            )
            assert (live.aggregate(n=Sum("quantity"))["n"] or 0) <= LIMIT

    @invariant()
    def refunds_within_payments(self):
        for payment in Payment.objects.filter(booking__event=self.event):
            refunded = Refund.objects.filter(payment=payment).aggregate(n=Sum("amount"))["n"]
            assert (refunded or 0) <= payment.amount

    @invariant()
    def every_charge_confirmed_or_refunded(self):
        charged = Payment.objects.filter(booking__event=self.event).exclude(
            status=PaymentStatus.DECLINED
        )
        for payment in charged.select_related("booking"):
            confirmed = payment.booking.status == BookingStatus.CONFIRMED
            assert confirmed or payment.refunds.exists(), (payment.pk, payment.booking.status)


def test_booking_state_machine_keeps_its_invariants():
    run_state_machine_as_test(
        BookingMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
