"""The analytics figures: one set of definitions shared by the API, the
dashboard, its CSV files and ``manage.py analytics_report``.

Every figure is about the bookings **created** in the range ``from``..``to``
(UTC dates, both included) of the events in scope (``category``, ``event``),
whatever happened to them since, and is summed by the database from the
per-event-per-day roll-ups (``DailyEventStats``): the cost depends on the
number of events and days in the range, not on the number of bookings. Each
computation first applies the booking changes marked for the roll-ups and not
yet applied (``rollups_catch_up``), so the figures never wait for the worker:
with the cache's bound (``analytics.cache``) staff see a booking within 5 s.

Definitions (also in the OpenAPI description, ``analytics.api.views``):

- ``bookings``: ``total`` created; ``held`` still held and not yet expired;
  ``confirmed`` paid and not cancelled; ``cancelled`` cancelled, as a hold or
  after payment; ``expired`` holds not paid in time, including *lapsed* holds
  (past ``expires_at`` but not yet released), counted live.
- ``tickets_sold``: tickets of the bookings confirmed now; a booking cancelled
  after payment no longer counts (its tickets are void and back on sale).
- ``revenue``: money charged, the amounts of every recorded payment (refunded
  or not, including a charge that bought nothing and was refunded at once).
- ``refunded``: refunds issued (settled or still pending at the gateway).
- ``net_revenue``: ``revenue - refunded``, the money kept.
- ``cancellation_rate``: bookings cancelled after payment divided by the
  bookings ever paid (confirmed + cancelled after payment); a hold given up
  before payment is not a cancellation here. 0 when nothing was paid.
- ``utilization``: ``tickets_sold`` divided by the capacity of the events in
  scope that have at least one booking in the range. 0 without capacity.
- ``top_events``: the 10 events with the most tickets sold (at least one), then
  by revenue; each with its own ``utilization`` (tickets sold / capacity).
- ``daily``: one entry per day of the range, zeros included: bookings created
  that day, their tickets sold, their revenue, and how many are cancelled.
- One event only, per ticket type and per promo code (``_sales_breakdown``),
  from its booking items: a type's ``tickets_sold`` (confirmed now) and
  ``revenue`` (what was charged for its items, ``quantity x (unit_price -
  discount)``, of the bookings ever paid: confirmed, or cancelled after
  payment; refunds are not taken off, as for ``revenue``); a code's ``uses``
  (tickets of its bookings held, not lapsed, or confirmed) and
  ``discount_total`` (``quantity x discount`` of its bookings ever paid); a
  type's ``hidden`` says it is shown and sold only with a promo code that
  unlocks it.
- One event only, its waiting room (``queue``, null when it has none) as it
  is at the moment of asking, not cached: ``waiting`` (places not admitted
  yet, early arrivals included), ``admitted`` (admissions running),
  ``expired`` (admissions that ran out, their users not back in the queue)
  and ``admit_per_minute``.

Money is a ``Decimal`` with two places; rates are floats in 0..1 rounded to 4
places.
"""

import datetime as dt
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.apps import apps
from django.conf import settings
from django.db.models import Count, F, Func, IntegerField, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from analytics.cache import FIGURES_TTL_SECONDS, figures_key
from analytics.models import DailyEventStats
from analytics.services import FIGURES as ROLLUP_FIGURES
from analytics.services import day_start, rollups_catch_up, utc_day
from bookings.models import Booking, BookingItem, BookingStatus, SeatHold
from events.cache import cached
from events.models import Event, PromoCode, Seat, TicketType
from events.queue import WaitingRoom, queue_figures, waiting_room
from nuvio.errors import Invalid, NotFound

DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_EVENTS = 10
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Filters:
    """Validated filters (see ``analytics.forms.AnalyticsFilterForm``)."""

    day_from: dt.date
    day_to: dt.date
    category: str | None = None
    event_id: uuid.UUID | None = None

    @classmethod
    def default(cls, *, today: dt.date | None = None, **kwargs) -> "Filters":
        """The last ``DEFAULT_DAYS`` days up to today (UTC), both included."""
        today = today or utc_day(timezone.now())
        return cls(day_from=today - dt.timedelta(days=DEFAULT_DAYS - 1), day_to=today, **kwargs)

    @property
    def days(self) -> list[dt.date]:
        count = (self.day_to - self.day_from).days + 1
        return [self.day_from + dt.timedelta(days=n) for n in range(count)]

    @property
    def cache_parts(self) -> tuple:
        return (self.day_from, self.day_to, self.category or "", self.event_id or "")

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (links, CSV downloads)."""
        query = {"from": self.day_from.isoformat(), "to": self.day_to.isoformat()}
        if self.category:
            query["category"] = self.category
        if self.event_id:
            query["event"] = str(self.event_id)
        return query


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def rate(numerator, denominator) -> float:
    """``numerator / denominator`` in 0..1 rounded to 4 places; 0 if nothing to divide by."""
    if not denominator:
        return 0.0
    return float((Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_UP))


def _rollups(filters: Filters) -> QuerySet[DailyEventStats]:
    rows = DailyEventStats.objects.filter(day__gte=filters.day_from, day__lte=filters.day_to)
    if filters.category:
        rows = rows.filter(event__category=filters.category)
    if filters.event_id:
        rows = rows.filter(event_id=filters.event_id)
    return rows.order_by()


def _lapsed_holds(filters: Filters, now: dt.datetime) -> int:
    """Holds in scope whose time ran out but which are still ``held``: they
    count as expired. Few, because the release job clears them every few
    seconds, and found through the partial index of held bookings by expiry."""
    holds = Booking.objects.lapsed_holds(now).filter(
        created_at__gte=day_start(filters.day_from),
        created_at__lt=day_start(filters.day_to + dt.timedelta(days=1)),
    )
    if filters.category:
        holds = holds.filter(event__category=filters.category)
    if filters.event_id:
        holds = holds.filter(event_id=filters.event_id)
    return holds.count()


def _sum(field: str):
    return Coalesce(Sum(field), 0, output_field=IntegerField())


class _OverAll(Func):
    """``SUM(<expression>) OVER ()``: in a grouped query, the total over every
    group, repeated on each row. The top events and the totals of the whole
    scope then come from one scan of the roll-ups (the window is computed
    before ``LIMIT``)."""

    template = "SUM(%(expressions)s) OVER ()"
    contains_over_clause = True

    def get_group_by_cols(self):
        return []


# Per-event sums (e_...) and their totals over the scope (all_...).
_EVENT_SUMS = {f"e_{name}": Sum(name) for name in ROLLUP_FIGURES}
_TOTALS = {
    f"all_{name}": _OverAll(Sum(name), output_field=DailyEventStats._meta.get_field(name))
    for name in ROLLUP_FIGURES
}


def analytics_summary(*, filters: Filters, now: dt.datetime | None = None) -> dict:
    """The figures of ``GET /api/analytics/summary/`` (see the module's
    definitions), in three queries whatever the number of bookings: totals
    with the top events, the daily series, the lapsed holds; in production
    mode after the roll-ups catch up (one more, the writers' lock, and the
    refresh of any pairs marked since the last drain). Raises ``Invalid`` for
    an ``event`` filter naming no event."""
    _check_event(filters)
    rollups_catch_up()
    return _figures(filters, now or timezone.now())


def _check_event(filters: Filters) -> None:
    if filters.event_id and not Event.objects.filter(pk=filters.event_id).exists():
        raise Invalid("No such event.", details={"event": ["No such event."]})


def _figures(filters: Filters, now: dt.datetime) -> dict:
    rows = _rollups(filters)
    # One row per event in scope, the most tickets first, each carrying the
    # totals of the whole scope. Grouped by the event id alone (its name and
    # capacity ride along as MAX), so the database hashes ~events groups.
    per_event = list(
        rows.values("event_id")
        .annotate(
            **_EVENT_SUMS,
            e_name=Max("event__name"),
            e_capacity=Max("event__capacity"),
        )
        .annotate(
            **_TOTALS,
            all_capacity=_OverAll(Max("event__capacity"), output_field=IntegerField()),
        )
        .order_by("-e_tickets", "-e_revenue", "e_name", "event_id")[:TOP_EVENTS]
    )
    first = per_event[0] if per_event else {}
    totals = {name: first.get(f"all_{name}") or 0 for name in [*ROLLUP_FIGURES, "capacity"]}
    # Lapsed holds are in the roll-ups' `held` until released; move them over.
    lapsed = min(_lapsed_holds(filters, now), totals["held"])
    revenue, refunded = money(totals["revenue"]), money(totals["refunded"])
    return {
        "bookings": {
            "total": totals["bookings"],
            "held": totals["held"] - lapsed,
            "confirmed": totals["confirmed"],
            "cancelled": totals["cancelled"],
            "expired": totals["expired"] + lapsed,
        },
        "tickets_sold": totals["tickets"],
        "revenue": revenue,
        "refunded": refunded,
        "net_revenue": revenue - refunded,
        "cancellation_rate": rate(
            totals["cancelled_paid"], totals["confirmed"] + totals["cancelled_paid"]
        ),
        "utilization": rate(totals["tickets"], totals["capacity"]),
        "currency": settings.NUVIO_CURRENCY,
        "top_events": [
            {
                "id": row["event_id"],
                "name": row["e_name"],
                "tickets_sold": row["e_tickets"],
                "capacity": row["e_capacity"],
                "utilization": rate(row["e_tickets"], row["e_capacity"]),
                "revenue": money(row["e_revenue"]),
            }
            for row in per_event
            if row["e_tickets"] > 0
        ],
        "daily": _daily(rows, filters),
    }


def _daily(rows: QuerySet[DailyEventStats], filters: Filters) -> list[dict]:
    by_day = {
        row["day"]: row
        for row in rows.values("day").annotate(
            n=_sum("bookings"), t=_sum("tickets"), r=Sum("revenue"), c=_sum("cancelled")
        )
    }
    empty = {"n": 0, "t": 0, "r": 0, "c": 0}
    return [
        {
            "date": day,
            "bookings": by_day.get(day, empty)["n"],
            "tickets": by_day.get(day, empty)["t"],
            "revenue": money(by_day.get(day, empty)["r"]),
            "cancellations": by_day.get(day, empty)["c"],
        }
        for day in filters.days
    ]


def waitlist_size(event: Event) -> int:
    """People waiting for tickets of ``event``: entries ``waiting`` on the
    waiting list, 0 while Nuvio has no waiting list (``bookings.WaitlistEntry``)."""
    try:
        entry_model = apps.get_model("bookings", "WaitlistEntry")
    except LookupError:
        return 0
    return entry_model.objects.filter(event=event, status="waiting").count()


def _sales_breakdown(event: Event, filters: Filters, now: dt.datetime) -> dict:
    """``ticket_types`` and ``promo_codes`` of one event (see the module's
    definitions), every type and code of the event listed, unsold ones with
    zeros, in three queries whatever their number: the types, the codes, then
    the event's items grouped by (type, code).

    Read straight from the booking items rather than from roll-ups: one
    event's items, about 0.1 s for an event with 50,000 bookings
    (docs/design.md), cached with the other figures, and exact at the moment
    of the computation, with no mark to wait for.
    """
    types = list(TicketType.objects.filter(event=event).only("id", "name", "quota", "hidden"))
    codes = list(PromoCode.objects.filter(event=event).only("id", "code"))
    paid = Q(booking__confirmed_at__isnull=False)
    live = Q(booking__status=BookingStatus.CONFIRMED) | Q(
        booking__status=BookingStatus.HELD, booking__expires_at__gt=now
    )
    rows = (
        BookingItem.objects.filter(
            # By type too: the planner then reads only this event's items,
            # through the items' type index, rather than every item.
            ticket_type_id__in=[kind.pk for kind in types],
            booking__event_id=event.pk,
            booking__created_at__gte=day_start(filters.day_from),
            booking__created_at__lt=day_start(filters.day_to + dt.timedelta(days=1)),
        )
        .order_by()
        .values("ticket_type_id", "booking__promo_code_id")
        .annotate(
            sold=_sum_if("quantity", Q(booking__status=BookingStatus.CONFIRMED)),
            live=_sum_if("quantity", live),
            revenue=Sum(F("quantity") * (F("unit_price") - F("discount")), filter=paid),
            discount_total=Sum(F("quantity") * F("discount"), filter=paid),
        )
    )
    sold, revenue = Counter(), defaultdict(Decimal)
    uses, discounts = Counter(), defaultdict(Decimal)
    for row in rows:
        kind, code = row["ticket_type_id"], row["booking__promo_code_id"]
        sold[kind] += row["sold"]
        revenue[kind] += row["revenue"] or 0
        if code is not None:
            uses[code] += row["live"]
            discounts[code] += row["discount_total"] or 0
    return {
        "ticket_types": [
            {
                "id": kind.pk,
                "name": kind.name,
                "tickets_sold": sold[kind.pk],
                "quota": kind.quota,
                "revenue": money(revenue[kind.pk]),
                "hidden": kind.hidden,
            }
            for kind in types
        ],
        "promo_codes": [
            {
                "id": code.pk,
                "code": code.code,
                "uses": uses[code.pk],
                "discount_total": money(discounts[code.pk]),
            }
            for code in codes
        ],
    }


def seat_sections(event: Event, now: dt.datetime) -> list[dict]:
    """A seated event's seats per section, as they are now (the date range
    does not apply: a seat is sold or not): ``[{name, seats, sold, held,
    blocked, free}]`` in the plan's order; ``[]`` for an unseated event. Two
    grouped queries whatever the plan's size."""
    if not event.seated:
        return []
    sections = (
        Seat.objects.filter(event=event)
        .order_by()
        .values("section")
        .annotate(seats=Count("id"), first=Min("position"))
        .order_by("first")
    )
    live = SeatHold.objects.filter(seat__event=event, released_at__isnull=True)
    states = (
        live.order_by()
        .values("seat__section")
        .annotate(
            sold=Count("id", filter=Q(booking__status=BookingStatus.CONFIRMED)),
            held=Count(
                "id", filter=Q(booking__status=BookingStatus.HELD, booking__expires_at__gt=now)
            ),
            blocked=Count("id", filter=Q(booking__isnull=True)),
        )
    )
    by_section = {row["seat__section"]: row for row in states}
    rows = []
    for section in sections:
        state = by_section.get(section["section"], {"sold": 0, "held": 0, "blocked": 0})
        taken = state["sold"] + state["held"] + state["blocked"]
        rows.append(
            {
                "name": section["section"],
                "seats": section["seats"],
                "sold": state["sold"],
                "held": state["held"],
                "blocked": state["blocked"],
                "free": section["seats"] - taken,
            }
        )
    return rows


def _sum_if(field: str, condition: Q):
    return Coalesce(Sum(field, filter=condition), 0, output_field=IntegerField())


def analytics_event(
    *, event_id, day_from: dt.date, day_to: dt.date, now: dt.datetime | None = None
) -> dict:
    """The figures of ``GET /api/analytics/events/{id}/``: the summary's
    figures for one event, plus ``available`` (exact: lapsed holds count as
    available, ``Event.objects.with_available``), ``waitlist`` and the sales
    per ticket type and per promo code (``_sales_breakdown``) and, on a
    seated event, its seats per section (``seat_sections``). Raises
    ``NotFound`` for an unknown event."""
    now = now or timezone.now()
    event = Event.objects.with_available(now).filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such event.")
    filters = Filters(day_from=day_from, day_to=day_to, event_id=event.pk)
    rollups_catch_up()
    figures = _figures(filters, now)
    figures["currency"] = event.currency
    figures["available"] = event.available
    figures["waitlist"] = waitlist_size(event)
    figures.update(_sales_breakdown(event, filters, now))
    figures["sections"] = seat_sections(event, now)
    figures["queue"] = queue_figures(room=WaitingRoom.of(event), now=now)
    figures["event"] = {
        "id": event.pk,
        "name": event.name,
        "category": event.category,
        "starts_at": event.starts_at,
        "timezone": event.timezone,
        "capacity": event.capacity,
        "status": event.status,
    }
    return figures


def analytics_events_table(*, filters: Filters) -> list[dict]:
    """One row per event in scope (at least one booking in the range), most
    tickets sold first: the dashboard's table and ``events.csv``. The rates
    are those of the summary, per event. ``Invalid`` for an unknown ``event``."""
    _check_event(filters)
    rollups_catch_up()
    rows = (
        _rollups(filters)
        .values("event_id")
        .annotate(
            **_EVENT_SUMS,
            e_name=Max("event__name"),
            e_category=Max("event__category"),
            e_starts_at=Max("event__starts_at"),
            e_capacity=Max("event__capacity"),
        )
        .order_by("-e_tickets", "-e_revenue", "e_name", "event_id")
    )
    table = []
    for row in rows:
        revenue, refunded = money(row["e_revenue"]), money(row["e_refunded"])
        confirmed, paid_cancels = row["e_confirmed"], row["e_cancelled_paid"]
        table.append(
            {
                "id": row["event_id"],
                "name": row["e_name"],
                "category": row["e_category"],
                "starts_at": row["e_starts_at"],
                "capacity": row["e_capacity"],
                "bookings": row["e_bookings"],
                "confirmed": confirmed,
                "cancelled": row["e_cancelled"],
                "tickets_sold": row["e_tickets"],
                "utilization": rate(row["e_tickets"], row["e_capacity"]),
                "revenue": revenue,
                "refunded": refunded,
                "net_revenue": revenue - refunded,
                "cancellation_rate": rate(paid_cancels, confirmed + paid_cancels),
            }
        )
    return table


# --- cached ------------------------------------------------------------------------


def summary_cached(*, filters: Filters) -> dict:
    """``analytics_summary`` through the cache: a hit runs no database query."""
    key = figures_key("summary", *filters.cache_parts)
    return cached(key, FIGURES_TTL_SECONDS, lambda: analytics_summary(filters=filters))


def event_cached(*, event_id, day_from: dt.date, day_to: dt.date) -> dict:
    """``analytics_event`` through the cache: a hit runs no database query.
    The waiting room's figures move by the second in a sale: they are read
    again on every call (one Redis round trip; the room's settings from this
    process's memory), for an event that has a room. Raises ``Unavailable``
    when the room cannot be reached."""
    key = figures_key("event", event_id, day_from.isoformat(), day_to.isoformat())
    computed = []

    def compute() -> dict:
        computed.append(True)
        return analytics_event(event_id=event_id, day_from=day_from, day_to=day_to)

    figures = cached(key, FIGURES_TTL_SECONDS, compute)
    if figures.get("queue") is not None and not computed:
        room = waiting_room(uuid.UUID(str(event_id)))
        if room is not None:
            figures = {**figures, "queue": queue_figures(room=room)}
    return figures


def events_table_cached(*, filters: Filters) -> list[dict]:
    key = figures_key("events", *filters.cache_parts)
    return cached(key, FIGURES_TTL_SECONDS, lambda: analytics_events_table(filters=filters))


# One row per ticket type, then one per promo code, of one event; a cell that
# does not apply to the row's kind is empty (as is a type's quota when it has
# none of its own: only the event's capacity bounds it).
SALES_COLUMNS = [
    "kind",
    "id",
    "name",
    "hidden",
    "quota",
    "tickets_sold",
    "revenue",
    "uses",
    "discount_total",
    "currency",
]


def sales_rows(figures: dict):
    """``SALES_COLUMNS`` rows of an event's ``ticket_types`` and ``promo_codes``
    (its figures): the sales CSV download and ``analytics_report --event``."""
    currency = figures["currency"]
    for row in figures["ticket_types"]:
        yield [
            "ticket_type",
            row["id"],
            row["name"],
            "true" if row["hidden"] else "false",
            row["quota"],
            row["tickets_sold"],
            row["revenue"],
            None,
            None,
            currency,
        ]
    for row in figures["promo_codes"]:
        yield [
            "promo_code",
            row["id"],
            row["code"],
            None,
            None,
            None,
            None,
            row["uses"],
            row["discount_total"],
            currency,
        ]
