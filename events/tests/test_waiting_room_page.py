"""The waiting room's page, ``/events/{id}/queue/``, and the event page of an
event that sells through its waiting room: joining is a POST, a GET only
looks; the page shows the draw before the opening, then the place, the
people ahead, the progress and the wait, the Book form once admitted, and
an expired admission with a way back in at the back."""

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages

from events.queue_page import queue_place, queue_place_take, wait_in_words
from events.tests.factories import make_event, make_seat_plan

pytestmark = pytest.mark.django_db

OPENS = dt.datetime(2027, 3, 1, 18, 0, tzinfo=dt.UTC)
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def clock(time_machine):
    """Time stands still (at ``OPENS`` unless moved), so places and waits are exact."""
    time_machine.move_to(OPENS, tick=False)

    def at(seconds: float) -> dt.datetime:
        moment = OPENS + dt.timedelta(seconds=seconds)
        time_machine.move_to(moment, tick=False)
        return moment

    return at


def _queued(*, rate: int = 1, pass_minutes: int = 10, **fields):
    return make_event(
        name="Indie Night Drop",
        starts_at=OPENS + dt.timedelta(days=30),
        queue_enabled=True,
        queue_opens_at=OPENS,
        queue_admit_per_minute=rate,
        queue_pass_minutes=pass_minutes,
        **fields,
    )


def _page(event) -> str:
    return f"/events/{event.pk}/queue/"


def _shown(html: str, part: str) -> bool:
    """Whether the page shows its ``queue-<part>`` block (it holds them all,
    hidden but one, for its script)."""
    match = re.search(rf'<(?:div|form)[^>]* id="queue-{part}"([^>]*)>', html)
    assert match, f"no #queue-{part} on the page"
    return "hidden" not in match.group(1)


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, f"no #{element_id} on the page"
    return match.group(1).strip()


def _plain(html: str) -> str:
    """The page's words, without tags and with single spaces."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _others(django_user_model, event, count: int, now) -> None:
    for n in range(count):
        user = django_user_model.objects.create_user(
            email=f"fan{n}@example.com", password=PASSWORD, name=f"Fan {n}"
        )
        queue_place_take(event=event, user=user, now=now)


def _progress(html: str) -> tuple[int, int]:
    match = re.search(r'<progress[^>]* id="queue-progress" max="(\d+)" value="(\d+)"', html)
    assert match
    return int(match.group(2)), int(match.group(1))


# --- who may see it, and what a GET does ------------------------------------


def test_anonymous_visitors_are_sent_to_log_in_and_back(client, clock):
    event = _queued()
    for response in (client.get(_page(event)), client.post(_page(event))):
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next=/events/{event.pk}/queue/"
    leave = client.post(f"/events/{event.pk}/queue/leave/")
    assert leave["Location"] == f"/accounts/login/?next=/events/{event.pk}/queue/"


def test_opening_the_page_does_not_join(client, customer, clock):
    event = _queued()
    client.force_login(customer)
    clock(60)
    response = client.get(_page(event))
    assert response.status_code == 200
    html = response.content.decode()
    assert _shown(html, "out") and not _shown(html, "waiting") and not _shown(html, "leave")
    assert re.search(
        rf'<form method="post" action="/events/{event.pk}/queue/">\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken"[^>]*>\s*<button type="submit"[^>]*>Join the queue</button>',
        html,
    )
    assert 'id="queue-answer"' not in html  # nothing for the script to follow
    assert queue_place(event=event, user=customer, now=OPENS) is None
    assert client.get(f"/api/events/{event.pk}/queue/").status_code == 404


def test_joining_is_a_post_that_comes_back_to_the_page(client, customer, clock):
    event = _queued()
    client.force_login(customer)
    clock(30)
    response = client.post(_page(event))
    assert response.status_code == 302 and response["Location"] == _page(event)
    place = queue_place(event=event, user=customer, now=OPENS + dt.timedelta(seconds=30))
    assert place is not None and place.waiting
    again = client.post(_page(event))  # one place per person
    assert again["Location"] == _page(event)
    assert queue_place(event=event, user=customer, now=OPENS).position == place.position


def test_an_event_without_a_waiting_room_sends_the_page_to_the_event(client, customer):
    event = make_event()
    client.force_login(customer)
    response = client.get(_page(event))
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    joined = client.post(_page(event))
    assert joined["Location"] == f"/events/{event.pk}/"
    assert [str(m) for m in get_messages(joined.wsgi_request)] == [
        "This event has no waiting room open."
    ]


# --- the states of a place ------------------------------------------------------


def test_before_the_opening_it_counts_down_to_the_random_draw(client, customer, clock):
    event = _queued()
    client.force_login(customer)
    clock(-30 * 60)
    client.post(_page(event))
    html = client.get(_page(event)).content.decode()
    assert _shown(html, "waiting") and _shown(html, "draw") and not _shown(html, "place")
    assert not _shown(html, "admitted") and _shown(html, "leave")
    assert (
        "Your place will be drawn at random at 18:00 UTC among everyone who joined before" in html
    )
    assert (
        '<time id="queue-opens-at" datetime="2027-03-01T18:00:00+00:00" data-your-time>'
        "18:00 UTC</time>"
    ) in html
    assert _text(html, "queue-opens-in") == "30\xa0minutes"
    # The one early arrival draws place 1, a minute after the opening.
    assert _text(html, "queue-draw-wait") == "about 31 minutes"
    assert '"position": null' in html and '"status": "waiting"' in html


def test_waiting_shows_the_place_the_people_ahead_the_progress_and_the_wait(
    client, customer, django_user_model, clock
):
    event = _queued(rate=1)  # one place a minute
    _others(django_user_model, event, 3, clock(10))
    client.force_login(customer)
    client.post(_page(event))
    html = client.get(_page(event)).content.decode()
    assert _shown(html, "waiting") and _shown(html, "place") and not _shown(html, "draw")
    assert _text(html, "queue-position") == "4"
    assert _text(html, "queue-ahead") == "3"
    assert _text(html, "queue-wait") == "about 4 minutes"  # admitted at 4:00, 3:50 from now
    assert _progress(html) == (0, 4)  # three people ahead, then one's own turn
    assert 'aria-live="polite"' in html and 'for="queue-progress"' in html

    clock(2 * 60 + 10)  # two of them are in
    html = client.get(_page(event)).content.decode()
    assert _text(html, "queue-ahead") == "1"
    assert _text(html, "queue-wait") == "about 2 minutes"
    assert _progress(html) == (2, 4)


def test_once_admitted_the_page_is_the_book_form_with_its_deadline(client, customer, clock):
    event = _queued(rate=60, pass_minutes=10)
    client.force_login(customer)
    clock(10.5)
    client.post(_page(event))  # place 11: admitted at 18:00:11
    clock(12)
    response = client.get(_page(event))
    html = response.content.decode()
    assert "<title>Your turn: Waiting room · Indie Night Drop · Nuvio</title>" in html
    assert _shown(html, "admitted") and not _shown(html, "waiting") and _shown(html, "leave")
    assert "You can book until" in html
    assert (
        '<time id="queue-admitted-until" datetime="2027-03-01T18:10:11+00:00" data-your-time>'
        "18:10 UTC</time>"
    ) in html
    admitted = html[html.index('id="queue-admitted"') : html.index('id="queue-expired"')]
    assert '<form method="post" action="/bookings/new/">' in admitted
    assert "Number of tickets" in admitted
    assert _progress(html) == (1, 1)

    ticket_type = event.ticket_types.get()
    booked = client.post(
        "/bookings/new/", {"event": event.pk, "ticket_type": ticket_type.pk, "quantity": 2}
    )
    assert booked.status_code == 302
    assert booked["Location"].startswith("/bookings/")
    assert booked["Location"] != f"/events/{event.pk}/"


def test_an_expired_admission_says_so_and_offers_a_place_at_the_back(client, customer, clock):
    event = _queued(rate=60, pass_minutes=1)
    client.force_login(customer)
    clock(10.5)
    client.post(_page(event))  # place 11, admitted 18:00:11 to 18:01:11
    clock(72)
    html = client.get(_page(event)).content.decode()
    assert _shown(html, "expired") and not _shown(html, "admitted") and not _shown(html, "leave")
    assert "Your turn has passed" in html
    assert "Join again at the back" in html

    client.post(_page(event))
    place = queue_place(event=event, user=customer, now=OPENS + dt.timedelta(seconds=72))
    assert place.status in {"waiting", "admitted"} and place.position > 11


def test_leaving_gives_up_the_place(client, customer, clock):
    event = _queued()
    client.force_login(customer)
    clock(5)
    client.post(_page(event))
    assert _shown(client.get(_page(event)).content.decode(), "leave")
    response = client.post(f"/events/{event.pk}/queue/leave/")
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["You left the waiting room."]
    assert queue_place(event=event, user=customer, now=OPENS) is None
    assert client.get(f"/events/{event.pk}/queue/leave/").status_code == 405


def test_a_seated_event_admits_to_its_seat_map(client, customer, clock):
    event = _queued(rate=60)
    make_seat_plan(event, [("Stalls", [("A", 4, event.ticket_types.get())])])
    client.force_login(customer)
    clock(10.5)
    client.post(_page(event))
    clock(12)
    html = client.get(_page(event)).content.decode()
    assert _shown(html, "admitted")
    assert f'href="/events/{event.pk}/#seat-map">Choose your seats</a>' in html


# --- the event page ----------------------------------------------------------------


def test_the_event_page_offers_the_waiting_room_instead_of_the_book_form(client, customer, clock):
    event = _queued()
    clock(-90 * 60)
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert 'action="/bookings/new/"' not in html
    assert (
        "The sale opens on Mon 01 Mar 2027 at 18:00 UTC. Join the waiting room now: at "
        "18:00 UTC your place is drawn at random among everyone who joined before"
    ) in _plain(html)
    assert (
        f'href="/accounts/login/?next=/events/{event.pk}/queue/">Log in to join the waiting room'
        in html
    )

    client.force_login(customer)
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert 'action="/bookings/new/"' not in html
    assert re.search(
        rf'<form method="post" action="/events/{event.pk}/queue/">\s*<input type="hidden" '
        r'name="csrfmiddlewaretoken"[^>]*>\s*<button[^>]*>Join the waiting room</button>',
        html,
    )
    client.post(_page(event))
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert "You are in the waiting room." in html
    assert f'href="/events/{event.pk}/queue/">Go to the waiting room</a>' in html
    assert 'action="/bookings/new/"' not in html


def test_an_admitted_person_sees_the_book_form_on_the_event_page(client, customer, clock):
    event = _queued(rate=60)
    client.force_login(customer)
    clock(10.5)
    client.post(_page(event))
    clock(12)
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert '<form method="post" action="/bookings/new/">' in html
    assert "It is your turn: you can book until" in html
    assert "Join the waiting room" not in html


def test_the_seat_map_is_not_pickable_before_ones_turn(client, customer, clock):
    event = _queued()
    make_seat_plan(event, [("Stalls", [("A", 4, event.ticket_types.get())])])
    client.force_login(customer)
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert 'data-pickable="false"' in html
    assert "Join the waiting room to book seats." in html
    assert 'id="seat-form"' not in html


@pytest.mark.parametrize(
    "seconds, words",
    [
        (None, ""),
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "about 1 minute"),
        (61, "about 2 minutes"),
        (59 * 60, "about 59 minutes"),
        (60 * 60, "about 1 hour"),
        (80 * 60, "about 1 hour 20 minutes"),
        (3 * 3600 + 60, "about 3 hours 1 minute"),
    ],
)
def test_the_wait_in_words(seconds, words):
    assert wait_in_words(seconds) == words
