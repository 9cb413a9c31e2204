"""The HTML side: joining from a sold-out event page, entries and offers on
"My bookings", the notifications page and the unread badge."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import Notification, WaitlistEntry, WaitlistStatus
from bookings.tests.helpers import confirmed, hold
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

JOIN = "/bookings/waitlist/join/"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def sold_out(staff):
    event = make_event(name="Sold Out Gig", capacity=2, max_tickets_per_user=3)
    event.blocker = hold(staff, event, 2)
    return event


def _page(client, event) -> str:
    return client.get(f"/events/{event.pk}/").content.decode()


# --- the event page ----------------------------------------------------------------


def test_a_sold_out_event_offers_the_waiting_list(client, customer, sold_out):
    anonymous = _page(client, sold_out)
    assert "Log in to join the waiting list" in anonymous

    client.force_login(customer)
    html = _page(client, sold_out)
    assert "Join the waiting list" in html
    assert f'action="{JOIN}"' in html
    assert re.search(r'<select[^>]*name="quantity" id="id_waitlist_quantity"', html)
    assert html.count("<option value=") == 3  # up to max_tickets_per_user


def test_an_event_with_tickets_left_has_no_waiting_list(client, customer):
    event = make_event(capacity=5)
    client.force_login(customer)
    assert "Join the waiting list" not in _page(client, event)


def test_joining_from_the_page(client, customer, sold_out):
    client.force_login(customer)

    response = client.post(JOIN, {"event": str(sold_out.pk), "quantity": "2"})

    assert response.status_code == 302
    assert response["Location"] == f"/events/{sold_out.pk}/"
    assert any("number 1 in line" in m for m in _messages(response))
    entry = WaitlistEntry.objects.get(user=customer)
    assert (entry.quantity, entry.status) == (2, "waiting")
    html = _page(client, sold_out)
    assert "You are on the waiting list for 2 tickets" in html
    assert "Join the waiting list</button>" not in html


def test_joining_errors_come_back_as_messages(client, customer, sold_out):
    client.force_login(customer)
    too_many = client.post(JOIN, {"event": str(sold_out.pk), "quantity": "9"})
    assert too_many["Location"] == f"/events/{sold_out.pk}/"
    assert "Quantity must be between 1 and 3." in _messages(too_many)

    open_event = make_event(capacity=9)
    not_sold_out = client.post(JOIN, {"event": str(open_event.pk), "quantity": "1"})
    assert "This event is not sold out: book the tickets instead." in _messages(not_sold_out)

    nonsense = client.post(JOIN, {"event": "nope", "quantity": "1"})
    assert nonsense["Location"] == "/"
    assert not WaitlistEntry.objects.exists()


def test_joining_needs_a_login(client, sold_out):
    response = client.post(JOIN, {"event": str(sold_out.pk), "quantity": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert f"next=/events/{sold_out.pk}/" in response["Location"]


def test_the_event_is_sold_out_to_buyers_while_people_wait(client, customer, staff, outsider):
    event = make_event(capacity=3, max_tickets_per_user=3)
    one = hold(staff, event, 1)
    hold(staff, event, 2)
    services.waitlist_join(user=outsider, event_id=event.pk, quantity=2)
    services.booking_cancel(user=staff, booking_id=one.pk)  # 1 free, kept for the waiting list

    client.force_login(customer)
    html = _page(client, event)

    assert "Sold out" in html
    assert 'action="/bookings/new/"' not in html
    assert "Join the waiting list" in html


# --- my bookings -------------------------------------------------------------------


def test_my_bookings_lists_entries_with_positions_and_leave(client, customer, outsider, sold_out):
    services.waitlist_join(user=outsider, event_id=sold_out.pk, quantity=1)
    entry = services.waitlist_join(user=customer, event_id=sold_out.pk, quantity=1)
    client.force_login(customer)

    html = client.get("/bookings/").content.decode()

    assert "Waiting lists" in html
    assert f'data-waitlist-entry="{entry.pk}"' in html
    assert re.search(r'class="waitlist-position">2<', html)
    assert f'action="/bookings/waitlist/{entry.pk}/leave/"' in html

    response = client.post(f"/bookings/waitlist/{entry.pk}/leave/")
    assert response["Location"] == "/bookings/"
    assert "You left the waiting list." in _messages(response)
    assert WaitlistEntry.objects.get(pk=entry.pk).status == WaitlistStatus.CANCELLED
    assert "Waiting lists" not in client.get("/bookings/").content.decode()


def test_someone_elses_entry_cannot_be_left(client, customer, outsider, sold_out):
    entry = services.waitlist_join(user=outsider, event_id=sold_out.pk, quantity=1)
    client.force_login(customer)
    assert client.post(f"/bookings/waitlist/{entry.pk}/leave/").status_code == 404
    assert WaitlistEntry.objects.get(pk=entry.pk).status == WaitlistStatus.WAITING


def test_an_offer_is_highlighted_with_its_countdown(client, customer, staff, sold_out):
    entry = services.waitlist_join(user=customer, event_id=sold_out.pk, quantity=2)
    services.booking_cancel(user=staff, booking_id=sold_out.blocker.pk)
    offer = WaitlistEntry.objects.get(pk=entry.pk).offered_booking
    client.force_login(customer)

    html = client.get("/bookings/").content.decode()

    assert 'data-status="offered"' in html
    assert "Tickets are held for you!" in html
    assert re.search(r'data-countdown-seconds="(8\d\d|900)"', html)
    assert f'href="/bookings/{offer.pk}/">Pay now</a>' in html
    assert "data-countdown-text" in html and "js/waitlist-countdown.js" in html
    # The booking page has the live countdown and the payment form.
    detail = client.get(f"/bookings/{offer.pk}/").content.decode()
    assert 'id="hold-countdown"' in detail


def test_my_bookings_queries_do_not_grow_with_entries(client, customer, staff):
    client.force_login(customer)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/bookings/").status_code == 200
        return len(queries)

    def sold_out_event(n):
        event = make_event(name=f"Full {n}", capacity=1)
        hold(staff, event, 1)
        return event

    services.waitlist_join(user=customer, event_id=sold_out_event(0).pk, quantity=1)
    one = count()
    for n in range(1, 5):
        services.waitlist_join(user=customer, event_id=sold_out_event(n).pk, quantity=1)
    assert count() == one


# --- notifications page and badge ----------------------------------------------------


def test_notifications_page_needs_a_login(client):
    response = client.get("/notifications/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_notifications_page_lists_marks_read_and_the_badge_follows(client, customer, outsider):
    first = confirmed(customer, make_event(name="Jazz Night"))
    confirmed(customer, make_event(name="Rock Night"))
    confirmed(outsider, make_event(name="Not Yours"))
    client.force_login(customer)

    html = client.get("/notifications/").content.decode()
    assert "Jazz Night" in html and "Rock Night" in html and "Not Yours" not in html
    assert html.count("notification-unread") == 2
    assert re.search(r'id="unread-badge">2<', html)
    assert 'id="mark-all-read"' in html

    one = Notification.objects.get(booking=first)
    response = client.post(f"/notifications/{one.pk}/read/")
    assert response["Location"] == "/notifications/"
    html = client.get("/notifications/").content.decode()
    assert html.count("notification-unread") == 1
    assert re.search(r'id="unread-badge">1<', html)

    response = client.post("/notifications/read-all/")
    assert "Marked 1 notification read." in _messages(response)
    html = client.get("/").content.decode()
    assert "unread-badge" not in html
    assert 'href="/notifications/"' in html


def test_someone_elses_notification_cannot_be_marked(client, customer, outsider):
    confirmed(outsider, make_event())
    notification = Notification.objects.get()
    client.force_login(customer)
    assert client.post(f"/notifications/{notification.pk}/read/").status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_the_badge_is_only_for_signed_in_people(client):
    html = client.get("/").content.decode()
    assert 'href="/notifications/"' not in html
