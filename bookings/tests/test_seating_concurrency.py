"""Seats under concurrency, on PostgreSQL, with real threads and processes:
never one seat in two live bookings, adjacent seats whenever they were there,
and seats consistent while expiry and cancellation race new holds."""

import datetime as dt
import itertools
import random
from collections import Counter

import pytest
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from accounts.models import User
from bookings import services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, SeatHold
from bookings.services import seats_best
from bookings.tests.helpers import GOOD_CARD, run_together
from bookings.tests.test_concurrency import _in_processes
from events.models import Event, Seat
from events.tests.factories import make_event, make_seat_plan
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _users(n: int) -> list[User]:
    return User.objects.bulk_create(
        [User(email=f"sitter{i}@example.com", name=f"Sitter {i}") for i in range(n)]
    )


def _assert_seats_consistent(event: Event) -> None:
    """No seat in two live bookings (the unique index would refuse it, but a
    released-too-early seat would not), every live booking holds one live
    seat per ticket, and the counters, seats and bookings agree."""
    live = SeatHold.objects.filter(released_at__isnull=True, booking__isnull=False)
    per_seat = live.values("seat").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_seat.exists()
    event.refresh_from_db()
    assert live.count() == event.tickets_taken
    for booking in Booking.objects.filter(
        event=event, status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]
    ):
        assert live.filter(booking=booking).count() == booking.quantity
    assert not live.exclude(booking__status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED])
    assert inventory_problems([event.pk]) == []


def _two_seat_event():
    event = make_event(capacity=1, max_tickets_per_user=4)
    seats = make_seat_plan(event, [("Stalls", [("A", 10, event.ticket_types.get())])])
    return event, [str(seat.pk) for seat in seats[4:6]]


def test_twenty_buyers_racing_for_the_same_two_seats_threads():
    event, pair = _two_seat_event()
    users = _users(20)

    outcomes = run_together(
        [
            (lambda u=u: services.booking_reserve(user=u, event_id=event.pk, seats=pair)[0])
            for u in users
        ]
    )

    winners = [o for o in outcomes if isinstance(o, Booking)]
    assert len(winners) == 1
    assert Counter(o for o in outcomes if not isinstance(o, Booking)) == {"seat_taken": 19}
    held = SeatHold.objects.filter(released_at__isnull=True)
    assert sorted(str(s) for s in held.values_list("seat_id", flat=True)) == sorted(pair)
    assert set(held.values_list("booking_id", flat=True)) == {winners[0].pk}
    _assert_seats_consistent(event)


def test_twenty_buyers_racing_for_the_same_two_seats_processes():
    event, pair = _two_seat_event()
    users = _users(20)

    outcomes = _in_processes(event, users, {"seats": pair})

    assert Counter(outcomes) == {"ok": 1, "seat_taken": 19}
    assert SeatHold.objects.filter(released_at__isnull=True).count() == 2
    _assert_seats_consistent(event)


def _arena(rows: int = 100, per_row: int = 20):
    """2,000 seats by default: two sections of rows of ``per_row`` seats."""
    event = make_event(capacity=1, max_tickets_per_user=4)
    standard = event.ticket_types.get()
    half = rows // 2
    make_seat_plan(
        event,
        [
            ("Stalls", [(f"R{r}", per_row, standard) for r in range(half)]),
            ("Circle", [(f"R{r}", per_row, standard) for r in range(rows - half)]),
        ],
    )
    return event, standard


def _assert_adjacent_whenever_possible(event: Event) -> int:
    """Every multi-seat booking got adjacent seats unless none were left: a
    booking's seats were free when it was made, and so was every seat still
    free now (nothing was given back in these runs), so if those together
    hold a run as long as the booking, ``seats_best`` would have found one.
    Returns how many multi-seat bookings are not side by side."""
    live = SeatHold.objects.filter(seat=OuterRef("pk"), released_at__isnull=True)
    free_now = set(
        Seat.objects.filter(event=event).filter(~Exists(live)).values_list("id", flat=True)
    )
    seats = {
        s[0]: s
        for s in Seat.objects.filter(event=event).values_list(
            "id", "label", "row_index", "position"
        )
    }
    split = 0
    for booking in Booking.objects.filter(event=event, quantity__gt=1):
        mine = set(
            SeatHold.objects.filter(booking=booking, released_at__isnull=True).values_list(
                "seat_id", flat=True
            )
        )
        rows = sorted((seats[s] for s in mine), key=lambda s: s[3])
        adjacent = all(b[2] == a[2] and b[3] == a[3] + 1 for a, b in itertools.pairwise(rows))
        if adjacent:
            continue
        split += 1
        then_free = sorted((seats[s] for s in free_now | mine), key=lambda s: s[3])
        best = seats_best(then_free, booking.quantity)
        run = all(b[2] == a[2] and b[3] == a[3] + 1 for a, b in itertools.pairwise(best))
        assert not run, f"booking {booking.pk} got scattered seats while a run was free"
    return split


def test_five_hundred_concurrent_best_available_reserves_on_two_thousand_seats():
    event, standard = _arena()
    users = _users(500)
    rng = random.Random(17)
    wants = [rng.randint(1, 4) for _ in users]

    outcomes = run_together(
        [
            (
                lambda u=u, q=q: services.booking_reserve(
                    user=u, event_id=event.pk, items=[{"ticket_type": standard.pk, "quantity": q}]
                )[0]
            )
            for u, q in zip(users, wants, strict=True)
        ]
    )

    assert all(isinstance(o, Booking) for o in outcomes), Counter(
        o for o in outcomes if not isinstance(o, Booking)
    )
    event.refresh_from_db()
    assert event.tickets_taken == sum(wants)
    _assert_seats_consistent(event)
    _assert_adjacent_whenever_possible(event)


def test_best_available_reserves_in_processes_until_sold_out():
    event, standard = _arena(rows=10, per_row=10)  # 100 seats, 120 wanted
    users = _users(60)

    outcomes = _in_processes(
        event, users, {"items": [{"ticket_type": str(standard.pk), "quantity": 2}]}
    )

    assert Counter(outcomes) == {"ok": 50, "sold_out": 10}
    event.refresh_from_db()
    assert event.tickets_taken == 100 == event.capacity
    _assert_seats_consistent(event)
    assert _assert_adjacent_whenever_possible(event) == 0  # rows of 10, pairs: always a run


def test_expiry_and_cancellation_racing_new_holds_keep_seats_consistent():
    event, _ = _arena(rows=4, per_row=10)  # 40 seats
    users = _users(60)
    start = timezone.now()
    # 20 holds that already lapsed, and 10 paid bookings to cancel.
    lapsed = [
        services.booking_reserve(user=u, event_id=event.pk, quantity=1, now=start)[0]
        for u in users[:20]
    ]
    Booking.objects.filter(pk__in=[b.pk for b in lapsed]).update(
        expires_at=start - dt.timedelta(seconds=1)
    )
    paid = []
    for user in users[20:30]:
        booking, _ = services.booking_reserve(user=user, event_id=event.pk, quantity=1)
        paid.append(services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD))

    jobs = [
        (lambda u=u: services.booking_reserve(user=u, event_id=event.pk, quantity=1)[0])
        for u in users[30:]
    ]
    jobs += [(lambda b=b: services.booking_cancel(user=b.user, booking_id=b.pk)) for b in paid[:5]]
    jobs += [lambda: services.holds_release_expired() for _ in range(3)]
    random.Random(3).shuffle(jobs)
    outcomes = run_together(jobs)

    assert {o for o in outcomes if isinstance(o, str)} <= {"sold_out"}
    _assert_seats_consistent(event)
    # 40 seats: 5 paid stay, 30 new buyers fit in the 35 left.
    new = Booking.objects.filter(user__in=users[30:], status=BookingStatus.HELD)
    assert new.count() == 30
    assert all(Booking.objects.get(pk=b.pk).status == BookingStatus.CANCELLED for b in paid[:5])
    assert all(Booking.objects.get(pk=b.pk).status == BookingStatus.EXPIRED for b in lapsed)
