"""Staff manage ticket types and promo codes in admin: inlines on the event,
their own pages, the event's from-price kept up to date, and every rule
refused next to the field, never as a 500."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from bookings.tests.helpers import hold
from events.models import Event, PromoCode, TicketType
from events.tests.factories import make_event, make_promo_code, make_ticket_type

pytestmark = pytest.mark.django_db

ADD = reverse("admin:events_event_add")
YEAR = timezone.now().year + 2
TYPES, CODES = "ticket_types", "promo_codes"  # the inlines' prefixes


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )
    client.force_login(user)
    return client


def change_url(event: Event) -> str:
    return reverse("admin:events_event_change", args=[event.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _when(value: dt.datetime | None, name: str) -> dict:
    if value is None:
        return {f"{name}_0": "", f"{name}_1": ""}
    return {f"{name}_0": f"{value:%Y-%m-%d}", f"{name}_1": f"{value:%H:%M:%S}"}


def type_row(ticket_type: TicketType | None = None, **fields) -> dict:
    """One row of the ticket-type inline: an existing type's values, changed by ``fields``."""
    values = {
        "name": "",
        "description": "",
        "price": "",
        "quota": "",
        "sale_starts_at": None,
        "sale_ends_at": None,
        "max_per_booking": "",
        "hidden": False,
        "position": "0",
    }
    if ticket_type is not None:
        values |= {
            name: getattr(ticket_type, name)
            for name in values
            if getattr(ticket_type, name) is not None
        }
        values["id"] = str(ticket_type.pk)
    values |= fields
    return values


def code_row(promo: PromoCode | None = None, **fields) -> dict:
    values = {
        "code": "",
        "discount_percent": "",
        "discount_amount": "",
        "max_uses": "",
        "valid_from": None,
        "valid_until": None,
        "active": True,
    }
    if promo is not None:
        values |= {
            name: getattr(promo, name) for name in values if getattr(promo, name) is not None
        }
        values["id"] = str(promo.pk)
    values |= fields
    return values


def inline(prefix: str, rows: list[dict], event: Event | None = None) -> dict:
    """The POST data of an inline: its management form and its rows."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(sum(1 for row in rows if "id" in row)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for name, value in row.items():
            key = f"{prefix}-{i}-{name}"
            if name in ("sale_starts_at", "sale_ends_at", "valid_from", "valid_until"):
                data |= _when(value, key)
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            else:
                data[key] = "" if value is None else str(value)
        if event is not None:
            data[f"{prefix}-{i}-event"] = str(event.pk)
    return data


def event_form(event: Event | None = None, **overrides) -> dict:
    start = event.starts_at if event else dt.datetime(YEAR, 5, 1, 19, tzinfo=dt.UTC)
    end = event.ends_at if event else start + dt.timedelta(hours=3)
    data = {
        "name": event.name if event else "Admin Gig",
        "description": "",
        "category": "music",
        "status": "published",
        "booking_enabled": "on",
        "venue_name": "Blue Hall",
        "venue_address": "",
        "city": "Mumbai",
        "state": "",
        "country": "India",
        "postal_code": "",
        **_when(start, "starts_at"),
        **_when(end, "ends_at"),
        "capacity": str(event.capacity) if event else "200",
        "price": str(event.price) if event else "499.00",
        "currency": "INR",
        "max_tickets_per_user": "4",
        "refund_tiers": "",
        "transfers_enabled": "on",
    }
    data.update(overrides)
    return data


def post_event(client, event, types: list[dict], codes: list[dict], **overrides):
    data = event_form(event, **overrides)
    data |= inline(TYPES, types, event)
    data |= inline(CODES, codes, event)
    data |= inline("questions", [], event)
    return client.post(change_url(event) if event else ADD, data)


def inline_errors(response, prefix: str) -> list:
    for formset in response.context["inline_admin_formsets"]:
        if formset.formset.prefix == prefix:
            return [*formset.formset.errors, *formset.formset.non_form_errors()]
    raise AssertionError(f"no inline {prefix}")


@pytest.fixture
def gig():
    event = make_event(name="Tiered Gig", capacity=100, price=Decimal("500.00"))
    event.standard = event.ticket_types.get()
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"), quota=10)
    event.code = make_promo_code(event, code="SAVE10", discount_percent=10)
    return event


# --- the pages render --------------------------------------------------------------


def test_the_add_page_offers_both_inlines(admin_client):
    response = admin_client.get(ADD)

    assert response.status_code == 200
    assert f'name="{TYPES}-TOTAL_FORMS"' in response.text
    assert f'name="{CODES}-TOTAL_FORMS"' in response.text


def test_the_change_page_shows_the_types_and_codes(admin_client, gig, customer):
    hold(
        customer,
        gig,
        items=[{"ticket_type": gig.vip.pk, "quantity": 3}],
        quantity=None,
    )

    response = admin_client.get(change_url(gig))

    assert response.status_code == 200
    assert 'value="VIP"' in response.text and 'value="SAVE10"' in response.text
    taken = re.findall(r'<td class="field-tickets_taken">\s*<p>(\d+)</p>', response.text)
    assert "3" in taken  # VIP's tickets held, read-only


def test_the_own_pages_of_types_and_codes_render(admin_client, gig):
    for url in (
        reverse("admin:events_tickettype_changelist"),
        reverse("admin:events_tickettype_change", args=[gig.vip.pk]),
        reverse("admin:events_tickettype_add"),
        reverse("admin:events_promocode_changelist"),
        reverse("admin:events_promocode_change", args=[gig.code.pk]),
        reverse("admin:events_promocode_add"),
    ):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(reverse("admin:events_promocode_change", args=[gig.code.pk])).text
    assert 'id="id_unlocks"' in page and "selectfilter" in page


# --- saving keeps the from-price -------------------------------------------------------


def test_saving_an_inline_type_updates_the_events_price(admin_client, gig):
    response = post_event(
        admin_client,
        gig,
        [type_row(gig.standard, price="350.00"), type_row(gig.vip)],
        [code_row(gig.code)],
    )

    assert response.status_code == 302, inline_errors(response, TYPES)
    gig.refresh_from_db()
    assert TicketType.objects.get(pk=gig.standard.pk).price == Decimal("350.00")
    assert gig.price == Decimal("350.00")


def test_a_new_public_type_lowers_the_price_and_a_hidden_one_does_not(admin_client, gig):
    rows = [type_row(gig.standard), type_row(gig.vip)]
    response = post_event(
        admin_client,
        gig,
        [*rows, type_row(name="Press", price="0.00", hidden=True)],
        [code_row(gig.code)],
    )
    assert response.status_code == 302, inline_errors(response, TYPES)
    gig.refresh_from_db()
    assert gig.price == Decimal("500.00")

    press = TicketType.objects.get(event=gig, name="Press")
    response = post_event(
        admin_client,
        gig,
        [*rows, type_row(press), type_row(name="Student", price="200.00")],
        [code_row(gig.code)],
    )
    assert response.status_code == 302, inline_errors(response, TYPES)
    gig.refresh_from_db()
    assert gig.price == Decimal("200.00")


def test_deleting_the_cheapest_type_raises_the_price(admin_client, gig):
    response = post_event(
        admin_client,
        gig,
        [type_row(gig.standard, DELETE=True), type_row(gig.vip)],
        [code_row(gig.code)],
    )

    assert response.status_code == 302, inline_errors(response, TYPES)
    assert not TicketType.objects.filter(pk=gig.standard.pk).exists()
    gig.refresh_from_db()
    assert gig.price == Decimal("1500.00")


def test_a_new_event_sells_the_types_of_its_inline(admin_client):
    response = post_event(
        admin_client,
        None,
        [
            type_row(name="Early bird", price="299.00", position="1"),
            type_row(name="Standard", price="399.00", position="2"),
        ],
        [code_row(code="LAUNCH", discount_amount="50.00")],
    )

    assert response.status_code == 302, response.context and inline_errors(response, TYPES)
    event = Event.objects.get()
    assert sorted(event.ticket_types.values_list("name", "price")) == [
        ("Early bird", Decimal("299.00")),
        ("Standard", Decimal("399.00")),
    ]
    assert event.price == Decimal("299.00")
    assert event.promo_codes.get().code == "LAUNCH"


def test_a_new_event_without_types_sells_general_admission_at_its_price(admin_client):
    response = post_event(admin_client, None, [], [], price="450.00")

    assert response.status_code == 302
    event = Event.objects.get()
    assert list(event.ticket_types.values_list("name", "price", "hidden")) == [
        ("General admission", Decimal("450.00"), False)
    ]
    assert event.price == Decimal("450.00")


def test_a_codes_types_are_chosen_on_its_own_page(admin_client, gig):
    url = reverse("admin:events_promocode_change", args=[gig.code.pk])
    response = admin_client.post(
        url,
        {
            "code": "SAVE10",
            "discount_percent": "10",
            "discount_amount": "",
            "max_uses": "",
            **_when(None, "valid_from"),
            **_when(None, "valid_until"),
            "active": "on",
            "ticket_types": [str(gig.vip.pk)],
            "unlocks": [],
        },
    )

    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    assert list(PromoCode.objects.get(pk=gig.code.pk).ticket_types.all()) == [gig.vip]


# --- refused next to the field -----------------------------------------------------------


def test_a_quota_below_the_tickets_taken_is_refused(admin_client, gig, customer):
    hold(customer, gig, items=[{"ticket_type": gig.vip.pk, "quantity": 4}], quantity=None)

    response = post_event(
        admin_client,
        gig,
        [type_row(gig.standard), type_row(gig.vip, quota="3")],
        [code_row(gig.code)],
    )

    assert response.status_code == 200
    assert {"quota": ["Must be at least 4 (tickets held or sold)."]} in inline_errors(
        response, TYPES
    )
    assert TicketType.objects.get(pk=gig.vip.pk).quota == 10


def test_duplicate_type_names_are_refused(admin_client, gig):
    response = post_event(
        admin_client,
        gig,
        [type_row(gig.standard), type_row(gig.vip), type_row(name="VIP", price="900.00")],
        [code_row(gig.code)],
    )

    assert response.status_code == 200
    assert any("VIP" in str(error) for error in inline_errors(response, TYPES) if error)
    assert gig.ticket_types.count() == 2


@pytest.mark.parametrize("typed", ["save10", "Save10"])
def test_a_code_equal_to_another_but_for_case_is_refused(admin_client, gig, typed):
    rows = [type_row(gig.standard), type_row(gig.vip)]
    response = post_event(
        admin_client, gig, rows, [code_row(gig.code), code_row(code=typed, discount_percent="5")]
    )

    assert response.status_code == 200
    assert any("ignore case" in str(error) for error in inline_errors(response, CODES))
    assert gig.promo_codes.count() == 1

    # Two new rows of the same code are refused as well.
    response = post_event(
        admin_client,
        gig,
        rows,
        [
            code_row(gig.code),
            code_row(code="NEW", discount_percent="5"),
            code_row(code="new", discount_percent="5"),
        ],
    )
    assert response.status_code == 200
    assert any("ignore case" in str(error) for error in inline_errors(response, CODES))
    assert gig.promo_codes.count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"discount_percent": "10", "discount_amount": "5.00"}, "discount_amount", "not both"),
        ({"discount_percent": ""}, "discount_percent", "Give a percentage or an amount"),
        ({"discount_percent": "101"}, "discount_percent", "less than or equal to 100"),
        ({"code": "a!"}, "code", "3 to 40 characters"),
    ],
    ids=["both", "neither", "over-100", "bad-code"],
)
def test_a_bad_code_is_refused_next_to_its_field(admin_client, gig, fields, field, words):
    rows = [type_row(gig.standard), type_row(gig.vip)]
    response = post_event(admin_client, gig, rows, [code_row(gig.code, **fields)])

    assert response.status_code == 200
    (errors,) = [e for e in inline_errors(response, CODES) if e]
    assert any(words in message for message in errors[field]), errors


def test_a_sale_window_ending_before_it_starts_is_refused(admin_client, gig):
    start = timezone.now() + dt.timedelta(days=2)
    response = post_event(
        admin_client,
        gig,
        [
            type_row(gig.standard),
            type_row(gig.vip, sale_starts_at=start, sale_ends_at=start - dt.timedelta(days=1)),
        ],
        [code_row(gig.code)],
    )

    assert response.status_code == 200
    assert {"sale_ends_at": ["Must be after the start of the sale."]} in inline_errors(
        response, TYPES
    )


def test_a_type_or_a_code_that_was_booked_cannot_be_deleted(admin_client, gig, customer):
    hold(
        customer,
        gig,
        items=[{"ticket_type": gig.vip.pk, "quantity": 1}],
        quantity=None,
        promo_code="SAVE10",
    )

    response = post_event(
        admin_client,
        gig,
        [type_row(gig.standard), type_row(gig.vip, DELETE=True)],
        [code_row(gig.code, DELETE=True)],
    )

    assert response.status_code == 200
    assert any("VIP has bookings" in str(e) for e in inline_errors(response, TYPES))
    assert any("make it inactive" in str(e) for e in inline_errors(response, CODES))
    assert TicketType.objects.filter(pk=gig.vip.pk).exists()
    assert PromoCode.objects.filter(pk=gig.code.pk).exists()


def test_the_events_price_cannot_be_set_when_it_has_several_types(admin_client, gig):
    rows = [type_row(gig.standard), type_row(gig.vip)]
    response = post_event(admin_client, gig, rows, [code_row(gig.code)], price="100.00")

    assert response.status_code == 200
    assert "several ticket types" in response.context["adminform"].form.errors["price"][0]
    gig.refresh_from_db()
    assert gig.price == Decimal("500.00")


def test_the_last_type_cannot_be_deleted_but_can_be_replaced(admin_client):
    event = make_event(name="One Type Gig", price=Decimal("300.00"))
    only = event.ticket_types.get()

    response = post_event(admin_client, event, [type_row(only, DELETE=True)], [])
    assert response.status_code == 200
    assert any("at least one ticket type" in str(e) for e in inline_errors(response, TYPES))
    assert event.ticket_types.get() == only

    response = post_event(
        admin_client,
        event,
        [type_row(only, DELETE=True), type_row(name="Standing", price="250.00")],
        [],
    )
    assert response.status_code == 302, inline_errors(response, TYPES)
    assert list(event.ticket_types.values_list("name", flat=True)) == ["Standing"]
    event.refresh_from_db()
    assert event.price == Decimal("250.00")


def test_a_code_unlocks_hidden_types_only(admin_client, gig):
    url = reverse("admin:events_promocode_change", args=[gig.code.pk])
    response = admin_client.post(
        url,
        {
            "code": "SAVE10",
            "discount_percent": "10",
            "discount_amount": "",
            "max_uses": "",
            **_when(None, "valid_from"),
            **_when(None, "valid_until"),
            "active": "on",
            "unlocks": [str(gig.vip.pk)],
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["unlocks"] == [
        "A code unlocks hidden types only; not hidden: VIP."
    ]
    assert not PromoCode.objects.get(pk=gig.code.pk).unlocks.exists()
