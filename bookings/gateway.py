"""The payment gateway interface and its mock implementation.

Services talk to a ``PaymentGateway``; ``get_gateway()`` returns the one named
by the ``NUVIO_PAYMENT_GATEWAY`` setting (the mock by default). A gateway call
is never made while a database row lock is held.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from nuvio.errors import Invalid, PaymentDeclined


@dataclass(frozen=True)
class Charge:
    intent_id: str
    amount: Decimal
    currency: str
    card_last4: str


class GatewayError(Exception):
    """The gateway could not be reached or failed; the operation may be retried."""


class PaymentGateway(Protocol):
    def charge(self, *, amount: Decimal, currency: str, card_number: str, reference: str) -> Charge:
        """Charge the card. Raises ``Invalid`` (bad number), ``PaymentDeclined``
        or ``GatewayError``."""

    def refund(self, *, intent_id: str, amount: Decimal, currency: str, reference: str) -> str:
        """Refund part or all of a charge; returns the gateway's refund reference.
        Raises ``GatewayError``. Must be safe to call again with the same reference."""


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def normalize_card_number(raw: str) -> str:
    """Digits only (spaces and dashes dropped); ``Invalid`` unless 12-19 digits
    passing the Luhn check."""
    number = raw.replace(" ", "").replace("-", "")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise Invalid(
            "That card number is not valid.",
            details={"card_number": ["Enter a valid card number."]},
        )
    return number


class MockGateway:
    """Test cards: 4242424242424242 succeeds, 4000000000000002 is declined;
    any other number passing the Luhn check succeeds; anything else is invalid."""

    DECLINED = "4000000000000002"

    def charge(self, *, amount: Decimal, currency: str, card_number: str, reference: str) -> Charge:
        number = normalize_card_number(card_number)
        if number == self.DECLINED:
            raise PaymentDeclined()
        return Charge(
            intent_id=f"pi_mock_{uuid.uuid4().hex}",
            amount=amount,
            currency=currency,
            card_last4=number[-4:],
        )

    def refund(self, *, intent_id: str, amount: Decimal, currency: str, reference: str) -> str:
        return f"re_mock_{uuid.uuid5(uuid.NAMESPACE_URL, reference).hex}"


def get_gateway() -> PaymentGateway:
    return import_string(settings.NUVIO_PAYMENT_GATEWAY)()
