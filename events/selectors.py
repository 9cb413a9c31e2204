"""Read queries of events that more than one caller needs."""

import datetime as dt
import uuid
from decimal import Decimal

from django.db import connection, models
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from bookings.models import BookingItem, BookingStatus
from bookings.pricing import ticket_discount
from events.models import Event, EventStatus, PromoCode, TicketType
from nuvio.db.precompiled import precompiled

# Stand-ins for the values that change from call to call (nuvio.db.precompiled).
_STAND_INS = {
    "event_id": (uuid.UUID("0e7e0000-0000-4000-8000-00000000c0de"), Event._meta.pk),
    # What the ORM makes of a datetime in a lookup.
    "now": (dt.datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC), models.DateTimeField()),
}


_EVENT_FIELDS = [f.attname for f in Event._meta.concrete_fields if f.name != "search_vector"]


def _published_event_queryset(event_id, now):
    return (
        Event.objects.filter(pk=event_id, status=EventStatus.PUBLISHED)
        .with_available(now=now)
        .values(*_EVENT_FIELDS, "available_now")
        .order_by()
    )


def event_published(event_id: uuid.UUID, *, now: dt.datetime | None = None) -> Event | None:
    """The published event ``event_id`` with ``available_now`` annotated as
    ``with_available`` does (at ``now``), or None if there is none: what
    everyone but staff may see of one event. One query, compiled once per
    process; the ORM makes the instance (``Model.from_db``, as a queryset does)."""
    query = precompiled(_published_event_queryset, **_STAND_INS)
    rows = query.rows(event_id=event_id, now=now or timezone.now())
    if not rows:
        return None
    (row,) = rows
    event = Event.from_db(connection.alias, _EVENT_FIELDS, row[: len(_EVENT_FIELDS)])
    event.available_now = row[len(_EVENT_FIELDS)]
    return event


# --- ticket types and promo codes ---------------------------------------------


def ticket_type_available(ticket_type: TicketType, *, event_free: int, lapsed: int = 0) -> int:
    """Tickets of ``ticket_type`` a buyer could take: the smaller of what its
    own quota leaves (``lapsed``: tickets of its holds whose time ran out,
    free at once) and ``event_free`` (the event's free capacity, its lapsed
    holds counted); 0 while anyone waits on the list for this type (returned
    tickets are theirs). The booking services refuse by the same rule."""
    if ticket_type.waitlist_waiting:
        return 0
    available = event_free
    if ticket_type.quota is not None:
        available = min(available, ticket_type.quota - ticket_type.tickets_taken + lapsed)
    return max(available, 0)


def _lapsed_items(now: dt.datetime):
    """Booking items of holds whose time ran out (not yet released)."""
    return BookingItem.objects.filter(
        booking__status=BookingStatus.HELD, booking__expires_at__lte=now
    ).order_by()


def ticket_types_lapsed(*, event_id, now: dt.datetime) -> dict[uuid.UUID, int]:
    """Tickets of the event's lapsed holds (time run out, not yet released),
    per ticket type id; their sum is the event's."""
    rows = (
        _lapsed_items(now)
        .filter(booking__event_id=event_id)
        .values_list("ticket_type_id")
        .annotate(n=Sum("quantity"))
    )
    return dict(rows)


def promo_code_find(*, event: Event, code: str) -> PromoCode | None:
    """The event's promo code ``code`` (any case), with the types it
    discounts and unlocks loaded; None if it has none by that name."""
    code = (code or "").strip()
    if not code:
        return None
    return (
        PromoCode.objects.filter(event=event, code__iexact=code)
        .prefetch_related("ticket_types", "unlocks")
        .first()
    )


def promo_unlocks(promo: PromoCode | None, ticket_type: TicketType) -> bool:
    """True when ``promo`` makes the hidden ``ticket_type`` sellable."""
    return promo is not None and any(t.pk == ticket_type.pk for t in promo.unlocks.all())


def promo_discount(promo: PromoCode | None, ticket_type: TicketType) -> Decimal:
    """The discount ``promo`` gives on one ticket of ``ticket_type`` at its
    price (0 when the code's discount does not cover the type)."""
    if promo is None:
        return ticket_discount(ticket_type.price)
    scope = promo.ticket_types.all()
    if scope and not any(t.pk == ticket_type.pk for t in scope):
        return ticket_discount(ticket_type.price)
    return ticket_discount(
        ticket_type.price, percent=promo.discount_percent, amount=promo.discount_amount
    )


def promo_applies(promo: PromoCode, ticket_type: TicketType) -> bool:
    """True when a booking of ``ticket_type`` uses ``promo``: the code unlocks
    the type, or gives a discount (not 0) whose scope covers it."""
    if promo_unlocks(promo, ticket_type):
        return True
    if not (promo.discount_percent or promo.discount_amount):
        return False
    scope = promo.ticket_types.all()
    return not scope or any(t.pk == ticket_type.pk for t in scope)


def ticket_types_on_offer(
    *, event: Event, user=None, promo: PromoCode | None = None, now: dt.datetime | None = None
) -> list[TicketType]:
    """The ticket types a person may see for ``event``: the public ones (staff:
    all), plus the hidden ones ``promo`` unlocks, ordered by position then
    price. Each is annotated with ``available`` (``ticket_type_available``,
    lapsed holds counting as free), ``on_sale`` (inside its sale window, with
    tickets left, the event open for booking) and ``discounted_price`` (its
    price less ``promo``'s discount per ticket; the price when no code
    applies). ``event``'s counters are taken as loaded by the caller, and
    ``promo`` as given: check it first (``closed_reason``). Two queries."""
    now = now or timezone.now()
    types = TicketType.objects.filter(event=event)
    if not (user is not None and user.is_staff):
        unlocked = [t.pk for t in promo.unlocks.all()] if promo is not None else []
        types = types.filter(Q(hidden=False) | Q(pk__in=unlocked))
    types = list(types.order_by(*_OFFER_ORDER))
    lapsed = ticket_types_lapsed(event_id=event.pk, now=now)
    _offer(event, types, lapsed=lapsed, now=now, promo=promo)
    return types


_OFFER_ORDER = ("position", "price", "name", "id")


def _offer(event: Event, types: list[TicketType], *, lapsed: dict, now, promo=None) -> None:
    """Annotate ``types`` as ``ticket_types_on_offer`` describes; ``lapsed``:
    tickets of lapsed holds per type id, for all of the event's types."""
    event_free = event.capacity - event.tickets_taken + sum(lapsed.values())
    event_open = event.booking_closed_reason(now) is None
    for ticket_type in types:
        ticket_type.event = event
        ticket_type.available = ticket_type_available(
            ticket_type, event_free=event_free, lapsed=lapsed.get(ticket_type.pk, 0)
        )
        ticket_type.on_sale = (
            event_open and ticket_type.sale_closed_reason(now) is None and ticket_type.available > 0
        )
        ticket_type.discounted_price = ticket_type.price - promo_discount(promo, ticket_type)


# What the public event page shows that moves without a catalog change:
# counters (bookings) and the clock (lapsed holds, sale windows, the start).
_STOCK_EVENT_FIELDS = ("capacity", "tickets_taken", "status", "starts_at", "booking_enabled")
_STOCK_TYPE_FIELDS = (
    "id",
    "name",
    "price",
    "quota",
    "tickets_taken",
    "waitlist_waiting",
    "sale_starts_at",
    "sale_ends_at",
    "hidden",
)


def _in_field_order(model, names) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if f.attname in names]


_STOCK_EVENT_NAMES = _in_field_order(Event, {"id", *_STOCK_EVENT_FIELDS})
_STOCK_TYPE_NAMES = _in_field_order(TicketType, _STOCK_TYPE_FIELDS)


def _event_stock_queryset(event_id, now):
    lapsed = (
        _lapsed_items(now)
        .filter(booking__event_id=OuterRef("event_id"), ticket_type=OuterRef("pk"))
        .values("ticket_type")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    available = (
        Event.objects.filter(pk=OuterRef("event_id"))
        .with_available(now=now)
        .order_by()
        .values("available_now")
    )
    return (
        TicketType.objects.filter(event_id=event_id, event__status=EventStatus.PUBLISHED)
        .annotate(
            lapsed=Coalesce(Subquery(lapsed), 0),
            event_available=Subquery(available),
            **{f"event_{name}": F(f"event__{name}") for name in _STOCK_EVENT_FIELDS},
        )
        .values(
            *_STOCK_TYPE_FIELDS,
            "lapsed",
            "event_available",
            *(f"event_{name}" for name in _STOCK_EVENT_FIELDS),
        )
        .order_by(*_OFFER_ORDER)
    )


def public_stock(event_id: uuid.UUID, *, now: dt.datetime | None = None):
    """What moves on the public page of the published event ``event_id``
    without a catalog change: ``(available, public types)``, ``available``
    as ``with_available`` gives it and each public type annotated as
    ``ticket_types_on_offer`` does (with no code), in its order; None when
    the event is not published. One query, compiled once per process."""
    now = now or timezone.now()
    query = precompiled(_event_stock_queryset, **_STAND_INS)
    rows = query.dicts(event_id=event_id, now=now)
    if not rows:
        return None
    first = rows[0]
    # ``from_db`` makes an instance from positional values (in the model's
    # field order): a third of the cost of keyword arguments, which this page
    # pays on every refresh.
    first["event_id"] = event_id
    event = Event.from_db(
        connection.alias,
        _STOCK_EVENT_NAMES,
        [first[f"event_{name}"] for name in _STOCK_EVENT_NAMES],
    )
    types = [
        TicketType.from_db(connection.alias, _STOCK_TYPE_NAMES, [row[n] for n in _STOCK_TYPE_NAMES])
        for row in rows
    ]
    lapsed = {row["id"]: row["lapsed"] for row in rows}
    public = [ticket_type for ticket_type in types if not ticket_type.hidden]
    _offer(event, public, lapsed=lapsed, now=now)
    return first["event_available"], public
