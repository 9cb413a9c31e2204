"""``manage.py import_seating EVENT FILE.csv`` and the CSV reader behind it."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from bookings.models import Booking, BookingItem, BookingStatus, SeatHold
from events import seating
from events.models import Event, Seat
from events.tests.factories import make_event, make_ticket_type
from nuvio.errors import Invalid

pytestmark = pytest.mark.django_db


@pytest.fixture
def hall():
    event = make_event(name="Hall Concert", capacity=100, general_admission=False)
    event.standard = make_ticket_type(event, name="Standard", price=Decimal("500.00"))
    event.vip = make_ticket_type(event, name="VIP", price=Decimal("1500.00"))
    return event


def _file(tmp_path, *lines: str, name="plan.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(event, path, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_seating", str(event.pk), str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _labels(event) -> list[str]:
    return list(
        Seat.objects.filter(event=event).order_by("position").values_list("label", flat=True)
    )


def test_import_loads_the_plan(tmp_path, hall):
    path = _file(
        tmp_path,
        "section,row,number,x,y,ticket_type",
        "Stalls,A,1,10,20,Standard",
        "Stalls,A,2,20,20,Standard",
        f"Balcony,A,1,10,90.5,{hall.vip.pk}",
        "Stalls,B,1,10,30,Standard",  # grouped with its section and row, which came first
        "",
        f"Balcony,A,2,20,90.5,{str(hall.vip.pk).upper()}",
        "Stalls,A,3,30,20,Standard",
    )

    out, err = _import(hall, path)

    assert "6 seats loaded" in out and err == ""
    assert _labels(hall) == [
        "Stalls A-1", "Stalls A-2", "Stalls A-3", "Stalls B-1", "Balcony A-1", "Balcony A-2",
    ]  # fmt: skip
    seats = list(Seat.objects.filter(event=hall).order_by("position"))
    assert [seat.row_index for seat in seats] == [1, 1, 1, 2, 3, 3]
    assert [seat.ticket_type_id for seat in seats] == [hall.standard.pk] * 4 + [hall.vip.pk] * 2
    assert (seats[4].x, seats[4].y) == (10.0, 90.5)
    event = Event.objects.get(pk=hall.pk)
    assert (event.seated, event.capacity) == (True, 6)


def test_a_header_is_recognised_and_optional(hall):
    lines = ["Stalls,A,1,10,20,Standard", "Stalls,A,2,20,20,VIP"]
    plain = seating.seating_from_csv(lines=lines, ticket_types=[hall.standard, hall.vip])
    for header in ("section,row,number,x,y,ticket_type", "Section, Row, Seat, X, Y, Ticket type"):
        with_header = seating.seating_from_csv(
            lines=[header, *lines], ticket_types=[hall.standard, hall.vip]
        )
        assert with_header == plain
    assert plain == [
        {
            "name": "Stalls",
            "rows": [
                {
                    "name": "A",
                    "seats": [
                        {"number": "1", "x": 10.0, "y": 20.0, "ticket_type": str(hall.standard.pk)},
                        {"number": "2", "x": 20.0, "y": 20.0, "ticket_type": str(hall.vip.pk)},
                    ],
                }
            ],
        }
    ]
    # A section named "Section" is a seat, not a header: its x and y are numbers.
    sections = seating.seating_from_csv(
        lines=["Section,A,1,10,20,VIP", *lines], ticket_types=[hall.standard, hall.vip]
    )
    assert [section["name"] for section in sections] == ["Section", "Stalls"]


def test_problems_are_reported_by_line_and_nothing_is_written(tmp_path, hall):
    _import(hall, _file(tmp_path, "Old,A,1,0,0,VIP", name="old.csv"))
    path = _file(
        tmp_path,
        "section,row,number,x,y,ticket_type",
        "Stalls,A,1,10,20,Standard",
        "Stalls,A,2,left,20,Standard",
        "",
        "Stalls,A,,30,20,Gold",
        "Stalls,A,1,40,20,VIP",
        "Stalls,B,1,10",
        f"{'S' * 101},B,1,10,30,VIP",
        "Stalls,B,2,20,30,",
    )
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="Nothing was written"):
        call_command("import_seating", str(hall.pk), str(path), stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "line 3: x: Must be a number.",
        "line 5: number: This field may not be blank.",
        'line 5: ticket_type: "Gold" is not a ticket type of this event.',
        'line 6: The seat "Stalls A-1" is also on line 2.',
        "line 7: Expected 6 cells (section,row,number,x,y,ticket_type); found 4.",
        "line 8: section: Ensure this field has no more than 100 characters.",
        "line 9: ticket_type: This field may not be blank.",
    ]
    assert _labels(hall) == ["Old A-1"]
    assert Event.objects.get(pk=hall.pk).capacity == 1


def test_an_empty_file_is_refused(tmp_path, hall):
    path = _file(tmp_path, "section,row,number,x,y,ticket_type", "")
    with pytest.raises(CommandError):
        _import(hall, path)
    assert not Seat.objects.exists() and not Event.objects.get(pk=hall.pk).seated


def test_the_reader_stops_after_the_most_problems(hall):
    lines = [f"Stalls,A,{n},x,0,VIP" for n in range(200)]
    with pytest.raises(Invalid) as exc:
        seating.seating_from_csv(lines=lines, ticket_types=[hall.vip])
    assert len(exc.value.details) == seating.MAX_ERRORS
    assert list(exc.value.details)[-1] == f"line {seating.MAX_ERRORS}"


def test_import_is_refused_once_a_seat_was_held(tmp_path, hall, customer):
    _import(hall, _file(tmp_path, "Old,A,1,0,0,VIP", "Old,A,2,1,0,VIP", name="old.csv"))
    seat = Seat.objects.get(event=hall, label="Old A-1")
    booking = Booking.objects.create(
        user=customer,
        event=hall,
        quantity=1,
        unit_price=hall.vip.price,
        subtotal=hall.vip.price,
        total_price=hall.vip.price,
        currency="INR",
        status=BookingStatus.CANCELLED,
        expires_at=timezone.now() - dt.timedelta(hours=1),
    )
    item = BookingItem.objects.create(
        booking=booking, ticket_type=hall.vip, quantity=1, unit_price=hall.vip.price
    )
    SeatHold.objects.create(seat=seat, booking=booking, item=item, released_at=timezone.now())

    with pytest.raises(CommandError, match="held or sold"):
        _import(hall, _file(tmp_path, "New,A,1,0,0,VIP"))
    assert _labels(hall) == ["Old A-1", "Old A-2"]


def test_dry_run_checks_and_writes_nothing(tmp_path, hall):
    out, _ = _import(hall, _file(tmp_path, "Stalls,A,1,0,0,VIP", "Stalls,A,2,1,0,VIP"), "--dry-run")
    assert "2 seats would be loaded" in out
    assert not Seat.objects.exists() and not Event.objects.get(pk=hall.pk).seated


def test_unknown_event_or_file_is_an_error(tmp_path, hall):
    with pytest.raises(CommandError, match="No event"):
        call_command("import_seating", "5a1e0000-0000-4000-8000-000000000000", "plan.csv")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_seating", str(hall.pk), str(tmp_path / "missing.csv"))
