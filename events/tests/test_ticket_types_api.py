"""Ticket types in the API: ``/api/events/{id}/ticket-types/``,
``/api/ticket-types/{id}/``, an event's ``ticket_types`` on create and on
its page, and ``price`` as the from-price."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bookings import services
from bookings.models import WaitlistEntry, WaitlistStatus
from bookings.tests.helpers import hold
from events.models import Event, EventStatus, TicketType
from events.services import MAX_TICKET_TYPES
from events.tests.factories import make_event, make_promo_code, make_ticket_type
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "event", "name", "description", "price", "quota", "available", "sale_starts_at",
    "sale_ends_at", "max_per_booking", "hidden", "position", "on_sale", "created_at",
}  # fmt: skip


def types_url(event) -> str:
    return f"/api/events/{event.pk}/ticket-types/"


def type_url(ticket_type) -> str:
    return f"/api/ticket-types/{ticket_type.pk}/"


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["name"] for t in response.json()]


@pytest.fixture
def gig():
    """General admission 500 (the factory's), an early bird at 300 for one
    more day, VIP 1500 with a quota of 4, and a hidden Press type at 0."""
    event = make_event(name="Tiered Gig", capacity=100, price=Decimal("500.00"))
    event.general = event.ticket_types.get()
    event.early = make_ticket_type(
        event,
        name="Early bird",
        price=Decimal("300.00"),
        sale_ends_at=timezone.now() + dt.timedelta(days=1),
    )
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"), quota=4, position=1)
    event.press = make_ticket_type(
        event, name="Press", price=Decimal("0.00"), hidden=True, position=2
    )
    return event


# --- the list ----------------------------------------------------------------------


def test_anyone_sees_the_public_types_by_position_then_price(anon_api, customer_api, gig):
    for api in (anon_api, customer_api):
        response = api.get(types_url(gig))
        assert _names(response) == ["Early bird", "General admission", "VIP"]
    body = response.json()
    assert all(set(t) == FIELDS for t in body)
    vip = body[2]
    assert vip["id"] == str(gig.vip.pk) and vip["event"] == str(gig.pk)
    assert (vip["price"], vip["quota"], vip["available"], vip["on_sale"]) == (
        "1500.00", 4, 4, True,
    )  # fmt: skip
    assert (vip["hidden"], vip["position"], vip["max_per_booking"]) == (False, 1, None)


def test_staff_see_every_type_with_the_hidden_ones(staff_api, gig):
    response = staff_api.get(types_url(gig))
    assert _names(response) == ["Early bird", "General admission", "VIP", "Press"]
    assert response.json()[3]["hidden"] is True


def test_the_list_is_not_paginated(anon_api, gig):
    assert isinstance(anon_api.get(types_url(gig)).json(), list)


def test_available_and_on_sale_follow_holds_quotas_and_windows(customer, anon_api, gig):
    hold(customer, gig, quantity=None, items=[{"ticket_type": gig.vip.pk, "quantity": 4}])
    make_ticket_type(
        gig, name="Later", price=Decimal("800.00"), position=3,
        sale_starts_at=timezone.now() + dt.timedelta(days=2),
    )  # fmt: skip

    by_name = {t["name"]: t for t in anon_api.get(types_url(gig)).json()}

    assert (by_name["VIP"]["available"], by_name["VIP"]["on_sale"]) == (0, False)
    assert (by_name["Later"]["available"], by_name["Later"]["on_sale"]) == (96, False)
    assert (by_name["General admission"]["available"], by_name["Early bird"]["on_sale"]) == (
        96, True,
    )  # fmt: skip


def test_a_promo_code_adds_the_types_it_unlocks_with_discounted_prices(anon_api, gig):
    make_promo_code(gig, code="PRESS", discount_percent=0, unlocks=[gig.press])
    make_promo_code(gig, code="VIP10", discount_percent=10, ticket_types=[gig.vip])

    unlocked = anon_api.get(types_url(gig) + "?promo_code=press")
    assert _names(unlocked) == ["Early bird", "General admission", "VIP", "Press"]
    assert unlocked.json()[3]["price"] == "0.00"

    discounted = {
        t["name"]: t["price"] for t in anon_api.get(types_url(gig) + "?promo_code=Vip10").json()
    }
    assert discounted == {"Early bird": "300.00", "General admission": "500.00", "VIP": "1350.00"}


@pytest.mark.parametrize(
    ("code", "reason"),
    [("NOPE", "unknown"), ("OTHER", "unknown"), ("OFF", "inactive"), ("OLD", "expired")],
)
def test_a_code_that_cannot_be_used_is_promo_invalid(anon_api, gig, code, reason):
    make_promo_code(make_event(name="Elsewhere"), code="OTHER")
    make_promo_code(gig, code="OFF", active=False, unlocks=[gig.press])
    make_promo_code(gig, code="OLD", valid_until=timezone.now() - dt.timedelta(days=1))

    error = assert_error(anon_api.get(types_url(gig) + f"?promo_code={code}"), 409, "promo_invalid")

    assert error["details"] == {"reason": reason}


def test_types_of_an_event_that_is_not_published_are_404_but_for_staff(
    anon_api, customer_api, staff_api
):
    draft = make_event(status=EventStatus.DRAFT)
    for api in (anon_api, customer_api):
        assert_error(api.get(types_url(draft)), 404, "not_found")
        assert_error(api.get(type_url(draft.ticket_types.get())), 404, "not_found")
    assert _names(staff_api.get(types_url(draft))) == ["General admission"]


def test_an_unknown_event_is_404(anon_api, staff_api):
    url = "/api/events/00000000-0000-4000-8000-000000000000/ticket-types/"
    assert_error(anon_api.get(url), 404, "not_found")
    assert_error(
        staff_api.post(url, {"name": "X", "price": "1.00"}, format="json"), 404, "not_found"
    )


# --- create ------------------------------------------------------------------------


def test_staff_add_a_type_and_the_events_price_follows(
    staff_api, gig, django_capture_on_commit_callbacks
):
    body = {
        "name": "  Student  ", "price": "199.00", "quota": 20, "max_per_booking": 2,
        "description": "With a student card", "position": 5,
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(types_url(gig), body, format="json")

    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == FIELDS
    assert (created["name"], created["price"], created["quota"], created["available"]) == (
        "Student", "199.00", 20, 20,
    )  # fmt: skip
    assert (created["max_per_booking"], created["hidden"], created["on_sale"]) == (2, False, True)
    assert Event.objects.get(pk=gig.pk).price == Decimal("199.00")


def test_a_hidden_type_does_not_lower_the_price(staff_api, gig):
    response = staff_api.post(
        types_url(gig), {"name": "Crew", "price": "1.00", "hidden": True}, format="json"
    )
    assert response.status_code == 201
    assert Event.objects.get(pk=gig.pk).price == Decimal("300.00")  # the early bird's


def test_only_staff_add_types(anon_api, customer_api, gig):
    body = {"name": "Sneaky", "price": "1.00"}
    assert_error(anon_api.post(types_url(gig), body, format="json"), 401, "not_authenticated")
    assert_error(customer_api.post(types_url(gig), body, format="json"), 403, "permission_denied")
    assert not TicketType.objects.filter(name="Sneaky").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "VIP", "price": "10.00"}, "name"),
        ({"name": "", "price": "10.00"}, "name"),
        ({"name": "x" * 101, "price": "10.00"}, "name"),
        ({"name": "Cheap"}, "price"),
        ({"name": "Cheap", "price": "-1.00"}, "price"),
        ({"name": "Cheap", "price": "1.005"}, "price"),
        ({"name": "Big", "price": "10.00", "quota": 101}, "quota"),
        ({"name": "Big", "price": "10.00", "quota": 0}, "quota"),
        ({"name": "Big", "price": "10.00", "max_per_booking": 0}, "max_per_booking"),
        ({"name": "Big", "price": "10.00", "max_per_booking": 101}, "max_per_booking"),
        (
            {
                "name": "Backwards",
                "price": "10.00",
                "sale_starts_at": "2099-01-02T00:00:00Z",
                "sale_ends_at": "2099-01-01T00:00:00Z",
            },
            "sale_ends_at",
        ),
    ],
    ids=[
        "duplicate-name",
        "empty-name",
        "long-name",
        "no-price",
        "negative-price",
        "three-decimals",
        "quota-over-capacity",
        "quota-zero",
        "per-booking-zero",
        "per-booking-over-100",
        "window-backwards",
    ],
)
def test_a_bad_type_is_invalid_with_the_field_named(staff_api, gig, body, field):
    error = assert_error(staff_api.post(types_url(gig), body, format="json"), 400, "invalid")
    assert field in error["details"], error
    assert gig.ticket_types.count() == 4


def test_an_event_sells_at_most_fifty_types(staff_api):
    event = make_event()
    for i in range(MAX_TICKET_TYPES - 1):
        make_ticket_type(event, name=f"T{i}")
    error = assert_error(
        staff_api.post(types_url(event), {"name": "One more", "price": "1.00"}, format="json"),
        400,
        "invalid",
    )
    assert "event" in error["details"]


def test_a_cancelled_events_types_cannot_change(staff_api):
    event = make_event(status=EventStatus.CANCELLED)
    assert_error(
        staff_api.post(types_url(event), {"name": "Late", "price": "1.00"}, format="json"),
        409,
        "invalid_state",
    )


# --- one type ----------------------------------------------------------------------


def test_a_public_type_is_shown_to_anyone_a_hidden_one_to_staff_only(
    anon_api, customer_api, staff_api, gig
):
    for api in (anon_api, customer_api, staff_api):
        body = api.get(type_url(gig.vip)).json()
        assert set(body) == FIELDS and body["name"] == "VIP"
    for api in (anon_api, customer_api):
        assert_error(api.get(type_url(gig.press)), 404, "not_found")
    assert staff_api.get(type_url(gig.press)).json()["hidden"] is True


def test_staff_change_a_type_and_the_events_price_follows(staff_api, gig):
    response = staff_api.patch(type_url(gig.early), {"price": "350.00"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["price"] == "350.00"
    assert Event.objects.get(pk=gig.pk).price == Decimal("350.00")

    staff_api.patch(type_url(gig.early), {"hidden": True}, format="json")
    assert Event.objects.get(pk=gig.pk).price == Decimal("500.00")


def test_put_is_not_allowed(staff_api, gig):
    response = staff_api.put(type_url(gig.vip), {"name": "VIP", "price": "1.00"}, format="json")
    assert_error(response, 405, "method_not_allowed")


def test_a_quota_cannot_drop_below_the_tickets_taken(staff_api, customer, gig):
    hold(customer, gig, quantity=None, items=[{"ticket_type": gig.vip.pk, "quantity": 3}])

    error = assert_error(
        staff_api.patch(type_url(gig.vip), {"quota": 2}, format="json"), 400, "invalid"
    )

    assert error["details"] == {"quota": ["Must be at least 3 (tickets held or sold)."]}
    assert TicketType.objects.get(pk=gig.vip.pk).quota == 4
    assert staff_api.patch(type_url(gig.vip), {"quota": 3}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "VIP"}, "name"),
        ({"quota": 101}, "quota"),
        ({"sale_starts_at": "2099-01-01T00:00:00Z"}, "sale_ends_at"),
        ({"price": "abc"}, "price"),
    ],
    ids=["name-of-another-type", "quota-over-capacity", "window-backwards", "price-not-a-number"],
)
def test_a_bad_change_is_invalid_and_changes_nothing(staff_api, gig, body, field):
    error = assert_error(staff_api.patch(type_url(gig.early), body, format="json"), 400, "invalid")
    assert field in error["details"], error
    early = TicketType.objects.get(pk=gig.early.pk)
    assert (early.name, early.quota, early.sale_starts_at) == ("Early bird", None, None)


def test_more_quota_goes_to_the_types_waiting_list_first(staff_api, customer, outsider, gig):
    hold(outsider, gig, quantity=None, items=[{"ticket_type": gig.vip.pk, "quantity": 4}])

    entry = services.waitlist_join(
        user=customer, event_id=gig.pk, quantity=2, ticket_type_id=gig.vip.pk
    )

    assert staff_api.patch(type_url(gig.vip), {"quota": 6}, format="json").status_code == 200

    entry = WaitlistEntry.objects.get(pk=entry.pk)
    assert entry.status == WaitlistStatus.OFFERED
    assert entry.offered_booking.items.get().ticket_type_id == gig.vip.pk


def test_only_staff_change_or_delete_types(anon_api, customer_api, gig):
    assert_error(
        anon_api.patch(type_url(gig.vip), {"price": "1.00"}, format="json"),
        401,
        "not_authenticated",
    )
    assert_error(
        customer_api.patch(type_url(gig.vip), {"price": "1.00"}, format="json"),
        403,
        "permission_denied",
    )
    assert_error(anon_api.delete(type_url(gig.vip)), 401, "not_authenticated")
    assert_error(customer_api.delete(type_url(gig.vip)), 403, "permission_denied")
    assert TicketType.objects.get(pk=gig.vip.pk).price == Decimal("1500.00")


def test_staff_delete_a_type_never_booked_and_the_price_follows(staff_api, gig):
    assert staff_api.delete(type_url(gig.early)).status_code == 204
    assert not TicketType.objects.filter(pk=gig.early.pk).exists()
    assert Event.objects.get(pk=gig.pk).price == Decimal("500.00")


def test_a_type_that_was_booked_cannot_be_deleted(staff_api, customer, gig):
    booking = hold(customer, gig, quantity=None, items=[{"ticket_type": gig.vip.pk, "quantity": 1}])

    services.booking_cancel(user=customer, booking_id=booking.pk)  # its tickets came back

    assert_error(staff_api.delete(type_url(gig.vip)), 409, "invalid_state")
    assert TicketType.objects.filter(pk=gig.vip.pk).exists()


def test_the_last_type_cannot_be_deleted(staff_api):
    event = make_event()
    assert_error(staff_api.delete(type_url(event.ticket_types.get())), 409, "invalid_state")


def test_a_type_a_codes_discount_is_limited_to_cannot_be_deleted(staff_api, gig):
    # Without it the code's list of types would be empty: a discount on every type.
    make_promo_code(gig, code="EARLY5", discount_percent=5, ticket_types=[gig.early])

    error = assert_error(staff_api.delete(type_url(gig.early)), 409, "invalid_state")

    assert error["details"] == {"promo_codes": ["EARLY5"]}


# --- the event: create, price, page --------------------------------------------------


def _event_body(**overrides) -> dict:
    start = timezone.now() + dt.timedelta(days=10)
    body = {
        "name": "Tiers", "venue_name": "Hall", "city": "Pune",
        "starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
        "capacity": 50, "status": "published",
    }  # fmt: skip
    return body | overrides


def test_an_event_created_with_ticket_types_sells_those(staff_api):
    response = staff_api.post(
        "/api/events/",
        _event_body(
            price="999.00",  # ignored: the types say
            ticket_types=[
                {"name": "Standard", "price": "400.00", "position": 1},
                {"name": "Early bird", "price": "250.00", "quota": 10},
                {"name": "Crew", "price": "0.00", "hidden": True},
            ],
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["price"] == "250.00"
    assert [(t["name"], t["price"], t["quota"]) for t in body["ticket_types"]] == [
        ("Early bird", "250.00", 10), ("Standard", "400.00", None),
    ]  # fmt: skip
    event = Event.objects.get(pk=body["id"])
    assert sorted(event.ticket_types.values_list("name", "hidden")) == [
        ("Crew", True), ("Early bird", False), ("Standard", False),
    ]  # fmt: skip


def test_an_event_needs_a_price_or_ticket_types(staff_api):
    error = assert_error(
        staff_api.post("/api/events/", _event_body(), format="json"), 400, "invalid"
    )
    assert "price" in error["details"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("second", "fields"),
    [
        ({"name": "Same", "price": "2.00", "quota": 51}, {"name", "quota"}),  # the event's rules
        ({"name": "Cheap", "price": "-2.00"}, {"price"}),  # the body's shape
    ],
)
def test_bad_ticket_types_on_create_are_named_by_position(staff_api, second, fields):
    types = [{"name": "Same", "price": "1.00"}, second, {"name": "Fine", "price": "3.00"}]
    response = staff_api.post("/api/events/", _event_body(ticket_types=types), format="json")

    error = assert_error(response, 400, "invalid")
    first, bad, third = error["details"]["ticket_types"]
    assert (first, set(bad), third) == ({}, fields, {})
    assert not Event.objects.exists()


def test_patching_the_price_changes_the_only_type(staff_api):
    event = make_event(price=Decimal("100.00"))
    response = staff_api.patch(f"/api/events/{event.pk}/", {"price": "120.00"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["price"] == "120.00"
    assert event.ticket_types.get().price == Decimal("120.00")


def test_patching_the_price_of_an_event_with_several_types_is_invalid(staff_api, gig):
    url = f"/api/events/{gig.pk}/"
    error = assert_error(staff_api.patch(url, {"price": "1.00"}, format="json"), 400, "invalid")
    assert "price" in error["details"]
    assert sorted(gig.ticket_types.values_list("price", flat=True)) == [
        Decimal("0.00"), Decimal("300.00"), Decimal("500.00"), Decimal("1500.00"),
    ]  # fmt: skip
    # Sending the price it has changes nothing, and is no error.
    assert (
        staff_api.patch(url, {"price": "500.00", "name": "Renamed"}, format="json").status_code
        == 200
    )


def test_ticket_types_are_not_changed_through_the_event(staff_api, gig):
    error = assert_error(
        staff_api.patch(
            f"/api/events/{gig.pk}/", {"ticket_types": [{"name": "X", "price": "1.00"}]},
            format="json",
        ),
        400,
        "invalid",
    )  # fmt: skip
    assert "ticket_types" in error["details"]


def test_the_event_page_shows_the_public_types_the_same_for_everyone(
    anon_api, customer_api, staff_api, customer, gig
):
    hold(customer, gig, quantity=None, items=[{"ticket_type": gig.vip.pk, "quantity": 1}])
    url = f"/api/events/{gig.pk}/"

    staff_view = staff_api.get(url)  # DRF's serializer, never shared

    assert [t["name"] for t in staff_view.json()["ticket_types"]] == [
        "Early bird", "General admission", "VIP",
    ]  # fmt: skip
    vip = staff_view.json()["ticket_types"][2]
    assert set(vip) == FIELDS and vip["available"] == 3
    for api in (anon_api, customer_api, anon_api):  # rendered once, then shared
        assert api.get(url).content == staff_view.content


def test_the_list_leaves_the_ticket_types_out(anon_api, staff_api, gig):
    for api in (anon_api, staff_api):
        (event,) = api.get("/api/events/").json()["results"]
        assert "ticket_types" not in event


def test_a_type_change_shows_at_once_on_the_shared_event_page(
    anon_api, staff_api, gig, django_capture_on_commit_callbacks
):
    url = f"/api/events/{gig.pk}/"
    assert anon_api.get(url).json()["ticket_types"][0]["price"] == "300.00"  # now shared

    with django_capture_on_commit_callbacks(execute=True):
        staff_api.patch(type_url(gig.early), {"price": "320.00"}, format="json")
    page = anon_api.get(url).json()
    assert (page["price"], page["ticket_types"][0]["price"]) == ("320.00", "320.00")

    with django_capture_on_commit_callbacks(execute=True):
        staff_api.post(types_url(gig), {"name": "Student", "price": "99.00"}, format="json")
    page = anon_api.get(url).json()
    assert page["price"] == "99.00" and "Student" in [t["name"] for t in page["ticket_types"]]

    with django_capture_on_commit_callbacks(execute=True):
        staff_api.delete(type_url(gig.early))
    assert "Early bird" not in [t["name"] for t in anon_api.get(url).json()["ticket_types"]]
