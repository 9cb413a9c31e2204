"""Reserved seating in the booking core: exact seats, best available, seats
coming back (expiry, cancellation, the waiting list), tickets and check-in
with their seats, the quote, bad bodies, and the database's own guarantee."""

import datetime as dt
import random
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings import services
from bookings.checkin import ticket_check_in
from bookings.gateway import get_gateway
from bookings.inventory import inventory_problems
from bookings.models import Booking, BookingStatus, SeatHold, Ticket, WaitlistStatus
from bookings.services import seats_best
from bookings.tests.helpers import GOOD_CARD
from events.models import Event
from events.tests.factories import make_event, make_seat_plan, make_ticket_type
from nuvio.errors import HoldExpired, Invalid, InvalidState, LimitExceeded, SeatTaken, SoldOut
from nuvio.testing import assert_error

pytestmark = pytest.mark.django_db
URL = "/api/bookings/"


@pytest.fixture
def hall():
    """Stalls: rows A and B of 6 Standard seats (500); Balcony: row C of 4
    VIP seats (1500). 16 seats."""
    event = make_event(
        name="Seated Hall", capacity=1, price=Decimal("500.00"), max_tickets_per_user=10
    )
    event.standard = event.ticket_types.get()
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"))
    event.seat_list = make_seat_plan(
        event,
        [
            ("Stalls", [("A", 6, event.standard), ("B", 6, event.standard)]),
            ("Balcony", [("C", 4, event.vip)]),
        ],
    )
    event.seat = {seat.label: seat for seat in event.seat_list}
    return event


def _ids(hall, *labels) -> list[str]:
    return [str(hall.seat[label].pk) for label in labels]


def _labels(booking: Booking) -> list[str]:
    return [s["label"] for item in booking.items.all() for s in item.seat_summaries()]


def _live_labels(booking: Booking) -> list[str]:
    holds = SeatHold.objects.filter(booking=booking, released_at__isnull=True)
    return sorted(holds.values_list("seat__label", flat=True))


def _reserve(user, hall, **body):
    booking, _ = services.booking_reserve(user=user, event_id=hall.pk, **body)
    return booking


# --- exact seats -----------------------------------------------------------------


def test_chosen_seats_are_held_at_their_types_prices(customer_api, customer, hall):
    seats = _ids(hall, "Stalls A-1", "Stalls A-2", "Balcony C-1")
    response = customer_api.post(URL, {"event": str(hall.pk), "seats": seats}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    items = {item["ticket_type"]["name"]: item for item in body["items"]}
    assert items[hall.standard.name]["quantity"] == 2
    assert [s["label"] for s in items[hall.standard.name]["seats"]] == [
        "Stalls A-1",
        "Stalls A-2",
    ]
    assert [s["label"] for s in items["VIP"]["seats"]] == ["Balcony C-1"]
    assert body["quantity"] == 3 and body["total_price"] == "2500.00"
    booking = Booking.objects.get(pk=body["id"])
    assert _live_labels(booking) == ["Balcony C-1", "Stalls A-1", "Stalls A-2"]
    # The same answer read back later, from the database.
    again = customer_api.get(f"{URL}{booking.pk}/").json()
    assert again["items"] == body["items"]
    hall.refresh_from_db()
    assert hall.tickets_taken == 3
    assert inventory_problems([hall.pk]) == []


def test_a_seat_already_held_is_seat_taken_and_nothing_is_taken(customer, outsider, hall):
    _reserve(outsider, hall, seats=_ids(hall, "Stalls A-2"))
    with pytest.raises(SeatTaken) as raised:
        _reserve(customer, hall, seats=_ids(hall, "Stalls A-1", "Stalls A-2"))
    assert raised.value.details == {"seats": _ids(hall, "Stalls A-2")}
    hall.refresh_from_db()
    assert hall.tickets_taken == 1
    assert not Booking.objects.filter(user=customer).exists()
    assert SeatHold.objects.filter(released_at__isnull=True).count() == 1


def test_seat_taken_in_the_api_envelope(customer_api, outsider, hall):
    _reserve(outsider, hall, seats=_ids(hall, "Balcony C-4"))
    response = customer_api.post(
        URL, {"event": str(hall.pk), "seats": _ids(hall, "Balcony C-4")}, format="json"
    )
    error = assert_error(response, 409, "seat_taken")
    assert error["details"] == {"seats": _ids(hall, "Balcony C-4")}


def test_a_blocked_seat_cannot_be_booked(customer, hall):
    SeatHold.objects.create(seat=hall.seat["Stalls A-2"])  # blocked by staff
    with pytest.raises(SeatTaken):
        _reserve(customer, hall, seats=_ids(hall, "Stalls A-2"))
    # Best available goes around it.
    booking = _reserve(customer, hall, items=[{"ticket_type": hall.standard.pk, "quantity": 2}])
    assert _labels(booking) == ["Stalls A-3", "Stalls A-4"]


def test_a_lapsed_hold_s_seat_is_free_at_once_without_a_worker(customer, outsider, hall):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        old = _reserve(outsider, hall, seats=_ids(hall, "Stalls A-1"))
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        new = _reserve(customer, hall, seats=_ids(hall, "Stalls A-1"))
    assert Booking.objects.get(pk=old.pk).status == BookingStatus.EXPIRED
    assert _live_labels(new) == ["Stalls A-1"]
    assert _live_labels(old) == []
    assert inventory_problems([hall.pk]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seats": []}, "seats"),
        ({"seats": ["not-a-uuid"]}, "seats"),
        ({"seats": "A-1"}, "seats"),
        ({"seats": [str(uuid.uuid4())]}, "seats"),
        ({"quantity": 1, "seats": ["SEAT"]}, "seats"),
    ],
)
def test_bad_seat_bodies_are_invalid_and_take_nothing(customer_api, hall, body, field):
    body = {k: [str(hall.seat_list[0].pk)] if v == ["SEAT"] else v for k, v in body.items()}
    response = customer_api.post(URL, {"event": str(hall.pk), **body}, format="json")
    error = assert_error(response, 400, "invalid")
    assert field in error["details"]
    assert not Booking.objects.exists() and not SeatHold.objects.exists()


def test_duplicate_seats_are_invalid(customer_api, customer, hall):
    seat = str(hall.seat_list[0].pk)
    response = customer_api.post(URL, {"event": str(hall.pk), "seats": [seat, seat]}, format="json")
    assert "seats" in assert_error(response, 400, "invalid")["details"]
    with pytest.raises(Invalid):  # the service says the same without the API
        _reserve(customer, hall, seats=[seat, seat])
    assert not SeatHold.objects.exists()


def test_a_seat_of_another_event_is_invalid(customer, hall):
    other = make_event(name="Other Hall", max_tickets_per_user=10)
    other_seats = make_seat_plan(other, [("Stalls", [("A", 2, other.ticket_types.get())])])
    with pytest.raises(Invalid) as raised:
        _reserve(customer, hall, seats=[str(hall.seat_list[0].pk), str(other_seats[0].pk)])
    assert str(other_seats[0].pk) in raised.value.details["seats"][0]
    assert not SeatHold.objects.exists()


def test_seats_on_an_event_without_a_plan_are_invalid(customer):
    event = make_event()
    with pytest.raises(Invalid) as raised:
        services.booking_reserve(user=customer, event_id=event.pk, seats=[str(uuid.uuid4())])
    assert "seats" in raised.value.details


def test_the_per_user_limit_counts_seats(customer, hall):
    Event.objects.filter(pk=hall.pk).update(max_tickets_per_user=2)
    _reserve(customer, hall, seats=_ids(hall, "Stalls A-1"))
    with pytest.raises(LimitExceeded):
        _reserve(customer, hall, seats=_ids(hall, "Stalls A-2", "Stalls A-3"))
    assert _live_labels(Booking.objects.get(user=customer)) == ["Stalls A-1"]
    assert SeatHold.objects.count() == 1


# --- best available --------------------------------------------------------------


def test_best_available_prefers_adjacent_seats_in_one_row(customer, outsider, hall):
    # Row A: 1 and 4 taken, so no run of 3 in A; B is the first row with one.
    _reserve(outsider, hall, seats=_ids(hall, "Stalls A-1", "Stalls A-4"))
    booking = _reserve(customer, hall, items=[{"ticket_type": hall.standard.pk, "quantity": 3}])
    assert _labels(booking) == ["Stalls B-1", "Stalls B-2", "Stalls B-3"]
    # Two fit in A (2-3): the best-ranked run wins over row B's.
    pair = _reserve(customer, hall, items=[{"ticket_type": hall.standard.pk, "quantity": 2}])
    assert _labels(pair) == ["Stalls A-2", "Stalls A-3"]


def test_best_available_takes_the_best_ranked_seats_when_no_run_is_left(customer, hall):
    # Leave only scattered Standard seats, B-3.
    keep = {"Stalls A-2", "Stalls A-5", "Stalls B-3"}
    for seat in hall.seat_list:
        if seat.ticket_type_id == hall.standard.pk and seat.label not in keep:
            SeatHold.objects.create(seat=seat)
    Event.objects.filter(pk=hall.pk).update(capacity=7)
    booking = _reserve(customer, hall, items=[{"ticket_type": hall.standard.pk, "quantity": 2}])
    assert _labels(booking) == ["Stalls A-2", "Stalls A-5"]


def test_best_available_per_type_and_sold_out_names_the_type(customer, hall):
    booking = _reserve(
        customer,
        hall,
        items=[
            {"ticket_type": hall.standard.pk, "quantity": 2},
            {"ticket_type": hall.vip.pk, "quantity": 2},
        ],
    )
    assert sorted(_labels(booking)) == ["Balcony C-1", "Balcony C-2", "Stalls A-1", "Stalls A-2"]
    with pytest.raises(SoldOut) as raised:
        _reserve(customer, hall, items=[{"ticket_type": hall.vip.pk, "quantity": 3}])
    assert raised.value.details == {"available": 2, "ticket_type": str(hall.vip.pk)}


def test_quantity_on_a_one_type_seated_event_takes_the_best_seats(customer):
    event = make_event(capacity=1, max_tickets_per_user=10)
    make_seat_plan(event, [("Main", [("A", 3, event.ticket_types.get())])])
    booking, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=2)
    assert _labels(booking) == ["Main A-1", "Main A-2"]


@pytest.mark.parametrize(
    ("free", "quantity", "expected"),
    [
        # (id, label, row_index, position)
        ([(1, "", 0, 0), (2, "", 0, 2), (3, "", 1, 3), (4, "", 1, 4)], 2, [3, 4]),
        ([(1, "", 0, 0), (2, "", 0, 1), (3, "", 1, 2), (4, "", 1, 3)], 2, [1, 2]),
        # A run may not cross from one row to the next, even at consecutive positions.
        ([(1, "", 0, 0), (2, "", 0, 1), (3, "", 1, 2), (4, "", 1, 3), (5, "", 1, 4)], 3, [3, 4, 5]),
        ([(1, "", 0, 0), (2, "", 0, 2), (3, "", 0, 4)], 2, [1, 2]),
        ([(1, "", 0, 0)], 2, [1]),
        ([(1, "", 0, 5), (2, "", 0, 6), (3, "", 0, 7)], 1, [1]),
    ],
)
def test_seats_best(free, quantity, expected):
    assert [row[0] for row in seats_best(free, quantity)] == expected


# --- seats coming back -----------------------------------------------------------


def test_cancelling_frees_the_seats(customer, outsider, hall):
    booking = _reserve(customer, hall, seats=_ids(hall, "Balcony C-2"))
    services.booking_cancel(user=customer, booking_id=booking.pk)
    assert _live_labels(booking) == []
    # The booking still shows what it had.
    assert _labels(Booking.objects.get(pk=booking.pk)) == ["Balcony C-2"]
    again = _reserve(outsider, hall, seats=_ids(hall, "Balcony C-2"))
    assert _live_labels(again) == ["Balcony C-2"]
    assert inventory_problems([hall.pk]) == []


def test_the_release_job_frees_lapsed_seats(customer, hall):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        booking = _reserve(customer, hall, seats=_ids(hall, "Stalls A-6"))
    services.holds_release_expired(now=start + dt.timedelta(hours=1))
    assert _live_labels(booking) == []
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.EXPIRED


def test_the_waiting_list_gets_a_seat_of_its_type(customer, outsider, hall):
    vip = [_ids(hall, f"Balcony C-{n}")[0] for n in range(1, 5)]
    first = _reserve(outsider, hall, seats=vip)
    entry = services.waitlist_join(
        user=customer, event_id=hall.pk, quantity=1, ticket_type_id=hall.vip.pk
    )
    assert entry.status == WaitlistStatus.WAITING
    services.booking_cancel(user=outsider, booking_id=first.pk)
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.OFFERED
    assert _live_labels(entry.offered_booking) == ["Balcony C-1"]
    assert inventory_problems([hall.pk]) == []


def test_the_waiting_list_does_not_open_while_a_type_has_seats(customer, hall):
    with pytest.raises(InvalidState):
        services.waitlist_join(
            user=customer, event_id=hall.pk, quantity=1, ticket_type_id=hall.vip.pk
        )


# --- paying, tickets, the door ---------------------------------------------------


def test_paid_seats_become_tickets_with_their_seats(customer_api, customer, staff, hall):
    booking = _reserve(customer, hall, seats=_ids(hall, "Stalls B-2", "Stalls B-1"))
    paid = customer_api.post(f"{URL}{booking.pk}/pay/", {"card_number": GOOD_CARD}, format="json")
    assert paid.status_code == 200, paid.content
    assert [t["seat"]["label"] for t in paid.json()["tickets"]] == ["Stalls B-1", "Stalls B-2"]
    listed = customer_api.get(f"{URL}{booking.pk}/tickets/").json()["results"]
    assert sorted(t["seat"]["label"] for t in listed) == ["Stalls B-1", "Stalls B-2"]

    ticket = Ticket.objects.get(seat=hall.seat["Stalls B-1"])
    admitted = ticket_check_in(staff=staff, code=ticket.code)
    assert admitted.ticket.seat.label == "Stalls B-1"
    assert inventory_problems([hall.pk]) == []


def test_the_check_in_answer_has_the_seat(staff_api, customer, hall):
    booking = _reserve(customer, hall, seats=_ids(hall, "Balcony C-3"))
    services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)
    code = Ticket.objects.get(booking=booking).code
    response = staff_api.post("/api/checkin/", {"code": code}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["ticket"]["seat"] == {
        "id": str(hall.seat["Balcony C-3"].pk),
        "label": "Balcony C-3",
    }


def test_unseated_tickets_have_no_seat(customer_api, customer):
    event = make_event()
    booking, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    paid = customer_api.post(f"{URL}{booking.pk}/pay/", {"card_number": GOOD_CARD}, format="json")
    assert [t["seat"] for t in paid.json()["tickets"]] == [None]
    assert paid.json()["items"][0]["seats"] == []


class _ReleasingGateway:
    """The mock gateway, with the release job running while it charges: the
    hold lapses and is released while its card is charged."""

    def __init__(self, release_at, before_charge=None):
        self.release_at, self.before_charge = release_at, before_charge

    def charge(self, **kwargs):
        services.holds_release_expired(now=self.release_at)
        if self.before_charge:
            self.before_charge()
        return get_gateway().charge(**kwargs)


def test_a_hold_released_while_paying_takes_its_seats_again_if_free(customer, hall, monkeypatch):
    booking = _reserve(customer, hall, seats=_ids(hall, "Stalls A-3"))
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() + dt.timedelta(seconds=1)
    )
    later = timezone.now() + dt.timedelta(minutes=1)
    monkeypatch.setattr("bookings.services.pay.get_gateway", lambda: _ReleasingGateway(later))

    paid = services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    assert paid.status == BookingStatus.CONFIRMED
    assert _live_labels(booking) == ["Stalls A-3"]
    assert Ticket.objects.get(booking=booking).seat.label == "Stalls A-3"
    assert inventory_problems([hall.pk]) == []


def test_a_hold_released_while_paying_whose_seat_was_taken_is_refunded(
    customer, outsider, hall, monkeypatch
):
    booking = _reserve(customer, hall, seats=_ids(hall, "Stalls A-3"))
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() + dt.timedelta(seconds=1)
    )
    later = timezone.now() + dt.timedelta(minutes=1)

    def someone_takes_the_seat():
        _reserve(outsider, hall, seats=_ids(hall, "Stalls A-3"))

    monkeypatch.setattr(
        "bookings.services.pay.get_gateway",
        lambda: _ReleasingGateway(later, before_charge=someone_takes_the_seat),
    )
    with pytest.raises(HoldExpired) as raised:
        services.booking_pay(user=customer, booking_id=booking.pk, card_number=GOOD_CARD)

    assert raised.value.details["refund"]["percent"] == 100
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.EXPIRED
    assert not Ticket.objects.filter(booking=booking).exists()
    assert _live_labels(Booking.objects.get(user=outsider)) == ["Stalls A-3"]
    assert inventory_problems([hall.pk]) == []


# --- the quote -------------------------------------------------------------------


def test_the_quote_prices_seats_and_takes_nothing(customer_api, outsider, hall):
    body = {"event": str(hall.pk), "seats": _ids(hall, "Balcony C-1", "Stalls A-1")}
    response = customer_api.post("/api/bookings/quote/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["total_price"] == "2000.00"
    assert sorted(s["label"] for i in response.json()["items"] for s in i["seats"]) == [
        "Balcony C-1",
        "Stalls A-1",
    ]
    assert not SeatHold.objects.exists()
    _reserve(outsider, hall, seats=_ids(hall, "Stalls A-1"))
    taken = customer_api.post("/api/bookings/quote/", body, format="json")
    assert assert_error(taken, 409, "seat_taken")["details"] == {"seats": _ids(hall, "Stalls A-1")}


# --- what the database guarantees ------------------------------------------------


def test_the_database_refuses_a_second_live_hold_on_a_seat(hall):
    seat = hall.seat_list[0]
    SeatHold.objects.create(seat=seat)
    with pytest.raises(IntegrityError), transaction.atomic():
        SeatHold.objects.create(seat=seat)
    # A released one does not count.
    SeatHold.objects.filter(seat=seat).update(released_at=timezone.now())
    SeatHold.objects.create(seat=seat)


def test_check_inventory_finds_a_seat_kept_by_a_dead_booking(customer, hall):
    booking = _reserve(customer, hall, seats=_ids(hall, "Stalls A-1"))
    assert inventory_problems([hall.pk]) == []
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CANCELLED)
    Event.objects.filter(pk=hall.pk).update(tickets_taken=0)
    problems = inventory_problems([hall.pk])[0]["problems"]
    assert any("Stalls A-1" in p and "dead" in p for p in problems)


def test_check_inventory_finds_capacity_out_of_step_with_the_seats(hall):
    Event.objects.filter(pk=hall.pk).update(capacity=20)
    problems = inventory_problems([hall.pk])[0]["problems"]
    assert any("unblocked seats" in p for p in problems)


def test_check_inventory_finds_an_item_without_its_seats(customer, hall):
    booking = _reserve(customer, hall, seats=_ids(hall, "Stalls A-1", "Stalls A-2"))
    SeatHold.objects.filter(booking=booking, seat=hall.seat["Stalls A-2"]).delete()
    problems = inventory_problems([hall.pk])[0]["problems"]
    assert any("has 1 live seats" in p for p in problems)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 500])
def test_picking_in_chunks_chooses_as_from_every_free_seat(customer, monkeypatch, chunk):
    """Read a few free seats at a time, the pick is ``seats_best`` of them all,
    a run across two chunks included."""
    event = make_event(capacity=1, max_tickets_per_user=10)
    kind = event.ticket_types.get()
    seats = make_seat_plan(event, [("S", [(f"R{r}", 5, kind) for r in range(4)])])
    rng = random.Random(chunk)
    for seat in rng.sample(seats, 9):
        SeatHold.objects.create(seat=seat)
    monkeypatch.setattr("bookings.services._core._SEAT_CHUNK", chunk)
    free = [
        (s.pk, s.label, s.row_index, s.position)
        for s in seats
        if not SeatHold.objects.filter(seat=s).exists()
    ]
    for quantity in (1, 2, 3, 4):
        expected = [row[0] for row in seats_best(free, quantity)]
        with transaction.atomic():
            picked = services.seats_pick_best_locked(
                event=event, ticket_type=kind, quantity=quantity
            )
        assert [seat.id for seat in picked] == expected, (quantity, free)
    with pytest.raises(SoldOut) as raised:
        services.seats_pick_best_locked(event=event, ticket_type=kind, quantity=len(free) + 1)
    assert raised.value.details["available"] == len(free)
