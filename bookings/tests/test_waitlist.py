"""The waiting list: joining, positions, and serving it on every kind of
returned ticket (strict first come, first served), with the inventory exact."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from bookings import selectors, services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from bookings.tests.helpers import GOOD_CARD, confirmed, hold
from events import services as event_services
from events.models import Event
from events.tests.factories import make_event
from nuvio import errors

pytestmark = pytest.mark.django_db


def _users(n: int, prefix: str = "fan") -> list[User]:
    return [
        User.objects.create_user(email=f"{prefix}{i}@example.com", password="x", name=f"Fan {i}")
        for i in range(n)
    ]


def _lapsed_at() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)


def _join(user, event, quantity=1, **kwargs) -> WaitlistEntry:
    return services.waitlist_join(user=user, event_id=event.pk, quantity=quantity, **kwargs)


def _entry(entry) -> WaitlistEntry:
    return WaitlistEntry.objects.with_position().get(pk=entry.pk)


def _event(event) -> Event:
    return Event.objects.get(pk=event.pk)


def _joined_in_order(users, event, quantities, start=None):
    """Join one after another, a second apart, so the order is unambiguous."""
    start = start or timezone.now()
    return [
        _join(user, event, q, now=start + dt.timedelta(seconds=i))
        for i, (user, q) in enumerate(zip(users, quantities, strict=True))
    ]


@pytest.fixture
def sold_out(customer):
    """Capacity 4, sold out: the customer has 2 confirmed, 2 held in another booking."""
    event = make_event(name="Sold Out Gig", capacity=4, max_tickets_per_user=4)
    paid = confirmed(customer, event, 2)
    held = hold(customer, event, 2)
    event.paid, event.held = paid, held
    return event


# --- joining -----------------------------------------------------------------


def test_join_only_when_sold_out(customer, outsider):
    event = make_event(capacity=3)
    hold(customer, event, 2)

    with pytest.raises(errors.InvalidState) as exc:
        _join(outsider, event)
    assert exc.value.details == {"available": 1}
    assert not WaitlistEntry.objects.exists()

    hold(customer, event, 1)
    entry = _join(outsider, event, 2)
    assert (entry.status, entry.quantity, entry.position) == ("waiting", 2, 1)
    assert _event(event).waitlist_waiting == 1


def test_lapsed_holds_count_as_available_for_joining(customer, outsider):
    event = make_event(capacity=2)
    hold(customer, event, 2, now=_lapsed_at())
    with pytest.raises(errors.InvalidState):
        _join(outsider, event)


def test_join_checks_quantity_against_the_events_limit(sold_out, outsider):
    for quantity in (0, 5, -1):
        with pytest.raises(errors.Invalid) as exc:
            _join(outsider, sold_out, quantity)
        assert "quantity" in exc.value.details
    assert _join(outsider, sold_out, 4).quantity == 4


def test_one_active_entry_per_user_and_event(sold_out, outsider):
    first = _join(outsider, sold_out)
    with pytest.raises(errors.InvalidState):
        _join(outsider, sold_out)
    services.waitlist_leave(user=outsider, entry_id=first.pk)
    again = _join(outsider, sold_out)
    assert again.pk != first.pk
    assert _event(sold_out).waitlist_waiting == 1


def test_join_refuses_what_would_break_the_per_user_limit(sold_out, customer):
    with pytest.raises(errors.LimitExceeded) as exc:
        _join(customer, sold_out, 1)
    assert exc.value.details == {"limit": 4, "already_held": 4}


def test_join_refuses_closed_and_unknown_events(customer, outsider):
    event = make_event(capacity=1, booking_enabled=False)
    with pytest.raises(errors.BookingClosed):
        _join(outsider, event)
    draft = make_event(capacity=1, status="draft")
    with pytest.raises(errors.NotFound):
        _join(outsider, draft)
    with pytest.raises(errors.NotFound):
        services.waitlist_join(user=outsider, event_id="not-a-uuid", quantity=1)


def test_positions_follow_the_order_of_joining_and_move_up(sold_out):
    users = _users(3)
    entries = _joined_in_order(users, sold_out, [1, 1, 1])
    assert [_entry(e).position for e in entries] == [1, 2, 3]

    services.waitlist_leave(user=users[0], entry_id=entries[0].pk)

    assert [_entry(e).position for e in entries] == [None, 1, 2]
    assert _entry(entries[0]).status == WaitlistStatus.CANCELLED
    assert _event(sold_out).waitlist_waiting == 2
    listed = list(selectors.waitlist_for_user(user=users[2]))
    assert [(e.pk, e.position) for e in listed] == [(entries[2].pk, 2)]


# --- serving: each kind of returned ticket -----------------------------------


def test_a_cancelled_hold_is_offered_to_the_first_in_line(sold_out, customer):
    first, second = _users(2)
    entries = _joined_in_order([first, second], sold_out, [2, 2])

    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)

    one, two = _entry(entries[0]), _entry(entries[1])
    assert one.status == WaitlistStatus.OFFERED
    offer = one.offered_booking
    assert (offer.user, offer.quantity, offer.status) == (first, 2, BookingStatus.HELD)
    assert offer.expires_at > timezone.now() + dt.timedelta(
        seconds=settings.NUVIO_HOLD_SECONDS - 60
    )
    assert (two.status, two.position) == (WaitlistStatus.WAITING, 1)
    event = _event(sold_out)
    assert (event.tickets_taken, event.waitlist_waiting) == (4, 1)
    assert inventory_problems() == []


def test_an_expired_hold_is_offered_when_released(sold_out, customer, outsider):
    event = make_event(capacity=2)
    lapsed = hold(customer, event, 2, now=_lapsed_at())
    # Joining needs a sold-out event: the lapsed hold still counts as available,
    # so the waiting list is joined before the hold lapses in this story.
    entry = _join(outsider, event, 1, now=_lapsed_at())

    assert services.holds_release_expired() == 2

    assert Booking.objects.get(pk=lapsed.pk).status == BookingStatus.EXPIRED
    served = _entry(entry)
    assert served.status == WaitlistStatus.OFFERED
    assert served.offered_booking.user == outsider
    event.refresh_from_db()
    assert (event.tickets_taken, event.waitlist_waiting) == (1, 0)
    assert inventory_problems() == []


def test_a_refunded_confirmed_booking_is_offered(sold_out, customer, outsider):
    entry = _join(outsider, sold_out, 2)

    cancelled = services.booking_cancel(user=customer, booking_id=sold_out.paid.pk)

    assert cancelled.refunds.get().percent == 100  # 30 days ahead: full refund by the tiers
    served = _entry(entry)
    assert served.status == WaitlistStatus.OFFERED
    assert served.offered_booking.quantity == 2
    assert inventory_problems() == []


def test_more_capacity_goes_to_the_waiting_list_first(sold_out, staff):
    first, second = _users(2)
    entries = _joined_in_order([first, second], sold_out, [2, 3])

    event_services.event_update(actor=staff, event_id=sold_out.pk, data={"capacity": 7})

    one, two = _entry(entries[0]), _entry(entries[1])
    assert one.status == WaitlistStatus.OFFERED
    assert two.status == WaitlistStatus.WAITING  # 1 ticket left, it wants 3
    event = _event(sold_out)
    assert (event.tickets_taken, event.waitlist_waiting) == (6, 1)
    with pytest.raises(errors.SoldOut) as exc:  # the free ticket is kept for the second
        hold(User.objects.create_user(email="new@example.com", password="x"), event, 1)
    general = event.ticket_types.get()
    assert exc.value.details == {"available": 0, "ticket_type": str(general.pk)}

    event_services.event_update(actor=staff, event_id=sold_out.pk, data={"capacity": 9})
    assert _entry(entries[1]).status == WaitlistStatus.OFFERED
    assert inventory_problems() == []


def test_booking_reopened_serves_those_waiting(sold_out, customer, staff, outsider):
    entry = _join(outsider, sold_out, 2)
    event_services.event_update(actor=staff, event_id=sold_out.pk, data={"booking_enabled": False})
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)
    assert _entry(entry).status == WaitlistStatus.WAITING  # closed: nobody is served

    event_services.event_update(actor=staff, event_id=sold_out.pk, data={"booking_enabled": True})

    assert _entry(entry).status == WaitlistStatus.OFFERED
    assert inventory_problems() == []


# --- the serving rule --------------------------------------------------------


def test_strict_fifo_a_large_first_entry_holds_the_line(sold_out, customer):
    big, small = _users(2)
    entries = _joined_in_order([big, small], sold_out, [3, 1])

    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)  # 2 come back

    assert [_entry(e).status for e in entries] == ["waiting", "waiting"]
    event = _event(sold_out)
    assert (event.capacity - event.tickets_taken, event.waitlist_waiting) == (2, 2)
    assert inventory_problems() == []

    services.booking_cancel(user=customer, booking_id=sold_out.paid.pk)  # 2 more: 4 free

    assert [_entry(e).status for e in entries] == ["offered", "offered"]
    assert [_entry(e).offered_booking.quantity for e in entries] == [3, 1]
    assert _event(sold_out).tickets_taken == 4


def test_several_entries_are_served_in_order_from_one_release(sold_out, customer):
    users = _users(4)
    entries = _joined_in_order(users, sold_out, [1, 1, 1, 1])

    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)

    assert [_entry(e).status for e in entries] == ["offered", "offered", "waiting", "waiting"]
    assert [_entry(e).position for e in entries] == [None, None, 1, 2]


def test_an_entry_over_the_per_user_limit_is_closed_and_the_next_served(customer, outsider):
    event = make_event(capacity=4, max_tickets_per_user=2)
    confirmed(customer, event, 1)
    returning = hold(outsider, event, 2)
    other = hold(_users(1, "other")[0], event, 1)
    entry = _join(customer, event, 1)
    after = _join(_users(1)[0], event, 1)
    # The customer got another ticket meanwhile: an offer would break the limit of 2.
    Booking.objects.filter(pk=other.pk).update(user=customer)

    services.booking_cancel(user=outsider, booking_id=returning.pk)

    assert _entry(entry).status == WaitlistStatus.CLOSED
    assert _entry(after).status == WaitlistStatus.OFFERED
    assert _event(event).waitlist_waiting == 0
    assert inventory_problems() == []


def test_new_buyers_are_refused_while_people_wait(sold_out, customer):
    waiting, buyer = _users(2)
    _join(waiting, sold_out, 3)
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)  # 2 free, it wants 3

    with pytest.raises(errors.SoldOut) as exc:
        hold(buyer, sold_out, 1)
    general = sold_out.ticket_types.get()
    assert exc.value.details == {"available": 0, "ticket_type": str(general.pk)}
    assert "waiting list" in exc.value.message
    assert not Booking.objects.filter(user=buyer).exists()
    assert _event(sold_out).tickets_taken == 2


def test_buyers_get_what_is_left_once_nobody_waits(sold_out, customer):
    waiting, buyer = _users(2)
    _join(waiting, sold_out, 1)
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)  # 2 back, 1 offered

    booking = hold(buyer, sold_out, 1)

    assert booking.status == BookingStatus.HELD
    assert _event(sold_out).tickets_taken == 4


def test_a_lapsed_hold_is_never_sold_to_a_buyer_while_people_wait(customer, outsider):
    event = make_event(capacity=2)
    lapsing = hold(customer, event, 2)
    entry = _join(outsider, event, 2)
    Booking.objects.filter(pk=lapsing.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    buyer = _users(1)[0]

    with pytest.raises(errors.SoldOut):
        hold(buyer, event, 1)

    assert not Booking.objects.filter(user=buyer).exists()
    services.holds_release_expired()  # the beat task: the tickets go to the waiting list
    assert _entry(entry).status == WaitlistStatus.OFFERED
    assert inventory_problems() == []


# --- offers: paid, expired, declined -------------------------------------------


def test_a_paid_offer_fulfils_the_entry(sold_out, customer, outsider):
    entry = _join(outsider, sold_out, 2)
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)
    offer = _entry(entry).offered_booking

    services.booking_pay(user=outsider, booking_id=offer.pk, card_number=GOOD_CARD)

    assert _entry(entry).status == WaitlistStatus.FULFILLED
    assert inventory_problems() == []


def test_an_expired_offer_passes_to_the_next_entry(sold_out, customer):
    first, second, third = _users(3)
    entries = _joined_in_order([first, second, third], sold_out, [2, 2, 2])
    released_at = timezone.now()
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk, now=released_at)
    offer = _entry(entries[0]).offered_booking

    later = released_at + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 1)
    assert services.holds_release_expired(now=later) == 2

    assert Booking.objects.get(pk=offer.pk).status == BookingStatus.EXPIRED
    assert _entry(entries[0]).status == WaitlistStatus.EXPIRED
    second_entry = _entry(entries[1])
    assert second_entry.status == WaitlistStatus.OFFERED
    assert second_entry.offered_booking.user == second
    assert (_entry(entries[2]).status, _entry(entries[2]).position) == ("waiting", 1)
    assert inventory_problems(now=later) == []

    # And on: the second offer runs out too, the third person gets it.
    even_later = later + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 1)
    services.holds_release_expired(now=even_later)
    assert _entry(entries[1]).status == WaitlistStatus.EXPIRED
    assert _entry(entries[2]).status == WaitlistStatus.OFFERED
    assert _event(sold_out).waitlist_waiting == 0


def test_declining_an_offer_passes_it_on(sold_out, customer):
    first, second = _users(2)
    entries = _joined_in_order([first, second], sold_out, [2, 2])
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)

    left = services.waitlist_leave(user=first, entry_id=entries[0].pk)

    assert left.status == WaitlistStatus.CANCELLED
    assert Booking.objects.get(pk=left.offered_booking_id).status == BookingStatus.CANCELLED
    assert _entry(entries[1]).status == WaitlistStatus.OFFERED
    assert inventory_problems() == []


def test_cancelling_the_offered_hold_cancels_the_entry_and_serves_the_next(sold_out, customer):
    first, second = _users(2)
    entries = _joined_in_order([first, second], sold_out, [2, 2])
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)
    offer = _entry(entries[0]).offered_booking

    services.booking_cancel(user=first, booking_id=offer.pk)

    assert _entry(entries[0]).status == WaitlistStatus.CANCELLED
    assert _entry(entries[1]).status == WaitlistStatus.OFFERED


def test_leaving_is_idempotent_and_others_entries_are_not_found(sold_out, outsider, customer):
    entry = _join(outsider, sold_out)
    with pytest.raises(errors.NotFound):
        services.waitlist_leave(user=customer, entry_id=entry.pk)
    assert services.waitlist_leave(user=outsider, entry_id=entry.pk).status == "cancelled"
    assert services.waitlist_leave(user=outsider, entry_id=entry.pk).status == "cancelled"
    assert _event(sold_out).waitlist_waiting == 0


def test_leaving_the_first_entry_serves_the_next_if_it_now_fits(sold_out, customer):
    big, small = _users(2)
    entries = _joined_in_order([big, small], sold_out, [3, 2])
    services.booking_cancel(user=customer, booking_id=sold_out.held.pk)  # 2 free: big waits
    assert _entry(entries[1]).status == WaitlistStatus.WAITING

    services.waitlist_leave(user=big, entry_id=entries[0].pk)

    assert _entry(entries[1]).status == WaitlistStatus.OFFERED
    assert inventory_problems() == []


def test_inventory_notices_a_waiting_counter_out_of_step(sold_out, outsider):
    _join(outsider, sold_out)
    Event.objects.filter(pk=sold_out.pk).update(waitlist_waiting=0)
    (row,) = inventory_problems()
    assert "waitlist_waiting is 0 but 1 entries are waiting" in row["problems"]


def test_lapsed_tickets_serve_the_waiting_list_then_the_buyer(customer, outsider):
    event = make_event(capacity=3)
    lapsing = hold(customer, event, 3)
    entry = _join(outsider, event, 1)
    Booking.objects.filter(pk=lapsing.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    buyer = _users(1)[0]

    booking = hold(buyer, event, 2)  # the reserve releases the 3: 1 to the list, 2 to the buyer

    assert booking.quantity == 2
    assert _entry(entry).status == WaitlistStatus.OFFERED
    assert _event(event).tickets_taken == 3
    assert inventory_problems() == []


# --- a payment in flight while its hold is released ----------------------------


@pytest.fixture
def slow_gateway(settings):
    from bookings.tests.test_services import _SlowGateway

    settings.NUVIO_PAYMENT_GATEWAY = "bookings.tests.test_services._SlowGateway"
    yield _SlowGateway
    _SlowGateway.during_charge = staticmethod(lambda: None)


def test_a_hold_released_during_its_charge_does_not_take_tickets_kept_for_the_list(
    customer, outsider, slow_gateway
):
    event = make_event(capacity=3)
    paying = hold(customer, event, 1)
    hold(_users(1)[0], event, 2, now=timezone.now() + dt.timedelta(minutes=5))  # outlives it
    entry = _join(outsider, event, 3)
    later = paying.expires_at + dt.timedelta(seconds=1)
    slow_gateway.during_charge = staticmethod(lambda: services.holds_release_expired(now=later))

    with pytest.raises(errors.HoldExpired) as exc:
        services.booking_pay(user=customer, booking_id=paying.pk, card_number=GOOD_CARD)

    assert exc.value.details["refund"]["percent"] == 100  # the charge went straight back
    assert _entry(entry).status == WaitlistStatus.WAITING
    assert _event(event).tickets_taken == 2
    assert inventory_problems(now=later) == []


def test_an_offer_released_during_its_charge_is_honoured_if_nobody_else_waits(
    customer, outsider, slow_gateway
):
    event = make_event(capacity=1)
    blocker = hold(customer, event, 1)
    entry = _join(outsider, event, 1)
    services.booking_cancel(user=customer, booking_id=blocker.pk)
    offer = _entry(entry).offered_booking
    later = offer.expires_at + dt.timedelta(seconds=1)
    slow_gateway.during_charge = staticmethod(lambda: services.holds_release_expired(now=later))

    paid = services.booking_pay(user=outsider, booking_id=offer.pk, card_number=GOOD_CARD)

    assert paid.status == BookingStatus.CONFIRMED
    assert _entry(entry).status == WaitlistStatus.FULFILLED
    assert inventory_problems(now=later) == []
