"""The HTML side of ticket types and promo codes: the event page's types,
quantities and promo-code box, booking several types with a code, the
booking page's items and discount, free bookings, and the e-mail."""

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.utils import timezone

from bookings import services
from bookings.models import Booking, BookingStatus, WaitlistEntry
from bookings.tests.helpers import hold
from events.models import Event, PromoCode, TicketType
from events.tests.factories import make_event, make_promo_code, make_ticket_type

pytestmark = pytest.mark.django_db

BOOK = "/bookings/new/"
TIMES, MINUS = "\u00d7", "\u2212"  # as the pages write them


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def page_of(event: Event) -> str:
    return f"/events/{event.pk}/"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def promo_error(html: str) -> str:
    match = re.search(r'id="id_promo_code_errors">([^<]*)<', html)
    return match.group(1).strip() if match else ""


def book(client, event, items: dict[TicketType, int], promo_code: str = ""):
    """Post the event page's Book form: a quantity for each type (in order)."""
    data = {
        "event": str(event.pk),
        "ticket_type": [str(t.pk) for t in items],
        "quantity": [str(n) for n in items.values()],
    }
    if promo_code:
        data["promo_code"] = promo_code
    return client.post(BOOK, data)


@pytest.fixture
def gig():
    """Standard at 500, VIP at 1500 (quota 5), a hidden Press type, and two codes:
    SAVE10 (10 % off everything) and PRESS (unlocks Press, no discount)."""
    event = make_event(
        name="Two Tier Gig",
        capacity=50,
        price=Decimal("500.00"),
        max_tickets_per_user=6,
        general_admission=False,
    )
    event.standard = make_ticket_type(event, name="Standard", price=Decimal("500.00"), position=1)
    event.vip = make_ticket_type(
        event, name="VIP", price=Decimal("1500.00"), quota=5, position=2, description="Front rows."
    )
    event.press = make_ticket_type(
        event, name="Press", price=Decimal("0.00"), quota=3, hidden=True, position=3
    )
    event.save10 = make_promo_code(event, code="SAVE10", discount_percent=10)
    event.press_code = make_promo_code(
        event, code="PRESS", discount_percent=0, unlocks=[event.press]
    )
    return event


# --- the event page ------------------------------------------------------------


def test_the_event_page_lists_the_types_with_a_picker_each(client, customer, gig):
    client.force_login(customer)

    html = client.get(page_of(gig)).content.decode()

    assert "From 500.00 INR" in html
    assert "Standard" in html and "VIP" in html and "Front rows." in html
    assert "Press" not in html  # hidden without its code
    for ticket_type, most in ((gig.standard, 6), (gig.vip, 5)):
        picker = re.search(
            rf'name="ticket_type" value="{ticket_type.pk}">.*?<select[^>]*>(.*?)</select>',
            html,
            re.S,
        )
        assert re.findall(r'<option value="(\d+)"', picker.group(1)) == [
            str(n) for n in range(most + 1)
        ]
    assert 'id="promo-form"' in html  # the event has codes
    assert '<script src="/static/js/ticket-quote.js"></script>' in html


def test_sale_windows_and_sold_out_types_say_so_and_offer_no_picker(client, customer):
    event = make_event(general_admission=False, max_tickets_per_user=4)
    soon = make_ticket_type(event, name="Late bird", sale_starts_at=in_days(2), position=1)
    over = make_ticket_type(event, name="Early bird", sale_ends_at=in_days(-1), position=2)
    gone = make_ticket_type(event, name="VIP", quota=2, tickets_taken=2, position=3)
    on = make_ticket_type(event, name="Standard", position=4)
    client.force_login(customer)

    html = client.get(page_of(event)).content.decode()

    def row(ticket_type) -> str:
        match = re.search(rf'data-ticket-type="{ticket_type.pk}">(.*?)</li>', html, re.S)
        return match.group(1)

    assert "On sale from" in row(soon) and "<select" not in row(soon)
    assert "Sale ended" in row(over) and "<select" not in row(over)
    assert "Sold out" in row(gone) and "<select" not in row(gone)
    assert "<select" in row(on)
    # The sold-out type has its waiting list.
    assert (
        f'<input type="hidden" name="ticket_type" value="{gone.pk}">'
        in html.split('id="waitlist"')[1]
    )


def test_a_code_shows_discounted_prices_before_anything_is_held(client, customer, gig):
    client.force_login(customer)

    html = client.get(page_of(gig) + "?promo_code=save10").content.decode()

    assert promo_error(html) == ""
    assert 'id="promo-applied"' in html
    assert re.search(r"<del[^>]*>.*?500\.00 INR</del>\s*<ins[^>]*>.*?450\.00 INR</ins>", html)
    assert re.search(r"<del[^>]*>.*?1500\.00 INR</del>\s*<ins[^>]*>.*?1350\.00 INR</ins>", html)
    assert '<input type="hidden" name="promo_code" value="SAVE10">' in html
    assert not Booking.objects.exists()


def test_a_hidden_type_appears_only_with_its_code(client, customer, gig):
    client.force_login(customer)

    without = client.get(page_of(gig)).content.decode()
    with_code = client.get(page_of(gig) + "?promo_code=press").content.decode()

    assert str(gig.press.pk) not in without
    assert "Press" in with_code and "With your code" in with_code
    assert f'name="ticket_type" value="{gig.press.pk}"' in with_code

    # Without the code, the hidden type cannot be booked.
    response = book(client, gig, {gig.press: 1})
    assert response.status_code == 302
    assert not Booking.objects.exists()
    assert any("Press" in message for message in messages_of(response))


def test_staff_see_hidden_types_but_book_them_only_with_their_code(client, staff, gig):
    client.force_login(staff)

    html = client.get(page_of(gig)).content.decode()
    row = re.search(rf'data-ticket-type="{gig.press.pk}">(.*?)</li>', html, re.S).group(1)
    assert "Hidden: sold only with a code" in row
    assert "<select" not in row

    with_code = client.get(page_of(gig) + "?promo_code=PRESS").content.decode()
    row = re.search(rf'data-ticket-type="{gig.press.pk}">(.*?)</li>', with_code, re.S).group(1)
    assert "With your code" in row and "<select" in row


@pytest.mark.parametrize(
    ("typed", "change", "words"),
    [
        ("NOPE", {}, "no such promo code"),
        ("save10", {"active": False}, "not active"),
        ("save10", {"valid_until": in_days(-1)}, "expired"),
        ("save10", {"valid_from": in_days(1)}, "cannot be used yet"),
        ("save10", {"max_uses": 0}, "used up"),
    ],
    ids=["unknown", "inactive", "expired", "not-started", "used-up"],
)
def test_a_code_that_cannot_be_used_says_why_next_to_the_field(
    client, customer, gig, typed, change, words
):
    PromoCode.objects.filter(pk=gig.save10.pk).update(**change)
    client.force_login(customer)

    html = client.get(page_of(gig) + f"?promo_code={typed}").content.decode()

    assert words in promo_error(html)
    assert f'value="{typed}"' in html  # what was typed stays in the box
    assert 'aria-invalid="true"' in html
    assert "<del " not in html  # no discounted price
    assert 'name="promo_code" value=' not in html.split('id="promo-form"')[1].split("</form>")[1]


def test_guessing_codes_on_the_page_is_limited_like_the_quote(client, customer, gig, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "write": "3/min"},
    }
    client.force_login(customer)

    answers = [
        promo_error(client.get(page_of(gig) + f"?promo_code=GUESS{n}").content.decode())
        for n in range(3)
    ]
    assert answers == ["There is no such promo code for this event."] * 3

    html = client.get(page_of(gig) + "?promo_code=SAVE10").content.decode()
    assert promo_error(html).startswith("Too many codes tried. Please wait")
    assert "<del " not in html  # not even the right code is looked up
    assert client.get(page_of(gig)).status_code == 200  # the page itself is not limited


def test_booking_with_a_bad_code_holds_nothing_and_says_so_next_to_the_field(client, customer, gig):
    client.force_login(customer)

    response = book(client, gig, {gig.standard: 2}, promo_code="NOPE")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == page_of(gig)
    assert parse_qs(location.query) == {
        "promo_code": ["NOPE"],
        "ticket_type": [str(gig.standard.pk)],
        "quantity": ["2"],
    }
    html = client.get(response["Location"]).content.decode()
    assert "no such promo code" in promo_error(html)
    assert 'value="NOPE"' in html
    assert '<option value="2" selected>' in html  # the quantity chosen is kept
    assert not Booking.objects.exists()
    gig.refresh_from_db()
    assert gig.tickets_taken == 0


def test_a_code_for_other_types_is_refused_next_to_the_field(client, customer, gig):
    vip_only = make_promo_code(gig, code="VIPDEAL", discount_percent=20, ticket_types=[gig.vip])
    client.force_login(customer)

    response = book(client, gig, {gig.standard: 1}, promo_code="VIPDEAL")

    html = client.get(response["Location"]).content.decode()
    assert "does not apply" in promo_error(html)
    assert not Booking.objects.exists()
    assert PromoCode.objects.get(pk=vip_only.pk).uses == 0


def test_booking_two_types_with_a_code_shows_the_items_and_the_discount(client, customer, gig):
    client.force_login(customer)

    response = book(client, gig, {gig.standard: 2, gig.vip: 1}, promo_code="SAVE10")

    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/bookings/{booking.pk}/"
    assert (booking.quantity, booking.subtotal, booking.discount, booking.total_price) == (
        3,
        Decimal("2500.00"),
        Decimal("250.00"),
        Decimal("2250.00"),
    )
    assert booking.promo_code_id == gig.save10.pk
    assert PromoCode.objects.get(pk=gig.save10.pk).uses == 3

    html = client.get(response["Location"]).content.decode()
    items = re.findall(r'<li class="booking-item">\s*(.*?)\s*</li>', html, re.S)
    assert [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items] == [
        f"2 {TIMES} Standard at INR 500.00, less INR 50.00 each: INR 900.00",
        f"1 {TIMES} VIP at INR 1500.00, less INR 150.00 each: INR 1350.00",
    ]
    assert "INR 2500.00" in html  # subtotal
    assert re.search(rf"{MINUS} INR 250\.00 with the code <strong>SAVE10</strong>", html)
    assert re.search(r'id="booking-total">INR 2250\.00<', html)
    assert "Pay INR 2250.00" in html


def test_zero_quantities_are_left_out_and_none_at_all_is_refused(client, customer, gig):
    client.force_login(customer)

    nothing = book(client, gig, {gig.standard: 0, gig.vip: 0})
    assert "Choose at least 1 ticket." in messages_of(nothing)
    assert not Booking.objects.exists()

    book(client, gig, {gig.standard: 0, gig.vip: 2})
    booking = Booking.objects.get()
    assert [(i.ticket_type_id, i.quantity) for i in booking.items.all()] == [(gig.vip.pk, 2)]


def test_a_sold_out_type_is_named_and_nothing_is_held(client, customer, outsider, gig):
    hold(outsider, gig, items=[{"ticket_type": gig.vip.pk, "quantity": 4}], quantity=None)
    client.force_login(customer)

    response = book(client, gig, {gig.standard: 1, gig.vip: 2})

    (message,) = messages_of(response)
    assert "VIP" in message and "1" in message
    assert Booking.objects.filter(user=customer).count() == 0
    assert TicketType.objects.get(pk=gig.standard.pk).tickets_taken == 0


def test_over_a_types_limit_per_booking_names_the_type(client, customer, gig):
    TicketType.objects.filter(pk=gig.vip.pk).update(max_per_booking=2)
    client.force_login(customer)
    html = client.get(page_of(gig)).content.decode()
    picker = re.search(
        rf'name="ticket_type" value="{gig.vip.pk}">.*?<select[^>]*>(.*?)</select>', html, re.S
    )
    assert re.findall(r'<option value="(\d+)"', picker.group(1)) == ["0", "1", "2"]

    response = book(client, gig, {gig.standard: 1, gig.vip: 3})

    assert messages_of(response) == ["VIP: At most 2 per booking."]
    assert not Booking.objects.exists()


def test_several_types_on_sale_need_a_type_per_quantity(client, customer, gig):
    client.force_login(customer)

    response = client.post(
        BOOK,
        {"event": str(gig.pk), "ticket_type": [str(gig.standard.pk)], "quantity": ["1", "2"]},
    )

    assert messages_of(response) == ["Choose how many tickets of each type you want."]
    assert not Booking.objects.exists()


# --- free bookings ---------------------------------------------------------------


def test_a_free_booking_is_confirmed_by_its_button(client, customer, gig):
    client.force_login(customer)
    response = book(client, gig, {gig.press: 2}, promo_code="press")
    booking = Booking.objects.get()
    assert booking.total_price == 0

    html = client.get(response["Location"]).content.decode()
    assert ">Confirm</button>" in html
    assert 'name="card_number"' not in html
    assert re.search(r'id="booking-total">Free<', html)

    confirmed = client.post(f"/bookings/{booking.pk}/pay/")

    assert confirmed.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.tickets.count() == 2
    assert all(payment.amount == 0 for payment in booking.payments.all())  # nothing charged
    html = client.get(confirmed["Location"]).content.decode()
    assert "nothing was charged" in html
    assert html.count('class="ticket ') == 2


def test_a_full_discount_makes_a_free_booking(client, customer, gig):
    make_promo_code(gig, code="GUEST", discount_percent=100)
    client.force_login(customer)

    book(client, gig, {gig.vip: 1}, promo_code="guest")

    booking = Booking.objects.get()
    assert (booking.subtotal, booking.discount, booking.total_price) == (
        Decimal("1500.00"),
        Decimal("1500.00"),
        Decimal("0.00"),
    )
    client.post(f"/bookings/{booking.pk}/pay/")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED


# --- waiting list of one type ----------------------------------------------------------


def test_joining_the_waiting_list_of_a_sold_out_type(client, customer, outsider, gig):
    hold(outsider, gig, items=[{"ticket_type": gig.vip.pk, "quantity": 5}], quantity=None)
    client.force_login(customer)
    html = client.get(page_of(gig)).content.decode()
    waitlist = html.split('id="waitlist"')[1]
    assert "for VIP" in waitlist

    response = client.post(
        "/bookings/waitlist/join/",
        {"event": str(gig.pk), "ticket_type": str(gig.vip.pk), "quantity": "2"},
    )

    assert any("number 1 in line" in m for m in messages_of(response))
    entry = WaitlistEntry.objects.get(user=customer)
    assert (entry.ticket_type_id, entry.quantity) == (gig.vip.pk, 2)


# --- the e-mail ------------------------------------------------------------------


def test_the_confirmation_email_lists_the_items_and_the_discount(
    client, customer, gig, django_capture_on_commit_callbacks
):
    client.force_login(customer)
    book(client, gig, {gig.standard: 2, gig.vip: 1}, promo_code="SAVE10")
    booking = Booking.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        services.booking_pay(user=customer, booking_id=booking.pk, card_number="4242424242424242")

    (message,) = mail.outbox
    assert "2 x Standard at INR 500.00, less INR 50.00 each: INR 900.00" in message.body
    assert "1 x VIP at INR 1500.00, less INR 150.00 each: INR 1350.00" in message.body
    assert "Subtotal: INR 2500.00" in message.body
    assert "Discount with the code SAVE10: -INR 250.00" in message.body
    assert "Total: INR 2250.00" in message.body
    (html,) = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    assert f"1 {TIMES} VIP at INR 1500.00" in html
    assert "<strong>SAVE10</strong>" in html
