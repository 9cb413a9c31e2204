"""The waiting room of a flash sale, in the browser: a buyer opens a queued
event, is sent to the waiting room, sees their place, the people ahead and
the progress; when their turn comes the same page (not reloaded) turns into
the Book form, and they book. Screenshots: ``artifacts/e2e/waiting-room-*.png``.
"""

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from bookings.models import Booking
from e2e.helpers import expect, log_in, make_user
from events.models import Event
from events.queue_page import queue_place_take
from events.tests.factories import make_event

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
AHEAD = 8  # people in the queue before the buyer: one is let in every second
# The buyer's turn comes about AHEAD seconds after joining; the page asks
# again after the answer's retry_after (spread by up to a fifth either way).
TURN_MS = 30_000


def test_buyer_waits_in_the_waiting_room_and_books_when_it_is_their_turn(browse):
    event = make_event(
        name="Prateek Kuhad Live",
        city="Delhi",
        capacity=50,
        max_tickets_per_user=4,
        queue_enabled=True,
        queue_opens_at=timezone.now() + dt.timedelta(hours=1),
        queue_admit_per_minute=60,
        queue_pass_minutes=10,
    )
    make_user("tara@example.com", "Tara Sen")
    person = browse("waiting-room")
    page = person.page
    log_in(person, "tara@example.com")

    # Before the sale: the event page sends people to the waiting room, no Book form.
    person.goto(f"/events/{event.pk}/")
    cta = page.locator("#queue-cta")
    expect(cta).to_contain_text("The sale opens on")
    expect(page.get_by_role("button", name="Book")).to_have_count(0)
    person.shot("01-event-page")

    # The sale opens now, and eight fans are in already: the buyer is ninth.
    Event.objects.filter(pk=event.pk).update(queue_opens_at=timezone.now())
    event.refresh_from_db()
    for n in range(AHEAD):
        fan = make_user(f"fan{n}@example.com", f"Fan {n}")
        queue_place_take(event=event, user=fan, now=timezone.now())

    page.get_by_role("button", name="Join the waiting room").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.pk}/queue/$"))
    expect(page.get_by_role("heading", name="You are in the queue")).to_be_visible()
    expect(page.locator("#queue-position")).to_have_text(str(AHEAD + 1))
    ahead = int(page.locator("#queue-ahead").inner_text())
    assert 0 < ahead <= AHEAD
    progress = page.get_by_role("progressbar", name="Your way to the front of the queue")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("max", str(ahead + 1))  # those ahead, then one's turn
    expect(progress).to_have_attribute("value", "0")
    expect(page.locator("#queue-wait")).to_have_text(
        re.compile(r"^(less than a minute|about \d+ minutes?)$")
    )
    expect(page.locator("#queue-admitted")).to_be_hidden()
    person.shot("02-waiting")

    # Nothing reloads the page: a mark left in it now is still there at the end.
    page.evaluate("() => { window.sameWaitingRoomPage = true; }")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    polls = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if "/api/events/" in request.url else None,
    )

    expect(page.get_by_role("heading", name="It is your turn")).to_be_visible(timeout=TURN_MS)
    expect(page.locator("#queue-waiting")).to_be_hidden()
    expect(page.locator("#queue-admitted-left")).to_have_text(re.compile(r"^(9|10):\d\d$"))
    expect(page.locator("#queue-admitted-until")).to_have_text(
        re.compile(r"^\d\d:\d\d \(your time\)$")
    )
    expect(page).to_have_title(re.compile("^Your turn: "))
    assert page.evaluate("() => window.sameWaitingRoomPage") is True
    assert navigations == []
    # It asked about every retry_after seconds, not in a storm.
    assert 1 <= len(polls) <= 6, polls
    assert page.evaluate(
        "() => { const p = document.getElementById('queue-progress'); return p.value === p.max; }"
    )
    person.shot("03-admitted")

    page.get_by_label("Number of tickets").select_option("2")
    expect(page.locator("#book-total")).to_have_text("Total: INR 1000.00")
    page.get_by_role("button", name="Book").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete your booking")
    expect(page.get_by_text("2 tickets held for you")).to_be_visible()
    person.shot("04-booked")
    booking = Booking.objects.get(user__email="tara@example.com")
    assert booking.quantity == 2 and booking.event_id == event.pk


def test_the_page_asks_no_faster_than_told_backs_off_and_rests_while_hidden(browse):
    opens_at = timezone.now()
    event = make_event(
        name="Lifafa Live",
        city="Mumbai",
        queue_enabled=True,
        queue_opens_at=opens_at,
        queue_admit_per_minute=60,
        queue_pass_minutes=10,
    )
    for n in range(3):
        fan = make_user(f"fan{n}@example.com", f"Fan {n}")
        queue_place_take(event=event, user=fan, now=timezone.now())
    make_user("ira@example.com", "Ira Das")
    person = browse("waiting-room-polite")
    page = person.page
    log_in(person, "ira@example.com")

    # The API's answers come from here: a place that waits, or a busy server.
    asked: list[float] = []
    answer = {"busy": False, "ahead": 3}

    def reply(route):
        asked.append(time.monotonic())
        if answer["busy"]:
            route.fulfill(
                status=503,
                headers={"Retry-After": "7"},
                json={"error": {"code": "busy", "message": "Busy.", "details": {}}},
            )
            return
        route.fulfill(
            json={
                "position": 4,
                "ahead": answer["ahead"],
                "status": "waiting",
                "opens_at": opens_at.isoformat(),
                "estimated_wait_seconds": 60 * answer["ahead"],
                "admitted_until": None,
                "retry_after": 2,
            }
        )

    page.route(f"**/api/events/{event.pk}/queue/", reply)
    person.goto(f"/events/{event.pk}/queue/")
    page.get_by_role("button", name="Join the queue").click()
    expect(page.locator("#queue-position")).to_have_text("4")

    def next_question(timeout_s: float) -> float:
        """Seconds until the page asks again."""
        count, started = len(asked), time.monotonic()
        while len(asked) == count:
            assert time.monotonic() - started < timeout_s, f"not asked within {timeout_s} s"
            page.wait_for_timeout(100)
        return asked[-1] - (asked[-2] if count else started)

    next_question(8)  # the server's own retry_after, a few seconds
    answer["ahead"] = 2
    gap = next_question(5)
    assert 1.5 <= gap <= 2.9, gap  # retry_after 2, spread by a fifth either way
    expect(page.locator("#queue-ahead")).to_have_text("2")
    expect(page.locator("#queue-wait")).to_have_text("about 2 minutes")
    expect(page.locator("#queue-progress")).to_have_attribute("value", "1")
    person.shot("01-updated-in-place")

    answer["busy"] = True
    next_question(5)  # a 503 with Retry-After: 7
    answer["busy"] = False
    gap = next_question(10)
    assert gap >= 6.9, gap  # not the 4 to 6 s of a failure without one

    # Hidden, the page does not ask; shown again, it asks at once if it is due.
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    count = len(asked)
    page.wait_for_timeout(4000)
    assert len(asked) == count
    shown = time.monotonic()
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    next_question(1.5)
    assert asked[-1] - shown < 1.5
