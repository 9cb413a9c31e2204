"""Promo codes in the API (staff): ``/api/events/{id}/promo-codes/`` and
``/api/promo-codes/{id}/``."""

from decimal import Decimal

import pytest

from bookings import services
from bookings.tests.helpers import hold
from events.models import PromoCode
from events.tests.factories import make_event, make_promo_code, make_ticket_type
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "event", "code", "discount_percent", "discount_amount", "ticket_types", "unlocks",
    "max_uses", "uses", "valid_from", "valid_until", "active", "created_at",
}  # fmt: skip


def codes_url(event) -> str:
    return f"/api/events/{event.pk}/promo-codes/"


def code_url(promo) -> str:
    return f"/api/promo-codes/{promo.pk}/"


@pytest.fixture
def gig():
    event = make_event(name="Coded Gig", capacity=100, price=Decimal("500.00"))
    event.general = event.ticket_types.get()
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"))
    event.press = make_ticket_type(event, name="Press", price=Decimal("0.00"), hidden=True)
    return event


# --- who --------------------------------------------------------------------------------


def test_promo_codes_are_for_staff_only(anon_api, customer_api, gig):
    promo = make_promo_code(gig)
    calls = [
        ("get", codes_url(gig), None),
        ("post", codes_url(gig), {"code": "MINE", "discount_percent": 50}),
        ("get", code_url(promo), None),
        ("patch", code_url(promo), {"discount_percent": 100}),
        ("delete", code_url(promo), None),
    ]
    personas = ((anon_api, 401, "not_authenticated"), (customer_api, 403, "permission_denied"))
    for api, status, code in personas:
        for method, url, body in calls:
            assert_error(getattr(api, method)(url, body, format="json"), status, code)
    assert list(PromoCode.objects.values_list("code", "discount_percent")) == [("SAVE10", 10)]


# --- create and list ---------------------------------------------------------------------


def test_staff_create_a_code_and_list_the_events_codes(staff_api, gig):
    make_promo_code(make_event(name="Elsewhere"), code="OTHER")
    response = staff_api.post(
        codes_url(gig),
        {
            "code": "Press-Pass_1", "discount_amount": "50.00", "ticket_types": [str(gig.vip.pk)],
            "unlocks": [str(gig.press.pk)], "max_uses": 10,
            "valid_from": "2099-01-01T00:00:00Z", "valid_until": "2099-02-01T00:00:00Z",
        },
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert (body["code"], body["event"], body["discount_percent"], body["discount_amount"]) == (
        "Press-Pass_1", str(gig.pk), None, "50.00",
    )  # fmt: skip
    assert (body["ticket_types"], body["unlocks"]) == ([str(gig.vip.pk)], [str(gig.press.pk)])
    assert (body["max_uses"], body["uses"], body["active"]) == (10, 0, True)
    assert body["valid_until"] == "2099-02-01T00:00:00Z"

    listed = staff_api.get(codes_url(gig)).json()
    assert listed["count"] == 1 and listed["results"] == [body]


def test_the_list_costs_the_same_whatever_its_length(staff_api, gig, django_assert_max_num_queries):
    for i in range(3):
        make_promo_code(gig, code=f"FEW{i}", ticket_types=[gig.vip], unlocks=[gig.press])
    # The token, the event, the count, the page, its types, its unlocks.
    with django_assert_max_num_queries(6):
        assert staff_api.get(codes_url(gig)).json()["count"] == 3
    for i in range(20):
        make_promo_code(gig, code=f"MANY{i}", ticket_types=[gig.vip], unlocks=[gig.press])
    with django_assert_max_num_queries(6):
        assert len(staff_api.get(codes_url(gig) + "?page_size=50").json()["results"]) == 23


def test_uses_cannot_be_written(staff_api, gig):
    response = staff_api.post(
        codes_url(gig), {"code": "FREE", "discount_percent": 100, "uses": 7}, format="json"
    )
    assert response.status_code == 201
    assert PromoCode.objects.get(code="FREE").uses == 0


def test_an_unknown_event_is_404(staff_api):
    url = "/api/events/00000000-0000-4000-8000-000000000000/promo-codes/"
    assert_error(staff_api.get(url), 404, "not_found")
    response = staff_api.post(url, {"code": "NOPE", "discount_percent": 5}, format="json")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"code": "BOTH", "discount_percent": 10, "discount_amount": "5.00"},
            {"discount_percent", "discount_amount"},
        ),
        ({"code": "NEITHER"}, {"discount_percent", "discount_amount"}),
        ({"code": "HUGE", "discount_percent": 101}, {"discount_percent"}),
        ({"code": "MINUS", "discount_amount": "-1.00"}, {"discount_amount"}),
        ({"code": "AB", "discount_percent": 5}, {"code"}),
        ({"code": "A" * 41, "discount_percent": 5}, {"code"}),
        ({"code": "NO SPACES", "discount_percent": 5}, {"code"}),
        ({"code": "BANG!", "discount_percent": 5}, {"code"}),
        ({"code": "save10", "discount_percent": 5}, {"code"}),
        (
            {"code": "OTHERS", "discount_percent": 5, "ticket_types": ["OTHER_TYPE"]},
            {"ticket_types"},
        ),
        ({"code": "OTHERS", "discount_percent": 5, "unlocks": ["OTHER_TYPE"]}, {"unlocks"}),
        ({"code": "PUBLIC", "discount_percent": 0, "unlocks": ["VIP"]}, {"unlocks"}),
        (
            {"code": "NOTYPE", "discount_percent": 5, "ticket_types": ["not-an-id"]},
            {"ticket_types"},
        ),
        ({"code": "FEW", "discount_percent": 5, "max_uses": -1}, {"max_uses"}),
        (
            {
                "code": "BACK",
                "discount_percent": 5,
                "valid_from": "2099-01-02T00:00:00Z",
                "valid_until": "2099-01-01T00:00:00Z",
            },
            {"valid_until"},
        ),
    ],
    ids=[
        "both-discounts",
        "no-discount",
        "percent-over-100",
        "negative-amount",
        "too-short",
        "too-long",
        "space",
        "bad-character",
        "same-code-other-case",
        "type-of-another-event",
        "unlock-of-another-event",
        "unlock-a-public-type",
        "type-not-an-id",
        "negative-max-uses",
        "window-backwards",
    ],
)
def test_a_bad_code_is_invalid_with_the_fields_named(staff_api, gig, body, fields):
    make_promo_code(gig, code="SAVE10")
    other_type = make_event(name="Elsewhere").ticket_types.get()
    names = {"OTHER_TYPE": str(other_type.pk), "VIP": str(gig.vip.pk)}
    for key in ("ticket_types", "unlocks"):
        if key in body:
            body = body | {key: [names.get(value, value) for value in body[key]]}

    error = assert_error(staff_api.post(codes_url(gig), body, format="json"), 400, "invalid")

    assert set(error["details"]) == fields, error
    assert list(PromoCode.objects.values_list("code", flat=True)) == ["SAVE10"]


def test_a_code_of_zero_only_unlocks(staff_api, gig):
    response = staff_api.post(
        codes_url(gig),
        {"code": "CREW", "discount_amount": "0.00", "unlocks": [str(gig.press.pk)]},
        format="json",
    )
    assert response.status_code == 201, response.content


# --- one code -----------------------------------------------------------------------------


def test_staff_read_and_change_a_code(staff_api, gig):
    promo = make_promo_code(gig, code="SAVE10", discount_percent=10)
    assert staff_api.get(code_url(promo)).json()["code"] == "SAVE10"

    response = staff_api.patch(
        code_url(promo),
        {"discount_percent": None, "discount_amount": "75.00", "active": False},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["discount_percent"], body["discount_amount"], body["active"]) == (
        None, "75.00", False,
    )  # fmt: skip
    # A partial change keeps what it does not name: only one discount at a time.
    error = assert_error(
        staff_api.patch(code_url(promo), {"discount_percent": 5}, format="json"), 400, "invalid"
    )
    assert "discount_percent" in error["details"]


def test_max_uses_cannot_drop_below_the_uses(staff_api, customer, gig):
    promo = make_promo_code(gig, code="SAVE10", max_uses=10)
    hold(
        customer, gig, None, items=[{"ticket_type": gig.vip.pk, "quantity": 3}], promo_code="SAVE10"
    )

    error = assert_error(
        staff_api.patch(code_url(promo), {"max_uses": 2}, format="json"), 400, "invalid"
    )

    assert error["details"] == {"max_uses": ["Must be at least 3 (tickets that used it)."]}
    assert staff_api.get(code_url(promo)).json()["uses"] == 3
    assert staff_api.patch(code_url(promo), {"max_uses": 3}, format="json").status_code == 200


def test_staff_delete_an_unused_code(staff_api, gig):
    promo = make_promo_code(gig)
    assert staff_api.delete(code_url(promo)).status_code == 204
    assert not PromoCode.objects.exists()
    assert_error(staff_api.get(code_url(promo)), 404, "not_found")


def test_a_used_code_cannot_be_deleted(staff_api, customer, gig):
    promo = make_promo_code(gig, code="SAVE10")
    booking = hold(
        customer, gig, None, items=[{"ticket_type": gig.vip.pk, "quantity": 1}], promo_code="save10"
    )
    assert_error(staff_api.delete(code_url(promo)), 409, "invalid_state")

    # Nor once its uses came back: a booking still names it.
    services.booking_cancel(user=customer, booking_id=booking.pk)
    assert PromoCode.objects.get(pk=promo.pk).uses == 0
    assert_error(staff_api.delete(code_url(promo)), 409, "invalid_state")
    assert PromoCode.objects.filter(pk=promo.pk).exists()


def test_an_unknown_code_is_404(staff_api):
    url = "/api/promo-codes/00000000-0000-4000-8000-000000000000/"
    for method in ("get", "patch", "delete"):
        assert_error(getattr(staff_api, method)(url, {}, format="json"), 404, "not_found")
