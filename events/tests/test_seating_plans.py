"""Seating plans: replacing an event's plan (API and service), blocking and
unblocking seats, and the admin's view of a plan."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from bookings import services as booking_services
from bookings.models import Booking, BookingItem, BookingStatus, SeatHold, WaitlistStatus
from events import seating
from events.models import Event, EventStatus, Seat, TicketType
from events.tests.factories import make_event, make_seat_plan, make_ticket_type
from nuvio.errors import Invalid, InvalidState
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db


def _seating_url(event) -> str:
    return f"/api/events/{event.pk}/seating/"


def _block_url(event) -> str:
    return f"/api/events/{event.pk}/seats/block/"


def _plan(layout: dict, ticket_type) -> dict:
    """A plan body from ``{section: {row: seats in the row}}``: seats numbered
    from 1, ``x`` along the row, ``y`` by row, all of ``ticket_type``."""
    sections = []
    for section, rows in layout.items():
        section_rows = []
        for r, (row, count) in enumerate(rows.items()):
            seats = [
                {"number": str(n), "x": n * 10.0, "y": r * 10.0, "ticket_type": str(ticket_type.pk)}
                for n in range(1, count + 1)
            ]
            section_rows.append({"name": row, "seats": seats})
        sections.append({"name": section, "rows": section_rows})
    return {"sections": sections}


def _event(event) -> Event:
    return Event.objects.get(pk=event.pk)


def _seats(event) -> list[Seat]:
    return list(Seat.objects.filter(event=event).order_by("position"))


def _seat(event, label: str) -> Seat:
    return Seat.objects.get(event=event, label=label)


def _seat_booking(user, seat: Seat, *, status=BookingStatus.HELD, expires_at=None) -> Booking:
    """A booking of one seat as the booking services write it: the booking,
    its item, the seat's hold, and the event's and the type's counters."""
    now = timezone.now()
    price = seat.ticket_type.price
    booking = Booking.objects.create(
        user=user,
        event_id=seat.event_id,
        quantity=1,
        unit_price=price,
        subtotal=price,
        total_price=price,
        currency="INR",
        status=status,
        expires_at=expires_at or now + dt.timedelta(minutes=15),
        confirmed_at=now if status == BookingStatus.CONFIRMED else None,
    )
    item = BookingItem.objects.create(
        booking=booking, ticket_type=seat.ticket_type, quantity=1, unit_price=price
    )
    SeatHold.objects.create(seat=seat, booking=booking, item=item)
    Event.objects.filter(pk=seat.event_id).update(tickets_taken=F("tickets_taken") + 1)
    TicketType.objects.filter(pk=seat.ticket_type_id).update(tickets_taken=F("tickets_taken") + 1)
    return booking


@pytest.fixture
def hall():
    """A published event selling Standard (500) and VIP (1500), no plan yet."""
    event = make_event(name="Hall Concert", capacity=100, general_admission=False)
    event.standard = make_ticket_type(event, name="Standard", price=Decimal("500.00"))
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"))
    return event


@pytest.fixture
def seated(hall):
    """``hall`` with a plan: Stalls A 1-3, B 1-2 (Standard), Balcony A 1-2 (VIP)."""
    plan = _plan({"Stalls": {"A": 3, "B": 2}}, hall.standard)
    plan["sections"] += _plan({"Balcony": {"A": 2}}, hall.vip)["sections"]
    seating.seating_replace(actor=None, event_id=hall.pk, sections=plan["sections"])
    return hall


# --- replacing the plan ----------------------------------------------------------


def test_staff_replaces_the_plan(staff_api, anon_api, hall, django_capture_on_commit_callbacks):
    assert anon_api.get(f"/api/events/{hall.pk}/").json()["seated"] is False
    plan = _plan({"Stalls": {"A": 3, "B": 2}}, hall.standard)
    balcony = _plan({"Balcony": {"A": 2}}, hall.vip)["sections"][0]
    balcony["rows"][0]["seats"][1]["ticket_type"] = str(hall.vip.pk).upper()  # any case
    balcony["rows"][0]["seats"][0]["number"] = 7  # a whole number is taken as text
    plan["sections"].append(balcony)

    with django_capture_on_commit_callbacks(execute=True):  # the catalog's version moves
        response = staff_api.put(_seating_url(hall), plan, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"seats": 7}
    event = _event(hall)
    assert (event.seated, event.capacity, event.tickets_taken) == (True, 7, 0)
    seats = _seats(hall)
    assert [seat.label for seat in seats] == [
        "Stalls A-1", "Stalls A-2", "Stalls A-3", "Stalls B-1", "Stalls B-2",
        "Balcony A-7", "Balcony A-2",
    ]  # fmt: skip
    assert [seat.position for seat in seats] == [1, 2, 3, 4, 5, 6, 7]
    assert [seat.row_index for seat in seats] == [1, 1, 1, 2, 2, 3, 3]
    assert [(s.section, s.row, s.number) for s in seats[3:6]] == [
        ("Stalls", "B", "1"), ("Stalls", "B", "2"), ("Balcony", "A", "7"),
    ]  # fmt: skip
    assert [s.ticket_type_id for s in seats] == [hall.standard.pk] * 5 + [hall.vip.pk] * 2
    assert (seats[4].x, seats[4].y) == (20.0, 10.0)
    # The public event page shows the plan at once.
    body = anon_api.get(f"/api/events/{hall.pk}/").json()
    assert (body["seated"], body["capacity"], body["available"]) == (True, 7, 7)
    assert staff_api.get(f"/api/events/{hall.pk}/").json()["seated"] is True
    assert staff_api.get("/api/events/").json()["results"][0]["seated"] is True


def test_replacing_a_plan_drops_the_old_seats_and_their_blocks(staff_api, seated):
    old = _seat(seated, "Stalls A-1")
    seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[old.pk], blocked=True)
    assert _event(seated).capacity == 6

    plan = _plan({"Circle": {"C": 4}}, seated.vip)
    response = staff_api.put(_seating_url(seated), plan, format="json")

    assert response.json() == {"seats": 4}
    assert [seat.label for seat in _seats(seated)] == [f"Circle C-{n}" for n in range(1, 5)]
    assert not SeatHold.objects.exists()
    assert _event(seated).capacity == 4


def test_strips_names_and_numbers(hall):
    plan = _plan({" Stalls ": {" A ": 1}}, hall.standard)
    plan["sections"][0]["rows"][0]["seats"][0]["number"] = " 12 "
    seating.seating_replace(actor=None, event_id=hall.pk, sections=plan["sections"])
    seat = _seats(hall)[0]
    assert (seat.section, seat.row, seat.number, seat.label) == ("Stalls", "A", "12", "Stalls A-12")


def _bad(hall, change) -> dict:
    plan = _plan({"Stalls": {"A": 3, "B": 2}}, hall.standard)
    change(plan, hall)
    return plan


def _seat_of(plan, s=0, r=0, k=0) -> dict:
    return plan["sections"][s]["rows"][r]["seats"][k]


def _set(place: str, value):
    """A change of the plan: ``place`` like "0.1.2.x" (section, row, seat, field)."""

    def change(plan, hall):
        *indexes, field = place.split(".")
        target = plan["sections"]
        for depth, index in enumerate(map(int, indexes)):
            target = target[index]
            if depth < len(indexes) - 1:
                target = target["rows"] if depth == 0 else target["seats"]
        if value is _MISSING:
            del target[field]
        else:
            target[field] = value

    return change


_MISSING = object()


def _other_events_type(plan, hall):
    other = make_event(name="Elsewhere")
    _seat_of(plan)["ticket_type"] = str(other.ticket_types.get().pk)


def _duplicate_section(plan, hall):
    plan["sections"].append(json.loads(json.dumps(plan["sections"][0])))


def _duplicate_row(plan, hall):
    plan["sections"][0]["rows"][1]["name"] = "A"


def _replace_seat(plan, hall):
    plan["sections"][0]["rows"][0]["seats"][1] = "A-2"


def _same_label_in_two_rows(plan, hall):
    # Row "A-1" seat "2" and row "A" seat "1-2" are both "Stalls A-1-2".
    plan["sections"][0]["rows"][0]["name"] = "A-1"
    plan["sections"][0]["rows"][1]["name"] = "A"
    _seat_of(plan, 0, 1, 0)["number"] = "1-2"


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda plan, hall: plan.clear(), "sections"),
        (lambda plan, hall: plan.update(sections=[]), "sections"),
        (lambda plan, hall: plan.update(sections="Stalls"), "sections"),
        (lambda plan, hall: plan["sections"].append("Balcony"), "sections[1]"),
        (_set("0.name", _MISSING), "sections[0].name"),
        (_set("0.name", "   "), "sections[0].name"),
        (_set("0.name", "S" * 101), "sections[0].name"),
        (_set("0.rows", []), "sections[0].rows"),
        (_duplicate_section, "sections[1].name"),
        (_set("0.0.name", ""), "sections[0].rows[0].name"),
        (_set("0.0.name", "R" * 21), "sections[0].rows[0].name"),
        (_set("0.1.seats", []), "sections[0].rows[1].seats"),
        (_duplicate_row, "sections[0].rows[1].name"),
        (_set("0.0.1.number", "1"), "sections[0].rows[0].seats[1].number"),
        (_same_label_in_two_rows, "sections[0].rows[1].seats[0].number"),
        (_set("0.0.0.number", _MISSING), "sections[0].rows[0].seats[0].number"),
        (_set("0.0.0.number", " "), "sections[0].rows[0].seats[0].number"),
        (_set("0.0.0.number", "9" * 21), "sections[0].rows[0].seats[0].number"),
        (_set("0.0.0.number", ["1"]), "sections[0].rows[0].seats[0].number"),
        (_set("0.1.0.x", "ten"), "sections[0].rows[1].seats[0].x"),
        (_set("0.1.0.x", True), "sections[0].rows[1].seats[0].x"),
        (_set("0.1.0.y", _MISSING), "sections[0].rows[1].seats[0].y"),
        (_set("0.1.0.y", None), "sections[0].rows[1].seats[0].y"),
        (_set("0.0.2.ticket_type", _MISSING), "sections[0].rows[0].seats[2].ticket_type"),
        (_set("0.0.2.ticket_type", "VIP"), "sections[0].rows[0].seats[2].ticket_type"),
        (
            _set("0.0.2.ticket_type", "9f0c0000-0000-4000-8000-000000000000"),
            "sections[0].rows[0].seats[2].ticket_type",
        ),
        (_set("0.0.2.ticket_type", {"id": 1}), "sections[0].rows[0].seats[2].ticket_type"),
        (_other_events_type, "sections[0].rows[0].seats[0].ticket_type"),
        (_replace_seat, "sections[0].rows[0].seats[1]"),
    ],
)
def test_a_bad_plan_is_invalid_and_writes_nothing(staff_api, seated, change, place):
    before = [(seat.pk, seat.label) for seat in _seats(seated)]
    plan = _bad(seated, change)

    response = staff_api.put(_seating_url(seated), plan, format="json")

    error = assert_error(response, 400, "invalid")
    assert list(error["details"]) == [place]
    assert place in error["message"]
    assert [(seat.pk, seat.label) for seat in _seats(seated)] == before
    assert _event(seated).capacity == 7


def test_a_body_that_is_not_an_object_is_invalid(staff_api, hall):
    response = staff_api.put(_seating_url(hall), [], format="json")
    assert_error(response, 400, "invalid")
    response = staff_api.put(_seating_url(hall), '{"sections": [', content_type="application/json")
    assert_error(response, 400, "invalid")
    assert not Seat.objects.exists() and not _event(hall).seated


def test_every_problem_is_reported_up_to_a_limit(hall):
    plan = _plan({"Stalls": {"A": 3}}, hall.standard)
    _seat_of(plan, 0, 0, 0)["x"] = "left"
    _seat_of(plan, 0, 0, 2).update(number="", ticket_type="VIP")
    with pytest.raises(Invalid) as exc:
        seating.seating_replace(actor=None, event_id=hall.pk, sections=plan["sections"])
    assert exc.value.details == {
        "sections[0].rows[0].seats[0].x": ["Must be a number."],
        "sections[0].rows[0].seats[2].number": ["This field may not be blank."],
        "sections[0].rows[0].seats[2].ticket_type": ["Not a ticket type of this event."],
    }

    many = _plan({"Stalls": {"A": 500}}, hall.standard)
    for seat in many["sections"][0]["rows"][0]["seats"]:
        seat["y"] = "top"
    with pytest.raises(Invalid) as exc:
        seating.seating_replace(actor=None, event_id=hall.pk, sections=many["sections"])
    assert len(exc.value.details) == seating.MAX_ERRORS
    assert f"the first {seating.MAX_ERRORS} problems" in exc.value.message
    assert not Seat.objects.exists()


def test_more_than_the_most_seats_is_invalid(hall):
    rows = {str(r): 1000 for r in range(100)}
    rows["100"] = 1
    plan = _plan({"Arena": rows}, hall.standard)
    with pytest.raises(Invalid) as exc:
        seating.seating_replace(actor=None, event_id=hall.pk, sections=plan["sections"])
    assert list(exc.value.details) == ["sections"]
    assert "100,001" in exc.value.details["sections"][0]
    assert not Seat.objects.exists() and not _event(hall).seated


def test_a_plan_of_100000_seats_loads_in_one_request(staff_api, hall):
    plan = _plan({f"Block {b}": {f"R{r}": 100 for r in range(100)} for b in range(10)}, hall.vip)

    response = staff_api.put(_seating_url(hall), plan, format="json")

    assert response.status_code == 200, response.content[:500]
    assert response.json() == {"seats": 100_000}
    event = _event(hall)
    assert (event.capacity, event.seated) == (100_000, True)
    assert Seat.objects.filter(event=hall).count() == 100_000
    last = Seat.objects.get(event=hall, position=100_000)
    assert (last.label, last.row_index) == ("Block 9 R99-100", 1000)


def test_the_plan_body_may_be_larger_than_other_bodies(staff_api, hall, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    plan = _plan({"Stalls": {"A": 30}}, hall.standard)
    assert len(json.dumps(plan)) > 1000

    assert staff_api.put(_seating_url(hall), plan, format="json").json() == {"seats": 30}

    settings.NUVIO_SEATING_MAX_BYTES = 1000
    bigger = _plan({"Stalls": {"A": 40}}, hall.standard)
    error = assert_error(staff_api.put(_seating_url(hall), bigger, format="json"), 413, "too_large")
    assert error["details"] == {"max_bytes": 1000}
    assert Seat.objects.filter(event=hall).count() == 30


def test_the_plan_is_final_once_a_seat_was_held(staff_api, seated, customer):
    booking = _seat_booking(customer, _seat(seated, "Stalls A-2"))
    plan = _plan({"Circle": {"C": 4}}, seated.standard)
    error = assert_error(
        staff_api.put(_seating_url(seated), plan, format="json"), 409, "invalid_state"
    )
    assert "held or sold" in error["message"]

    # Released since: the plan stays as it was sold.
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CANCELLED)
    SeatHold.objects.update(released_at=timezone.now())
    Event.objects.filter(pk=seated.pk).update(tickets_taken=0)
    assert_error(staff_api.put(_seating_url(seated), plan, format="json"), 409, "invalid_state")
    assert len(_seats(seated)) == 7 and _event(seated).capacity == 7


def test_an_event_with_tickets_out_without_seats_gets_no_plan(staff_api, customer):
    event = make_event(capacity=10)
    booking_services.booking_reserve(user=customer, event_id=event.pk, quantity=2)
    plan = _plan({"Stalls": {"A": 10}}, event.ticket_types.get())

    error = assert_error(
        staff_api.put(_seating_url(event), plan, format="json"), 409, "invalid_state"
    )

    assert "2 tickets" in error["message"]
    assert not Seat.objects.exists()
    assert (_event(event).capacity, _event(event).seated) == (10, False)


def test_a_cancelled_event_gets_no_plan(staff_api, hall):
    Event.objects.filter(pk=hall.pk).update(status=EventStatus.CANCELLED)
    plan = _plan({"Stalls": {"A": 2}}, hall.standard)
    assert_error(staff_api.put(_seating_url(hall), plan, format="json"), 409, "invalid_state")
    assert not Seat.objects.exists()


@pytest.mark.parametrize("method", ["put_plan", "block"])
def test_only_staff_change_a_plan(method, anon_api, customer_api, staff_api, seated):
    seat = _seat(seated, "Stalls A-1")

    def call(client, event_id):
        if method == "put_plan":
            url = f"/api/events/{event_id}/seating/"
            return client.put(url, _plan({"S": {"A": 1}}, seated.vip), format="json")
        url = f"/api/events/{event_id}/seats/block/"
        return client.post(url, {"seats": [str(seat.pk)], "blocked": True}, format="json")

    assert_error(call(anon_api, seated.pk), 401, "not_authenticated")
    assert_error(call(customer_api, seated.pk), 403, "permission_denied")
    assert_error(call(staff_api, "5a1e0000-0000-4000-8000-000000000000"), 404, "not_found")
    assert len(_seats(seated)) == 7 and not SeatHold.objects.exists()


# --- blocking seats --------------------------------------------------------------


def test_blocking_and_unblocking_move_the_capacity(staff_api, seated):
    a1, a2, a3 = (_seat(seated, f"Stalls A-{n}") for n in (1, 2, 3))

    def block(seats, blocked):
        body = {"seats": [str(seat.pk) for seat in seats], "blocked": blocked}
        response = staff_api.post(_block_url(seated), body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    assert block([a1, a2], True) == {"seats": 2, "capacity": 5}
    assert set(SeatHold.objects.values_list("seat_id", "booking_id", "released_at")) == {
        (a1.pk, None, None),
        (a2.pk, None, None),
    }
    assert block([a1, a2, a3], True) == {"seats": 1, "capacity": 4}  # a1, a2 already were
    assert block([a1, a2, a3], True) == {"seats": 0, "capacity": 4}
    assert _event(seated).capacity == 4
    assert block([a2, a3], False) == {"seats": 2, "capacity": 6}
    assert block([a2], False) == {"seats": 0, "capacity": 6}
    assert list(SeatHold.objects.filter(released_at=None).values_list("seat_id", flat=True)) == [
        a1.pk
    ]


def test_a_held_or_sold_seat_cannot_be_blocked(staff_api, seated, customer, outsider):
    held, sold, free = (
        _seat(seated, label) for label in ("Stalls A-1", "Stalls A-2", "Stalls B-1")
    )
    _seat_booking(customer, held)
    _seat_booking(outsider, sold, status=BookingStatus.CONFIRMED)

    for taken in (held, sold):
        body = {"seats": [str(free.pk), str(taken.pk)], "blocked": True}
        error = assert_error(
            staff_api.post(_block_url(seated), body, format="json"), 409, "invalid_state"
        )
        assert error["details"] == {"seats": [str(taken.pk)]}
        assert taken.label in error["message"]

    assert not SeatHold.objects.filter(booking=None).exists()
    assert _event(seated).capacity == 7


def test_a_lapsed_holds_seat_can_be_blocked(seated, customer):
    seat = _seat(seated, "Balcony A-1")
    lapsed = _seat_booking(customer, seat, expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert _event(seated).tickets_taken == 1

    changed = seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[seat.pk], blocked=True)

    assert changed == 1
    assert Booking.objects.get(pk=lapsed.pk).status == BookingStatus.EXPIRED
    event = _event(seated)
    assert (event.capacity, event.tickets_taken) == (6, 0)
    live = SeatHold.objects.get(seat=seat, released_at=None)
    assert live.booking_id is None


def test_block_refuses_seats_that_are_not_the_events(staff_api, seated, hall):
    seat = _seat(seated, "Stalls A-1")
    other = make_event(name="Elsewhere", general_admission=False)
    plan = _plan({"Stalls": {"A": 1}}, make_ticket_type(other))
    seating.seating_replace(actor=None, event_id=other.pk, sections=plan["sections"])
    elsewhere = _seats(other)[0]

    cases = [
        ([str(seat.pk), str(elsewhere.pk)], str(elsewhere.pk)),
        ([str(seat.pk), "9f0c0000-0000-4000-8000-000000000000"], "9f0c0000"),
        ([str(seat.pk), str(seat.pk)], "more than once"),
        (["not-a-seat"], "UUID"),
        ([], "at least 1"),
    ]
    for seats, said in cases:
        body = {"seats": seats, "blocked": True}
        error = assert_error(
            staff_api.post(_block_url(seated), body, format="json"), 400, "invalid"
        )
        assert list(error["details"]) == ["seats"]
        assert said in json.dumps(error["details"])
    error = assert_error(
        staff_api.post(_block_url(seated), {"seats": [str(seat.pk)]}, format="json"), 400, "invalid"
    )
    assert list(error["details"]) == ["blocked"]
    assert not SeatHold.objects.exists()
    assert _event(seated).capacity == 7


def test_every_seat_cannot_be_blocked(seated):
    ids = [seat.pk for seat in _seats(seated)]
    with pytest.raises(InvalidState, match="at least one seat"):
        seating.seats_block(actor=None, event_id=seated.pk, seat_ids=ids, blocked=True)
    assert not SeatHold.objects.exists()
    seating.seats_block(actor=None, event_id=seated.pk, seat_ids=ids[1:], blocked=True)
    assert _event(seated).capacity == 1


def test_blocking_on_a_cancelled_event_is_refused(seated):
    Event.objects.filter(pk=seated.pk).update(status=EventStatus.CANCELLED)
    seat = _seats(seated)[0]
    with pytest.raises(InvalidState):
        seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[seat.pk], blocked=True)


def test_blocking_refreshes_the_catalog(seated, django_capture_on_commit_callbacks):
    seat = _seats(seated)[0]
    with django_capture_on_commit_callbacks() as callbacks:
        seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[seat.pk], blocked=True)
    assert callbacks
    with django_capture_on_commit_callbacks() as callbacks:  # nothing changed
        seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[seat.pk], blocked=True)
    assert not callbacks


def test_unblocking_serves_the_waiting_list(customer, outsider):
    event = make_event(capacity=10, max_tickets_per_user=2)
    plan = _plan({"Stalls": {"A": 2}}, event.ticket_types.get())
    seating.seating_replace(actor=None, event_id=event.pk, sections=plan["sections"])
    a1, a2 = _seats(event)
    seating.seats_block(actor=None, event_id=event.pk, seat_ids=[a2.pk], blocked=True)
    _seat_booking(customer, a1, status=BookingStatus.CONFIRMED)
    entry = booking_services.waitlist_join(user=outsider, event_id=event.pk, quantity=1)

    seating.seats_block(actor=None, event_id=event.pk, seat_ids=[a2.pk], blocked=False)

    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.OFFERED
    offer = Booking.objects.get(user=outsider)
    assert offer.status == BookingStatus.HELD
    assert SeatHold.objects.get(booking=offer, released_at=None).seat_id == a2.pk
    assert (_event(event).capacity, _event(event).tickets_taken) == (2, 2)


# --- admin -------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )
    client.force_login(user)
    return client


SEATS = reverse("admin:events_seat_changelist")


def test_admin_shows_a_plan_with_each_seats_status(admin_client, seated, customer, outsider):
    _seat_booking(customer, _seat(seated, "Stalls A-2"), status=BookingStatus.CONFIRMED)
    _seat_booking(outsider, _seat(seated, "Stalls A-3"))
    lapsed = _seat(seated, "Stalls B-1")
    _seat_booking(customer, lapsed, expires_at=timezone.now() - dt.timedelta(minutes=1))
    blocked = _seat(seated, "Balcony A-1")
    seating.seats_block(actor=None, event_id=seated.pk, seat_ids=[blocked.pk], blocked=True)

    page = admin_client.get(reverse("admin:events_event_change", args=[seated.pk]))
    assert page.status_code == 200
    link = f"{SEATS}?event__id__exact={seated.pk}"
    assert f'href="{link}"' in page.text and "7 seats" in page.text

    response = admin_client.get(link)
    assert response.status_code == 200
    statuses = {row.label: row.status for row in response.context["cl"].result_list}
    assert statuses == {
        "Stalls A-1": "free",
        "Stalls A-2": "sold",
        "Stalls A-3": "held",
        "Stalls B-1": "free",  # a lapsed hold
        "Stalls B-2": "free",
        "Balcony A-1": "blocked",
        "Balcony A-2": "free",
    }
    assert "Stalls A-1" in response.text and "blocked" in response.text
    assert admin_client.get(SEATS, {"q": "Balcony A-2"}).context["cl"].result_count == 1
    assert admin_client.get(SEATS, {"section": "Balcony"}).context["cl"].result_count == 2
    type_filter = {"ticket_type__id__exact": seated.vip.pk}
    assert admin_client.get(SEATS, type_filter).context["cl"].result_count == 2
    seat_page = admin_client.get(reverse("admin:events_seat_change", args=[blocked.pk]))
    assert seat_page.status_code == 200 and "Balcony A-1" in seat_page.text
    assert admin_client.get(reverse("admin:events_seat_add")).status_code == 403


def test_admin_event_page_without_a_plan_says_so(admin_client, hall):
    page = admin_client.get(reverse("admin:events_event_change", args=[hall.pk]))
    assert page.status_code == 200 and "import_seating" in page.text


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_admin_blocks_and_unblocks_seats(admin_client, seated, customer):
    a1, a2 = _seat(seated, "Stalls A-1"), _seat(seated, "Stalls A-2")

    response = admin_client.post(
        SEATS, {"action": "block_seats", "_selected_action": [a1.pk, a2.pk]}, follow=True
    )
    assert "Blocked 2 seats." in _messages(response)
    assert _event(seated).capacity == 5

    response = admin_client.post(
        SEATS, {"action": "unblock_seats", "_selected_action": [a2.pk]}, follow=True
    )
    assert "Unblocked 1 seat." in _messages(response)
    assert _event(seated).capacity == 6

    _seat_booking(customer, a2, status=BookingStatus.CONFIRMED)
    b1 = _seat(seated, "Stalls B-1")
    response = admin_client.post(
        SEATS, {"action": "block_seats", "_selected_action": [a2.pk, b1.pk]}, follow=True
    )
    said = _messages(response)
    assert any("held or sold and cannot be blocked: Stalls A-2" in m for m in said), said
    assert not SeatHold.objects.filter(seat=b1).exists()
    assert _event(seated).capacity == 6


def test_a_seated_event_s_capacity_follows_its_seats_not_edits(staff_api, admin_client):
    event = make_event(capacity=1)
    make_seat_plan(event, [("Stalls", [("A", 4, event.ticket_types.get())])])
    response = staff_api.patch(f"/api/events/{event.pk}/", {"capacity": 10}, format="json")
    assert "capacity" in assert_error(response, 400, "invalid")["details"]
    assert Event.objects.get(pk=event.pk).capacity == 4
    # Unchanged, it is accepted with the rest of the edit.
    ok = staff_api.patch(f"/api/events/{event.pk}/", {"capacity": 4, "name": "Renamed"})
    assert ok.status_code == 200, ok.content
    page = admin_client.get(f"/admin/events/event/{event.pk}/change/").content.decode()
    assert 'name="capacity"' not in page  # read-only in admin


def test_a_ticket_type_with_seats_cannot_be_deleted(staff_api):
    event = make_event(capacity=1)
    general = event.ticket_types.get()
    vip = make_ticket_type(event, name="VIP", price=Decimal("900.00"))
    make_seat_plan(event, [("Stalls", [("A", 2, general), ("B", 2, vip)])])
    response = staff_api.delete(f"/api/ticket-types/{vip.pk}/")
    assert_error(response, 409, "invalid_state")
    assert TicketType.objects.filter(pk=vip.pk).exists()
