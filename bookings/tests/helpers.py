"""Shortcuts for booking tests."""

from bookings import services

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def hold(user, event, quantity=1, **kwargs):
    return services.booking_reserve(user=user, event_id=event.pk, quantity=quantity, **kwargs)


def confirmed(user, event, quantity=1, **kwargs):
    booking = hold(user, event, quantity, **kwargs)
    return services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)
