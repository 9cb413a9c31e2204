"""The waiting room's behaviour (``events.queue``), against the store the
settings give: this process's store on SQLite runs, Redis when ``REDIS_URL``
is set."""

import datetime as dt
from collections import Counter

import pytest
from django.utils import timezone

from bookings.tests.helpers import run_together
from events import queue
from events.models import Event
from events.queue import (
    ADMITTED,
    EXPIRED,
    MAX_RETRY,
    MIN_RETRY,
    WAITING,
    WaitingRoom,
    queue_join,
    queue_leave,
    queue_place,
    rate_changes_after,
)
from events.services import event_update
from events.tests.factories import make_event
from events.tests.queue_helpers import (
    OPENS,
    at,
    clean_queue,  # noqa: F401 (an autouse fixture)
    make_users,
    queued_event,
    room_of,
)
from nuvio.errors import InvalidState
from nuvio.testing import requires_redis

pytestmark = pytest.mark.django_db


def _room(rate=60, pass_minutes=10, changes=None) -> WaitingRoom:
    event = Event(
        starts_at=OPENS + dt.timedelta(days=30),
        ends_at=OPENS + dt.timedelta(days=30, hours=3),
        queue_enabled=True,
        queue_opens_at=OPENS,
        queue_admit_per_minute=rate,
        queue_pass_minutes=pass_minutes,
        queue_rate_changes=changes or [],
    )
    return WaitingRoom.of(event)


def _us(moment: dt.datetime) -> int:
    return queue._us(moment)


def _places(room, users, now) -> list:
    return [queue_place(room=room, user=user, now=now) for user in users]


# --- the clock ---------------------------------------------------------------------


def test_the_clock_admits_the_rate_a_minute_from_the_opening():
    room = _room(rate=60)
    assert room.admitted_by(_us(at(-1))) == 0
    assert room.admitted_by(_us(at(0))) == 0
    assert room.admitted_by(_us(at(0.999))) == 0
    assert room.admitted_by(_us(at(1))) == 1
    assert room.admitted_by(_us(at(59.5))) == 59
    assert room.admitted_by(_us(at(600))) == 600
    assert room.admitted_at(1) == _us(at(1))
    assert room.admitted_at(90) == _us(at(90))
    fast = _room(rate=100_000)
    assert fast.admitted_by(_us(at(60))) == 100_000


def test_a_rate_change_goes_on_from_the_places_admitted_by_then():
    changes = rate_changes_after(
        opens_at=OPENS, old_rate=60, new_rate=600, changes=[], now=at(30.5)
    )
    assert changes == [[queue.iso(OPENS), 0, 60], [queue.iso(at(30.5)), 30, 600]]
    changes = rate_changes_after(
        opens_at=OPENS, old_rate=600, new_rate=6, changes=changes, now=at(40)
    )
    assert changes[-1] == [queue.iso(at(40)), 30 + 95, 6]
    room = _room(rate=6, changes=changes)
    before = _room(rate=60)
    # Up to the first change the clock is the old one; then it goes on from there.
    for second in range(0, 31):
        assert room.admitted_by(_us(at(second))) == before.admitted_by(_us(at(second)))
    assert room.admitted_by(_us(at(31))) == 30 + 5
    assert room.admitted_by(_us(at(40))) == 125
    assert room.admitted_by(_us(at(50))) == 126
    # Never backwards, never a jump: each place admitted once, at its own instant.
    previous = 0
    for tenth in range(0, 1200):
        admitted = room.admitted_by(_us(at(tenth / 10)))
        assert previous <= admitted
        previous = admitted
    for place in range(1, 140):
        moment = room.admitted_at(place)
        assert room.admitted_by(moment) >= place > room.admitted_by(moment - 1)


def test_a_rate_changed_by_staff_during_the_sale_admits_nobody_twice_and_takes_nobody_back(
    staff, time_machine
):
    time_machine.move_to(at(-60), tick=False)
    event = queued_event(rate=60, pass_minutes=30)
    users = make_users(40)
    for user in users:
        queue_join(room=room_of(event), user=user)
    time_machine.move_to(at(20), tick=False)
    before = [place.status for place in _places(room_of(event), users, at(20))]
    assert Counter(before) == {ADMITTED: 20, WAITING: 20}

    event_update(actor=staff, event_id=event.pk, data={"queue_admit_per_minute": 6})
    event.refresh_from_db()
    assert event.queue_rate_changes == [[queue.iso(OPENS), 0, 60], [queue.iso(at(20)), 20, 6]]
    assert [place.status for place in _places(room_of(event), users, at(20))] == before
    # Ten seconds later one more at the new rate, not ten.
    time_machine.move_to(at(30), tick=False)
    later = Counter(place.status for place in _places(room_of(event), users, at(30)))
    assert later == {ADMITTED: 21, WAITING: 19}

    event_update(actor=staff, event_id=event.pk, data={"queue_admit_per_minute": 600})
    assert Event.objects.get(pk=event.pk).queue_rate_changes[-1] == [queue.iso(at(30)), 21, 600]
    faster = Counter(place.status for place in _places(room_of(event), users, at(31)))
    assert faster == {ADMITTED: 31, WAITING: 9}


# --- places ------------------------------------------------------------------------


def test_early_arrivals_are_shuffled_into_a_permutation_at_the_opening(time_machine):
    time_machine.move_to(at(-300), tick=False)
    event = queued_event(rate=60)
    users = make_users(30)
    for user in users:
        place, created = queue_join(room=room_of(event), user=user)
        assert created
        assert (place.position, place.ahead, place.status) == (None, None, WAITING)
        assert place.opens_at == OPENS
    assert queue_join(room=room_of(event), user=users[0])[1] is False  # already in

    time_machine.move_to(at(0), tick=False)
    positions = [place.position for place in _places(room_of(event), users, at(0))]
    assert sorted(positions) == list(range(1, 31))  # each early arrival once, places 1..30
    assert positions != list(range(1, 31))  # not the order they came in (1 in 30!)
    # The shuffle happens once: asking again changes nothing.
    assert [place.position for place in _places(room_of(event), users, at(5))] == positions
    # From then on: first come, first served.
    (late,) = make_users(1, prefix="late")
    place, created = queue_join(room=room_of(event), user=late, now=at(5))
    assert created and place.position == 31 and place.ahead == 30 - 5


def test_two_shuffles_give_different_orders(time_machine):
    orders = []
    for run in range(2):
        queue.local_store.clear()
        time_machine.move_to(at(-60), tick=False)
        event = queued_event(rate=60)
        users = make_users(25, prefix=f"run{run}-")
        for user in users:
            queue_join(room=room_of(event), user=user)
        orders.append([p.position for p in _places(room_of(event), users, at(0))])
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(1, 26))
    assert orders[0] != orders[1]


def test_the_shuffle_writes_only_the_early_arrivals_it_read():
    """The store's compare-and-set: a shuffle of a set that changed since it
    was read is refused (the caller reads it again); once done it is done."""
    store = queue.store()
    keys = queue.Keys.of(queued_event().pk)
    for user in ("a", "b", "c"):
        store.join(keys, user, floor=0, expired_upto=0, before_open=True, ttl=60)
    stale = ["a", "b"]
    assert store.shuffle(keys, stale, ttl=60) == -1
    assert store.shuffle(keys, ["a", "b", "x"], ttl=60) == -1
    assert store.read(keys, "a", floor=0, before_open=False)[0] == 2  # still to shuffle
    assert store.shuffle(keys, ["c", "a", "b"], ttl=60) == 1
    assert store.shuffle(keys, ["b", "c", "a"], ttl=60) == 0  # done already
    assert [store.read(keys, u, floor=0, before_open=False)[1] for u in "abc"] == [2, 3, 1]


@requires_redis
def test_redis_reads_every_kind_of_place_as_this_process_does():
    """Each store's read, before and after the shuffle, with either clock
    (a process's clock may still say "before the opening" after another's
    shuffle), for an early arrival, later joiners and someone not in."""
    answers = {}
    for target in (queue.redis_store, queue.local_store):
        keys = queue.Keys.of(queued_event().pk)
        reads = []
        target.join(keys, "early", floor=0, expired_upto=0, before_open=True, ttl=60)
        for before_open in (True, False):
            for user in ("early", "nobody"):
                reads.append(tuple(target.read(keys, user, floor=0, before_open=before_open)))
        assert target.shuffle(keys, ["early"], ttl=60) == 1
        for user in ("second", "third"):
            target.join(keys, user, floor=0, expired_upto=0, before_open=False, ttl=60)
        for before_open in (True, False):
            for user in ("early", "second", "third", "nobody"):
                for floor in (0, 1, 2, 3):
                    read = target.read(keys, user, floor=floor, before_open=before_open)
                    reads.append(tuple(read))
        answers[target] = reads
    assert answers[queue.redis_store] == answers[queue.local_store]
    assert (1, 3, 2) in answers[queue.local_store]  # the third, two ahead


def test_one_place_per_user_under_concurrent_joins(time_machine):
    time_machine.move_to(at(10), tick=False)
    event = queued_event(rate=1)
    room = room_of(event)
    (fan,) = make_users(1)
    outcomes = run_together([lambda: queue_join(room=room, user=fan)] * 16)
    assert sum(created for _, created in outcomes) == 1
    assert {place.position for place, _ in outcomes} == {1}

    others = make_users(16, prefix="other")
    outcomes = run_together([lambda u=u: queue_join(room=room, user=u) for u in others])
    assert sorted(place.position for place, _ in outcomes) == list(range(2, 18))


def test_admission_is_strictly_in_place_order(time_machine):
    time_machine.move_to(at(-10), tick=False)
    event = queued_event(rate=6, pass_minutes=1)  # one place every 10 s, for a minute
    users = make_users(12)
    for user in users[:6]:
        queue_join(room=room_of(event), user=user)
    time_machine.move_to(at(0), tick=False)
    for user in users[6:]:
        queue_join(room=room_of(event), user=user)
    room = room_of(event)
    for second in range(0, 140, 3):
        now = at(second)
        places = sorted(_places(room, users, now), key=lambda place: place.position)
        statuses = [place.status for place in places]
        # Admitted (or done) places are a prefix of the order: nobody waits ahead of them.
        first_waiting = statuses.index(WAITING) if WAITING in statuses else len(statuses)
        assert WAITING not in statuses[:first_waiting]
        assert all(status == WAITING for status in statuses[first_waiting:])
        assert first_waiting == min(12, second // 10)
        assert [place.ahead for place in places[first_waiting:]] == list(
            range(len(places) - first_waiting)
        )
        # Admissions end in the same order, a minute after each began.
        expired = [status == EXPIRED for status in statuses]
        assert expired == sorted(expired, reverse=True)
        assert sum(expired) == max(0, min(12, (second - 60) // 10))


def test_an_admission_lasts_its_pass_then_a_new_join_goes_to_the_back(time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event(rate=60, pass_minutes=2)
    first, *rest = make_users(5)
    for user in [first, *rest]:
        queue_join(room=room_of(event), user=user)
    room = room_of(event)

    place = queue_place(room=room, user=first, now=at(1))
    assert (place.position, place.status) == (1, ADMITTED)
    assert place.admitted_until == at(1 + 120)
    assert (place.ahead, place.estimated_wait_seconds) == (0, 0)
    place = queue_place(room=room, user=first, now=at(120.9))
    assert place.status == ADMITTED
    time_machine.move_to(at(121), tick=False)
    place = queue_place(room=room, user=first, now=at(121))
    assert (place.position, place.status, place.admitted_until) == (1, EXPIRED, None)

    # Two joins of the same expired user at once: one new place, at the back.
    outcomes = run_together([lambda: queue_join(room=room, user=first)] * 8)
    assert sum(created for _, created in outcomes) == 1
    (position,) = {place.position for place, _ in outcomes}
    assert position == 121 + 1  # the clock admitted 121 places: the next one not yet admitted
    place = queue_place(room=room, user=first, now=at(121))
    assert (place.position, place.status, place.ahead) == (position, WAITING, 0)
    assert queue_place(room=room, user=first, now=at(122)).status == ADMITTED


def test_after_the_queue_drained_a_new_place_waits_for_the_next_admission(time_machine):
    time_machine.move_to(at(600), tick=False)  # ten quiet minutes: 6,000 places "admitted"
    event = queued_event(rate=600, pass_minutes=5)
    users = make_users(3)
    places = [queue_join(room=room_of(event), user=user)[0] for user in users]
    assert [place.position for place in places] == [6001, 6002, 6003]
    assert [place.status for place in places] == [WAITING] * 3
    assert [place.ahead for place in places] == [0, 1, 2]
    # Admitted one a tenth of a second, each for its whole pass.
    third = queue_place(room=room_of(event), user=users[2], now=at(600.3))
    assert third.status == ADMITTED
    assert third.admitted_until == at(600.3 + 300)


def test_leaving_gives_up_the_place_and_those_behind_have_fewer_ahead(time_machine):
    time_machine.move_to(at(0), tick=False)
    event = queued_event(rate=1)
    users = make_users(5)
    for user in users:
        queue_join(room=room_of(event), user=user)
    room = room_of(event)
    assert queue_place(room=room, user=users[4], now=at(0)).ahead == 4
    queue_leave(room=room, user=users[2])
    queue_leave(room=room, user=users[2])  # nothing left to leave: no error
    assert queue_place(room=room, user=users[2], now=at(0)) is None
    assert queue_place(room=room, user=users[4], now=at(0)).ahead == 3
    assert queue_place(room=room, user=users[4], now=at(60)).ahead == 2
    # Joining again is at the back.
    place, created = queue_join(room=room, user=users[2], now=at(60))
    assert created and place.position == 6


def test_an_early_arrival_who_leaves_is_not_shuffled_in(time_machine):
    time_machine.move_to(at(-60), tick=False)
    event = queued_event()
    users = make_users(4)
    for user in users:
        queue_join(room=room_of(event), user=user)
    queue_leave(room=room_of(event), user=users[0])
    assert queue_place(room=room_of(event), user=users[0]) is None
    time_machine.move_to(at(0), tick=False)
    assert queue_place(room=room_of(event), user=users[0]) is None
    positions = sorted(queue_place(room=room_of(event), user=u).position for u in users[1:])
    assert positions == [1, 2, 3]


def test_wait_estimate_and_retry_after_follow_the_clock(time_machine):
    time_machine.move_to(at(-100), tick=False)
    event = queued_event(rate=6, pass_minutes=1)  # a place every 10 s
    early = make_users(3)
    for user in early:
        place, _ = queue_join(room=room_of(event), user=user)
    # Early: the opening is 100 s away (poll every 30 s at most), then a place among 3.
    assert (place.retry_after, place.estimated_wait_seconds) == (MAX_RETRY, 100 + 20)
    place = queue_place(room=room_of(event), user=early[0], now=at(-5))
    assert place.retry_after == 5

    time_machine.move_to(at(0), tick=False)
    (late,) = make_users(1, prefix="late")
    place, _ = queue_join(room=room_of(event), user=late)
    assert (place.position, place.ahead, place.estimated_wait_seconds) == (4, 3, 40)
    assert place.retry_after == MAX_RETRY
    place = queue_place(room=room_of(event), user=late, now=at(37))
    assert (place.estimated_wait_seconds, place.retry_after) == (3, 3)
    place = queue_place(room=room_of(event), user=late, now=at(39.5))
    assert (place.estimated_wait_seconds, place.retry_after) == (1, MIN_RETRY)
    place = queue_place(room=room_of(event), user=late, now=at(45))
    assert (place.status, place.retry_after) == (ADMITTED, MAX_RETRY)
    place = queue_place(room=room_of(event), user=late, now=at(95))
    assert (place.status, place.retry_after) == (ADMITTED, 5)
    assert place.admitted_until == at(100)


def test_joining_needs_an_enabled_room_on_an_event_on_sale(time_machine, staff):
    time_machine.move_to(at(0), tick=False)
    event = queued_event()
    (fan,) = make_users(1)
    event_update(actor=staff, event_id=event.pk, data={"queue_enabled": False})
    with pytest.raises(InvalidState):
        queue_join(room=room_of(event), user=fan)
    assert queue_place(room=room_of(event), user=fan) is None
    Event.objects.filter(pk=event.pk).update(
        queue_enabled=True, starts_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(InvalidState):
        queue_join(room=room_of(event), user=fan)


def test_figures_count_waiting_admitted_and_expired(time_machine):
    time_machine.move_to(at(-30), tick=False)
    event = queued_event(rate=6, pass_minutes=1)
    users = make_users(8)
    for user in users[:3]:
        queue_join(room=room_of(event), user=user)
    figures = queue.queue_figures(room=room_of(event))
    assert figures == {"waiting": 3, "admitted": 0, "expired": 0, "admit_per_minute": 6}
    time_machine.move_to(at(0), tick=False)
    for user in users[3:]:
        queue_join(room=room_of(event), user=user)
    # At 75 s: places 1..7 admitted, of which 1 (at 10 s) ran out at 70 s.
    figures = queue.queue_figures(room=room_of(event), now=at(75))
    assert figures == {"waiting": 1, "admitted": 6, "expired": 1, "admit_per_minute": 6}
    assert queue.queue_figures(room=room_of(make_event())) is None
