"""Property tests of the money arithmetic (``bookings.pricing``, no database):
discounts per ticket, totals and refunds are exact decimals, rounded half up
to the cent, and never out of their bounds."""

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookings.pricing import cents, line_total, refund_amount, ticket_discount, totals

prices = st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False)
percents = st.integers(min_value=0, max_value=100)
quantities = st.integers(min_value=1, max_value=100)


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@given(price=prices, percent=percents)
def test_a_percentage_discount_is_within_the_price_and_rounded_half_up(price, percent):
    discount = ticket_discount(price, percent=percent)
    assert Decimal(0) <= discount <= price
    assert discount == _half_up(price * percent / 100)
    assert discount.as_tuple().exponent == -2


@given(price=prices, amount=prices)
def test_an_amount_discount_is_never_above_the_price_nor_below_zero(price, amount):
    discount = ticket_discount(price, amount=amount)
    assert discount == min(price, amount)
    assert Decimal(0) <= discount <= price


@given(price=prices)
def test_no_code_no_discount(price):
    assert ticket_discount(price) == Decimal("0.00")


@given(
    lines=st.lists(
        st.tuples(quantities, prices, st.one_of(percents, prices)), min_size=1, max_size=10
    )
)
def test_the_total_is_the_subtotal_less_the_discount_and_never_negative(lines):
    priced = []
    for quantity, price, off in lines:
        discount = (
            ticket_discount(price, percent=off)
            if isinstance(off, int)
            else ticket_discount(price, amount=off)
        )
        priced.append((quantity, price, discount))

    subtotal, discount, total = totals(priced)

    assert subtotal == sum(q * p for q, p, _ in priced)
    assert discount == sum(q * d for q, _, d in priced)
    assert total == subtotal - discount
    assert Decimal(0) <= discount <= subtotal
    assert total == sum(line_total(q, p, d) for q, p, d in priced)
    assert all(line_total(q, p, d) >= 0 for q, p, d in priced)


@given(total=prices, percent=percents)
def test_a_refund_is_a_share_of_what_was_paid_rounded_half_up(total, percent):
    refund = refund_amount(total, percent)
    assert Decimal(0) <= refund <= total
    assert refund == _half_up(total * percent / 100)
    assert refund_amount(total, 100) == total
    assert refund_amount(total, 0) == 0


def test_half_a_cent_rounds_up():
    assert cents(Decimal("0.125")) == Decimal("0.13")
    assert cents(Decimal("44.995")) == Decimal("45.00")
    assert ticket_discount(Decimal("0.25"), percent=50) == Decimal("0.13")
    assert ticket_discount(Decimal("99.99"), percent=10) == Decimal("10.00")
    assert refund_amount(Decimal("89.99"), 50) == Decimal("45.00")
