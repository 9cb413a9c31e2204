"""Reading a seating plan: each seat's status (``seat_statuses``) and
``GET /api/events/{id}/seats/``, served from a map shared for at most 2 s."""

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from bookings.models import Booking, BookingItem, BookingStatus, SeatHold
from events import seat_map
from events.models import Event, EventStatus, Seat
from events.seat_map import seat_statuses
from events.tests.factories import make_event, make_ticket_type
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db

FIELDS_IN_ORDER = ["id", "section", "row", "number", "label", "ticket_type", "x", "y", "status"]
FIELDS = set(FIELDS_IN_ORDER)


@pytest.fixture(autouse=True)
def _no_maps_in_memory():
    # Each test starts as a process that has not seen any map yet.
    seat_map.seat_maps_forget()
    yield
    seat_map.seat_maps_forget()


def make_plan(event, ticket_types, *, sections=1, rows=1, per_row=4, section_name="S"):
    """A plan of sections, rows and seats per row, the sections' types in turn; the
    seats are inserted in reverse plan order (the answer must sort them)."""
    seats = []
    position = row_index = 0
    for s in range(sections):
        section = f"{section_name}{s + 1}"
        for r in range(rows):
            row = chr(ord("A") + r)
            for n in range(per_row):
                number = str(n + 1)
                seats.append(
                    Seat(
                        event=event,
                        section=section,
                        row=row,
                        number=number,
                        label=Seat.label_for(section, row, number),
                        x=float(n) * 1.5,
                        y=float(r),
                        ticket_type=ticket_types[s % len(ticket_types)],
                        row_index=row_index,
                        position=position,
                    )
                )
                position += 1
            row_index += 1
    Seat.objects.bulk_create(reversed(seats))
    event.seated = True
    event.save(update_fields=["seated"])
    return seats


def take(seat, user, status, *, expires_in=dt.timedelta(minutes=10), released=False):
    """A booking of ``seat`` with ``status`` and its live hold (released:
    a hold given back)."""
    now = timezone.now()
    price = Decimal("100.00")
    booking = Booking.objects.create(
        user=user,
        event=seat.event,
        quantity=1,
        unit_price=price,
        subtotal=price,
        total_price=price,
        currency="INR",
        status=status,
        expires_at=now + expires_in,
        confirmed_at=now if status == BookingStatus.CONFIRMED else None,
    )
    item = BookingItem.objects.create(
        booking=booking, ticket_type=seat.ticket_type, quantity=1, unit_price=price
    )
    return SeatHold.objects.create(
        seat=seat, booking=booking, item=item, released_at=now if released else None
    )


def block(seat):
    return SeatHold.objects.create(seat=seat)


@pytest.fixture
def hall():
    event = make_event(general_admission=False, capacity=8, name="Hall")
    stalls = make_ticket_type(event, name="Stalls", price="100.00")
    balcony = make_ticket_type(event, name="Balcony", price="200.00")
    seats = make_plan(event, [stalls, balcony], sections=2, per_row=4)
    return event, seats, stalls, balcony


def url(event_id) -> str:
    return f"/api/events/{event_id}/seats/"


def statuses_of(body) -> dict:
    return {seat["label"]: seat["status"] for seat in body["seats"]}


# --- seat_statuses -----------------------------------------------------------------


def test_each_seats_status_follows_its_live_hold(hall, customer):
    event, seats, _, _ = hall
    take(seats[1], customer, BookingStatus.HELD)
    take(seats[2], customer, BookingStatus.CONFIRMED)
    block(seats[3])
    take(seats[4], customer, BookingStatus.HELD, expires_in=-dt.timedelta(seconds=1))
    take(seats[5], customer, BookingStatus.CANCELLED, released=True)
    take(seats[6], customer, BookingStatus.EXPIRED)  # not released yet
    take(seats[7], customer, BookingStatus.HELD, released=True)

    rows = seat_statuses(event_id=event.pk)

    assert [row[4] for row in rows] == [seat.label for seat in seats]  # plan order
    assert [row[8] for row in rows] == [
        "free",
        "held",
        "sold",
        "blocked",
        "free",  # a lapsed hold: free at once
        "free",  # released
        "free",  # expired, not released
        "free",
    ]
    first = rows[0]
    assert first[:6] == [
        str(seats[0].pk),
        "S1",
        "A",
        "1",
        "S1 A-1",
        str(seats[0].ticket_type_id),
    ]
    assert first[6:8] == [0.0, 0.0]


def test_a_hold_is_free_the_moment_its_time_runs_out(hall, customer):
    event, seats, _, _ = hall
    hold = take(seats[0], customer, BookingStatus.HELD, expires_in=dt.timedelta(minutes=5))
    expires_at = hold.booking.expires_at
    assert seat_statuses(event_id=event.pk, now=expires_at - dt.timedelta(seconds=1))[0][8] == (
        "held"
    )
    assert seat_statuses(event_id=event.pk, now=expires_at)[0][8] == "free"


def test_an_event_without_seats_has_none(hall):
    assert seat_statuses(event_id=make_event().pk) == []


# --- GET /api/events/{id}/seats/ --------------------------------------------------


def test_the_answer_lists_every_seat_in_plan_order(hall, anon_api, customer):
    event, seats, stalls, balcony = hall
    take(seats[5], customer, BookingStatus.CONFIRMED)

    response = anon_api.get(url(event.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"seats", "updated_at"}
    assert dt.datetime.fromisoformat(body["updated_at"]) <= timezone.now()
    assert [set(seat) for seat in body["seats"]] == [FIELDS] * 8
    assert [seat["label"] for seat in body["seats"]] == [seat.label for seat in seats]
    assert body["seats"][5] == {
        "id": str(seats[5].pk),
        "section": "S2",
        "row": "A",
        "number": "2",
        "label": "S2 A-2",
        "ticket_type": str(balcony.pk),
        "x": 1.5,
        "y": 0.0,
        "status": "sold",
    }
    assert body["seats"][0]["ticket_type"] == str(stalls.pk)
    # Compact: no spaces between tokens.
    assert b'":"' in response.content and b": " not in response.content


def test_names_are_escaped_as_json(anon_api):
    event = make_event(general_admission=False)
    kind = make_ticket_type(event)
    make_plan(event, [kind], per_row=1, section_name='Balcón "Royal" \\ ')

    seat = anon_api.get(url(event.pk)).json()["seats"][0]

    assert seat["section"] == 'Balcón "Royal" \\ 1'
    assert seat["label"] == 'Balcón "Royal" \\ 1 A-1'


def test_an_event_without_a_plan_has_no_seats(anon_api):
    response = anon_api.get(url(make_event().pk))
    assert response.status_code == 200
    assert response.json()["seats"] == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=free", {"S1 A-1", "S1 A-4", "S2 A-1", "S2 A-2", "S2 A-3"}),
        ("status=held", {"S1 A-2"}),
        ("status=sold", {"S2 A-4"}),
        ("status=blocked", {"S1 A-3"}),
        ("ticket_type={balcony}", {"S2 A-1", "S2 A-2", "S2 A-3", "S2 A-4"}),
        ("status=free&ticket_type={stalls}", {"S1 A-1", "S1 A-4"}),
        ("status=&ticket_type=", {f"S{s} A-{n}" for s in (1, 2) for n in range(1, 5)}),
        ("ticket_type=0e7e0000-0000-4000-8000-000000000001", set()),
    ],
)
def test_filters_keep_the_matching_seats(hall, anon_api, customer, query, expected):
    event, seats, stalls, balcony = hall
    take(seats[1], customer, BookingStatus.HELD)
    block(seats[2])
    take(seats[7], customer, BookingStatus.CONFIRMED)
    query = query.format(stalls=stalls.pk, balcony=balcony.pk)

    for encoding in ("gzip", ""):
        response = anon_api.get(f"{url(event.pk)}?{query}", HTTP_ACCEPT_ENCODING=encoding)
        assert response.status_code == 200
        content = response.content
        if encoding:
            assert response["Content-Encoding"] == "gzip"
            content = gzip.decompress(content)
        body = json.loads(content)
        assert {seat["label"] for seat in body["seats"]} == expected
        assert set(body) == {"seats", "updated_at"}
        # Still in plan order.
        assert body["seats"] == sorted(body["seats"], key=lambda s: (s["section"], s["number"]))


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=taken", "status"), ("ticket_type=nope", "ticket_type"), ("status=FREE", "status")],
)
def test_a_bad_filter_is_invalid(hall, anon_api, query, field):
    event, *_ = hall
    error = assert_error(anon_api.get(f"{url(event.pk)}?{query}"), 400, "invalid")
    assert field in error["details"]


def test_a_draft_events_seats_are_staff_only(hall, anon_api, customer_api, staff_api):
    event, *_ = hall
    event.status = EventStatus.DRAFT
    event.save(update_fields=["status"])

    assert_error(anon_api.get(url(event.pk)), 404, "not_found")
    assert_error(customer_api.get(url(event.pk)), 404, "not_found")
    response = staff_api.get(url(event.pk))
    assert response.status_code == 200
    assert len(response.json()["seats"]) == 8


def test_an_unknown_event_is_404(anon_api):
    assert_error(anon_api.get(url("0e7e0000-0000-4000-8000-000000000404")), 404, "not_found")


def test_gzip_and_plain_answers_are_the_same_json(hall, anon_api, customer):
    event, seats, _, _ = hall
    take(seats[0], customer, BookingStatus.HELD)

    zipped = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="br, gzip;q=0.8")
    plain = anon_api.get(url(event.pk))
    refused = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="gzip;q=0, identity")

    assert zipped["Content-Encoding"] == "gzip"
    assert not plain.has_header("Content-Encoding")
    assert not refused.has_header("Content-Encoding")
    for response in (zipped, plain):
        assert "Accept-Encoding" in response["Vary"]
        assert int(response["Content-Length"]) == len(response.content)
    assert gzip.decompress(zipped.content) == plain.content == refused.content
    assert len(zipped.content) < len(plain.content)


def test_statuses_are_at_most_two_seconds_old(hall, anon_api, customer):
    event, seats, _, _ = hall
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = anon_api.get(url(event.pk)).json()
        take(seats[0], customer, BookingStatus.CONFIRMED)

        # Within the window the same answer may be served, as stored...
        clock.shift(seat_map.REFRESH_AFTER / 2)
        assert anon_api.get(url(event.pk)).json() == first
        # ...but never once it is MAX_AGE old.
        clock.shift(seat_map.MAX_AGE - seat_map.REFRESH_AFTER / 2)
        later = anon_api.get(url(event.pk)).json()

    assert statuses_of(first)["S1 A-1"] == "free"
    assert statuses_of(later)["S1 A-1"] == "sold"
    assert dt.datetime.fromisoformat(later["updated_at"]) - dt.datetime.fromisoformat(
        first["updated_at"]
    ) == dt.timedelta(seconds=seat_map.MAX_AGE)


def test_a_map_is_rebuilt_once_it_is_due(hall, anon_api, customer, django_assert_num_queries):
    event, seats, _, _ = hall
    with time_machine.travel(timezone.now(), tick=False) as clock:
        anon_api.get(url(event.pk))
        with django_assert_num_queries(0):
            anon_api.get(url(event.pk))
        take(seats[0], customer, BookingStatus.CONFIRMED)
        clock.shift(seat_map.REFRESH_AFTER)
        with django_assert_num_queries(2):  # the seats taken, the event
            body = anon_api.get(url(event.pk)).json()
    assert statuses_of(body)["S1 A-1"] == "sold"


def test_every_process_shares_the_map(hall, anon_api, django_assert_num_queries):
    event, *_ = hall
    first = anon_api.get(url(event.pk)).json()
    seat_map.seat_maps_forget()  # as another web process, which has none yet

    with django_assert_num_queries(0):
        assert anon_api.get(url(event.pk)).json() == first


def test_another_process_building_the_map_is_waited_for_within_the_bound(
    hall, anon_api, customer, monkeypatch, django_assert_num_queries
):
    event, seats, _, _ = hall
    monkeypatch.setattr(seat_map, "WAIT_STEPS", 2)
    _, _, build_lock = seat_map._keys(event.pk)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = anon_api.get(url(event.pk)).json()
        take(seats[0], customer, BookingStatus.CONFIRMED)
        cache.add(build_lock, 1, 60)  # another process is building it

        clock.shift((seat_map.REFRESH_AFTER + seat_map.MAX_AGE) / 2)
        with django_assert_num_queries(0):  # still within the bound: served
            assert anon_api.get(url(event.pk)).json() == first
        clock.shift(seat_map.MAX_AGE)
        # Too old, and the other build never came: built here.
        with django_assert_num_queries(2):
            later = anon_api.get(url(event.pk)).json()
    assert statuses_of(later)["S1 A-1"] == "sold"


def test_an_unchanged_plan_keeps_its_etag_and_answers_304(hall, anon_api, customer):
    event, seats, _, _ = hall
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="gzip")
        etag = first["ETag"]
        assert etag.startswith('W/"')

        clock.shift(seat_map.MAX_AGE)
        again = anon_api.get(url(event.pk), HTTP_IF_NONE_MATCH=etag)
        assert again.status_code == 304
        assert again["ETag"] == etag and not again.content
        # Rebuilt with its compressed seats reused: a valid answer of the new time.
        rebuilt = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="gzip")
        assert rebuilt["ETag"] == etag
        assert (
            json.loads(gzip.decompress(rebuilt.content))["updated_at"]
            != json.loads(gzip.decompress(first.content))["updated_at"]
        )

        take(seats[0], customer, BookingStatus.HELD)
        clock.shift(seat_map.MAX_AGE)
        changed = anon_api.get(url(event.pk), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert statuses_of(changed.json())["S1 A-1"] == "held"


def test_a_filtered_answer_has_its_own_etag(hall, anon_api):
    event, *_ = hall
    whole = anon_api.get(url(event.pk))["ETag"]
    free = anon_api.get(f"{url(event.pk)}?status=free")["ETag"]
    assert free != whole
    assert anon_api.get(f"{url(event.pk)}?status=free", HTTP_IF_NONE_MATCH=whole).status_code == 200
    assert anon_api.get(f"{url(event.pk)}?status=free", HTTP_IF_NONE_MATCH=free).status_code == 304


@pytest.mark.parametrize("per_row", [3, 300])
def test_the_queries_do_not_grow_with_the_plan(
    anon_api, customer, per_row, django_assert_num_queries
):
    event = make_event(general_admission=False)
    kind = make_ticket_type(event)
    seats = make_plan(event, [kind], rows=2, per_row=per_row)
    take(seats[0], customer, BookingStatus.HELD)
    block(seats[-1])

    with time_machine.travel(timezone.now(), tick=False) as clock:
        with django_assert_num_queries(2):  # the event, its seats with their holds
            first = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="gzip")
        take(seats[1], customer, BookingStatus.CONFIRMED)
        clock.shift(seat_map.MAX_AGE)
        with django_assert_num_queries(2):  # the seats taken, the event
            later = anon_api.get(url(event.pk), HTTP_ACCEPT_ENCODING="gzip")

    seats_read = json.loads(gzip.decompress(first.content))["seats"]
    assert len(seats_read) == 2 * per_row
    assert [seats_read[0]["status"], seats_read[-1]["status"]] == ["held", "blocked"]
    seats_read = json.loads(gzip.decompress(later.content))["seats"]
    assert [seat["status"] for seat in seats_read[:2]] == ["held", "sold"]


def test_a_rebuilt_map_has_what_a_full_read_gives(hall, customer, monkeypatch):
    event, seats, _, _ = hall
    monkeypatch.setattr(seat_map, "PIECE_SEATS", 3)
    first = seat_map.seat_map_build(event.pk)
    take(seats[0], customer, BookingStatus.HELD, expires_in=dt.timedelta(seconds=30))
    take(seats[4], customer, BookingStatus.CONFIRMED)
    block(seats[7])
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1), tick=False):
        # From the plan this process keeps, and the seats taken now; the
        # hold of seats[0] has lapsed.
        rebuilt = seat_map.seat_map_build(event.pk, previous=first)
        rows = seat_statuses(event_id=event.pk)
    body = json.loads(gzip.decompress(rebuilt.gzip))

    assert [[seat[name] for name in FIELDS_IN_ORDER] for seat in body["seats"]] == rows
    assert [seat["status"] for seat in body["seats"]] == [
        "free", "free", "free", "free", "sold", "free", "free", "blocked"
    ]  # fmt: skip
    # Pieces of 3 seats: only those with a change were compressed again.
    assert [p[0] for p in rebuilt.pieces] != [p[0] for p in first.pieces]
    assert rebuilt.pieces[0][0] == first.pieces[0][0]
    assert gzip.decompress(first.gzip) != gzip.decompress(rebuilt.gzip)


@pytest.mark.parametrize("how", ["replaced", "replaced, a new seat held at once", "unchanged"])
def test_a_new_plan_shows_at_the_next_build(hall, anon_api, customer, how):
    event, seats, stalls, _ = hall
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert len(anon_api.get(url(event.pk)).json()["seats"]) == 8
        if how.startswith("replaced"):
            # As seating_replace does: new seats, and the event touched...
            Seat.objects.filter(event=event).delete()
            new = make_plan(event, [stalls], per_row=3, section_name="N")
            touched = event.updated_at + dt.timedelta(seconds=1)
            if how == "replaced, a new seat held at once":
                # ...or, for a build that read the event before the change
                # but the taken seats after it, a seat it does not know.
                touched = event.updated_at
                block(new[1])
            Event.objects.filter(pk=event.pk).update(updated_at=touched)
        clock.shift(seat_map.MAX_AGE)
        body = anon_api.get(url(event.pk)).json()

    labels = [seat["label"] for seat in body["seats"]]
    if how == "unchanged":
        assert labels == [seat.label for seat in seats]
    else:
        assert labels == ["N1 A-1", "N1 A-2", "N1 A-3"]
    if how == "replaced, a new seat held at once":
        assert statuses_of(body)["N1 A-2"] == "blocked"


def test_a_plan_is_read_again_after_a_while(hall, anon_api, django_assert_num_queries):
    event, *_ = hall
    with time_machine.travel(timezone.now(), tick=False) as clock:
        anon_api.get(url(event.pk))
        plan = seat_map._plans[event.pk]
        clock.shift(seat_map.MAX_AGE)
        with django_assert_num_queries(2):  # the seats taken, the event
            anon_api.get(url(event.pk))
        assert seat_map._plans[event.pk] is plan
        clock.shift(seat_map.PLAN_KEEP_SECONDS)
        with django_assert_num_queries(2):  # the event, every seat
            anon_api.get(url(event.pk))
        assert seat_map._plans[event.pk] is not plan
