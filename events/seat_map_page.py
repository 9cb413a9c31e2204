"""The seat map on a seated event's page: every seat of the plan with its
status (``events.seat_map.seat_statuses``, what the seats API answers) laid
out in an SVG ``viewBox``, and the legend by ticket type and by status.

The map is rendered on the server, so the page reads without JavaScript;
``static/js/seat-map.js`` makes its seats pickable and keeps their statuses
fresh from ``GET /api/events/{id}/seats/``.

A plan of more than ``MAX_SEATS_SHOWN`` seats is shown a section at a time:
the whole plan as one block per section (with how many of its seats are
free), each a link to that section's seats.
"""

import itertools
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from events.models import Event
from events.seat_map import seat_statuses

MAX_SEATS_SHOWN = 5000
SEAT_PITCH = 30  # drawing units (CSS pixels at its natural size) between neighbouring seats
MAX_WIDTH = 4000  # the widest drawing, in those units: a larger plan's seats are closer
OVERVIEW_WIDTH = 1000  # the width of a large plan's overview
SHOWN_WIDTH = 1200  # a wider drawing is shown this wide, and scrolls sideways
PALETTE_SIZE = 8  # ticket type colours (static/css/seat-map.css: .seat-type-0 ...)
LABEL_SIZE = 14  # section and row names, in viewBox units

# seat_statuses' columns
_ID, _SECTION, _ROW, _NUMBER, _LABEL, _TYPE, _X, _Y, _STATUS = range(9)

# A seat's status in words, as its label and the legend say it.
STATUS_WORDS = {
    "free": "free",
    "held": "on hold",
    "sold": "sold",
    "blocked": "not for sale",
}
STATUS_LEGEND = [
    ("free", "Free"),
    ("chosen", "Your choice"),
    ("held", "On hold"),
    ("sold", "Sold"),
    ("blocked", "Not for sale"),
]


def money(amount: Decimal, currency: str) -> str:
    """A price as the event page writes it ("2499.00 INR", or "Free")."""
    return f"{amount} {currency}" if amount else "Free"


@dataclass
class TypeKey:
    """One ticket type in the legend."""

    id: str
    name: str
    price: Decimal  # one seat's price now (a promo code's price when one applies)
    currency: str
    palette: int  # its colour: .seat-type-{palette}
    on_sale: bool
    free: int = 0  # its free seats in the whole plan

    @property
    def price_text(self) -> str:
        return money(self.price, self.currency)


@dataclass
class SectionBlock:
    """A section drawn as one block, on the overview of a large plan."""

    name: str
    x: float
    y: float
    width: float
    height: float
    seats: int
    free: int

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def centre_y(self) -> float:
        return self.y + self.height / 2


@dataclass
class SeatMap:
    width: int  # the drawing's natural size; its viewBox is 0 0 width height
    height: int
    seat_count: int  # in the whole plan
    types: list[TypeKey]
    currency: str
    pickable: bool  # the person may pick seats (logged in, booking open)
    most: int  # seats one booking may take
    svg: str = ""  # SafeString: the seats with the section and row names
    sections: list[SectionBlock] = field(default_factory=list)  # the overview's blocks
    section: str | None = None  # the one section shown, on a large plan
    section_names: list[str] = field(default_factory=list)
    chosen: list[dict] = field(default_factory=list)  # preselected: {id, label, type}
    taken: list[str] = field(default_factory=list)  # labels of the seats just lost
    status_legend: list[tuple[str, str]] = field(default_factory=lambda: STATUS_LEGEND)

    @property
    def overview(self) -> bool:
        return bool(self.sections)

    @property
    def refresh_seconds(self) -> int:
        """How often the page asks for the statuses again: the answer is the
        whole plan's, so a larger plan is asked for less often."""
        return 5 if self.seat_count <= MAX_SEATS_SHOWN else 15

    @property
    def wide(self) -> bool:
        """Too wide to shrink to the page with seats big enough to pick: the
        drawing is shown ``SHOWN_WIDTH`` wide and scrolls sideways."""
        return not self.overview and self.width > SHOWN_WIDTH

    @property
    def shown_size(self) -> tuple[int, int]:
        if not self.wide:
            return self.width, self.height
        return SHOWN_WIDTH, math.ceil(self.height * SHOWN_WIDTH / self.width)

    @property
    def chosen_total(self) -> str:
        return money(
            sum((seat["type"].price for seat in self.chosen), Decimal("0.00")), self.currency
        )


def seat_aria_label(label: str, key: TypeKey, status: str) -> str:
    """What a seat says to a screen reader: "Balcony B-12, VIP, 2499.00 INR, free"."""
    words = STATUS_WORDS[status]
    if status == "free" and not key.on_sale:
        words = "not on sale now"
    return f"{label}, {key.name}, {key.price_text}, {words}"


def _uuids(values, limit: int = 200) -> set[str]:
    """Seat ids carried in a URL, as text; anything malformed is ignored."""
    found = set()
    for value in list(values)[:limit]:
        try:
            found.add(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return found


def seat_map_build(
    *,
    event: Event,
    rows: list,
    now,
    pickable: bool,
    most: int,
    chosen=(),
    taken=(),
    section: str | None = None,
) -> SeatMap | None:
    """The map of ``event``'s plan as its page shows it at ``now``, or None
    when the plan has no seat. ``rows`` are the page's ticket rows
    (``events.views.TicketRow``): a seat can be picked when it is free and
    its type on sale among them. ``chosen`` and ``taken`` are seat ids
    carried back from a refused booking: the chosen ones still free are
    preselected (at most ``most``), the taken ones named and marked.
    ``section``: the one section to show of a plan too large to show whole."""
    seats = seat_statuses(event_id=event.pk, now=now)
    if not seats:
        return None
    for seat in seats:  # ids as text, whatever the database gave
        seat[_ID], seat[_TYPE] = str(seat[_ID]), str(seat[_TYPE])
    offered = {str(row.ticket_type.pk): row for row in rows}
    types = _type_keys(event, seats, offered)
    taken_ids = _uuids(taken)
    seat_map = SeatMap(
        width=0,
        height=0,
        seat_count=len(seats),
        types=types,
        currency=event.currency,
        pickable=pickable,
        most=most,
        section_names=list(dict.fromkeys(seat[_SECTION] for seat in seats)),
        taken=[seat[_LABEL] for seat in seats if seat[_ID] in taken_ids],
    )
    if len(seats) > MAX_SEATS_SHOWN:
        if section not in seat_map.section_names:
            _overview(seat_map, seats)
            return seat_map
        seat_map.section = section
        seats = [seat for seat in seats if seat[_SECTION] == section]
    _draw(seat_map, seats, {key.id: key for key in types}, _uuids(chosen), taken_ids)
    return seat_map


def _type_keys(event: Event, seats: list, offered: dict) -> list[TypeKey]:
    """The legend's ticket types: those the plan's seats have, in the page's
    order of types (any not on offer after them), each with its colour."""
    free = defaultdict(int)
    for seat in seats:
        if seat[_STATUS] == "free":
            free[seat[_TYPE]] += 1
    used = dict.fromkeys(seat[_TYPE] for seat in seats)
    others = [pk for pk in used if pk not in offered]
    names = {}
    if others:
        names = {
            str(pk): (name, price)
            for pk, name, price in event.ticket_types.filter(pk__in=others).values_list(
                "pk", "name", "price"
            )
        }
    keys = []
    for palette, pk in enumerate([*(pk for pk in offered if pk in used), *others]):
        row = offered.get(pk)
        if row is not None:
            name, price = row.ticket_type.name, row.ticket_type.discounted_price
        else:
            name, price = names.get(pk, ("Ticket", Decimal("0.00")))
        keys.append(
            TypeKey(
                id=pk,
                name=name,
                price=price,
                currency=event.currency,
                palette=palette % PALETTE_SIZE,
                on_sale=row is not None and row.state == "on_sale",
                free=free[pk],
            )
        )
    return keys


def _spacing(points: list[tuple[float, float]]) -> float:
    """The distance between neighbouring seats: the smallest gap between two
    seats one after the other in the plan's order (along a row)."""
    gaps = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    gaps = [gap for gap in gaps if gap > 0]
    return min(gaps) if gaps else 1.0


def _scale(points: list[tuple[float, float]], *, width: float | None = None):
    """Plan coordinates to the drawing's: ``(place, radius, width, height)``,
    where ``place(x, y)`` is a seat's centre. Neighbouring seats are
    ``SEAT_PITCH`` apart (the drawing's units are CSS pixels at its natural
    size; a wider drawing shrinks to the page, down to ``SHOWN_WIDTH``), or
    the plan fills ``width``.
    Room is left around for the section and row names; y grows down the page."""
    spacing = _spacing(points[:2000])
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, top = min(xs), min(ys)
    span_x, span_y = max(xs) - left, max(ys) - top
    margin = 3 * LABEL_SIZE
    if width is None:
        scale = min(SEAT_PITCH / spacing, (MAX_WIDTH - 2 * margin) / max(span_x, spacing))
    else:
        scale = (width - 2 * margin) / max(span_x, spacing)
    radius = max(min(spacing * scale, SEAT_PITCH) * 0.4, 1.5)
    head = 2 * LABEL_SIZE + radius  # the section names above the first row

    def place(x: float, y: float) -> tuple[float, float]:
        return margin + (x - left) * scale, head + (y - top) * scale

    return (
        place,
        radius,
        math.ceil(2 * margin + span_x * scale),
        math.ceil(head + span_y * scale + radius + LABEL_SIZE),
    )


def _draw(seat_map: SeatMap, seats: list, by_type: dict, chosen_ids, taken_ids) -> None:
    """The seats as SVG circles with the section and row names. Written here
    rather than by a template loop: a plan of thousands of seats renders in
    a fraction of the time."""
    place, radius, seat_map.width, seat_map.height = _scale([(s[_X], s[_Y]) for s in seats])

    circles = []
    sections: dict[str, list] = defaultdict(list)
    rows: dict[tuple, list] = {}
    row_numbers: dict[tuple, int] = {}
    first_pickable = None
    for seat in seats:
        cx, cy = place(seat[_X], seat[_Y])
        sections[seat[_SECTION]].append((cx, cy))
        row = rows.setdefault((seat[_SECTION], seat[_ROW]), [])
        row.append((cx, cy))
        row_number = row_numbers.setdefault((seat[_SECTION], seat[_ROW]), len(row_numbers))
        status, key = seat[_STATUS], by_type[seat[_TYPE]]
        pickable = seat_map.pickable and key.on_sale and status == "free"
        chosen = pickable and seat[_ID] in chosen_ids and len(seat_map.chosen) < seat_map.most
        if chosen:
            seat_map.chosen.append({"id": seat[_ID], "label": seat[_LABEL], "type": key})
        if pickable and first_pickable is None:
            first_pickable = len(circles)
        classes = f"seat seat-type-{key.palette} is-{status}"
        if chosen:
            classes += " is-chosen"
        if seat[_ID] in taken_ids:
            classes += " is-lost"
        circles.append(
            [
                f'<circle class="{classes}" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" '
                f'data-seat="{seat[_ID]}" data-type="{key.palette}" data-row="{row_number}" '
                f'data-label="{escape(seat[_LABEL])}" role="checkbox" '
                f'aria-checked="{"true" if chosen else "false"}" '
                f'aria-disabled="{"false" if pickable else "true"}" '
                f'aria-label="{escape(seat_aria_label(seat[_LABEL], key, status))}" tabindex="',
                "-1",
                '"></circle>',
            ]
        )
    # One seat is in the Tab order, the first that can be picked (else the
    # first); the arrow keys move among the others (static/js/seat-map.js).
    circles[first_pickable or 0][1] = "0"

    names = []
    for name, where in sections.items():
        xs = [p[0] for p in where]
        names.append(
            format_html(
                '<text class="seat-map-section" x="{}" y="{}" text-anchor="middle">{}</text>',
                f"{(min(xs) + max(xs)) / 2:.1f}",
                f"{min(p[1] for p in where) - radius - LABEL_SIZE * 0.6:.1f}",
                name,
            )
        )
    for (_, row_name), where in rows.items():
        x, y = min(where)
        names.append(
            format_html(
                '<text class="seat-map-row" x="{}" y="{}" text-anchor="end" '
                'dominant-baseline="central">{}</text>',
                f"{x - radius - 4:.1f}",
                f"{y:.1f}",
                row_name,
            )
        )
    # Every text in the circles was escaped above; the rest are numbers and ids.
    seat_map.svg = mark_safe(  # noqa: S308
        '<g class="seat-map-names" aria-hidden="true">'
        + "".join(names)
        + "</g>"
        + "".join("".join(circle) for circle in circles)
    )


def _overview(seat_map: SeatMap, seats: list) -> None:
    """A large plan as one block per section, where its seats are."""
    place, radius, seat_map.width, seat_map.height = _scale(
        [(seat[_X], seat[_Y]) for seat in seats], width=OVERVIEW_WIDTH
    )
    bounds: dict[str, list] = {}
    counts: dict[str, list] = defaultdict(lambda: [0, 0])
    for seat in seats:
        x, y = place(seat[_X], seat[_Y])
        box = bounds.setdefault(seat[_SECTION], [x, y, x, y])
        box[0], box[1] = min(box[0], x), min(box[1], y)
        box[2], box[3] = max(box[2], x), max(box[3], y)
        counts[seat[_SECTION]][0] += 1
        counts[seat[_SECTION]][1] += seat[_STATUS] == "free"
    pad = radius + 2
    seat_map.sections = [
        SectionBlock(
            name=name,
            x=round(box[0] - pad, 1),
            y=round(box[1] - pad, 1),
            width=round(box[2] - box[0] + 2 * pad, 1),
            height=round(box[3] - box[1] + 2 * pad, 1),
            seats=counts[name][0],
            free=counts[name][1],
        )
        for name, box in bounds.items()
    ]
