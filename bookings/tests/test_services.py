"""The booking services, each path and error, with time under control."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.gateway import GatewayError, MockGateway
from bookings.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Booking,
    BookingStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from bookings.tests.helpers import DECLINED_CARD, GOOD_CARD, confirmed, hold
from events.models import Event, EventStatus
from events.tests.factories import make_event
from nuvio import errors

pytestmark = pytest.mark.django_db


def _taken(event) -> int:
    return Event.objects.values_list("tickets_taken", flat=True).get(pk=event.pk)


def _available(event) -> int:
    return Event.objects.with_available().get(pk=event.pk).available_now


# --- reserve -----------------------------------------------------------------


def test_reserve_takes_capacity_and_holds(customer, settings):
    settings.NUVIO_HOLD_SECONDS = 600
    event = make_event(capacity=10, price=Decimal("250.50"))
    now = timezone.now()

    booking = hold(customer, event, 3, now=now)

    assert booking.status == BookingStatus.HELD
    assert booking.expires_at == now + dt.timedelta(seconds=600)
    assert booking.total_price == Decimal("751.50")
    assert booking.unit_price == Decimal("250.50")
    assert booking.currency == "INR"
    assert _taken(event) == 3
    stored = Booking.objects.get(pk=booking.pk)
    assert (stored.quantity, stored.total_price, stored.user) == (3, Decimal("751.50"), customer)


def test_reserve_rejects_when_sold_out_with_available(customer, outsider):
    event = make_event(capacity=5)
    hold(outsider, event, 3)

    with pytest.raises(errors.SoldOut) as exc:
        hold(customer, event, 3)
    assert exc.value.details == {"available": 2}
    assert "2" in exc.value.message
    hold(customer, event, 2)
    with pytest.raises(errors.SoldOut) as exc:
        hold(customer, event, 1)
    assert exc.value.details == {"available": 0}
    assert _taken(event) == 5
    assert Booking.objects.count() == 2


def test_reserve_enforces_per_user_limit(customer, outsider):
    event = make_event(capacity=50, max_tickets_per_user=4)
    hold(customer, event, 3)

    with pytest.raises(errors.LimitExceeded) as exc:
        hold(customer, event, 2)
    assert exc.value.details == {"limit": 4, "already_held": 3}
    with pytest.raises(errors.LimitExceeded) as exc:
        hold(outsider, event, 5)
    assert exc.value.details == {"limit": 4, "already_held": 0}
    assert _taken(event) == 3  # the refused reserves took nothing


def test_per_user_limit_counts_confirmed_but_not_cancelled_or_lapsed(customer):
    event = make_event(capacity=50, max_tickets_per_user=4)
    confirmed(customer, event, 2)
    cancelled = hold(customer, event, 2)
    services.booking_cancel(user=customer, booking_id=cancelled.pk)
    hold(customer, event, 1, now=timezone.now() - dt.timedelta(hours=1))  # lapsed
    hold(customer, event, 2)
    with pytest.raises(errors.LimitExceeded):
        hold(customer, event, 1)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"status": EventStatus.CANCELLED}, errors.BookingClosed),
        ({"booking_enabled": False}, errors.BookingClosed),
        ({"status": EventStatus.DRAFT}, errors.Invalid),
    ],
)
def test_reserve_refused_when_closed(customer, change, error):
    event = make_event()
    Event.objects.filter(pk=event.pk).update(**change)
    with pytest.raises(error):
        hold(customer, event)
    assert _taken(event) == 0


def test_reserve_refused_once_started(customer):
    event = make_event()
    with pytest.raises(errors.BookingClosed, match="started"):
        hold(customer, event, now=event.starts_at)


def test_staff_reserving_a_draft_is_told_it_is_closed(staff):
    event = make_event(status=EventStatus.DRAFT)
    with pytest.raises(errors.BookingClosed):
        hold(staff, event)


@pytest.mark.parametrize("quantity", [0, -1, 101, "2"])
def test_reserve_rejects_bad_quantity(customer, quantity):
    event = make_event()
    with pytest.raises(errors.Invalid):
        hold(customer, event, quantity)


@pytest.mark.parametrize("event_id", [uuid.uuid4(), "not-a-uuid", None])
def test_reserve_unknown_event_is_invalid(customer, event_id):
    with pytest.raises(errors.Invalid) as exc:
        services.booking_reserve(user=customer, event_id=event_id, quantity=1)
    assert "event" in exc.value.details


def test_reserve_accepts_the_event_id_as_text(customer):
    event = make_event()
    booking, _ = services.booking_reserve(user=customer, event_id=str(event.pk), quantity=1)
    assert booking.event.pk == event.pk
    assert _taken(event) == 1


# --- expiry --------------------------------------------------------------------


def test_lapsed_hold_is_expired_at_once_without_a_worker(customer, time_machine):
    event = make_event(capacity=2)
    booking = hold(customer, event, 2)
    assert _available(event) == 0

    time_machine.move_to(booking.expires_at + dt.timedelta(seconds=1))
    stored = Booking.objects.get(pk=booking.pk)
    assert stored.status == BookingStatus.HELD  # nobody released it yet...
    assert stored.effective_status() == BookingStatus.EXPIRED  # ...but every answer says expired
    assert _available(event) == 2
    assert _taken(event) == 2


def test_next_reserve_releases_lapsed_holds_exactly_once(customer, outsider, time_machine):
    event = make_event(capacity=3)
    old = hold(customer, event, 3)
    time_machine.move_to(old.expires_at + dt.timedelta(seconds=1))

    hold(outsider, event, 2)

    old.refresh_from_db()
    assert old.status == BookingStatus.EXPIRED
    assert old.expired_at is not None
    assert _taken(event) == 2
    assert services.holds_release_expired() == 0
    assert _taken(event) == 2


def test_release_job_frees_lapsed_holds_once(customer, outsider):
    now = timezone.now()
    event_a, event_b = make_event(capacity=10), make_event(capacity=10)
    hold(customer, event_a, 2, now=now - dt.timedelta(hours=1))
    hold(outsider, event_a, 1, now=now - dt.timedelta(hours=1))
    live = hold(customer, event_b, 4, now=now)

    assert services.holds_release_expired(now=now) == 3
    assert services.holds_release_expired(now=now) == 0
    assert (_taken(event_a), _taken(event_b)) == (0, 4)
    assert Booking.objects.get(pk=live.pk).status == BookingStatus.HELD


def test_release_job_works_in_batches(customer):
    past = timezone.now() - dt.timedelta(hours=1)
    events = [make_event(capacity=5) for _ in range(5)]
    for event in events:
        hold(customer, event, 1, now=past)
    assert services.holds_release_expired(batch_size=2) == 5
    assert all(_taken(event) == 0 for event in events)


# --- pay -----------------------------------------------------------------------


def test_pay_confirms_with_tickets_and_payment(customer):
    event = make_event(capacity=10, price=Decimal("100.00"))
    booking = hold(customer, event, 3)

    paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    assert paid.status == BookingStatus.CONFIRMED
    assert paid.confirmed_at is not None
    payment = Payment.objects.get(booking=booking)
    assert (payment.amount, payment.status, payment.card_last4) == (
        Decimal("300.00"),
        PaymentStatus.SUCCEEDED,
        "4242",
    )
    codes = [t.code for t in booking.tickets.all()]
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert _taken(event) == 3  # held -> confirmed keeps the same tickets


def test_declined_card_keeps_the_hold(customer):
    booking = hold(customer, make_event())
    with pytest.raises(errors.PaymentDeclined):
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=DECLINED_CARD)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.HELD
    assert not Payment.objects.exists()


@pytest.mark.parametrize("card", ["4242424242424241", "abcd", "42", "4242 4242 4242 424x"])
def test_invalid_card_number(customer, card):
    booking = hold(customer, make_event())
    with pytest.raises(errors.Invalid) as exc:
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=card)
    assert "card_number" in exc.value.details


def test_card_number_with_spaces_is_accepted(customer):
    booking = hold(customer, make_event())
    paid = services.booking_pay(
        user=customer, booking_id=booking.pk, card_number="4242 4242 4242 4242"
    )
    assert paid.status == BookingStatus.CONFIRMED


def test_paying_twice_is_invalid_state_and_charges_once(customer):
    booking = confirmed(customer, make_event())
    with pytest.raises(errors.InvalidState):
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    assert Payment.objects.count() == 1


def test_paying_an_expired_hold_charges_nothing(customer, time_machine):
    booking = hold(customer, make_event())
    time_machine.move_to(booking.expires_at + dt.timedelta(seconds=1))
    with pytest.raises(errors.HoldExpired):
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    assert not Payment.objects.exists()


def test_paying_someone_elses_booking_is_not_found(customer, outsider):
    booking = hold(customer, make_event())
    with pytest.raises(errors.NotFound):
        services.booking_pay(user=outsider, booking_id=booking.pk, card_number=GOOD_CARD)


class _SlowGateway(MockGateway):
    """Runs `during_charge` while the card is being charged."""

    during_charge = staticmethod(lambda: None)

    def charge(self, **kwargs):
        result = super().charge(**kwargs)
        type(self).during_charge()
        return result


@pytest.fixture
def slow_gateway(settings):
    settings.NUVIO_PAYMENT_GATEWAY = "bookings.tests.test_services._SlowGateway"
    yield _SlowGateway
    _SlowGateway.during_charge = staticmethod(lambda: None)


def test_hold_lapsing_during_charge_is_confirmed_if_not_released(
    customer, slow_gateway, time_machine
):
    booking = hold(customer, make_event(capacity=1))
    slow_gateway.during_charge = staticmethod(
        lambda: time_machine.move_to(booking.expires_at + dt.timedelta(seconds=5))
    )
    paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    assert paid.status == BookingStatus.CONFIRMED
    assert _taken(booking.event) == 1


def test_hold_released_during_charge_retakes_free_capacity(customer, slow_gateway):
    event = make_event(capacity=5)
    booking = hold(customer, event, 2)
    later = booking.expires_at + dt.timedelta(seconds=1)
    slow_gateway.during_charge = staticmethod(lambda: services.holds_release_expired(now=later))

    paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    assert paid.status == BookingStatus.CONFIRMED
    assert _taken(event) == 2


def test_hold_released_and_resold_during_charge_is_refunded_at_once(
    customer, outsider, slow_gateway
):
    event = make_event(capacity=2)
    booking = hold(customer, event, 2)
    later = booking.expires_at + dt.timedelta(seconds=1)

    def lose_the_tickets():
        services.holds_release_expired(now=later)
        hold(outsider, event, 2)

    slow_gateway.during_charge = staticmethod(lose_the_tickets)
    with pytest.raises(errors.HoldExpired) as exc:
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    refund = exc.value.details["refund"]
    assert refund == {"amount": "1000.00", "percent": 100, "currency": "INR", "status": "succeeded"}
    payment = Payment.objects.get(booking=booking)
    assert payment.status == PaymentStatus.REFUNDED
    assert Refund.objects.get(payment=payment).amount == payment.amount
    booking.refresh_from_db()
    assert booking.status == BookingStatus.EXPIRED
    assert _taken(event) == 2


# --- cancel and refunds --------------------------------------------------------


def test_cancel_hold_releases_without_refund(customer):
    event = make_event(capacity=4)
    booking = hold(customer, event, 3)
    cancelled = services.booking_cancel(user=customer, booking_id=booking.pk)
    assert cancelled.status == BookingStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    assert _taken(event) == 0
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("before_start", "percent"),
    [
        (dt.timedelta(days=30), 100),
        (dt.timedelta(days=7, seconds=1), 100),
        (dt.timedelta(days=7), 50),
        (dt.timedelta(days=4), 50),
        (dt.timedelta(days=2), 50),
        (dt.timedelta(days=2) - dt.timedelta(seconds=1), 0),
        (dt.timedelta(hours=1), 0),
    ],
)
def test_refund_tiers_at_their_boundaries(customer, before_start, percent):
    event = make_event(price=Decimal("1000.00"))
    booking = confirmed(customer, event)
    now = event.starts_at - before_start

    quote = services.booking_refund_quote(user=customer, booking_id=booking.pk, now=now)
    cancelled = services.booking_cancel(user=customer, booking_id=booking.pk, now=now)

    refund = cancelled.refunds.get()
    assert quote["percent"] == refund.percent == percent
    assert quote["amount"] == refund.amount == Decimal(10 * percent).quantize(Decimal("0.01"))
    assert refund.status == RefundStatus.SUCCEEDED
    assert _taken(event) == 0


def test_refund_rounds_half_up_to_the_cent(customer):
    event = make_event(price=Decimal("333.33"), starts_at=timezone.now() + dt.timedelta(days=3))
    booking = confirmed(customer, event)  # 50 % of 333.33 = 166.665
    refund = services.booking_cancel(user=customer, booking_id=booking.pk).refunds.get()
    assert refund.amount == Decimal("166.67")
    assert Payment.objects.get(booking=booking).status == PaymentStatus.PARTIALLY_REFUNDED


def test_refund_tiers_from_settings_and_per_event(customer, outsider, settings):
    settings.NUVIO_REFUND_TIERS = [(10, 80), (0, 10)]
    soon = timezone.now() + dt.timedelta(days=5)
    event = make_event(price=Decimal("100.00"), starts_at=soon)
    special = make_event(price=Decimal("100.00"), starts_at=soon, refund_tiers="3:25,0:0")
    assert services.refund_percent(event, now=timezone.now()) == 10
    assert services.refund_percent(special, now=timezone.now()) == 25
    booking = confirmed(outsider, special)
    assert services.booking_cancel(user=outsider, booking_id=booking.pk).refunds.get().amount == (
        Decimal("25.00")
    )


def test_cancel_confirmed_voids_tickets_and_refunds_in_full(customer):
    event = make_event(capacity=5)
    booking = confirmed(customer, event, 2)
    services.booking_cancel(user=customer, booking_id=booking.pk)
    assert booking.tickets.filter(voided_at__isnull=True).count() == 0
    assert Payment.objects.get(booking=booking).status == PaymentStatus.REFUNDED
    assert _taken(event) == 0


def test_cancel_twice_is_invalid_state(customer):
    booking = hold(customer, make_event())
    services.booking_cancel(user=customer, booking_id=booking.pk)
    with pytest.raises(errors.InvalidState):
        services.booking_cancel(user=customer, booking_id=booking.pk)


def test_cancel_expired_is_invalid_state(customer, time_machine):
    booking = hold(customer, make_event())
    time_machine.move_to(booking.expires_at + dt.timedelta(seconds=1))
    with pytest.raises(errors.InvalidState):
        services.booking_cancel(user=customer, booking_id=booking.pk)


def test_cancel_after_start_is_booking_closed(customer):
    event = make_event()
    booking = confirmed(customer, event)
    with pytest.raises(errors.BookingClosed):
        services.booking_cancel(user=customer, booking_id=booking.pk, now=event.starts_at)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


def test_cancel_someone_elses_booking_is_not_found_unless_staff_acts(customer, outsider, staff):
    booking = confirmed(customer, make_event())
    with pytest.raises(errors.NotFound):
        services.booking_cancel(user=outsider, booking_id=booking.pk)
    with pytest.raises(errors.NotFound):
        services.booking_cancel(user=staff, booking_id=booking.pk)
    services.booking_cancel(user=staff, booking_id=booking.pk, as_staff=True)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED


class _RefundDownGateway(MockGateway):
    def refund(self, **kwargs):
        raise GatewayError("gateway unreachable")


def test_failed_refund_stays_pending_and_is_retried(customer, settings):
    booking = confirmed(customer, make_event())
    settings.NUVIO_PAYMENT_GATEWAY = "bookings.tests.test_services._RefundDownGateway"
    cancelled = services.booking_cancel(user=customer, booking_id=booking.pk)
    refund = cancelled.refunds.get()
    assert refund.status == RefundStatus.PENDING
    assert cancelled.status == BookingStatus.CANCELLED

    assert services.refunds_retry_pending(older_than_seconds=0) == 0  # still down
    settings.NUVIO_PAYMENT_GATEWAY = "bookings.gateway.MockGateway"
    assert services.refunds_retry_pending(older_than_seconds=0) == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_reference
    assert services.refunds_retry_pending(older_than_seconds=0) == 0


def test_refund_quote_for_a_hold_is_zero(customer):
    booking = hold(customer, make_event())
    quote = services.booking_refund_quote(user=customer, booking_id=booking.pk)
    assert quote == {"amount": Decimal("0.00"), "percent": 0, "currency": "INR"}


def test_services_announce_each_change_and_serve_the_waitlist_on_every_return(
    customer, outsider, monkeypatch
):
    from bookings.services import returns
    from bookings.signals import bookings_changed

    changes, served = [], []

    def on_change(sender, event_id, booking_ids, change, now, **kwargs):
        changes.append((change, len(booking_ids)))

    def serve(*, event, now):
        served.append((event.pk, event.tickets_taken))
        return []

    # Giving tickets back calls the waiting list itself, with the counters moved.
    monkeypatch.setattr(returns, "waitlist_serve_locked", serve)
    bookings_changed.connect(on_change)
    try:
        event = make_event(capacity=10)
        paid = confirmed(customer, event, 2)
        services.booking_cancel(user=customer, booking_id=paid.pk)
        hold(outsider, event, 3, now=timezone.now() - dt.timedelta(hours=1))
        services.holds_release_expired()
    finally:
        bookings_changed.disconnect(on_change)

    assert changes == [
        ("reserved", 1),
        ("confirmed", 1),
        ("cancelled", 1),
        ("reserved", 1),
        ("expired", 1),
    ]
    assert served == [(event.pk, 0), (event.pk, 0)]


def test_a_price_that_is_not_exact_in_binary_books_any_quantity(customer):
    # 3 x 99.99: SQLite multiplies decimals as floats; the CHECK rounds to the cent.
    event = make_event(price=Decimal("99.99"), capacity=10)
    booking = hold(customer, event, 3)
    assert Booking.objects.get(pk=booking.pk).total_price == Decimal("299.97")
