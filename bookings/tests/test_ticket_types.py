"""Bookings of several ticket types with promo codes, through the services:
every bad body refused with nothing taken, the quote, prices and discounts,
free bookings, refunds of what was paid, counters given back by cancels and
expiry, and the waiting list served per type."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from bookings import services
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, Payment, Refund, WaitlistStatus
from bookings.tests.helpers import GOOD_CARD
from bookings.tests.test_services import _SlowGateway
from events.models import Event, PromoCode, TicketType
from events.tests.factories import make_event, make_promo_code, make_ticket_type
from nuvio import errors

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _users(n: int) -> list[User]:
    return [
        User.objects.create_user(email=f"tier{i}@example.com", password="x", name=f"Tier {i}")
        for i in range(n)
    ]


@pytest.fixture
def show():
    """Capacity 20: General (100.00, no quota), VIP (250.00, quota 5, 2 per
    booking), Press (hidden, 0.00); codes SAVE10 (10 % on everything),
    VIP50 (50.00 off VIP only, 3 uses), PRESS (unlocks Press, no discount)."""
    event = make_event(
        name="Tiered Show", capacity=20, max_tickets_per_user=10, general_admission=False
    )
    event.general = make_ticket_type(event, name="General", price=Decimal("100.00"), position=1)
    event.vip = make_ticket_type(
        event, name="VIP", price=Decimal("250.00"), quota=5, max_per_booking=2, position=2
    )
    event.press = make_ticket_type(event, name="Press", price=Decimal("0.00"), hidden=True)
    event.save10 = make_promo_code(event, code="SAVE10", discount_percent=10)
    event.vip50 = make_promo_code(
        event,
        code="VIP50",
        discount_percent=None,
        discount_amount=Decimal("50.00"),
        ticket_types=[event.vip],
        max_uses=3,
    )
    event.press_code = make_promo_code(
        event, code="PRESS", discount_percent=0, unlocks=[event.press]
    )
    return event


def _items(*pairs):
    return [{"ticket_type": str(t.pk), "quantity": q} for t, q in pairs]


def _reserve(user, event, **body):
    return services.booking_reserve(user=user, event_id=event.pk, **body)


def _counters(event: Event):
    event.refresh_from_db()
    return (
        event.tickets_taken,
        dict(TicketType.objects.filter(event=event).values_list("name", "tickets_taken")),
        dict(PromoCode.objects.filter(event=event).values_list("code", "uses")),
        Booking.objects.filter(event=event).count(),
    )


# --- every bad body: the right error, nothing taken ------------------------------


def _bad_bodies(show):
    other = make_event(name="Other Show")
    other_type = other.ticket_types.get()
    make_promo_code(other, code="OTHER")
    make_promo_code(show, code="OFF", active=False)
    make_promo_code(show, code="SOON", valid_from=NOW + dt.timedelta(days=1))
    make_promo_code(show, code="OVER", valid_until=NOW - dt.timedelta(minutes=1))
    make_promo_code(show, code="GONE", max_uses=1)
    PromoCode.objects.filter(code="GONE").update(uses=1)  # as if a hold had used it
    TicketType.objects.filter(pk=show.general.pk).update(tickets_taken=0)
    early = make_ticket_type(show, name="Early", sale_ends_at=NOW - dt.timedelta(hours=1))
    later = make_ticket_type(show, name="Later", sale_starts_at=NOW + dt.timedelta(days=1))
    vip_only = make_promo_code(show, code="VIPONLY", ticket_types=[show.vip])
    unknown = str(uuid.uuid4())
    general, vip, press = show.general, show.vip, show.press
    return {
        "unknown type": (
            {"items": [{"ticket_type": unknown, "quantity": 1}]},
            errors.Invalid,
            {"items": [{"ticket_type": ["Not a ticket type of this event."]}]},
        ),
        "type of another event": (
            {"items": _items((general, 1), (other_type, 1))},
            errors.Invalid,
            {"items": [{}, {"ticket_type": ["Not a ticket type of this event."]}]},
        ),
        "not a type id": (
            {"items": [{"ticket_type": "vip", "quantity": 1}]},
            errors.Invalid,
            {"items": [{"ticket_type": ["Must be a ticket type id."]}]},
        ),
        "duplicate types": (
            {"items": _items((general, 1), (general, 2))},
            errors.Invalid,
            {"items": [{}, {"ticket_type": ["Listed twice: give each ticket type once."]}]},
        ),
        "zero quantity": (
            {"items": _items((general, 0))},
            errors.Invalid,
            {"items": [{"quantity": ["Must be between 1 and 100."]}]},
        ),
        "negative quantity": (
            {"items": _items((general, 1), (vip, -2))},
            errors.Invalid,
            {"items": [{}, {"quantity": ["Must be between 1 and 100."]}]},
        ),
        "no items": ({"items": []}, errors.Invalid, {"items": ["Must not be empty."]}),
        "more than 10 items": (
            {"items": [{"ticket_type": str(uuid.uuid4()), "quantity": 1} for _ in range(11)]},
            errors.Invalid,
            {"items": ["At most 10 ticket types per booking."]},
        ),
        "over max_per_booking": (
            {"items": _items((vip, 3))},
            errors.Invalid,
            {"items": [{"quantity": ["At most 2 per booking."]}]},
        ),
        "several public types without items": (
            {"quantity": 1},
            errors.Invalid,
            {"items": ["Choose the ticket types and how many of each."]},
        ),
        "hidden type without a code": (
            {"items": _items((press, 1))},
            errors.BookingClosed,
            {"reason": "hidden", "ticket_type": str(press.pk)},
        ),
        "hidden type with a code that does not unlock it": (
            {"items": _items((press, 1)), "promo_code": "SAVE10"},
            errors.BookingClosed,
            {"reason": "hidden", "ticket_type": str(press.pk)},
        ),
        "type whose sale ended": (
            {"items": _items((general, 1), (early, 1))},
            errors.BookingClosed,
            {"reason": "ended", "ticket_type": str(early.pk)},
        ),
        "type not on sale yet": (
            {"items": _items((later, 1))},
            errors.BookingClosed,
            {"reason": "not_started", "ticket_type": str(later.pk)},
        ),
        "unknown code": (
            {"items": _items((general, 1)), "promo_code": "NOPE"},
            errors.PromoInvalid,
            {"reason": "unknown"},
        ),
        "code of another event": (
            {"items": _items((general, 1)), "promo_code": "OTHER"},
            errors.PromoInvalid,
            {"reason": "unknown"},
        ),
        "inactive code": (
            {"items": _items((general, 1)), "promo_code": "off"},
            errors.PromoInvalid,
            {"reason": "inactive"},
        ),
        "code not valid yet": (
            {"items": _items((general, 1)), "promo_code": "SOON"},
            errors.PromoInvalid,
            {"reason": "not_started"},
        ),
        "expired code": (
            {"items": _items((general, 1)), "promo_code": "OVER"},
            errors.PromoInvalid,
            {"reason": "expired"},
        ),
        "used-up code": (
            {"items": _items((general, 1)), "promo_code": "GONE"},
            errors.PromoInvalid,
            {"reason": "used_up"},
        ),
        "code short of uses": (
            {"items": _items((vip, 2), (general, 2)), "promo_code": "VIP50"},
            errors.PromoInvalid,
            {"reason": "used_up"},
        ),
        "code for none of the items": (
            {"items": _items((general, 2)), "promo_code": vip_only.code},
            errors.PromoInvalid,
            {"reason": "not_applicable"},
        ),
    }


BAD_BODIES = [
    "unknown type",
    "type of another event",
    "not a type id",
    "duplicate types",
    "zero quantity",
    "negative quantity",
    "no items",
    "more than 10 items",
    "over max_per_booking",
    "several public types without items",
    "hidden type without a code",
    "hidden type with a code that does not unlock it",
    "type whose sale ended",
    "type not on sale yet",
    "unknown code",
    "code of another event",
    "inactive code",
    "code not valid yet",
    "expired code",
    "used-up code",
    "code short of uses",
    "code for none of the items",
]


@pytest.mark.parametrize("case", BAD_BODIES)
def test_each_bad_body_gets_its_error_from_reserve_and_quote_and_takes_nothing(
    show, customer, case
):
    body, error, details = _bad_bodies(show)[case]
    before = _counters(show)

    with pytest.raises(error) as refused:
        _reserve(customer, show, **body)
    assert refused.value.details == details
    with pytest.raises(error) as quoted:
        services.booking_quote(user=customer, event_id=show.pk, **body)
    assert quoted.value.details == details

    assert _counters(show) == before


def test_a_sold_out_type_says_how_many_are_left_of_it(show, customer, outsider):
    _reserve(outsider, show, items=_items((show.vip, 2)))
    _reserve(outsider, show, items=_items((show.vip, 2)))
    before = _counters(show)

    with pytest.raises(errors.SoldOut) as refused:
        _reserve(customer, show, items=_items((show.general, 1), (show.vip, 2)))

    assert refused.value.details == {"available": 1, "ticket_type": str(show.vip.pk)}
    assert refused.value.message == "Only 1 VIP ticket left."
    assert _counters(show) == before
    # The event itself still has room: General sells.
    booking, created = _reserve(customer, show, items=_items((show.general, 1), (show.vip, 1)))
    assert created and booking.quantity == 2


def test_event_capacity_short_is_sold_out_without_a_type(show, customer, outsider):
    Event.objects.filter(pk=show.pk).update(capacity=3)
    with pytest.raises(errors.SoldOut) as refused:
        _reserve(customer, show, items=_items((show.general, 2), (show.vip, 2)))
    assert refused.value.details == {"available": 3}
    assert _counters(show)[0] == 0


def test_the_per_user_limit_counts_every_type(show, customer):
    Event.objects.filter(pk=show.pk).update(max_tickets_per_user=4)
    _reserve(customer, show, items=_items((show.general, 2), (show.vip, 1)))
    with pytest.raises(errors.LimitExceeded) as refused:
        _reserve(customer, show, items=_items((show.vip, 2)))
    assert refused.value.details == {"limit": 4, "already_held": 3}
    assert _counters(show)[0] == 3


# --- prices, quote, reserve ------------------------------------------------------


def test_the_quote_prices_the_items_and_takes_nothing(show, customer):
    before = _counters(show)

    quote = services.booking_quote(
        user=customer,
        event_id=show.pk,
        items=_items((show.vip, 1), (show.general, 2)),
        promo_code="save10",
    )

    assert [(i.ticket_type.name, i.quantity, i.unit_price, i.discount, i.total)
            for i in sorted(quote.items, key=lambda i: i.ticket_type.name)] == [
        ("General", 2, Decimal("100.00"), Decimal("10.00"), Decimal("180.00")),
        ("VIP", 1, Decimal("250.00"), Decimal("25.00"), Decimal("225.00")),
    ]  # fmt: skip
    assert (quote.subtotal, quote.discount, quote.total_price) == (
        Decimal("450.00"),
        Decimal("45.00"),
        Decimal("405.00"),
    )
    assert (quote.currency, quote.promo_code) == ("INR", show.save10)
    assert _counters(show) == before


def test_a_reserve_holds_the_items_and_takes_capacity_quota_and_uses_together(show, customer):
    booking, created = _reserve(
        customer, show, items=_items((show.general, 1), (show.vip, 2)), promo_code="VIP50"
    )

    assert created
    stored = Booking.objects.get(pk=booking.pk)
    assert (stored.quantity, stored.unit_price, stored.promo_code_id) == (3, None, show.vip50.pk)
    assert (stored.subtotal, stored.discount, stored.total_price) == (
        Decimal("600.00"),
        Decimal("100.00"),
        Decimal("500.00"),
    )
    items = {i.ticket_type.name: (i.quantity, i.unit_price, i.discount) for i in stored.items.all()}
    assert items == {
        "General": (1, Decimal("100.00"), Decimal("0.00")),
        "VIP": (2, Decimal("250.00"), Decimal("50.00")),
    }
    assert _counters(show) == (
        3,
        {"General": 1, "VIP": 2, "Press": 0},
        {"SAVE10": 0, "VIP50": 3, "PRESS": 0},  # every ticket of the booking uses the code
        1,
    )
    assert inventory_problems([show.pk]) == []


def test_a_one_item_booking_keeps_its_unit_price(show, customer):
    booking, _ = _reserve(customer, show, items=_items((show.vip, 2)))
    assert (booking.unit_price, booking.total_price) == (Decimal("250.00"), Decimal("500.00"))


def test_a_code_unlocks_its_hidden_type(show, customer):
    booking, _ = _reserve(customer, show, items=_items((show.press, 2)), promo_code="PRESS")
    assert (booking.quantity, booking.total_price) == (2, Decimal("0.00"))
    assert _counters(show)[2]["PRESS"] == 2


def test_the_only_public_type_on_sale_is_what_a_quantity_buys(show, customer):
    TicketType.objects.filter(pk=show.vip.pk).update(sale_ends_at=NOW - dt.timedelta(hours=1))
    booking, _ = _reserve(customer, show, quantity=3)
    assert [(i.ticket_type_id, i.quantity) for i in booking.items.all()] == [(show.general.pk, 3)]


def test_a_discount_is_never_above_the_price(customer):
    event = make_event(price=Decimal("40.00"))
    make_promo_code(event, code="BIG", discount_percent=None, discount_amount=Decimal("75.00"))

    booking, _ = _reserve(customer, event, quantity=2, promo_code="BIG")

    item = booking.items.get()
    assert (item.unit_price, item.discount) == (Decimal("40.00"), Decimal("40.00"))
    assert (booking.subtotal, booking.discount, booking.total_price) == (
        Decimal("80.00"),
        Decimal("80.00"),
        Decimal("0.00"),
    )


def test_a_percentage_is_rounded_half_up_per_ticket(customer):
    event = make_event(price=Decimal("0.25"))
    make_promo_code(event, code="HALF", discount_percent=50)  # 0.125 -> 0.13

    booking, _ = _reserve(customer, event, quantity=3, promo_code="HALF")

    assert booking.items.get().discount == Decimal("0.13")
    assert (booking.subtotal, booking.discount, booking.total_price) == (
        Decimal("0.75"),
        Decimal("0.39"),
        Decimal("0.36"),
    )


# --- pay, free bookings, refunds ---------------------------------------------------


def test_a_free_booking_is_confirmed_without_a_card_or_the_gateway(show, customer, monkeypatch):
    from bookings.gateway import MockGateway

    def no_gateway(self, **kwargs):
        raise AssertionError("the gateway was called")

    monkeypatch.setattr(MockGateway, "charge", no_gateway)
    monkeypatch.setattr(MockGateway, "refund", no_gateway)
    booking, _ = _reserve(customer, show, items=_items((show.press, 1)), promo_code="PRESS")

    paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=None)

    assert paid.status == BookingStatus.CONFIRMED
    assert paid.tickets.count() == 1
    payment = Payment.objects.get(booking=booking)
    assert (payment.amount, payment.status) == (Decimal("0.00"), "succeeded")
    assert inventory_problems([show.pk]) == []
    quote = services.booking_refund_quote(user=customer, booking_id=booking.pk)
    assert quote["amount"] == Decimal("0.00")
    cancelled = services.booking_cancel(user=customer, booking_id=booking.pk)
    assert cancelled.status == BookingStatus.CANCELLED
    assert Refund.objects.get(booking=booking).amount == Decimal("0.00")
    assert _counters(show)[:3] == (
        0,
        {"General": 0, "VIP": 0, "Press": 0},
        {"SAVE10": 0, "VIP50": 0, "PRESS": 0},
    )


def test_a_booking_that_costs_money_needs_a_card(show, customer):
    booking, _ = _reserve(customer, show, items=_items((show.general, 1)))
    with pytest.raises(errors.Invalid) as refused:
        services.booking_pay(user=customer, booking_id=booking.pk, card_number="")
    assert refused.value.details == {"card_number": ["This field is required."]}
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.HELD


def test_the_refund_is_a_tier_of_what_was_paid_after_the_discount(customer):
    event = make_event(price=Decimal("99.99"), starts_at=NOW + dt.timedelta(days=5))
    make_promo_code(event, code="TEN", discount_percent=10)  # 9.999 -> 10.00 off
    booking, _ = _reserve(customer, event, quantity=1, promo_code="TEN")
    assert booking.total_price == Decimal("89.99")
    services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    quote = services.booking_refund_quote(user=customer, booking_id=booking.pk)
    services.booking_cancel(user=customer, booking_id=booking.pk)

    refund = Refund.objects.get(booking=booking)
    assert (quote["amount"], quote["percent"]) == (Decimal("45.00"), 50)  # 44.995 half up
    assert (refund.amount, refund.percent) == (Decimal("45.00"), 50)
    assert refund.amount <= refund.payment.amount == Decimal("89.99")


# --- tickets come back: capacity, quotas and uses together --------------------------


def test_a_cancel_gives_back_capacity_quotas_and_uses(show, customer):
    booking, _ = _reserve(
        customer, show, items=_items((show.general, 1), (show.vip, 2)), promo_code="VIP50"
    )
    services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    services.booking_cancel(user=customer, booking_id=booking.pk)

    assert _counters(show)[:3] == (
        0,
        {"General": 0, "VIP": 0, "Press": 0},
        {"SAVE10": 0, "VIP50": 0, "PRESS": 0},
    )
    assert inventory_problems([show.pk]) == []


def test_the_beat_gives_back_what_lapsed_holds_took(show, customer):
    lapsed_at = NOW - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)
    _reserve(customer, show, items=_items((show.vip, 2)), promo_code="VIP50", now=lapsed_at)

    assert services.holds_release_expired() == 2

    assert _counters(show)[:3] == (
        0,
        {"General": 0, "VIP": 0, "Press": 0},
        {"SAVE10": 0, "VIP50": 0, "PRESS": 0},
    )
    assert inventory_problems([show.pk]) == []


def test_a_reserve_releases_lapsed_holds_to_get_their_quota_and_uses(show, customer, outsider):
    lapsed_at = NOW - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)
    Event.objects.filter(pk=show.pk).update(max_tickets_per_user=10)
    PromoCode.objects.filter(pk=show.vip50.pk).update(max_uses=2)
    old, _ = _reserve(
        outsider, show, items=_items((show.vip, 2)), promo_code="VIP50", now=lapsed_at
    )
    _reserve(outsider, show, items=_items((show.vip, 2)))  # VIP: 4 of 5 taken, the code used up

    booking, _ = _reserve(customer, show, items=_items((show.vip, 2)), promo_code="VIP50")

    assert Booking.objects.get(pk=old.pk).status == BookingStatus.EXPIRED
    assert booking.total_price == Decimal("400.00")
    assert _counters(show)[1:3] == (
        {"General": 0, "VIP": 4, "Press": 0},
        {"SAVE10": 0, "VIP50": 2, "PRESS": 0},
    )
    assert inventory_problems([show.pk]) == []


def test_paying_a_hold_released_during_the_charge_takes_its_quota_and_uses_again(
    show, customer, settings
):
    settings.NUVIO_PAYMENT_GATEWAY = "bookings.tests.test_services._SlowGateway"
    booking, _ = _reserve(customer, show, items=_items((show.vip, 1)), promo_code="VIP50")
    later = booking.expires_at + dt.timedelta(seconds=1)
    _SlowGateway.during_charge = staticmethod(lambda: services.holds_release_expired(now=later))
    try:
        paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    finally:
        _SlowGateway.during_charge = staticmethod(lambda: None)

    assert paid.status == BookingStatus.CONFIRMED
    assert _counters(show)[:3] == (
        1,
        {"General": 0, "VIP": 1, "Press": 0},
        {"SAVE10": 0, "VIP50": 1, "PRESS": 0},
    )
    assert inventory_problems([show.pk]) == []


def test_a_hold_released_during_the_charge_whose_code_ran_out_is_refunded(
    show, customer, outsider, settings
):
    settings.NUVIO_PAYMENT_GATEWAY = "bookings.tests.test_services._SlowGateway"
    PromoCode.objects.filter(pk=show.vip50.pk).update(max_uses=1)
    booking, _ = _reserve(customer, show, items=_items((show.vip, 1)), promo_code="VIP50")
    later = booking.expires_at + dt.timedelta(seconds=1)

    def released_and_code_taken():
        services.holds_release_expired(now=later)
        _reserve(outsider, show, items=_items((show.vip, 1)), promo_code="VIP50")

    _SlowGateway.during_charge = staticmethod(released_and_code_taken)
    try:
        with pytest.raises(errors.HoldExpired) as refused:
            services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    finally:
        _SlowGateway.during_charge = staticmethod(lambda: None)

    assert refused.value.details["refund"]["amount"] == "200.00"
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.EXPIRED
    assert _counters(show)[2]["VIP50"] == 1
    assert inventory_problems([show.pk]) == []


# --- the waiting list, per type -----------------------------------------------------


def _sell_out_vip(show) -> list[Booking]:
    holder = User.objects.create_user(email="vipholder@example.com", password="x")
    return [_reserve(holder, show, items=_items((show.vip, n)))[0] for n in (1, 2, 2)]


def test_joining_needs_a_type_when_the_event_sells_several(show, customer):
    _sell_out_vip(show)
    with pytest.raises(errors.Invalid) as refused:
        services.waitlist_join(user=customer, event_id=show.pk, quantity=1)
    assert refused.value.details == {"ticket_type": ["Choose a ticket type."]}
    with pytest.raises(errors.InvalidState):  # General is not sold out
        services.waitlist_join(
            user=customer, event_id=show.pk, quantity=1, ticket_type_id=show.general.pk
        )
    entry = services.waitlist_join(
        user=customer, event_id=show.pk, quantity=1, ticket_type_id=show.vip.pk
    )
    assert (entry.ticket_type_id, entry.position) == (show.vip.pk, 1)


def test_a_vip_waiter_does_not_block_general_admission(show, customer, outsider):
    _sell_out_vip(show)
    services.waitlist_join(user=customer, event_id=show.pk, quantity=1, ticket_type_id=show.vip.pk)

    booking, _ = _reserve(outsider, show, items=_items((show.general, 3)))

    assert booking.quantity == 3
    with pytest.raises(errors.SoldOut) as refused:  # VIP's returned tickets are the waiter's
        _reserve(outsider, show, items=_items((show.vip, 1)))
    assert refused.value.details == {"available": 0, "ticket_type": str(show.vip.pk)}
    assert inventory_problems([show.pk]) == []


def test_waiters_are_served_first_come_first_served_within_their_type(show):
    one, two, _ = _sell_out_vip(show)
    big, small = _users(2)
    first = services.waitlist_join(
        user=big, event_id=show.pk, quantity=2, ticket_type_id=show.vip.pk, now=NOW
    )
    second = services.waitlist_join(
        user=small,
        event_id=show.pk,
        quantity=1,
        ticket_type_id=show.vip.pk,
        now=NOW + dt.timedelta(seconds=1),
    )

    services.booking_cancel(user=one.user, booking_id=one.pk)  # 1 VIP back: the first wants 2

    statuses = dict(
        show.waitlist_entries.values_list("pk", "status").filter(pk__in=[first.pk, second.pk])
    )
    assert statuses == {first.pk: WaitlistStatus.WAITING, second.pk: WaitlistStatus.WAITING}
    assert inventory_problems([show.pk]) == []

    services.booking_cancel(user=two.user, booking_id=two.pk)  # 3 back: 2 to the first, 1 next

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (WaitlistStatus.OFFERED, WaitlistStatus.OFFERED)
    assert [(i.ticket_type_id, i.quantity) for i in first.offered_booking.items.all()] == [
        (show.vip.pk, 2)
    ]
    assert _counters(show)[1]["VIP"] == 5
    assert inventory_problems([show.pk]) == []


def test_an_entry_that_does_not_fit_blocks_only_its_own_type():
    event = make_event(capacity=4, max_tickets_per_user=4, general_admission=False)
    general = make_ticket_type(event, name="General", price=Decimal("10.00"))
    vip = make_ticket_type(event, name="VIP", price=Decimal("50.00"), quota=3)
    holder, wants_two, wants_vip = _users(3)
    returned, _ = _reserve(holder, event, items=_items((general, 1)))
    _reserve(holder, event, items=_items((general, 1), (vip, 2)))  # the event is full
    big = services.waitlist_join(
        user=wants_two, event_id=event.pk, quantity=2, ticket_type_id=general.pk, now=NOW
    )
    later = services.waitlist_join(
        user=wants_vip,
        event_id=event.pk,
        quantity=1,
        ticket_type_id=vip.pk,
        now=NOW + dt.timedelta(seconds=1),
    )

    services.booking_cancel(user=holder, booking_id=returned.pk)  # 1 back

    big.refresh_from_db()
    later.refresh_from_db()
    # The first in line wants 2 General: it waits, and so would General entries
    # behind it; the VIP entry behind it fits (1 free, 1 left in VIP's quota).
    assert big.status == WaitlistStatus.WAITING
    assert later.status == WaitlistStatus.OFFERED
    assert [(i.ticket_type_id, i.quantity) for i in later.offered_booking.items.all()] == [
        (vip.pk, 1)
    ]
    assert _counters(event)[:2] == (4, {"General": 1, "VIP": 3})
    assert inventory_problems([event.pk]) == []


# --- what the event page and the API read -------------------------------------------


def test_the_types_on_offer_say_what_is_available_on_sale_and_at_what_price(show, customer, staff):
    from events.selectors import promo_code_find, ticket_types_on_offer

    TicketType.objects.filter(pk=show.general.pk).update(sale_starts_at=NOW + dt.timedelta(days=1))
    lapsed_at = NOW - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)
    _reserve(customer, show, items=_items((show.vip, 2)))
    _reserve(customer, show, items=_items((show.vip, 2)), now=lapsed_at)  # free again

    show.refresh_from_db()
    public = ticket_types_on_offer(event=show, user=customer)
    assert [(t.name, t.available, t.on_sale, t.discounted_price) for t in public] == [
        ("General", 18, False, Decimal("100.00")),  # 20 - 4 taken + 2 lapsed
        ("VIP", 3, True, Decimal("250.00")),
    ]

    code = promo_code_find(event=show, code="press")
    assert code == show.press_code
    with_code = ticket_types_on_offer(event=show, user=customer, promo=code)
    assert [t.name for t in with_code] == ["Press", "General", "VIP"]  # position, then price

    save10 = promo_code_find(event=show, code="Save10")
    priced = {t.name: t.discounted_price for t in ticket_types_on_offer(event=show, promo=save10)}
    assert priced == {"General": Decimal("90.00"), "VIP": Decimal("225.00")}
    assert len(ticket_types_on_offer(event=show, user=staff)) == 3  # staff see hidden ones
    assert promo_code_find(event=show, code="nope") is None


def test_a_type_with_waiters_shows_nothing_available(show, customer):
    from events.selectors import ticket_types_on_offer

    _sell_out_vip(show)
    services.waitlist_join(user=customer, event_id=show.pk, quantity=1, ticket_type_id=show.vip.pk)
    show.refresh_from_db()
    available = {t.name: t.available for t in ticket_types_on_offer(event=show)}
    assert available == {"General": 15, "VIP": 0}


# --- check_inventory: quotas, code uses, items ---------------------------------------


def _problems(event) -> list[str]:
    return [p for row in inventory_problems([event.pk]) for p in row["problems"]]


def test_the_inventory_notices_a_type_counter_out_of_step(show, customer):
    _reserve(customer, show, items=_items((show.vip, 2)))
    TicketType.objects.filter(pk=show.vip.pk).update(tickets_taken=1)

    assert _problems(show) == [
        "ticket type VIP: tickets_taken is 1 but held + confirmed bookings hold 2 of its tickets"
    ]


def test_the_inventory_notices_a_code_counter_out_of_step(show, customer):
    _reserve(customer, show, items=_items((show.vip, 2)), promo_code="VIP50")
    PromoCode.objects.filter(pk=show.vip50.pk).update(uses=3)

    assert _problems(show) == [
        "promo code VIP50: uses is 3 but held + confirmed bookings made with it hold 2 tickets"
    ]


def test_the_inventory_notices_items_that_do_not_add_up(show, customer):
    booking, _ = _reserve(customer, show, items=_items((show.general, 1), (show.vip, 1)))
    booking.items.filter(ticket_type=show.vip).update(discount=Decimal("10.00"))

    (problem,) = _problems(show)
    assert problem.startswith(f"booking {booking.pk}: 2 tickets, subtotal 350.00, discount 0.00")


def test_the_inventory_notices_a_type_waiter_left_unserved(show, customer):
    (one, *_) = _sell_out_vip(show)
    services.waitlist_join(user=customer, event_id=show.pk, quantity=1, ticket_type_id=show.vip.pk)
    # Tickets came back without going through the services: nobody served the waiter.
    Booking.objects.filter(pk=one.pk).update(status=BookingStatus.CANCELLED)
    Event.objects.filter(pk=show.pk).update(tickets_taken=4)
    TicketType.objects.filter(pk=show.vip.pk).update(tickets_taken=4)

    assert _problems(show) == [
        "the first waiting entry for VIP wants 1 tickets and 1 are free, but it was not served"
    ]
