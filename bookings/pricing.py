"""The arithmetic of a booking's money: exact decimals, no database.

- A promo code's discount is **per ticket**: ``percent`` of the unit price, or
  a fixed ``amount`` (never more than the unit price), rounded half up to the
  cent. It is never below 0 and never above the unit price.
- An item costs ``quantity x (unit_price - discount)``; a booking's
  ``subtotal`` is the sum before discounts, its ``discount`` the sum of the
  discounts and ``total_price = subtotal - discount``, what is charged.
- A refund is a whole percentage of what was paid (``total_price``), rounded
  half up to the cent, so never above it.

Shared by the booking services and by ``events.selectors`` (the discounted
prices a code shows before anything is held); it imports nothing of Nuvio,
so anything may import it.
"""

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """``value`` rounded half up to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def ticket_discount(
    unit_price: Decimal, *, percent: int | None = None, amount: Decimal | None = None
) -> Decimal:
    """The discount on one ticket of ``unit_price``: ``percent`` % of it, or
    ``amount`` capped at it; 0 with neither. Within ``0 .. unit_price``."""
    unit_price = Decimal(unit_price)
    if percent is not None:
        discount = cents(unit_price * percent / 100)
    elif amount is not None:
        discount = cents(min(Decimal(amount), unit_price))
    else:
        discount = ZERO
    return min(max(discount, ZERO), unit_price)


def line_total(quantity: int, unit_price: Decimal, discount: Decimal) -> Decimal:
    """What ``quantity`` tickets at ``unit_price`` less ``discount`` each cost."""
    return cents(quantity * (Decimal(unit_price) - Decimal(discount)))


def totals(lines: Iterable[tuple[int, Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """``(subtotal, discount, total)`` of ``(quantity, unit_price, discount)``
    lines; ``total == subtotal - discount`` exactly."""
    subtotal = discount = ZERO
    for quantity, unit_price, per_ticket in lines:
        subtotal += quantity * Decimal(unit_price)
        discount += quantity * Decimal(per_ticket)
    subtotal, discount = cents(subtotal), cents(discount)
    return subtotal, discount, subtotal - discount


def refund_amount(total: Decimal, percent: int) -> Decimal:
    """``percent`` % of ``total``, rounded half up to the cent."""
    return cents(Decimal(total) * percent / 100)
