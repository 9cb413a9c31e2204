"""An event's seating plan: replacing it, blocking and unblocking seats, and
reading a plan from CSV.

A plan is sent whole, as sections of rows of seats (API.md, Seating), and is
checked in plain Python before anything is written: up to ``MAX_SEATS``
seats arrive in one request, and a serializer per seat would take longer
than the request may. Every problem is reported at its place in the plan
(``sections[0].rows[2].seats[5].ticket_type``), or at its line in a CSV
file, up to ``MAX_ERRORS`` of them; nothing is written unless the whole plan
is good.

The writes hold the event's row lock (the lock order of the booking
services: the event first), so no reserve takes a seat while the plan or a
seat's block changes. A seated event's ``capacity`` is its number of seats
that are not blocked; every function here keeps it so.
"""

import csv
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from bookings.models import BookingStatus, SeatHold
from bookings.services import holds_release_lapsed_locked, waitlist_serve_locked
from events import cache as catalog_cache
from events.models import Event, Seat, TicketType
from events.services import _event_locked
from nuvio.errors import Invalid, InvalidState, NotFound

logger = logging.getLogger("nuvio.events")

MAX_SEATS = 100_000
MAX_ERRORS = 50  # problems reported at once; the rest after these are fixed
INSERT_BATCH = 2_000  # seat blocks per INSERT
CSV_COLUMNS = ("section", "row", "number", "x", "y", "ticket_type")

_SECTION_MAX = Seat._meta.get_field("section").max_length
_ROW_MAX = Seat._meta.get_field("row").max_length
_NUMBER_MAX = Seat._meta.get_field("number").max_length

REQUIRED = "This field is required."
BLANK = "This field may not be blank."

# A seat of a checked plan, in plan order:
# (section, row, number, label, x, y, ticket_type_id, row_index, position).
PlanSeat = tuple[str, str, str, str, float, float, uuid.UUID, int, int]


class _Problems:
    """Problems by place, at most ``MAX_ERRORS`` of them."""

    def __init__(self) -> None:
        self.by_place: dict[str, list[str]] = {}
        self.count = 0

    @property
    def full(self) -> bool:
        """True once there are more problems than are reported: stop looking."""
        return self.count > MAX_ERRORS

    def add(self, place: str, message: str) -> None:
        self.count += 1
        if self.count <= MAX_ERRORS:
            self.by_place.setdefault(place, []).append(message)

    def raise_if_any(self, what: str) -> None:
        if not self.by_place:
            return
        place, messages = next(iter(self.by_place.items()))
        more = f" (the first {MAX_ERRORS} problems are listed)" if self.count > MAX_ERRORS else ""
        raise Invalid(f"{what}: {place}: {messages[0]}{more}", details=self.by_place)


def _text(value: Any, max_length: int) -> tuple[str | None, str | None]:
    """A name or a number of the plan, stripped: ``(text, None)`` or
    ``(None, problem)``. Whole numbers are taken as text (``12`` is ``"12"``)."""
    if value is None:
        return None, REQUIRED
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, "Must be text."
    text = str(value).strip()
    if not text:
        return None, BLANK
    if len(text) > max_length:
        return None, f"Ensure this field has no more than {max_length} characters."
    return text, None


def _coordinate(value: Any) -> tuple[float | None, str | None]:
    """A seat's ``x`` or ``y``: ``(number, None)`` or ``(None, problem)``."""
    if value is None:
        return None, REQUIRED
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, "Must be a number."
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        return None, "Must be a finite number."
    return number, None


def _csv_coordinate(cell: str) -> tuple[float | None, str | None]:
    cell = cell.strip()
    if not cell:
        return None, REQUIRED
    try:
        return _coordinate(float(cell))
    except ValueError:
        return None, "Must be a number."


def _event_type_ids(event_id) -> dict[str, uuid.UUID]:
    """The event's ticket types by id as text; ``NotFound`` for no such event."""
    if not Event.objects.filter(pk=event_id).exists():
        raise NotFound("No such event.")
    return {
        str(pk): pk
        for pk in TicketType.objects.filter(event_id=event_id).values_list("pk", flat=True)
    }


def _type_resolver(types: dict[str, uuid.UUID]):
    """``resolve(value) -> (ticket type id, None) or (None, problem)`` for the
    ids of ``types``, remembering each value seen (a plan names few types,
    each many times)."""
    seen: dict[Any, tuple[uuid.UUID | None, str | None]] = {}

    def resolve(value: Any) -> tuple[uuid.UUID | None, str | None]:
        try:
            return seen[value]
        except KeyError:
            pass
        except TypeError:  # not hashable: a list or an object
            return None, "Must be the id of a ticket type of this event."
        if value is None:
            answer = (None, REQUIRED)
        elif not isinstance(value, str):
            answer = (None, "Must be the id of a ticket type of this event.")
        else:
            found = types.get(value)
            if found is None:
                try:
                    found = types.get(str(uuid.UUID(value)))
                except ValueError:
                    found = None
            answer = (found, None) if found else (None, "Not a ticket type of this event.")
        seen[value] = answer
        return answer

    return resolve


def _seat_count(sections: Any) -> int:
    """How many seats the plan has, counting what is shaped like seats."""
    count = 0
    for section in sections:
        rows = section.get("rows") if isinstance(section, dict) else None
        for row in rows if isinstance(rows, list) else ():
            seats = row.get("seats") if isinstance(row, dict) else None
            if isinstance(seats, list):
                count += len(seats)
    return count


def seating_check(*, sections: Any, ticket_types: dict[str, uuid.UUID]) -> list[PlanSeat]:
    """The seats of the plan ``sections`` (API.md's ``[{name, rows: [{name,
    seats: [{number, x, y, ticket_type}]}]}]``) in plan order, each with its
    label, ``row_index`` and ``position`` (both counted from 1 in plan order);
    ``ticket_types``: the event's type ids by their text.

    Raises ``Invalid`` with the problems by place (``sections``,
    ``sections[0].name``, ``sections[0].rows[1].seats[2].x`` ...): no seat or
    more than ``MAX_SEATS``; a missing or blank name or number, or one
    longer than its column; a section name twice in the plan, a row name twice
    in a section, a seat label twice (a seat number twice in a row); an ``x``
    or ``y`` that is not a finite number; a ticket type that is not one of
    the event's. Writes nothing and takes no lock.
    """
    problems = _Problems()
    if sections is None:
        problems.add("sections", REQUIRED)
    elif not isinstance(sections, list):
        problems.add("sections", "Must be a list of sections.")
    elif not sections:
        problems.add("sections", "A seating plan needs at least one section.")
    else:
        count = _seat_count(sections)
        if count > MAX_SEATS:
            problems.add(
                "sections",
                f"A seating plan has at most {MAX_SEATS:,} seats; this one has {count:,}.",
            )
    problems.raise_if_any("The seating plan is not valid")

    resolve = _type_resolver(ticket_types)
    seats: list[PlanSeat] = []
    labels: dict[str, str] = {}
    section_names: dict[str, int] = {}
    row_index = 0
    for s, section in enumerate(sections):
        if problems.full:
            break
        at = f"sections[{s}]"
        if not isinstance(section, dict):
            problems.add(at, "Must be an object {name, rows}.")
            continue
        section_name, problem = _text(section.get("name"), _SECTION_MAX)
        unique_labels = True  # a repeated section or row repeats its labels: said once
        if problem:
            problems.add(f"{at}.name", problem)
        elif section_name in section_names:
            problems.add(
                f"{at}.name",
                f'"{section_name}" is also the name of sections[{section_names[section_name]}].',
            )
            unique_labels = False
        else:
            section_names[section_name] = s
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            problems.add(
                f"{at}.rows",
                REQUIRED if rows is None else "Must be a list of at least one row.",
            )
            continue
        row_names: dict[str, int] = {}
        for r, row in enumerate(rows):
            if problems.full:
                break
            row_at = f"{at}.rows[{r}]"
            row_index += 1
            if not isinstance(row, dict):
                problems.add(row_at, "Must be an object {name, seats}.")
                continue
            row_name, problem = _text(row.get("name"), _ROW_MAX)
            row_labels = unique_labels
            if problem:
                problems.add(f"{row_at}.name", problem)
            elif row_name in row_names:
                problems.add(
                    f"{row_at}.name",
                    f'"{row_name}" is also the name of {at}.rows[{row_names[row_name]}].',
                )
                row_labels = False
            else:
                row_names[row_name] = r
            row_seats = row.get("seats")
            if not isinstance(row_seats, list) or not row_seats:
                problems.add(
                    f"{row_at}.seats",
                    REQUIRED if row_seats is None else "Must be a list of at least one seat.",
                )
                continue
            for k, seat in enumerate(row_seats):
                if problems.full:
                    break
                if not isinstance(seat, dict):
                    problems.add(
                        f"{row_at}.seats[{k}]", "Must be an object {number, x, y, ticket_type}."
                    )
                    continue
                number, number_problem = _text(seat.get("number"), _NUMBER_MAX)
                x, x_problem = _coordinate(seat.get("x"))
                y, y_problem = _coordinate(seat.get("y"))
                type_id, type_problem = resolve(seat.get("ticket_type"))
                if number_problem or x_problem or y_problem or type_problem:
                    seat_at = f"{row_at}.seats[{k}]"
                    for field, problem in (
                        ("number", number_problem),
                        ("x", x_problem),
                        ("y", y_problem),
                        ("ticket_type", type_problem),
                    ):
                        if problem:
                            problems.add(f"{seat_at}.{field}", problem)
                    continue
                if section_name is None or row_name is None:
                    continue
                label = Seat.label_for(section_name, row_name, number)
                if row_labels:
                    other = labels.get(label)
                    if other is not None:
                        problems.add(
                            f"{row_at}.seats[{k}].number",
                            f'The seat "{label}" is also {other}.',
                        )
                        continue
                    labels[label] = f"{row_at}.seats[{k}]"
                seats.append(
                    (
                        section_name,
                        row_name,
                        number,
                        label,
                        x,
                        y,
                        type_id,
                        row_index,
                        len(seats) + 1,
                    )
                )
    problems.raise_if_any("The seating plan is not valid")
    return seats


def seating_replace(*, actor: User | None, event_id, sections: Any) -> int:
    """Replace the event's seating plan with ``sections`` (see
    ``seating_check``), all or nothing; returns the number of seats.

    The event becomes ``seated`` and its ``capacity`` the number of seats
    (none is blocked in a new plan); the old seats and their blocks go. The
    catalog pages are refreshed after commit.

    Raises ``NotFound`` (no such event), ``Invalid`` (the plan, by place;
    checked before the lock is taken), or ``InvalidState``: the event is
    cancelled, a seat of it was ever held by a booking (its plan is then
    final), or it has tickets held or sold without seats.
    """
    types = _event_type_ids(event_id)
    seats = seating_check(sections=sections, ticket_types=types)
    now = timezone.now()
    with transaction.atomic():
        event = _event_locked(event_id)
        if SeatHold.objects.filter(seat__event=event, booking__isnull=False).exists():
            raise InvalidState(
                "Seats of this event have been held or sold: its seating plan can no longer "
                "be replaced."
            )
        if event.tickets_taken > 0:
            raise InvalidState(
                f"{event.tickets_taken} tickets of this event are held or sold without seats: "
                "it cannot get a seating plan."
            )
        # A type deleted since the check (its deletion takes this lock too).
        current = set(TicketType.objects.filter(event=event).values_list("pk", flat=True))
        gone = {seat[6] for seat in seats} - current
        if gone:
            raise Invalid(
                "A ticket type of the plan was deleted meanwhile.",
                details={
                    "sections": [
                        f"No longer a ticket type of this event: {pk}."
                        for pk in sorted(map(str, gone))
                    ]
                },
            )
        SeatHold.objects.filter(seat__event=event).delete()  # blocks of the old plan
        _seats_replace_locked(event, seats)
        event.capacity, event.seated = len(seats), True
        Event.objects.filter(pk=event.pk).update(capacity=len(seats), seated=True, updated_at=now)
        # More room than before: whoever waits gets it first.
        waitlist_serve_locked(event=event, now=now)
        catalog_cache.catalog_changed()
    logger.info("seating plan of event %s replaced by %s: %d seats", event_id, actor, len(seats))
    return len(seats)


_SEAT_COLUMNS = (
    "id",
    "event_id",
    "section",
    "row",
    "number",
    "label",
    "x",
    "y",
    "ticket_type_id",
    "row_index",
    "position",
)


def _seats_replace_locked(event: Event, seats: list[PlanSeat]) -> None:
    """Delete the event's seats (no booking ever held one, and their blocks
    are gone) and insert ``seats``, the event locked.

    Written as plain SQL: at 100,000 seats the ORM's way takes the request's
    whole time (measured on PostgreSQL: ``delete()`` loads every seat to
    collect what depends on it, 12 s; ``bulk_create`` builds a model and
    compiles every value, 6 to 9 s), against 0.1 s for one ``DELETE`` and
    about 1 s for ``COPY``. Elsewhere (SQLite) the rows go in with one
    ``executemany``. Values are prepared by the model's fields, so each
    backend stores them as the ORM would.
    """
    ops = connection.ops
    fields = {name: Seat._meta.get_field(name) for name in ("id", "event", "ticket_type")}

    def prep(field: str, value):
        return fields[field].get_db_prep_value(value, connection, prepared=False)

    table = ops.quote_name(Seat._meta.db_table)
    event_id = prep("event", event.pk)
    types = {pk: prep("ticket_type", pk) for pk in {seat[6] for seat in seats}}
    rows = (
        (prep("id", uuid.uuid4()), event_id, s, r, n, label, x, y, types[t], row_index, position)
        for s, r, n, label, x, y, t, row_index, position in seats
    )
    columns = ", ".join(ops.quote_name(Seat._meta.get_field(n).column) for n in _SEAT_COLUMNS)
    marks = ", ".join(["%s"] * len(_SEAT_COLUMNS))
    # Names from the model's metadata; every value is a parameter.
    event_column = ops.quote_name(Seat._meta.get_field("event").column)
    delete = f"DELETE FROM {table} WHERE {event_column} = %s"  # noqa: S608
    insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(delete, [event_id])
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(insert, list(rows))


def _seat_ids(seat_ids: Iterable[Any]) -> list[uuid.UUID]:
    """``seat_ids`` as UUIDs, each once; ``Invalid`` (details ``seats``) otherwise."""
    ids: list[uuid.UUID] = []
    problems: list[str] = []
    seen: set[uuid.UUID] = set()
    for value in seat_ids:
        try:
            seat_id = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            problems.append(f"{value!r} is not a seat id.")
            continue
        if seat_id in seen:
            problems.append(f"{seat_id} is listed more than once.")
        seen.add(seat_id)
        ids.append(seat_id)
    if not ids and not problems:
        problems.append("Choose at least one seat.")
    if problems:
        raise Invalid(f"seats: {problems[0]}", details={"seats": problems[:MAX_ERRORS]})
    return ids


def _labels(seat_ids, labels: dict) -> str:
    shown = sorted(labels[pk] for pk in seat_ids)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return ", ".join(shown[:10]) + more


def seats_block(*, actor: User | None, event_id, seat_ids: Sequence[Any], blocked: bool) -> int:
    """Block (``blocked``) or unblock seats of the event: a blocked seat is
    sold to no one and does not count in the event's ``capacity``. Seats
    already in the asked state are left as they are; returns how many
    changed.

    Under the event's row lock: lapsed holds are released first, so their
    seats can be blocked. Unblocking gives the seats back as capacity, to the
    waiting list first (``waitlist_serve_locked``).

    Raises ``NotFound`` (no such event), ``Invalid`` (details ``seats``: an
    id that is malformed, repeated, or not a seat of this event),
    ``InvalidState``: the event is cancelled, a seat to block is held or sold
    (details ``seats``: their ids), or blocking would leave the event no seat
    or fewer than its tickets held or sold.
    """
    ids = _seat_ids(seat_ids)
    now = timezone.now()
    with transaction.atomic():
        event = _event_locked(event_id)
        labels = dict(Seat.objects.filter(event=event, pk__in=ids).values_list("pk", "label"))
        unknown = [str(pk) for pk in ids if pk not in labels]
        if unknown:
            raise Invalid(
                f"seats: not a seat of this event: {unknown[0]}.",
                details={
                    "seats": [f"Not a seat of this event: {pk}." for pk in unknown[:MAX_ERRORS]]
                },
            )
        if blocked:
            changed = _block_locked(event, ids, labels, now)
        else:
            changed = SeatHold.objects.filter(
                seat_id__in=ids, booking__isnull=True, released_at__isnull=True
            ).update(released_at=now)
            if changed:
                event.capacity += changed
                Event.objects.filter(pk=event.pk).update(capacity=event.capacity, updated_at=now)
                waitlist_serve_locked(event=event, now=now)
        if changed:
            catalog_cache.catalog_changed()
    logger.info(
        "%d seats of event %s %s by %s",
        changed,
        event_id,
        "blocked" if blocked else "unblocked",
        actor,
    )
    return changed


def _block_locked(event: Event, ids: list[uuid.UUID], labels: dict, now) -> int:
    """``seats_block`` blocking, the event locked and the seats its own."""
    holds_release_lapsed_locked(event=event, now=now)
    live = SeatHold.objects.filter(seat_id__in=ids, released_at__isnull=True).values_list(
        "pk", "seat_id", "booking_id", "booking__status", "booking__expires_at"
    )
    already, taken, ended = set(), [], []
    for hold_id, seat_id, booking_id, status, expires_at in live:
        if booking_id is None:
            already.add(seat_id)
        elif status == BookingStatus.CONFIRMED or (
            status == BookingStatus.HELD and expires_at > now
        ):
            taken.append(seat_id)
        else:
            ended.append(hold_id)  # its booking is over: the seat is free
    if taken:
        noun = "This seat is" if len(taken) == 1 else f"{len(taken)} of these seats are"
        raise InvalidState(
            f"{noun} held or sold and cannot be blocked: {_labels(taken, labels)}.",
            details={"seats": sorted(str(pk) for pk in taken)},
        )
    to_block = [pk for pk in ids if pk not in already]
    if not to_block:
        return 0
    capacity = event.capacity - len(to_block)
    if capacity < 1:
        raise InvalidState(
            "An event keeps at least one seat that is not blocked: its capacity can't be 0."
        )
    if capacity < event.tickets_taken:
        raise InvalidState(
            f"Blocking {len(to_block)} seats would leave a capacity of {capacity}, below the "
            f"{event.tickets_taken} tickets held or sold."
        )
    if ended:
        SeatHold.objects.filter(pk__in=ended).update(released_at=now)
    SeatHold.objects.bulk_create(
        [SeatHold(seat_id=pk, created_at=now) for pk in to_block], batch_size=INSERT_BATCH
    )
    event.capacity = capacity
    Event.objects.filter(pk=event.pk).update(capacity=capacity, updated_at=now)
    return len(to_block)


# --- CSV ---------------------------------------------------------------------------


def _is_header(cells: list[str]) -> bool:
    """A first line that names the columns rather than a seat: it starts with
    "section" and its x and y are not numbers."""
    if len(cells) < 5 or cells[0].strip().lower() != "section":
        return False
    return _csv_coordinate(cells[3])[1] is not None and _csv_coordinate(cells[4])[1] is not None


def seating_from_csv(*, lines: Iterable[str], ticket_types: Iterable[TicketType]) -> list[dict]:
    """The plan (``seating_replace``'s ``sections``) of CSV ``lines`` of
    ``section,row,number,x,y,ticket_type``, where ``ticket_type`` is the id
    or the name of one of ``ticket_types`` (the event's). A first line that
    names the columns is skipped; blank lines too. Sections, and rows within
    a section, come in the order they first appear; seats in file order.

    Raises ``Invalid`` with the problems by line (``{"line 3": ["x: Must be
    a number."]}``; ``file`` for the file as a whole): a line without six
    cells, a blank or too long cell, a coordinate that is not a number, an
    unknown ticket type, a seat given twice, no seat or more than
    ``MAX_SEATS``.
    """
    types = list(ticket_types)
    by_name = {t.name: t.pk for t in types}
    resolve_id = _type_resolver({str(t.pk): t.pk for t in types})
    problems = _Problems()
    sections: dict[str, dict[str, list[dict]]] = {}
    seen: dict[str, int] = {}
    count = 0
    reader = csv.reader(lines)
    first = True
    last_line = 0
    for cells in reader:
        line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if first:
            first = False
            if _is_header(cells):
                continue
        if problems.full:
            break
        at = f"line {line}"
        if len(cells) != len(CSV_COLUMNS):
            problems.add(
                at,
                f"Expected {len(CSV_COLUMNS)} cells ({','.join(CSV_COLUMNS)}); found {len(cells)}.",
            )
            continue
        count += 1
        if count > MAX_SEATS:
            problems.add(at, f"A seating plan has at most {MAX_SEATS:,} seats.")
            break
        section, row, number, x, y, type_cell = cells
        values = {}
        line_problems = []
        for field, cell, max_length in (
            ("section", section, _SECTION_MAX),
            ("row", row, _ROW_MAX),
            ("number", number, _NUMBER_MAX),
        ):
            values[field], problem = _text(cell, max_length)
            if problem:
                line_problems.append(f"{field}: {problem}")
        for field, cell in (("x", x), ("y", y)):
            values[field], problem = _csv_coordinate(cell)
            if problem:
                line_problems.append(f"{field}: {problem}")
        type_cell = type_cell.strip()
        type_id = by_name.get(type_cell) or resolve_id(type_cell)[0]
        if type_id is None:
            line_problems.append(
                "ticket_type: "
                + (BLANK if not type_cell else f'"{type_cell}" is not a ticket type of this event.')
            )
        for problem in line_problems:
            problems.add(at, problem)
        if line_problems:
            continue
        label = Seat.label_for(values["section"], values["row"], values["number"])
        if label in seen:
            problems.add(at, f'The seat "{label}" is also on line {seen[label]}.')
            continue
        seen[label] = line
        sections.setdefault(values["section"], {}).setdefault(values["row"], []).append(
            {
                "number": values["number"],
                "x": values["x"],
                "y": values["y"],
                "ticket_type": str(type_id),
            }
        )
    if not problems.by_place and not sections:
        problems.add("file", "No seats: expected lines of " + ",".join(CSV_COLUMNS) + ".")
    problems.raise_if_any("The seating file is not valid")
    return [
        {"name": name, "rows": [{"name": row, "seats": seats} for row, seats in rows.items()]}
        for name, rows in sections.items()
    ]
