"""One event's sales per ticket type and per promo code: ``ticket_types`` and
``promo_codes`` of `GET /api/analytics/events/{id}/`, and the tables of the
dashboard pages. Bookings and items are written with the ORM, as the booking
services would leave them, and the roll-ups rebuilt from them."""

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.cache import FRESHNESS_SECONDS
from analytics.selectors import analytics_event
from analytics.services import rollups_rebuild
from bookings.models import (
    Booking,
    BookingItem,
    BookingStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from events.models import PromoCode, TicketType
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
TODAY = NOW.date()
RANGE = {"from": (TODAY - dt.timedelta(days=1)).isoformat(), "to": TODAY.isoformat()}
_intents = count(1)


def event_url(event) -> str:
    return f"/api/analytics/events/{event.pk}/"


def book(user, event, items, *, status, code=None, created_at=None, expires_at=None, paid=False):
    """A booking of ``items`` [(ticket type, quantity, discount per ticket)]
    with its items, and its payment of ``total_price`` when ``paid``."""
    created_at = created_at or NOW - dt.timedelta(hours=1)
    subtotal = sum(kind.price * quantity for kind, quantity, _ in items)
    discount = sum(Decimal(off) * quantity for _, quantity, off in items)
    booking = Booking.objects.create(
        user=user,
        event=event,
        quantity=sum(quantity for _, quantity, _ in items),
        unit_price=items[0][0].price if len(items) == 1 else None,
        subtotal=subtotal,
        discount=discount,
        total_price=subtotal - discount,
        promo_code=code,
        currency=event.currency,
        status=status,
        created_at=created_at,
        expires_at=expires_at or created_at + dt.timedelta(minutes=15),
        confirmed_at=created_at + dt.timedelta(minutes=1) if paid else None,
        cancelled_at=NOW - dt.timedelta(minutes=5) if status == BookingStatus.CANCELLED else None,
    )
    BookingItem.objects.bulk_create(
        BookingItem(
            booking=booking,
            ticket_type=kind,
            quantity=quantity,
            unit_price=kind.price,
            discount=Decimal(off),
        )
        for kind, quantity, off in items
    )
    if paid:
        Payment.objects.create(
            booking=booking,
            gateway_intent_id=f"pi_test_{next(_intents)}",
            amount=booking.total_price,
            currency=booking.currency,
            status=PaymentStatus.SUCCEEDED,
        )
    return booking


def ticket_type(event, name, price, quota=None, position=0):
    return TicketType.objects.create(
        event=event, name=name, price=Decimal(price), quota=quota, position=position
    )


def promo(event, code, **discount):
    return PromoCode.objects.create(event=event, code=code, **discount)


@pytest.fixture
def sales(customer, outsider, time_machine):
    """An event with four types (one quota-less, one unsold) and three codes
    (one unused), and bookings in every state. By hand (types x quantity x
    (price - discount)):

    #1 confirmed       GA 2 x 100, VIP 1 x 250
    #2 confirmed       SAVE10: GA 3 x (100 - 10)
    #3 confirmed       FLAT25: VIP 2 x (250 - 25), Student 1 x (40 - 25)
    #4 held (running)  SAVE10: GA 4 x (100 - 10)           sold no, uses yes
    #5 held (lapsed)   FLAT25: VIP 1 x (250 - 25)          neither
    #6 cancelled hold  SAVE10: GA 5 x (100 - 10)           neither
    #7 paid, cancelled SAVE10: VIP 1 x (250 - 25), refund  revenue and discount only
    #8 expired         GA 1 x 100                          nothing
    #9 confirmed       GA 7 x 100, created before the range
    and a confirmed booking of another event.
    """
    time_machine.move_to(NOW, tick=False)
    event = make_event(
        name="Gala Night", capacity=100, price=Decimal("40.00"), general_admission=False
    )
    ga = ticket_type(event, "General admission", "100.00", position=0)
    vip = ticket_type(event, "VIP", "250.00", quota=20, position=1)
    student = ticket_type(event, "Student", "40.00", quota=30, position=2)
    late = ticket_type(event, "Late entry", "150.00", quota=10, position=3)
    save10 = promo(event, "SAVE10", discount_percent=10)
    flat25 = promo(event, "FLAT25", discount_amount=Decimal("25.00"))
    promo(event, "UNUSED", discount_percent=50)
    confirmed, held = BookingStatus.CONFIRMED, BookingStatus.HELD

    book(customer, event, [(ga, 2, 0), (vip, 1, 0)], status=confirmed, paid=True)
    book(outsider, event, [(ga, 3, 10)], code=save10, status=confirmed, paid=True)
    book(
        customer, event, [(vip, 2, 25), (student, 1, 25)], code=flat25, status=confirmed, paid=True
    )
    book(
        outsider,
        event,
        [(ga, 4, 10)],
        code=save10,
        status=held,
        expires_at=NOW + dt.timedelta(minutes=10),
    )
    book(
        customer,
        event,
        [(vip, 1, 25)],
        code=flat25,
        status=held,
        expires_at=NOW - dt.timedelta(minutes=1),
    )
    book(outsider, event, [(ga, 5, 10)], code=save10, status=BookingStatus.CANCELLED)
    refunded = book(
        customer, event, [(vip, 1, 25)], code=save10, status=BookingStatus.CANCELLED, paid=True
    )
    Refund.objects.create(
        booking=refunded,
        payment=refunded.payments.get(),
        amount=Decimal("225.00"),
        percent=100,
        currency="INR",
        status=RefundStatus.SUCCEEDED,
        reason="cancelled",
    )
    book(outsider, event, [(ga, 1, 0)], status=BookingStatus.EXPIRED)
    book(
        customer,
        event,
        [(ga, 7, 0)],
        status=confirmed,
        paid=True,
        created_at=NOW - dt.timedelta(days=5),
    )
    other = make_event(name="Other Show", general_admission=False)
    book(
        customer,
        other,
        [(ticket_type(other, "General admission", "100.00"), 2, 0)],
        status=confirmed,
        paid=True,
    )
    rollups_rebuild()
    return {"event": event, "ga": ga, "vip": vip, "student": student, "late": late}


EXPECTED_TYPES = [
    # name, tickets_sold, quota, revenue
    ("General admission", 5, None, "470.00"),  # 200 + 270
    ("VIP", 3, 20, "925.00"),  # 250 + 450 + 225 (#7, paid then cancelled)
    ("Student", 1, 30, "15.00"),
    ("Late entry", 0, 10, "0.00"),
]
EXPECTED_CODES = [
    # code, uses, discount_total
    ("FLAT25", 3, "75.00"),  # #3: 2 x 25 + 1 x 25; the lapsed hold #5 not
    ("SAVE10", 7, "55.00"),  # uses: #2 (3) + the running hold #4 (4); discount: #2 30 + #7 25
    ("UNUSED", 0, "0.00"),
]


@pytest.fixture
def staff_direct(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


def _from_the_rows(event, day_from: dt.date, now: dt.datetime) -> tuple[dict, dict]:
    """The figures per type and per code counted from the item rows one by one."""
    sold, revenue, uses, discounts = (
        Counter(),
        defaultdict(Decimal),
        Counter(),
        defaultdict(Decimal),
    )
    items = BookingItem.objects.filter(
        booking__event=event,
        booking__created_at__gte=dt.datetime.combine(day_from, dt.time.min, tzinfo=dt.UTC),
    ).select_related("booking", "ticket_type", "booking__promo_code")
    for item in items:
        booking = item.booking
        if booking.status == BookingStatus.CONFIRMED:
            sold[item.ticket_type.name] += item.quantity
        if booking.confirmed_at is not None:
            revenue[item.ticket_type.name] += item.total
        if booking.promo_code is None:
            continue
        if booking.status == BookingStatus.CONFIRMED or (
            booking.status == BookingStatus.HELD and booking.expires_at > now
        ):
            uses[booking.promo_code.code] += item.quantity
        if booking.confirmed_at is not None:
            discounts[booking.promo_code.code] += item.quantity * item.discount
    types = {
        kind.name: (sold[kind.name], kind.quota, f"{revenue[kind.name]:.2f}")
        for kind in TicketType.objects.filter(event=event)
    }
    codes = {
        code.code: (uses[code.code], f"{discounts[code.code]:.2f}")
        for code in PromoCode.objects.filter(event=event)
    }
    return types, codes


def test_event_figures_break_sales_down_per_ticket_type_and_promo_code(sales, staff_direct):
    event = sales["event"]
    body = staff_direct.get(event_url(event), RANGE).json()

    assert [
        (row["name"], row["tickets_sold"], row["quota"], row["revenue"])
        for row in body["ticket_types"]
    ] == EXPECTED_TYPES
    assert body["ticket_types"][0]["id"] == str(sales["ga"].pk)
    assert set(body["ticket_types"][0]) == {"id", "name", "tickets_sold", "quota", "revenue"}
    assert [
        (row["code"], row["uses"], row["discount_total"]) for row in body["promo_codes"]
    ] == EXPECTED_CODES
    assert set(body["promo_codes"][0]) == {"id", "code", "uses", "discount_total"}
    # The same as counting the rows one by one...
    types, codes = _from_the_rows(event, TODAY - dt.timedelta(days=1), NOW)
    assert {
        row["name"]: (row["tickets_sold"], row["quota"], row["revenue"])
        for row in body["ticket_types"]
    } == types
    assert {
        row["code"]: (row["uses"], row["discount_total"]) for row in body["promo_codes"]
    } == codes
    # ...and adding up to the event's own figures (every payment here is a
    # booking's total price).
    assert sum(row["tickets_sold"] for row in body["ticket_types"]) == body["tickets_sold"] == 9
    assert sum(Decimal(row["revenue"]) for row in body["ticket_types"]) == Decimal(body["revenue"])


def test_the_breakdown_counts_the_bookings_created_in_the_range(sales, staff_direct):
    wider = {**RANGE, "from": (TODAY - dt.timedelta(days=7)).isoformat()}
    body = staff_direct.get(event_url(sales["event"]), wider).json()
    assert body["ticket_types"][0]["tickets_sold"] == 12  # #9's 7 tickets too
    assert body["ticket_types"][0]["revenue"] == "1170.00"
    assert body["revenue"] == "2110.00"  # the types' 1170 + 925 + 15 + 0


def test_an_event_without_types_or_codes_has_empty_lists(staff_direct):
    body = staff_direct.get(event_url(make_event(general_admission=False)), RANGE).json()
    assert (body["ticket_types"], body["promo_codes"]) == ([], [])


def test_customers_and_visitors_cannot_read_the_breakdown(sales, anon_api, customer_api):
    anonymous = anon_api.get(event_url(sales["event"]), RANGE)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    customer = customer_api.get(event_url(sales["event"]), RANGE)
    assert customer.status_code == 403
    assert set(customer.json()) == {"error"}
    assert customer.json()["error"]["code"] == "permission_denied"


def test_a_new_booking_shows_in_the_breakdown_within_5_seconds(
    sales, staff_direct, customer, time_machine
):
    url = event_url(sales["event"])
    assert staff_direct.get(url, RANGE).json()["ticket_types"][3]["tickets_sold"] == 0
    # Written without the booking services: no roll-up mark, no version bump;
    # only the cache's bound brings it in.
    book(
        customer, sales["event"], [(sales["late"], 2, 0)], status=BookingStatus.CONFIRMED, paid=True
    )
    time_machine.move_to(NOW + dt.timedelta(seconds=FRESHNESS_SECONDS - 0.5), tick=False)

    late = staff_direct.get(url, RANGE).json()["ticket_types"][3]
    assert (late["name"], late["tickets_sold"], late["revenue"]) == ("Late entry", 2, "300.00")


def test_the_breakdown_costs_the_same_queries_whatever_the_number_of_types(
    customer, time_machine, django_assert_num_queries
):
    time_machine.move_to(NOW, tick=False)
    small = make_event(name="Small", general_admission=False)
    only = ticket_type(small, "General admission", "10.00")
    book(
        customer,
        small,
        [(only, 1, 1)],
        code=promo(small, "ONE", discount_percent=10),
        status=BookingStatus.CONFIRMED,
        paid=True,
    )
    large = make_event(name="Large", capacity=1000, general_admission=False)
    kinds = [ticket_type(large, f"Tier {n}", f"{10 + n}.00", position=n) for n in range(8)]
    codes = [promo(large, f"CODE{n}", discount_amount=Decimal("1.00")) for n in range(6)]
    for n, code in enumerate(codes):
        items = [(kind, 1 + n, 1) for kind in kinds]
        book(customer, large, items, code=code, status=BookingStatus.CONFIRMED, paid=True)

    def figures(event):
        return analytics_event(event_id=event.pk, day_from=TODAY, day_to=TODAY, now=NOW)

    with CaptureQueriesContext(connection) as queries:
        assert len(figures(small)["ticket_types"]) == 1
    with django_assert_num_queries(len(queries)):
        answer = figures(large)
    assert len(answer["ticket_types"]) == 8
    assert [row["uses"] for row in answer["promo_codes"]] == [8, 16, 24, 32, 40, 48]


# --- the dashboard pages -------------------------------------------------------------


def _row(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start : html.index("</tr>", start)]


def test_the_event_page_shows_sales_per_type_and_code(sales, client, staff):
    client.force_login(staff)
    response = client.get(f"/dashboard/events/{sales['event'].pk}/", RANGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Sales per ticket type" in html
    ga = _row(html, f'data-ticket-type="{sales["ga"].pk}"')
    assert ">General admission</th>" in ga
    assert '<td class="text-end">5</td>' in ga
    assert "event capacity" in ga  # no quota of its own
    assert '<td class="text-end">470.00</td>' in ga
    assert 'value="0.5556"' in ga  # 5 of the 9 tickets sold: the bar
    vip = _row(html, f'data-ticket-type="{sales["vip"].pk}"')
    assert '<td class="text-end">20</td>' in vip
    assert '<td class="text-end">925.00</td>' in vip
    save10 = _row(html, "<code>SAVE10</code>")
    assert '<td class="text-end">7</td><td class="text-end">55.00</td>' in save10


def test_the_dashboard_shows_the_breakdown_of_the_chosen_event(sales, client, staff):
    client.force_login(staff)
    every_event = client.get("/dashboard/", RANGE).content.decode()
    assert "Sales per ticket type" not in every_event

    html = client.get("/dashboard/", {**RANGE, "event": sales["event"].pk}).content.decode()
    assert "Sales per ticket type" in html
    assert '<td class="text-end">925.00</td>' in _row(html, f'data-ticket-type="{sales["vip"].pk}"')
    assert "<code>FLAT25</code>" in html
