"""The HTML booking flow: book from the event page, pay, cancel, my bookings, .ics."""

import datetime as dt
import re
from decimal import Decimal

import icalendar
import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bookings import services
from bookings.models import Booking, BookingStatus, Payment, RefundStatus
from events.models import Event
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
LUHN_INVALID_CARD = "4242424242424241"


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def hold(user, event, quantity=1, **kwargs) -> Booking:
    return services.booking_reserve(user=user, event_id=event.pk, quantity=quantity, **kwargs)[0]


def confirmed(user, event, quantity=1) -> Booking:
    booking = hold(user, event, quantity)
    return services.booking_pay(user=user, booking_id=booking.pk, card_number=GOOD_CARD)


def page(booking) -> str:
    return f"/bookings/{booking.pk}/"


def start_event(event: Event) -> None:
    """The event began an hour ago (and is still running)."""
    Event.objects.filter(pk=event.pk).update(starts_at=in_days(-1 / 24), ends_at=in_days(1))


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def field_errors(html: str, name: str) -> str:
    match = re.search(rf'id="id_{name}_errors">([^<]*)<', html)
    return match.group(1) if match else ""


@pytest.fixture
def event():
    return make_event(name="Jazz Night", capacity=10, max_tickets_per_user=4)


# --- booking from the event page ---------------------------------------------


def test_event_page_form_posts_to_the_booking_url(client, customer, event):
    client.force_login(customer)

    html = client.get(f"/events/{event.pk}/").content.decode()

    assert 'action="/bookings/new/"' in html
    assert f'name="event" value="{event.pk}"' in html


def test_booking_from_the_event_page_holds_tickets_and_redirects(client, customer, event):
    client.force_login(customer)

    response = client.post("/bookings/new/", {"event": str(event.pk), "quantity": "2"})

    booking = Booking.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(booking)
    assert (booking.user, booking.event, booking.quantity) == (customer, event, 2)
    assert booking.status == BookingStatus.HELD
    event.refresh_from_db()
    assert event.tickets_taken == 2


@pytest.mark.parametrize(
    ("event_fields", "quantity", "expected"),
    [
        ({"capacity": 3}, "4", "Only 3 tickets left."),
        ({"max_tickets_per_user": 2}, "3", "You may hold at most 2 tickets"),
        ({"starts_at": in_days(-1 / 24), "ends_at": in_days(1)}, "1", "already started"),
        ({"booking_enabled": False}, "1", "Booking is closed"),
        ({}, "abc", "as a whole number"),
        ({}, "0", "at least 1 ticket"),
        ({}, "101", "at most 100 tickets"),
        ({}, "", "Choose how many tickets"),
    ],
    ids=[
        "sold-out",
        "over-limit",
        "started",
        "closed",
        "not-a-number",
        "zero",
        "too-many",
        "missing",
    ],
)
def test_booking_errors_come_back_on_the_event_page_and_create_nothing(
    client, customer, event_fields, quantity, expected
):
    event = make_event(**{"capacity": 10, "max_tickets_per_user": 4, **event_fields})
    client.force_login(customer)

    response = client.post("/bookings/new/", {"event": str(event.pk), "quantity": quantity})

    assert response.status_code == 302
    assert response["Location"] == f"/events/{event.pk}/"
    shown = client.get(response["Location"]).content.decode()
    assert expected in shown
    assert 'class="alert alert-danger"' in shown
    assert not Booking.objects.exists()
    event.refresh_from_db()
    assert event.tickets_taken == 0


def test_booking_a_sold_out_event_says_so(client, customer, outsider):
    event = make_event(capacity=2)
    hold(outsider, event, 2)
    client.force_login(customer)

    response = client.post("/bookings/new/", {"event": str(event.pk), "quantity": "1"})

    assert messages_of(response) == ["Sold out."]
    assert not Booking.objects.filter(user=customer).exists()


@pytest.mark.parametrize("event_id", ["not-a-uuid", "8b1c5f4e-0000-4000-8000-000000000000"])
def test_booking_an_unknown_event_goes_home_with_a_message(client, customer, event_id):
    client.force_login(customer)

    response = client.post("/bookings/new/", {"event": event_id, "quantity": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert messages_of(response)
    assert not Booking.objects.exists()


def test_anonymous_booking_redirects_to_login_and_back_to_the_event(client, event):
    response = client.post("/bookings/new/", {"event": str(event.pk), "quantity": "1"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert f"/events/{event.pk}/" in response["Location"]
    assert not Booking.objects.exists()


# --- a hold: countdown and payment ----------------------------------------------


def test_hold_page_shows_the_countdown_and_the_card_form(client, customer, event):
    booking = hold(customer, event, 2)
    client.force_login(customer)

    response = client.get(page(booking))

    html = response.content.decode()
    expires_iso = booking.expires_at.astimezone(dt.UTC).isoformat(timespec="seconds")
    assert response.status_code == 200
    assert html.count("<h1") == 1
    assert re.search(r'id="hold-countdown"[^>]*aria-live="polite"', html)
    assert f'data-expires-at="{expires_iso}"' in html
    deadline = f"{booking.expires_at:%a %d %b %Y, %H:%M} UTC"
    assert f'<time datetime="{expires_iso}" data-your-time>{deadline}</time>' in html
    assert "Pay before" in html
    assert "Awaiting payment" in html
    assert "INR 1000.00" in html
    assert f'action="/bookings/{booking.pk}/pay/"' in html
    assert 'name="card_number"' in html
    assert "4242 4242 4242 4242" in html and "4000 0000 0000 0002" in html
    assert f'action="/bookings/{booking.pk}/cancel/"' in html
    assert "Release these tickets" in html
    assert html.count("csrfmiddlewaretoken") == html.count('method="post"')


def test_paying_with_the_good_card_confirms_and_shows_the_tickets(client, customer, event):
    booking = hold(customer, event, 2)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD})

    assert response.status_code == 302
    assert response["Location"] == page(booking)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    html = client.get(page(booking)).content.decode()
    assert re.search(r"<h1[^>]*>\s*You're going!\s*</h1>", html)
    codes = list(booking.tickets.values_list("code", flat=True))
    assert len(codes) == 2
    for code in codes:
        assert f'data-code="{code}"' in html
    assert "Paid <strong>INR 1000.00</strong>" in html
    assert f'href="/bookings/{booking.pk}/calendar.ics"' in html
    assert "Add to calendar (.ics)" in html
    assert 'id="hold-countdown"' not in html


def test_a_declined_card_shows_next_to_the_field_and_keeps_the_hold(client, customer, event):
    booking = hold(customer, event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": DECLINED_CARD})

    html = response.content.decode()
    assert response.status_code == 200
    assert "declined" in field_errors(html, "card_number")
    assert 'aria-invalid="true"' in html
    booking.refresh_from_db()
    assert booking.effective_status() == BookingStatus.HELD
    assert not Payment.objects.exists()
    assert 'id="hold-countdown"' in html


def test_a_luhn_invalid_number_is_a_field_error(client, customer, event):
    booking = hold(customer, event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": LUHN_INVALID_CARD})

    assert response.status_code == 200
    assert "valid card number" in field_errors(response.content.decode(), "card_number")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.HELD


@pytest.mark.parametrize("card_number", ["", "4" * 41])
def test_a_missing_or_overlong_number_is_a_field_error(client, customer, event, card_number):
    booking = hold(customer, event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": card_number})

    assert response.status_code == 200
    assert field_errors(response.content.decode(), "card_number")
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "typed",
    [DECLINED_CARD, LUHN_INVALID_CARD, "4000-0000-0000-0002", "4" * 41, f"{DECLINED_CARD}x"],
)
def test_the_card_number_is_never_echoed_back(client, customer, event, typed):
    booking = hold(customer, event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": typed})

    html = response.content.decode()
    assert field_errors(html, "card_number")
    assert typed not in html
    assert typed.replace("-", "") not in html
    assert re.search(r'<input[^>]*name="card_number"', html)
    assert not re.search(r'<input[^>]*name="card_number"[^>]*value=', html)


def test_paying_an_expired_hold_says_it_expired(client, customer, event, time_machine):
    booking = hold(customer, event)
    client.force_login(customer)
    time_machine.move_to(booking.expires_at + dt.timedelta(seconds=1))

    response = client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD})

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="page-error">This hold has expired; nothing was charged.<', html)
    assert 'id="hold-countdown"' not in html
    assert 'name="card_number"' not in html
    assert "went back on sale" in html
    assert f'href="/events/{event.pk}/"' in html
    booking.refresh_from_db()
    assert booking.status != BookingStatus.CONFIRMED
    assert not Payment.objects.exists()


def test_paying_twice_shows_the_booking_is_already_paid(client, customer, event):
    booking = confirmed(customer, event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD})

    assert response.status_code == 200
    assert "This booking is already paid." in response.content.decode()
    assert Payment.objects.count() == 1


# --- cancelling ---------------------------------------------------------------


def test_cancel_shows_the_refund_quote_then_refunds(client, customer):
    event = make_event(starts_at=in_days(5), price=Decimal("500.00"))  # 2-7 days: 50 %
    booking = confirmed(customer, event, 2)
    client.force_login(customer)

    html = client.get(page(booking)).content.decode()
    assert "If you cancel now you get back <strong>INR 500.00</strong> (50 %)." in html
    assert f'action="/bookings/{booking.pk}/cancel/"' in html

    response = client.post(f"{page(booking)}cancel/")

    assert response.status_code == 302
    assert response["Location"] == page(booking)
    assert any("INR 500.00 (50 %)" in message for message in messages_of(response))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    refund = booking.refunds.get()
    assert (refund.amount, refund.percent, refund.status) == (
        Decimal("500.00"),
        50,
        RefundStatus.SUCCEEDED,
    )
    html = client.get(page(booking)).content.decode()
    assert "Booking cancelled" in html
    assert "Refund: <strong>INR 500.00</strong> (50 %)" in html
    assert "sent back to your card" in html


def test_releasing_a_hold_charges_nothing(client, customer, event):
    booking = hold(customer, event, 3)
    client.force_login(customer)

    response = client.post(f"{page(booking)}cancel/", follow=True)

    html = response.content.decode()
    assert "Your tickets were released. Nothing was charged." in html
    assert "nothing was charged" in html
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    event.refresh_from_db()
    assert event.tickets_taken == 0


def test_once_the_event_has_started_cancelling_is_not_offered(client, customer, event):
    booking = confirmed(customer, event)
    start_event(event)
    client.force_login(customer)

    html = client.get(page(booking)).content.decode()

    assert "cancelling is no longer possible" in html
    assert f'action="/bookings/{booking.pk}/cancel/"' not in html


def test_cancelling_a_started_event_is_refused_with_a_message(client, customer, event):
    booking = confirmed(customer, event)
    start_event(event)
    client.force_login(customer)

    response = client.post(f"{page(booking)}cancel/")

    assert response["Location"] == page(booking)
    assert messages_of(response) == [
        "The event has started; this booking can no longer be cancelled."
    ]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


# --- someone else's booking, wrong methods --------------------------------------


def test_another_users_booking_is_404_everywhere(client, customer, outsider, event):
    booking = confirmed(customer, event)
    client.force_login(outsider)

    assert client.get(page(booking)).status_code == 404
    assert client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD}).status_code == 404
    assert client.post(f"{page(booking)}cancel/").status_code == 404
    assert client.get(f"{page(booking)}calendar.ics").status_code == 404
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_another_users_hold_cannot_be_paid(client, customer, outsider, event):
    booking = hold(customer, event)
    client.force_login(outsider)

    assert client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD}).status_code == 404
    booking.refresh_from_db()
    assert booking.status == BookingStatus.HELD


def test_get_on_post_only_urls_is_405(client, customer, event):
    booking = hold(customer, event)
    client.force_login(customer)

    assert client.get("/bookings/new/").status_code == 405
    assert client.get(f"{page(booking)}pay/").status_code == 405
    assert client.get(f"{page(booking)}cancel/").status_code == 405


def test_booking_pages_need_a_login(client, customer, event):
    booking = hold(customer, event)

    for url in ["/bookings/", page(booking), f"{page(booking)}calendar.ics"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    response = client.post(f"{page(booking)}pay/", {"card_number": GOOD_CARD})
    assert response["Location"].startswith("/accounts/login/")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.HELD


# --- my bookings ----------------------------------------------------------------


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def _rows(section_html: str) -> dict[str, str]:
    """Each booking row's event name and its badge text."""
    rows = {}
    for row in re.findall(r'<li class="list-group-item booking-row".*?</li>', section_html, re.S):
        name = re.search(r'class="fw-semibold" href="[^"]+">([^<]+)<', row).group(1)
        rows[name] = re.search(r'class="badge [^"]+">([^<]+)<', row).group(1)
    return rows


def test_my_bookings_lists_upcoming_and_past_with_their_status(client, customer):
    paid = confirmed(customer, make_event(name="Paid Gig", starts_at=in_days(10)))
    hold(customer, make_event(name="Held Gig", starts_at=in_days(3)))
    hold(
        customer,
        make_event(name="Lapsed Gig", starts_at=in_days(4)),
        now=timezone.now() - dt.timedelta(hours=1),
    )
    released = hold(customer, make_event(name="Released Gig", starts_at=in_days(5)))
    services.booking_cancel(user=customer, booking_id=released.pk)
    last_month = make_event(name="Last Month", starts_at=in_days(20))
    confirmed(customer, last_month)
    start_event(last_month)
    client.force_login(customer)

    response = client.get("/bookings/")

    html = response.content.decode()
    assert response.status_code == 200
    upcoming = _rows(_section(html, "upcoming-heading"))
    assert list(upcoming) == ["Held Gig", "Lapsed Gig", "Released Gig", "Paid Gig"]
    assert upcoming == {
        "Held Gig": "Awaiting payment",
        "Lapsed Gig": "Expired",
        "Released Gig": "Cancelled",
        "Paid Gig": "Confirmed",
    }
    assert _rows(_section(html, "past-heading")) == {"Last Month": "Confirmed"}
    assert f'href="{page(paid)}">Paid Gig<' in html
    assert "INR 500.00" in html


def test_my_bookings_shows_only_my_own(client, customer, outsider, event):
    hold(outsider, event)
    client.force_login(customer)

    html = client.get("/bookings/").content.decode()

    assert "You have no bookings yet." in html
    assert "Jazz Night" not in html


def test_my_bookings_runs_a_constant_number_of_queries(client, customer):
    client.force_login(customer)
    confirmed(customer, make_event(name="One"))
    with CaptureQueriesContext(connection) as one:
        client.get("/bookings/")
    for n in range(4):
        confirmed(customer, make_event(name=f"More {n}"))
        hold(customer, make_event(name=f"Held {n}"))
    with CaptureQueriesContext(connection) as many:
        response = client.get("/bookings/")

    assert response.content.decode().count("booking-row") == 9
    assert len(many) == len(one)


def test_the_nav_links_to_my_bookings_when_logged_in(client, customer):
    assert 'href="/bookings/"' not in client.get("/").content.decode()
    client.force_login(customer)
    assert ">My bookings</a>" in client.get("/").content.decode()


# --- calendar file --------------------------------------------------------------


def test_calendar_file_of_a_confirmed_booking(client, customer):
    event = make_event(
        name="Jazz Night: Live!",
        venue_name="Blue Hall",
        venue_address="1 Marine Drive",
        city="Mumbai",
        timezone="Asia/Kolkata",
        starts_at=in_days(10),
    )
    booking = confirmed(customer, event, 2)
    client.force_login(customer)

    response = client.get(f"{page(booking)}calendar.ics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="nuvio-jazz-night-live.ics"'
    calendar = icalendar.Calendar.from_ical(response.content)
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == f"{booking.pk}@nuvio"
    assert str(vevent["SUMMARY"]) == "Jazz Night: Live!"
    # The same instants, as wall times in the event's zone.
    assert vevent.decoded("DTSTART") == event.starts_at.replace(microsecond=0)
    assert vevent.decoded("DTEND") == event.ends_at.replace(microsecond=0)
    assert vevent["DTSTART"].params["TZID"] == vevent["DTEND"].params["TZID"] == "Asia/Kolkata"
    ist = dt.timedelta(hours=5, minutes=30)
    wall = (event.starts_at.astimezone(dt.UTC) + ist).replace(tzinfo=None, microsecond=0)
    assert f"DTSTART;TZID=Asia/Kolkata:{wall:%Y%m%dT%H%M%S}" in response.content.decode()
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Asia/Kolkata"
    (standard,) = zone.walk("STANDARD")
    assert standard["TZOFFSETTO"].td == ist and str(standard["TZNAME"]) == "IST"
    assert str(vevent["LOCATION"]) == "Blue Hall, 1 Marine Drive, Mumbai"
    description = str(vevent["DESCRIPTION"])
    assert "2 tickets" in description
    for code in booking.tickets.values_list("code", flat=True):
        assert code in description
    assert "DTSTAMP" in vevent


def test_calendar_file_says_the_wall_time_of_its_zone_around_a_clock_change(client, customer):
    # London's clocks go forward at 01:00 GMT on Sunday 28 March 2027.
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=dt.UTC), tick=False):
        event = make_event(
            name="Spring Gig",
            timezone="Europe/London",
            starts_at=dt.datetime(2027, 3, 28, 18, 30, tzinfo=dt.UTC),
            ends_at=dt.datetime(2027, 3, 28, 21, 30, tzinfo=dt.UTC),
        )
        booking = confirmed(customer, event)
        client.force_login(customer)
        ics = client.get(f"{page(booking)}calendar.ics").content.decode()

    assert "DTSTART;TZID=Europe/London:20270328T193000" in ics
    assert "DTEND;TZID=Europe/London:20270328T223000" in ics
    (zone,) = icalendar.Calendar.from_ical(ics).walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/London"
    (summer,) = zone.walk("DAYLIGHT")
    assert str(summer["TZNAME"]) == "BST"
    assert summer.decoded("DTSTART") == dt.datetime(2027, 3, 28, 1, 0)  # in GMT, the offset from
    assert (summer["TZOFFSETFROM"].td, summer["TZOFFSETTO"].td) == (
        dt.timedelta(0),
        dt.timedelta(hours=1),
    )


def test_calendar_file_with_an_api_token_for_the_owner_only(customer, outsider, event):
    booking = confirmed(customer, event)
    url = f"{page(booking)}calendar.ics"

    def with_token(user) -> Client:
        key = Token.objects.get_or_create(user=user)[0].key
        return Client(headers={"Authorization": f"Token {key}"})

    response = with_token(customer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert with_token(outsider).get(url).status_code == 404
    bad = Client(headers={"Authorization": "Token not-a-real-key"}).get(url)
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "not_authenticated"
    assert Client().get(url)["Location"].startswith("/accounts/login/")


def test_calendar_file_only_for_confirmed_bookings(client, customer, event):
    booking = hold(customer, event)
    client.force_login(customer)

    assert client.get(f"{page(booking)}calendar.ics").status_code == 404
