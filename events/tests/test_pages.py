import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import Category, Event, EventStatus
from events.tests.factories import make_event
from nuvio.pagination import OnePassPaginator

pytestmark = pytest.mark.django_db
HOME = "/"


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def detail_url(event: Event) -> str:
    return f"/events/{event.pk}/"


def sell(event: Event, tickets: int) -> None:
    Event.objects.filter(pk=event.pk).update(tickets_taken=tickets)


def names_on(response) -> list[str]:
    return [event.name for event, _ in response.context["cards"]]


def field_errors(html: str, name: str) -> str:
    match = re.search(rf'id="id_{name}_errors">([^<]*)<', html)
    return match.group(1) if match else ""


# --- Browse ---------------------------------------------------------------


def test_browse_shows_published_upcoming_events_to_everyone_but_staff(client, customer):
    make_event(name="Jazz Night")
    make_event(name="Secret Draft", status=EventStatus.DRAFT)
    make_event(name="Called Off", status=EventStatus.CANCELLED)
    make_event(name="Last Year", starts_at=in_days(-3))

    assert names_on(client.get(HOME)) == ["Jazz Night"]
    client.force_login(customer)
    assert names_on(client.get(HOME)) == ["Jazz Night"]


def test_staff_browse_sees_drafts_and_past_events(client, staff):
    make_event(name="Jazz Night", starts_at=in_days(2))
    make_event(name="Secret Draft", status=EventStatus.DRAFT, starts_at=in_days(3))
    make_event(name="Last Year", starts_at=in_days(-3))
    client.force_login(staff)

    response = client.get(HOME)

    assert names_on(response) == ["Last Year", "Jazz Night", "Secret Draft"]
    assert "Draft" in response.content.decode()
    assert names_on(client.get(HOME, {"status": "draft"})) == ["Secret Draft"]


def test_past_events_only_when_asked(client):
    make_event(name="Upcoming")
    make_event(name="Last Year", starts_at=in_days(-3))

    assert names_on(client.get(HOME, {"upcoming": "false"})) == ["Last Year"]


def test_search_by_a_word_in_the_name(client):
    make_event(name="Jazz Night")
    make_event(name="Python Conference")

    response = client.get(HOME, {"search": "jazz"})

    assert names_on(response) == ["Jazz Night"]
    assert 'value="jazz"' in response.content.decode()


def test_category_filter(client):
    make_event(name="Jazz Night", category=Category.MUSIC)
    make_event(name="PyCon", category=Category.CONFERENCE)

    assert names_on(client.get(HOME, {"category": "conference"})) == ["PyCon"]


def test_city_filter_offers_cities_of_published_upcoming_events(client):
    make_event(name="Mumbai Gig", city="Mumbai")
    make_event(name="Pune Gig", city="Pune")
    make_event(name="Hidden", city="Atlantis", status=EventStatus.DRAFT)
    make_event(name="Old", city="Goa", starts_at=in_days(-3))

    response = client.get(HOME, {"city": "pune"})

    assert names_on(response) == ["Pune Gig"]
    options = re.findall(r'<option value="([^"]*)"', response.content.decode())
    assert {"Mumbai", "pune"} <= set(options)
    assert "Atlantis" not in options
    assert "Goa" not in options
    assert re.search(r'<option value="pune" selected>Pune</option>', response.content.decode())


def test_city_list_is_cached(client):
    make_event(city="Mumbai")
    client.get(HOME)
    make_event(city="Delhi")  # not through a service: the catalog version stays

    response = client.get(HOME)

    assert "Delhi" not in re.findall(r'<option value="([^"]*)"', response.content.decode())


def test_price_range_filter(client):
    make_event(name="Cheap", price=Decimal("100.00"))
    make_event(name="Middle", price=Decimal("500.00"))
    make_event(name="Dear", price=Decimal("2000.00"))

    response = client.get(HOME, {"min_price": "200", "max_price": "1000"})

    assert names_on(response) == ["Middle"]


def test_date_filters(client):
    make_event(name="Soon", starts_at=in_days(2))
    make_event(name="Later", starts_at=in_days(20))
    make_event(name="Much later", starts_at=in_days(60))

    response = client.get(
        HOME,
        {
            "starts_after": in_days(10).date().isoformat(),
            "starts_before": in_days(30).date().isoformat(),
        },
    )

    assert names_on(response) == ["Later"]


@pytest.mark.parametrize(
    ("name", "typed", "message"),
    [
        ("min_price", "abc", "Enter a number."),
        ("max_price", "-5", "Enter a price of 0 or more."),
        ("starts_after", "notadate", "Enter a date such as 2030-06-30."),
        ("starts_before", "2030-13-45", "Enter a date such as 2030-06-30."),
        ("category", "opera", "Select a valid choice."),
    ],
)
def test_malformed_filter_shows_error_next_to_field_and_keeps_value(client, name, typed, message):
    make_event(name="Jazz Night")

    response = client.get(HOME, {name: typed, "search": "jazz"})

    assert response.status_code == 200
    html = response.content.decode()
    assert message in field_errors(html, name)
    assert re.search(rf'name="{name}"[^>]*aria-invalid="true"', html) or re.search(
        rf'aria-invalid="true"[^>]*name="{name}"', html
    )
    if name == "category":
        assert "Any category" in html
    else:
        assert f'value="{typed}"' in html
    assert 'value="jazz"' in html
    assert response.context["cards"] is None
    assert "Jazz Night" not in html


def test_filter_not_on_the_form_is_kept_or_its_error_named(client):
    make_event(name="Jazz Night")

    valid = client.get(HOME, {"available": "true"}).content.decode()
    malformed = client.get(HOME, {"available": "maybe"}).content.decode()

    assert '<input type="hidden" name="available" value="true">' in valid
    assert "Jazz Night" in valid
    assert "Tickets left “maybe”: Select a valid choice." in malformed
    assert 'name="available"' not in malformed


# A search (ranked on PostgreSQL) pages through OnePassPaginator; the rest
# through Django's: the same pages either way.
SEARCHED = pytest.mark.parametrize("search", [{}, {"search": "gig"}])


@SEARCHED
def test_pagination_twelve_per_page_and_links_keep_filters(client, search):
    for day in range(1, 14):
        make_event(name=f"Gig {day:02d}", starts_at=in_days(day), category=Category.MUSIC)
    make_event(name="Talk", category=Category.CONFERENCE)

    first = client.get(HOME, {"category": "music", **search})
    second = client.get(HOME, {"category": "music", "page": "2", **search})

    assert len(first.context["cards"]) == 12
    assert first.context["page"].paginator.num_pages == 2
    assert first.context["page"].paginator.count == 13
    ranked = bool(search) and connection.vendor == "postgresql"
    assert isinstance(first.context["page"].paginator, OnePassPaginator) == ranked
    assert names_on(second) == ["Gig 13"]
    html = first.content.decode()
    assert '<nav aria-label="Pages"' in html
    assert "13 events" in html
    assert re.search(r'href="\?category=music&amp;[^"]*page=2"', html)


@SEARCHED
@pytest.mark.parametrize(("page", "expected"), [("999", 2), ("abc", 1), ("-1", 2), ("0", 2)])
def test_bad_page_number_shows_a_real_page(client, page, expected, search):
    for day in range(1, 14):
        make_event(name=f"Gig {day:02d}", starts_at=in_days(day))

    response = client.get(HOME, {"page": page, **search})

    assert response.status_code == 200
    assert response.context["page"].number == expected
    gigs = [f"Gig {day:02d}" for day in range(1, 14)]
    assert names_on(response) == gigs[12 * (expected - 1) :][:12]


def test_availability_badges(client):
    plenty = make_event(name="Plenty", capacity=100, starts_at=in_days(1))
    few = make_event(name="Few", capacity=100, starts_at=in_days(2))
    gone = make_event(name="Gone", capacity=50, starts_at=in_days(3))
    big = make_event(name="Big", capacity=1000, starts_at=in_days(4))
    sell(plenty, 10)
    sell(few, 97)
    sell(gone, 50)
    sell(big, 920)  # 80 left: under 10 % of the capacity

    html = client.get(HOME).content.decode()

    assert html.count("Sold out") == 1
    assert "Only 3 left" in html
    assert "Only 80 left" in html
    assert html.count(">Available<") == 1


def test_card_shows_the_facts(client):
    event = make_event(
        name="Jazz Night",
        venue_name="Blue Frog",
        city="Mumbai",
        category=Category.MUSIC,
        price=Decimal("499.00"),
        starts_at=dt.datetime(2099, 6, 14, 19, 30, tzinfo=dt.UTC),
    )

    html = client.get(HOME).content.decode()

    assert f'href="{detail_url(event)}"' in html
    assert "Sun 14 Jun 2099, 19:30 UTC" in html
    assert "Blue Frog, Mumbai" in html
    assert "Music" in html
    assert "499.00 INR" in html


def test_empty_state_links_to_clear_filters(client):
    make_event(name="Jazz Night")

    response = client.get(HOME, {"search": "nothing-like-this"})

    html = response.content.decode()
    assert "No events match your search" in html
    assert re.search(r'<a href="/">Clear filters</a>', html)


def test_browse_query_count_does_not_depend_on_the_number_of_events(client, customer):
    client.force_login(customer)

    def count_queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(HOME).status_code == 200
        return len(queries)

    for day in range(3):
        make_event(name=f"Gig {day}", starts_at=in_days(day + 1))
    with_three = count_queries()
    for day in range(3, 12):
        make_event(name=f"Gig {day}", starts_at=in_days(day + 1))
    with_twelve = count_queries()

    assert with_three == with_twelve


# --- Detail ---------------------------------------------------------------


def test_detail_shows_all_the_facts(client):
    event = make_event(
        name="Jazz Night",
        description="Live quartet.\n\nDoors open at seven.",
        category=Category.MUSIC,
        venue_name="Blue Frog",
        venue_address="Mathuradas Mills",
        city="Mumbai",
        state="Maharashtra",
        country="India",
        postal_code="400013",
        starts_at=dt.datetime(2099, 6, 14, 19, 30, tzinfo=dt.UTC),
        ends_at=dt.datetime(2099, 6, 14, 23, 0, tzinfo=dt.UTC),
        capacity=100,
        price=Decimal("499.00"),
        max_tickets_per_user=6,
    )
    sell(event, 43)

    response = client.get(detail_url(event))

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1
    for fact in [
        "Jazz Night",
        "<p>Live quartet.</p>",
        "<p>Doors open at seven.</p>",
        "Music",
        "Sun 14 Jun 2099, 19:30 UTC</time>",
        "23:00 UTC</time>",
        "Blue Frog",
        "Mathuradas Mills",
        "Mumbai, Maharashtra 400013",
        "India",
        "499.00 INR",
        "Up to 6 tickets per person",
        "Available",
        "57 tickets left",
    ]:
        assert fact in html, fact


def test_customer_gets_the_booking_form_capped_by_the_per_person_limit(client, customer):
    event = make_event(max_tickets_per_user=4)
    client.force_login(customer)

    html = client.get(detail_url(event)).content.decode()

    assert '<form method="post" action="/bookings/new/">' in html
    assert "csrfmiddlewaretoken" in html
    assert f'<input type="hidden" name="event" value="{event.pk}">' in html
    assert re.findall(r'<option value="(\d+)">', html) == ["1", "2", "3", "4"]
    assert ">Book</button>" in html
    assert "Log in to book" not in html


def test_quantity_options_capped_by_availability(client, customer):
    event = make_event(capacity=10, max_tickets_per_user=8)
    sell(event, 8)
    client.force_login(customer)

    html = client.get(detail_url(event)).content.decode()

    assert re.findall(r'<option value="(\d+)">', html) == ["1", "2"]
    assert "Only 2 left" in html


def test_anonymous_visitor_is_asked_to_log_in(client):
    event = make_event()

    html = client.get(detail_url(event)).content.decode()

    assert f'href="/accounts/login/?next={detail_url(event)}">Log in to book</a>' in html
    assert 'action="/bookings/new/"' not in html


def test_no_booking_form_when_sold_out(client, customer):
    event = make_event(capacity=5)
    sell(event, 5)
    client.force_login(customer)

    html = client.get(detail_url(event)).content.decode()

    assert "Sold out" in html
    assert 'action="/bookings/new/"' not in html


def test_no_booking_form_when_started(client, customer):
    event = make_event(starts_at=in_days(-0.1), ends_at=in_days(1))
    client.force_login(customer)

    html = client.get(detail_url(event)).content.decode()

    assert "already started" in html
    assert 'action="/bookings/new/"' not in html


def test_no_booking_form_when_booking_disabled(client, customer):
    event = make_event(booking_enabled=False)
    client.force_login(customer)

    html = client.get(detail_url(event)).content.decode()

    assert "Booking is closed" in html
    assert 'action="/bookings/new/"' not in html


@pytest.mark.parametrize("status", [EventStatus.DRAFT, EventStatus.CANCELLED])
def test_hidden_events_are_404_for_customers_and_shown_to_staff(client, customer, staff, status):
    event = make_event(status=status)

    assert client.get(detail_url(event)).status_code == 404
    client.force_login(customer)
    assert client.get(detail_url(event)).status_code == 404
    client.force_login(staff)
    response = client.get(detail_url(event))
    assert response.status_code == 200
    assert 'action="/bookings/new/"' not in response.content.decode()


def test_unknown_or_malformed_id_is_404(client):
    assert client.get(f"/events/{uuid.uuid4()}/").status_code == 404
    assert client.get("/events/42/").status_code == 404
