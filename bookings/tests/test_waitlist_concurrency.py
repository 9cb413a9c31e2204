"""The waiting list under concurrency, on PostgreSQL with real threads: cancels,
expiries, payments, leaves and new buyers all at once never offer an entry
twice, never offer the same tickets twice, and never sell to a new buyer
what the people waiting are owed."""

import datetime as dt
import random

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from bookings import services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from bookings.tests.helpers import GOOD_CARD, run_together
from events.models import Event
from events.tests.factories import make_event
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
THREADS = 16


def _users(n: int, prefix: str) -> list[User]:
    return [
        User.objects.create_user(email=f"{prefix}{i}@example.com", password="x", name=f"{i}")
        for i in range(n)
    ]


def _lapse(bookings) -> None:
    Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def _assert_each_entry_offered_at_most_once(event) -> None:
    # One booking per offered entry (a one-to-one), and no waitlisted user holds
    # more than their entry's tickets from offers.
    for entry in WaitlistEntry.objects.filter(event=event).exclude(offered_booking=None):
        assert entry.offered_booking.user_id == entry.user_id
        assert entry.offered_booking.quantity == entry.quantity
    per_user = (
        Booking.objects.filter(event=event, waitlist_entry__isnull=False)
        .values("user")
        .annotate(n=Count("id"))
    )
    assert all(row["n"] == 1 for row in per_user)


def _assert_counters(event) -> None:
    event.refresh_from_db()
    live = Booking.objects.filter(event=event).filter(
        Q(status=BookingStatus.HELD) | Q(status=BookingStatus.CONFIRMED)
    )
    assert event.tickets_taken == (live.aggregate(n=Sum("quantity"))["n"] or 0)
    assert 0 <= event.tickets_taken <= event.capacity
    assert (
        event.waitlist_waiting
        == WaitlistEntry.objects.filter(event=event, status=WaitlistStatus.WAITING).count()
    )


def test_concurrent_cancels_expiries_and_buyers_serve_each_entry_once():
    event = make_event(capacity=20, max_tickets_per_user=2)
    holders = _users(20, "holder")
    paid = []
    for user in holders[:10]:
        booking, _ = services.booking_reserve(user=user, event_id=event.pk, quantity=1)
        paid.append(services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD))
    held = [
        services.booking_reserve(user=user, event_id=event.pk, quantity=1)[0]
        for user in holders[10:]
    ]
    # 15 people want 2 tickets each (30) and 20 will come back, one at a time:
    # between two releases a single free ticket waits for the next pair.
    waiting_users = _users(15, "waiting")
    start = timezone.now() - dt.timedelta(minutes=5)
    entries = [
        services.waitlist_join(
            user=user, event_id=event.pk, quantity=2, now=start + dt.timedelta(seconds=i)
        )
        for i, user in enumerate(waiting_users)
    ]
    _lapse(held[:5])  # these run out: the release jobs hand them on
    buyers = _users(8, "buyer")

    jobs = [(lambda b=b: services.booking_cancel(user=b.user, booking_id=b.pk)) for b in paid]
    jobs += [(lambda b=b: services.booking_cancel(user=b.user, booking_id=b.pk)) for b in held[5:]]
    jobs += [lambda: services.holds_release_expired()] * 4
    jobs += [
        (lambda u=u: services.booking_reserve(user=u, event_id=event.pk, quantity=1)[0])
        for u in buyers
    ] * 2
    random.Random(11).shuffle(jobs)
    outcomes = run_together(jobs)

    assert {o for o in outcomes if isinstance(o, str)} <= {"sold_out"}
    services.holds_release_expired()  # whatever a skipped (locked) event left
    # The 20 tickets went to the first 10 entries, in order, each once.
    statuses = [WaitlistEntry.objects.get(pk=e.pk).status for e in entries]
    assert statuses == [WaitlistStatus.OFFERED] * 10 + [WaitlistStatus.WAITING] * 5
    _assert_each_entry_offered_at_most_once(event)
    # New buyers got nothing: the people waiting were owed every ticket.
    assert not Booking.objects.filter(user__in=buyers).exists()
    _assert_counters(event)
    assert inventory_problems() == []


def test_concurrent_offer_expiries_payments_and_leaves_cascade_once():
    event = make_event(capacity=6, max_tickets_per_user=2)
    holders = _users(6, "holder")
    held = [services.booking_reserve(user=u, event_id=event.pk, quantity=1)[0] for u in holders]
    waiting_users = _users(14, "waiting")
    start = timezone.now() - dt.timedelta(minutes=5)
    entries = [
        services.waitlist_join(
            user=user, event_id=event.pk, quantity=1, now=start + dt.timedelta(seconds=i)
        )
        for i, user in enumerate(waiting_users)
    ]
    for booking in held:
        services.booking_cancel(user=booking.user, booking_id=booking.pk)
    first_offers = [WaitlistEntry.objects.get(pk=e.pk).offered_booking for e in entries[:6]]
    assert all(offer is not None for offer in first_offers)
    _lapse(first_offers[:4])  # four offers run out; two are still live

    jobs = [lambda: services.holds_release_expired()] * 5
    # Late payments of the lapsed offers race their release.
    jobs += [
        (lambda b=b: services.booking_pay(user=b.user, booking_id=b.pk, card_number=GOOD_CARD))
        for b in first_offers[:4]
    ]
    # The two live offers are declined, and three people behind leave.
    jobs += [
        (lambda e=e: services.waitlist_leave(user=e.user, entry_id=e.pk))
        for e in entries[4:6] + entries[8:11]
    ]
    jobs += [
        (lambda u=u: services.booking_reserve(user=u, event_id=event.pk, quantity=1)[0])
        for u in _users(4, "buyer")
    ]
    random.Random(5).shuffle(jobs)
    outcomes = run_together(jobs)

    assert {o for o in outcomes if isinstance(o, str)} <= {"sold_out", "hold_expired"}
    services.holds_release_expired()
    _assert_each_entry_offered_at_most_once(event)
    _assert_counters(event)
    assert inventory_problems() == []
    event.refresh_from_db()
    # Nobody left waiting while tickets they fit are free.
    still_waiting = WaitlistEntry.objects.filter(event=event, status=WaitlistStatus.WAITING)
    if still_waiting.exists():
        assert event.capacity - event.tickets_taken == 0
    # Every entry that left or was declined released its place exactly once.
    for entry in entries[8:11]:
        assert WaitlistEntry.objects.get(pk=entry.pk).status in {
            WaitlistStatus.CANCELLED,
            WaitlistStatus.OFFERED,
            WaitlistStatus.EXPIRED,
            WaitlistStatus.FULFILLED,
        }
    assert Event.objects.get(pk=event.pk).tickets_taken <= 6


def test_concurrent_joins_count_every_waiting_entry():
    event = make_event(capacity=1)
    (holder,) = _users(1, "holder")
    held, _ = services.booking_reserve(user=holder, event_id=event.pk, quantity=1)
    users = _users(12, "joiner")

    outcomes = run_together(
        [(lambda u=u: services.waitlist_join(user=u, event_id=event.pk, quantity=1)) for u in users]
        + [
            (lambda u=u: services.waitlist_join(user=u, event_id=event.pk, quantity=1))
            for u in users[:4]
        ]
    )

    assert sum(isinstance(o, WaitlistEntry) for o in outcomes) == 12
    assert [o for o in outcomes if isinstance(o, str)] == ["invalid_state"] * 4
    positions = sorted(
        WaitlistEntry.objects.with_position().filter(event=event).values_list("position", flat=True)
    )
    assert positions == list(range(1, 13))
    _assert_counters(event)

    services.booking_cancel(user=holder, booking_id=held.pk)
    assert WaitlistEntry.objects.filter(event=event, status=WaitlistStatus.OFFERED).count() == 1
    _assert_counters(event)
