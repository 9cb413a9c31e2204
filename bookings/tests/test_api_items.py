"""Bookings of several ticket types in the API: reserve bodies, items,
promo codes, the quote, free bookings and the waiting list per type."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from bookings.api.serializers import BookingDetailSerializer, BookingSerializer
from bookings.models import Booking, BookingStatus
from bookings.tests.helpers import GOOD_CARD, hold
from events.models import Event, PromoCode, TicketType
from events.tests.factories import make_event, make_promo_code, make_ticket_type
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db
URL = "/api/bookings/"
QUOTE = "/api/bookings/quote/"


@pytest.fixture
def gig():
    """General admission 500, VIP 1500 (quota 5, at most 3 a booking), a
    hidden Press type at 0 and one that opens tomorrow; codes SAVE10 (10 %
    off VIP) and PRESS (unlocks Press)."""
    event = make_event(
        name="Tiered Gig", capacity=100, price=Decimal("500.00"), max_tickets_per_user=10
    )
    event.general = event.ticket_types.get()
    event.vip = make_ticket_type(
        event, name="VIP", price=Decimal("1500.00"), quota=5, max_per_booking=3
    )
    event.press = make_ticket_type(event, name="Press", price=Decimal("0.00"), hidden=True)
    event.later = make_ticket_type(
        event, name="Later", price=Decimal("400.00"),
        sale_starts_at=timezone.now() + dt.timedelta(days=1),
    )  # fmt: skip
    event.save10 = make_promo_code(event, code="SAVE10", ticket_types=[event.vip])
    event.press_code = make_promo_code(
        event, code="PRESS", discount_percent=0, unlocks=[event.press]
    )
    return event


def _item(ticket_type, quantity=1) -> dict:
    return {"ticket_type": str(ticket_type.pk), "quantity": quantity}


def _body(event, *items, **extra) -> dict:
    return {"event": str(event.pk), "items": list(items), **extra}


def _counters(event) -> tuple:
    """The event's, its types' and its codes' counters, and its bookings."""
    return (
        Event.objects.get(pk=event.pk).tickets_taken,
        sorted(TicketType.objects.filter(event=event).values_list("name", "tickets_taken")),
        sorted(PromoCode.objects.filter(event=event).values_list("code", "uses")),
        Booking.objects.filter(event=event).count(),
    )


def _by_type(items) -> dict:
    return {item["ticket_type"]["name"]: item for item in items}


# --- reserve ---------------------------------------------------------------------------------


def test_reserve_several_types_with_a_code(customer_api, gig):
    response = customer_api.post(
        URL, _body(gig, _item(gig.general, 2), _item(gig.vip, 1), promo_code="save10"),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["quantity"], body["unit_price"], body["promo_code"]) == (3, None, "SAVE10")
    assert (body["subtotal"], body["discount"], body["total_price"]) == (
        "2500.00", "150.00", "2350.00",
    )  # fmt: skip
    assert _by_type(body["items"]) == {
        "General admission": {
            "ticket_type": {"id": str(gig.general.pk), "name": "General admission"},
            "quantity": 2, "unit_price": "500.00", "discount": "0.00", "total": "1000.00",
            "seats": [],
        },
        "VIP": {
            "ticket_type": {"id": str(gig.vip.pk), "name": "VIP"},
            "quantity": 1, "unit_price": "1500.00", "discount": "150.00", "total": "1350.00",
            "seats": [],
        },
    }  # fmt: skip
    assert TicketType.objects.get(pk=gig.vip.pk).tickets_taken == 1
    # The owner reads the same items back.
    detail = customer_api.get(f"{URL}{body['id']}/").json()
    assert _by_type(detail["items"]) == _by_type(body["items"])


def test_a_code_that_unlocks_a_hidden_type_sells_it(customer_api, gig):
    body = _body(gig, _item(gig.press), promo_code="PRESS")
    response = customer_api.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["total_price"], response.json()["unit_price"]) == ("0.00", "0.00")


def test_quantity_buys_the_only_public_type_as_before(customer_api):
    event = make_event(price=Decimal("250.00"))
    make_ticket_type(event, name="Crew", price=Decimal("0.00"), hidden=True)
    response = customer_api.post(URL, {"event": str(event.pk), "quantity": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["unit_price"], body["total_price"]) == ("250.00", "500.00")
    assert [item["ticket_type"]["name"] for item in body["items"]] == ["General admission"]


def test_quantity_on_an_event_with_several_public_types_is_invalid(customer_api, gig):
    response = customer_api.post(URL, {"event": str(gig.pk), "quantity": 1}, format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"items"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 1, "items": [("GA", 1)]}, "items"),
        ({}, "quantity"),
        ({"items": []}, "items"),
        ({"items": "GA"}, "items"),
        ({"items": [(f"T{i}", 1) for i in range(11)]}, "items"),
        ({"items": [("GA", 1), ("GA", 2)]}, "items"),
        ({"items": [("GA", 0)]}, "items"),
        ({"items": [("GA", -1)]}, "items"),
        ({"items": [("GA", 101)]}, "items"),
        ({"items": [("GA", "two")]}, "items"),
        ({"items": [("not-a-uuid", 1)]}, "items"),
        ({"items": [(str(uuid.UUID(int=7)), 1)]}, "items"),
        ({"items": [("OTHER", 1)]}, "items"),
        ({"items": [("VIP", 4)]}, "items"),
        ({"items": [{"quantity": 1}]}, "items"),
        ({"items": [("GA", 1)], "promo_code": "X" * 41}, "promo_code"),
    ],
    ids=[
        "quantity-and-items",
        "neither",
        "no-items",
        "items-not-a-list",
        "eleven-items",
        "duplicate-type",
        "zero",
        "negative",
        "over-100",
        "not-a-number",
        "type-not-an-id",
        "unknown-type",
        "type-of-another-event",
        "over-max-per-booking",
        "no-type",
        "code-too-long",
    ],
)
def test_a_bad_body_is_invalid_and_takes_nothing(customer_api, gig, body, field):
    other = make_event(name="Elsewhere").ticket_types.get()
    names = {"GA": gig.general.pk, "VIP": gig.vip.pk, "OTHER": other.pk}
    for i in range(11):
        names[f"T{i}"] = make_ticket_type(gig, name=f"Extra {i}").pk
    if isinstance(body.get("items"), list):
        body = body | {
            "items": [
                item if isinstance(item, dict)
                else {"ticket_type": str(names.get(item[0], item[0])), "quantity": item[1]}
                for item in body["items"]
            ]
        }  # fmt: skip
    before = _counters(gig)

    for url in (URL, QUOTE):
        response = customer_api.post(url, {"event": str(gig.pk), **body}, format="json")
        error = assert_error(response, 400, "invalid")
        assert field in error["details"], error

    assert _counters(gig) == before


def test_each_bad_item_is_named_by_its_position(customer_api, gig):
    # Whether the body's shape or the event finds the fault, the details are
    # a list as long as the items: {} for each good one.
    other = make_event(name="Elsewhere").ticket_types.get()
    too_few = "Ensure this value is greater than or equal to 1."
    for bad, errors, message in (
        (_item(gig.general, 0), {"quantity": [too_few]}, f"items: quantity: {too_few}"),
        (_item(other), {"ticket_type": ["Not a ticket type of this event."]}, "Some items"),
    ):
        body = _body(gig, _item(gig.vip), bad, _item(gig.later))
        error = assert_error(customer_api.post(URL, body, format="json"), 400, "invalid")
        assert error["details"] == {"items": [{}, errors, {}]}
        assert error["message"].startswith(message)  # the first bad item, not the first item
    error = assert_error(customer_api.post(URL, _body(gig), format="json"), 400, "invalid")
    assert error["details"] == {"items": ["This list may not be empty."]}


@pytest.mark.parametrize(
    ("items", "code", "expected", "details"),
    [
        ([("press", 1)], None, "booking_closed", {"reason": "hidden", "ticket_type": "press"}),
        ([("later", 1)], None, "booking_closed", {"reason": "not_started", "ticket_type": "later"}),
        ([("vip", 3), ("general", 1)], None, "sold_out", {"available": 2, "ticket_type": "vip"}),
        ([("general", 1)], "ELSEWHERE", "promo_invalid", {"reason": "unknown"}),
        ([("general", 1)], "SAVE10", "promo_invalid", {"reason": "not_applicable"}),
        ([("general", 8), ("vip", 1)], None, "limit_exceeded", {"limit": 10, "already_held": 3}),
    ],
    ids=[
        "hidden",
        "not-on-sale-yet",
        "type-short",
        "code-of-another-event",
        "code-for-no-item",
        "over-the-limit",
    ],
)
def test_what_the_event_refuses_is_409_and_takes_nothing(
    customer, customer_api, gig, items, code, expected, details
):
    make_promo_code(make_event(name="Elsewhere"), code="ELSEWHERE")
    hold(customer, gig, None, items=[{"ticket_type": gig.vip.pk, "quantity": 3}])
    before = _counters(gig)
    body = _body(gig, *(_item(getattr(gig, name), n) for name, n in items))
    if code:
        body["promo_code"] = code
    if "ticket_type" in details:
        details = details | {"ticket_type": str(getattr(gig, details["ticket_type"]).pk)}

    for url in (URL, QUOTE):
        error = assert_error(customer_api.post(url, body, format="json"), 409, expected)
        assert error["details"] == details

    assert _counters(gig) == before


def test_an_empty_code_is_no_code(customer_api, gig):
    response = customer_api.post(URL, _body(gig, _item(gig.general), promo_code=""), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["promo_code"] is None


# --- quote -----------------------------------------------------------------------------------


def test_the_quote_prices_a_body_and_takes_nothing(customer_api, gig):
    before = _counters(gig)
    body = _body(gig, _item(gig.vip, 2), _item(gig.general, 1), promo_code="Save10")

    response = customer_api.post(QUOTE, body, format="json")

    assert response.status_code == 200, response.content
    quote = response.json()
    assert set(quote) == {"items", "subtotal", "discount", "total_price", "currency"}
    assert (quote["subtotal"], quote["discount"], quote["total_price"], quote["currency"]) == (
        "3500.00", "300.00", "3200.00", "INR",
    )  # fmt: skip
    vip = _by_type(quote["items"])["VIP"]
    assert (vip["quantity"], vip["unit_price"], vip["discount"], vip["total"]) == (
        2, "1500.00", "150.00", "2700.00",
    )  # fmt: skip
    assert _counters(gig) == before
    # The reserve of the same body holds that price.
    reserved = customer_api.post(URL, body, format="json").json()
    assert reserved["total_price"] == quote["total_price"]


def test_the_quote_takes_the_quantity_body_too(customer_api):
    event = make_event(price=Decimal("120.00"))
    response = customer_api.post(QUOTE, {"event": str(event.pk), "quantity": 3}, format="json")
    assert response.status_code == 200
    assert response.json()["total_price"] == "360.00"


def test_the_quote_needs_a_login(anon_api, gig):
    response = anon_api.post(QUOTE, _body(gig, _item(gig.general)), format="json")
    assert_error(response, 401, "not_authenticated")


# --- pay -------------------------------------------------------------------------------------


def test_a_free_booking_is_paid_with_an_empty_body(customer_api, gig):
    booking = customer_api.post(
        URL, _body(gig, _item(gig.press, 2), promo_code="PRESS"), format="json"
    ).json()

    response = customer_api.post(f"{URL}{booking['id']}/pay/", {}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["total_price"], len(body["tickets"])) == ("confirmed", "0.00", 2)


def test_a_booking_that_costs_something_needs_a_card(customer_api, gig):
    booking = customer_api.post(URL, _body(gig, _item(gig.general)), format="json").json()
    pay = f"{URL}{booking['id']}/pay/"

    for body in ({}, {"card_number": ""}):
        error = assert_error(customer_api.post(pay, body, format="json"), 400, "invalid")
        assert "card_number" in error["details"]
    assert Booking.objects.get(pk=booking["id"]).status == BookingStatus.HELD
    assert customer_api.post(pay, {"card_number": GOOD_CARD}, format="json").status_code == 200


# --- reading bookings ------------------------------------------------------------------------


def test_the_list_costs_the_same_whatever_its_items(
    customer_api, customer, gig, django_assert_max_num_queries
):
    hold(customer, gig, None, items=[{"ticket_type": gig.general.pk, "quantity": 1}])
    with django_assert_max_num_queries(6):  # with the items' seats
        customer_api.get(URL)
    for _ in range(3):
        hold(
            customer, gig, None, promo_code="SAVE10",
            items=[{"ticket_type": gig.general.pk, "quantity": 1},
                   {"ticket_type": gig.vip.pk, "quantity": 1}],
        )  # fmt: skip
    with django_assert_max_num_queries(6):  # with the items' seats
        results = customer_api.get(URL).json()["results"]
    assert [len(b["items"]) for b in results] == [2, 2, 2, 1]
    assert [b["promo_code"] for b in results] == ["SAVE10", "SAVE10", "SAVE10", None]


@pytest.mark.parametrize("serializer_class", [BookingSerializer, BookingDetailSerializer])
def test_the_hand_written_answer_matches_the_declared_fields(customer, gig, serializer_class):
    several = hold(
        customer, gig, None, promo_code="save10",
        items=[{"ticket_type": gig.general.pk, "quantity": 2},
               {"ticket_type": gig.vip.pk, "quantity": 1}],
    )  # fmt: skip
    free = hold(
        customer, gig, None, promo_code="PRESS",
        items=[{"ticket_type": gig.press.pk, "quantity": 1}],
    )  # fmt: skip
    for booking in (several, free):
        booking = Booking.objects.get(pk=booking.pk)
        serializer = serializer_class(booking)
        generic = serializers.ModelSerializer.to_representation(serializer, booking)
        assert serializer.to_representation(booking) == dict(generic)


# --- waiting list ----------------------------------------------------------------------------


def test_join_the_waiting_list_of_a_sold_out_type(customer_api, outsider, gig):
    hold(outsider, gig, None, items=[{"ticket_type": gig.vip.pk, "quantity": 3}])
    hold(outsider, gig, None, items=[{"ticket_type": gig.vip.pk, "quantity": 2}])
    url = f"/api/events/{gig.pk}/waitlist/"

    error = assert_error(customer_api.post(url, {"quantity": 1}, format="json"), 400, "invalid")
    assert "ticket_type" in error["details"]
    assert_error(
        customer_api.post(url, {"quantity": 1, "ticket_type": str(gig.general.pk)}, format="json"),
        409,
        "invalid_state",
    )  # General admission is not sold out
    response = customer_api.post(
        url, {"quantity": 1, "ticket_type": str(gig.vip.pk)}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["ticket_type"] == str(gig.vip.pk)
    (entry,) = customer_api.get("/api/waitlist/").json()["results"]
    assert (entry["ticket_type"], entry["position"]) == (str(gig.vip.pk), 1)
