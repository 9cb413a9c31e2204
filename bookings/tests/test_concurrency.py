"""Concurrency guarantees, on PostgreSQL, with real threads and processes.

Each thread or process has its own database connection; a barrier starts them
together so they really collide on the event's row lock.
"""

import datetime as dt
import multiprocessing
import random
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from bookings import services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus
from bookings.tests.concurrency_worker import reserve_many
from bookings.tests.helpers import GOOD_CARD, run_together
from events.models import Event, PromoCode
from events.tests.factories import make_event, make_promo_code, make_ticket_type
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
THREADS = 16


def _users(n: int) -> list[User]:
    return [
        User.objects.create_user(email=f"buyer{i}@example.com", password="x", name=f"Buyer {i}")
        for i in range(n)
    ]


def _assert_counter_matches_rows(event: Event) -> None:
    event.refresh_from_db()
    live = Booking.objects.filter(event=event).filter(
        Q(status=BookingStatus.HELD) | Q(status=BookingStatus.CONFIRMED)
    )
    assert event.tickets_taken == (live.aggregate(n=Sum("quantity"))["n"] or 0)
    assert 0 <= event.tickets_taken <= event.capacity
    # And every other counter (types, codes, waiting list) with its rows.
    assert inventory_problems([event.pk]) == []


def test_many_buyers_one_event_sell_exactly_the_capacity():
    event = make_event(capacity=25, max_tickets_per_user=3)
    users = _users(40)
    rng = random.Random(7)
    wants = [rng.randint(1, 3) for _ in users]

    outcomes = run_together(
        [
            (lambda u=u, q=q: services.booking_reserve(user=u, event_id=event.pk, quantity=q)[0])
            for u, q in zip(users, wants, strict=True)
        ]
    )

    sold = sum(q for q, o in zip(wants, outcomes, strict=True) if isinstance(o, Booking))
    assert sold <= 25
    assert {o for o in outcomes if not isinstance(o, Booking)} <= {"sold_out"}
    # Whoever was refused asked for more than was left at the end.
    left = 25 - sold
    refused = [q for q, o in zip(wants, outcomes, strict=True) if o == "sold_out"]
    assert all(q > left for q in refused)
    _assert_counter_matches_rows(event)


def test_one_user_racing_themselves_never_exceeds_the_limit():
    event = make_event(capacity=100, max_tickets_per_user=4)
    (user,) = _users(1)

    outcomes = run_together(
        [lambda: services.booking_reserve(user=user, event_id=event.pk, quantity=1)[0]] * 12
    )

    assert sum(isinstance(o, Booking) for o in outcomes) == 4
    assert Counter(o for o in outcomes if not isinstance(o, Booking)) == {"limit_exceeded": 8}
    assert Booking.objects.filter(user=user).aggregate(n=Sum("quantity"))["n"] == 4
    _assert_counter_matches_rows(event)


def test_reserves_pays_cancels_and_expiry_together_keep_inventory_exact():
    event = make_event(capacity=12, max_tickets_per_user=2)
    users = _users(24)
    past = timezone.now() - dt.timedelta(hours=1)
    lapsed = [
        services.booking_reserve(user=u, event_id=event.pk, quantity=1, now=past)[0]
        for u in users[:6]
    ]
    paid = []
    for u in users[6:10]:
        b, _ = services.booking_reserve(user=u, event_id=event.pk, quantity=1)
        paid.append(services.booking_pay(user=u, booking_id=b.pk, card_number=GOOD_CARD))
    held = [
        services.booking_reserve(user=u, event_id=event.pk, quantity=1)[0] for u in users[10:12]
    ]

    jobs = [lambda: services.holds_release_expired()] * 3
    jobs += [
        (lambda b=b: services.booking_cancel(user=b.user, booking_id=b.pk)) for b in paid + held
    ]
    jobs += [
        (lambda u=u: services.booking_reserve(user=u, event_id=event.pk, quantity=2)[0])
        for u in users[12:]
    ]
    jobs += [
        (lambda b=b: services.booking_pay(user=b.user, booking_id=b.pk, card_number=GOOD_CARD))
        for b in lapsed[:3]
    ]
    random.Random(3).shuffle(jobs)
    outcomes = run_together(jobs)

    codes = {o for o in outcomes if isinstance(o, str)}
    assert codes <= {"sold_out", "hold_expired", "invalid_state"}
    _assert_counter_matches_rows(event)
    # Each lapsed hold was released at most once and never counted twice.
    services.holds_release_expired()
    _assert_counter_matches_rows(event)
    assert not Booking.objects.lapsed_holds().filter(event=event).exists()


def test_concurrent_release_jobs_free_each_hold_once():
    event = make_event(capacity=20)
    users = _users(20)
    past = timezone.now() - dt.timedelta(hours=1)
    for u in users:
        services.booking_reserve(user=u, event_id=event.pk, quantity=1, now=past)

    freed = run_together([lambda: services.holds_release_expired()] * 8)

    assert sum(freed) == 20
    event.refresh_from_db()
    assert event.tickets_taken == 0


def _in_processes(event: Event, users: list[User], body=None, processes: int = 4) -> list:
    """Each user reserves ``body`` in one of ``processes`` separate Django
    processes started together; returns the outcomes ("ok" or error codes)."""
    settings = connection.settings_dict
    database_url = (
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    chunks = [[str(u.pk) for u in users[i::processes]] for i in range(processes)]
    children = [
        context.Process(
            target=reserve_many, args=(database_url, str(event.pk), chunk, start, results, body)
        )
        for chunk in chunks
    ]
    for child in children:
        child.start()
    outcomes = [o for _ in children for o in results.get(timeout=120)]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return outcomes


def test_separate_processes_sell_exactly_the_capacity():
    event = make_event(capacity=30, max_tickets_per_user=1)
    users = _users(48)

    outcomes = _in_processes(event, users)

    assert Counter(outcomes) == {"ok": 30, "sold_out": 18}
    _assert_counter_matches_rows(event)
    assert Event.objects.get(pk=event.pk).tickets_taken == 30


def test_lock_wait_past_the_timeout_is_503_busy_and_changes_nothing():
    event = make_event(capacity=10)
    (user,) = _users(1)
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        from django.db import transaction

        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=event.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        response = client.post(
            "/api/bookings/", {"event": str(event.pk), "quantity": 1}, format="json"
        )
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "busy"
    assert int(response["Retry-After"]) >= 1
    assert not Booking.objects.exists()
    assert Event.objects.get(pk=event.pk).tickets_taken == 0


def test_a_reserve_takes_in_the_lock_order_and_records_its_key():
    event = make_event(capacity=10)
    (user,) = _users(1)
    from django.test.utils import CaptureQueriesContext

    from bookings.models import IdempotencyRecord

    with CaptureQueriesContext(connection) as queries:
        booking, created = services.booking_reserve(
            user=user, event_id=event.pk, quantity=2, idempotency_key="k1", request_hash="h"
        )

    statements = [
        " ".join(q["sql"].split()).split(" (")[0].split(" SET")[0]
        for q in queries.captured_queries
        if q["sql"].split()[0] not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    ]
    first_write = next(i for i, sql in enumerate(statements) if not sql.startswith("SELECT"))
    # The plan is read without a lock; then, in one transaction: the key and
    # the items (no lock on the event), the event (its row lock), the type,
    # and the hold with the user's tickets counted in its INSERT.
    assert statements[first_write:] == [
        'INSERT INTO "bookings_idempotencyrecord"',
        'INSERT INTO "bookings_bookingitem"',
        'UPDATE "events_event"',
        'UPDATE "events_tickettype"',
        'INSERT INTO "bookings_booking"',
    ], statements
    assert created
    stored = Booking.objects.get(pk=booking.pk)
    assert (stored.status, stored.quantity, stored.total_price) == ("held", 2, 2 * event.price)
    assert stored.expires_at == booking.expires_at
    record = IdempotencyRecord.objects.get(user=user, key="k1")
    assert (record.resource_id, record.request_hash) == (booking.pk, "h")
    _assert_counter_matches_rows(event)


def test_refusals_write_nothing_and_a_used_key_replays_its_hold():
    from bookings.models import IdempotencyRecord
    from nuvio.errors import LimitExceeded

    event = make_event(capacity=10, max_tickets_per_user=3)
    (user,) = _users(1)
    first, _ = services.booking_reserve(
        user=user, event_id=event.pk, quantity=2, idempotency_key="k1", request_hash="h"
    )

    with pytest.raises(LimitExceeded) as over:
        services.booking_reserve(
            user=user, event_id=event.pk, quantity=2, idempotency_key="k2", request_hash="h2"
        )
    assert over.value.details == {"limit": 3, "already_held": 2}
    again, created = services.booking_reserve(
        user=user, event_id=event.pk, quantity=2, idempotency_key="k1", request_hash="h"
    )
    assert (again.pk, created) == (first.pk, False)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k1"]
    assert Booking.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert event.tickets_taken == 2
    _assert_counter_matches_rows(event)


def test_a_sold_out_or_closed_refusal_takes_no_lock_and_writes_nothing():
    from django.test.utils import CaptureQueriesContext

    from bookings.models import IdempotencyRecord
    from nuvio.errors import BookingClosed, SoldOut

    sold_out = make_event(capacity=2)
    closed = make_event(capacity=10, booking_enabled=False)
    buyer, late = _users(2)
    services.booking_reserve(user=buyer, event_id=sold_out.pk, quantity=2)

    for event, error in ((sold_out, SoldOut), (closed, BookingClosed)):
        with CaptureQueriesContext(connection) as queries, pytest.raises(error) as refused:
            services.booking_reserve(
                user=late, event_id=event.pk, quantity=1, idempotency_key=f"k-{event.pk}",
                request_hash="h",
            )  # fmt: skip
        sql = [q["sql"] for q in queries.captured_queries]
        assert not [s for s in sql if "FOR UPDATE" in s], sql
        assert len(sql) <= 9, sql
    assert refused.value.message == "Booking is closed for this event."
    assert not IdempotencyRecord.objects.filter(user=late).exists()
    assert not Booking.objects.filter(user=late).exists()
    _assert_counter_matches_rows(sold_out)


def test_a_sold_out_event_with_lapsed_holds_still_sells_them():
    from nuvio.errors import SoldOut

    event = make_event(capacity=2)
    first, second = _users(2)
    lapsed, _ = services.booking_reserve(
        user=first, event_id=event.pk, quantity=2, now=timezone.now() - dt.timedelta(hours=1)
    )

    booking, _ = services.booking_reserve(user=second, event_id=event.pk, quantity=2)

    assert booking.status == BookingStatus.HELD
    assert Booking.objects.get(pk=lapsed.pk).status == BookingStatus.EXPIRED
    with pytest.raises(SoldOut) as refused:
        services.booking_reserve(user=first, event_id=event.pk, quantity=1)
    assert refused.value.details == {"available": 0}
    _assert_counter_matches_rows(event)


def test_a_retry_on_a_sold_out_event_replays_its_own_hold():
    event = make_event(capacity=2)
    (user,) = _users(1)
    first, _ = services.booking_reserve(
        user=user, event_id=event.pk, quantity=2, idempotency_key="k1", request_hash="h"
    )

    again, created = services.booking_reserve(
        user=user, event_id=event.pk, quantity=2, idempotency_key="k1", request_hash="h"
    )

    assert (again.pk, created) == (first.pk, False)
    assert Booking.objects.filter(event=event).count() == 1


# --- ticket types and promo codes ---------------------------------------------------


def _tiered(capacity: int = 100):
    event = make_event(capacity=capacity, max_tickets_per_user=4, general_admission=False)
    general = make_ticket_type(event, name="General", price=Decimal("100.00"))
    vip = make_ticket_type(event, name="VIP", price=Decimal("300.00"), quota=10)
    return event, general, vip


def _items(*pairs) -> list[dict]:
    return [{"ticket_type": str(t.pk), "quantity": q} for t, q in pairs]


def test_thirty_buyers_of_a_type_with_quota_ten_get_exactly_ten_threads():
    event, _, vip = _tiered()
    users = _users(30)

    outcomes = run_together(
        [
            (
                lambda u=u: services.booking_reserve(
                    user=u, event_id=event.pk, items=_items((vip, 1))
                )
            )
            for u in users
        ]
    )

    assert sum(isinstance(o, tuple) for o in outcomes) == 10
    assert Counter(o for o in outcomes if not isinstance(o, tuple)) == {"sold_out": 20}
    vip.refresh_from_db()
    assert vip.tickets_taken == 10
    _assert_counter_matches_rows(event)


def test_thirty_buyers_of_a_type_with_quota_ten_get_exactly_ten_processes():
    event, _, vip = _tiered()
    users = _users(30)

    outcomes = _in_processes(event, users, {"items": _items((vip, 1))})

    assert Counter(outcomes) == {"ok": 10, "sold_out": 20}
    vip.refresh_from_db()
    assert vip.tickets_taken == 10
    _assert_counter_matches_rows(event)


def test_a_code_with_five_uses_is_used_exactly_five_times_by_twenty_buyers_threads():
    event, general, _ = _tiered()
    make_promo_code(event, code="FIVE", max_uses=5)
    users = _users(20)

    outcomes = run_together(
        [
            (
                lambda u=u: services.booking_reserve(
                    user=u, event_id=event.pk, items=_items((general, 1)), promo_code="FIVE"
                )
            )
            for u in users
        ]
    )

    assert sum(isinstance(o, tuple) for o in outcomes) == 5
    assert Counter(o for o in outcomes if not isinstance(o, tuple)) == {"promo_invalid": 15}
    assert PromoCode.objects.get(code="FIVE").uses == 5
    assert Booking.objects.filter(promo_code__code="FIVE").count() == 5
    _assert_counter_matches_rows(event)


def test_a_code_with_five_uses_is_used_exactly_five_times_by_twenty_buyers_processes():
    event, general, _ = _tiered()
    make_promo_code(event, code="FIVE", max_uses=5)
    users = _users(20)

    outcomes = _in_processes(event, users, {"items": _items((general, 1)), "promo_code": "five"})

    assert Counter(outcomes) == {"ok": 5, "promo_invalid": 15}
    assert PromoCode.objects.get(code="FIVE").uses == 5
    _assert_counter_matches_rows(event)


def test_multi_item_reserves_racing_cancels_and_expiry_keep_every_counter_exact():
    event, general, vip = _tiered(capacity=24)
    make_promo_code(event, code="CODE", max_uses=8)
    users = _users(40)
    past = timezone.now() - dt.timedelta(hours=1)
    rng = random.Random(11)

    def body():
        pairs = rng.choice([[(general, 1)], [(vip, 1)], [(general, 1), (vip, 1)], [(vip, 2)]])
        extra = {"promo_code": "CODE"} if rng.random() < 0.5 else {}
        return {"items": _items(*pairs), **extra}

    lapsed = [
        services.booking_reserve(user=u, event_id=event.pk, now=past, **body())[0]
        for u in users[:6]
    ]
    paid = []
    for u in users[6:10]:
        booking, _ = services.booking_reserve(user=u, event_id=event.pk, **body())
        paid.append(services.booking_pay(user=u, booking_id=booking.pk, card_number=GOOD_CARD))
    held = [services.booking_reserve(user=u, event_id=event.pk, **body())[0] for u in users[10:13]]
    _assert_counter_matches_rows(event)

    jobs = [lambda: services.holds_release_expired()] * 3
    jobs += [
        (lambda b=b: services.booking_cancel(user=b.user, booking_id=b.pk)) for b in paid + held
    ]
    jobs += [
        (lambda u=u, b=body(): services.booking_reserve(user=u, event_id=event.pk, **b))
        for u in users[13:]
    ]
    jobs += [
        (lambda b=b: services.booking_pay(user=b.user, booking_id=b.pk, card_number=GOOD_CARD))
        for b in lapsed[:3]
    ]
    random.Random(5).shuffle(jobs)
    outcomes = run_together(jobs)

    codes = {o for o in outcomes if isinstance(o, str)}
    assert codes <= {"sold_out", "promo_invalid", "hold_expired", "invalid_state"}, codes
    assert any(isinstance(o, tuple) for o in outcomes)  # some reserves got through
    _assert_counter_matches_rows(event)
    services.holds_release_expired()
    _assert_counter_matches_rows(event)
    assert not Booking.objects.lapsed_holds().filter(event=event).exists()
