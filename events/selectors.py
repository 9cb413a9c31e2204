"""Read queries of events that more than one caller needs."""

import datetime as dt
import uuid
from decimal import Decimal

from django.db import connection, models
from django.db.models import Q, Sum
from django.utils import timezone

from bookings.models import BookingItem, BookingStatus
from bookings.pricing import ticket_discount
from events.models import Event, EventStatus, PromoCode, TicketType

# Stand-ins for the values that change from call to call (see _PublishedEventQuery).
_ID = uuid.UUID("0e7e0000-0000-4000-8000-00000000c0de")
_NOW = dt.datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=dt.UTC)


class _PublishedEventQuery:
    """``Event.objects.filter(pk=…, status=published).with_available(now=…)``
    as SQL, written by the ORM once per process with stand-in values for the
    id and the instant, which each call replaces.

    Building and compiling that queryset costs several times what running it
    does (about 1.3 ms of CPU against 0.2 ms), and the event page asks it on
    every load. The ORM still writes the SQL, converts the values read and
    makes the instance (``Model.from_db``, as a queryset does), so the
    availability formula keeps its one source (``with_available``).
    """

    id_field = Event._meta.pk
    now_field = models.DateTimeField()  # what the ORM makes of a datetime in a lookup

    def __init__(self):
        self.fields = [f.attname for f in Event._meta.concrete_fields if f.name != "search_vector"]
        queryset = (
            Event.objects.filter(pk=_ID, status=EventStatus.PUBLISHED)
            .with_available(now=_NOW)
            .values(*self.fields, "available_now")
            .order_by()
        )
        compiler = queryset.query.get_compiler(connection=connection)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        # The backend's conversions of what the database returns (SQLite's text
        # UUIDs and datetimes, its 0/1 booleans...), as ``values()`` applies them.
        converters = compiler.get_converters([column[0] for column in compiler.select])
        self.converters = [
            (position, functions, expression)
            for position, (functions, expression) in converters.items()
        ]
        self.id_at = self._position(self.id_field.get_db_prep_value(_ID, connection))
        self.now_at = self._position(self.now_field.get_db_prep_value(_NOW, connection))

    def _position(self, value) -> int:
        (position,) = (i for i, param in enumerate(self.params) if param == value)
        return position

    def run(self, event_id, now) -> Event | None:
        params = list(self.params)
        params[self.id_at] = self.id_field.get_db_prep_value(event_id, connection)
        params[self.now_at] = self.now_field.get_db_prep_value(now, connection)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, functions, expression in self.converters:
            for function in functions:
                row[position] = function(row[position], expression, connection)
        event = Event.from_db(connection.alias, self.fields, row[: len(self.fields)])
        event.available_now = row[len(self.fields)]
        return event


_query: _PublishedEventQuery | None = None


def event_published(event_id: uuid.UUID, *, now: dt.datetime | None = None) -> Event | None:
    """The published event ``event_id`` with ``available_now`` annotated as
    ``with_available`` does (at ``now``), or None if there is none: what
    everyone but staff may see of one event. One query, compiled once per
    process."""
    global _query
    if _query is None:
        _query = _PublishedEventQuery()
    return _query.run(event_id, now or timezone.now())


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


def ticket_types_lapsed(*, event_id, now: dt.datetime) -> dict[uuid.UUID, int]:
    """Tickets of the event's lapsed holds (time run out, not yet released),
    per ticket type id; their sum is the event's."""
    rows = (
        BookingItem.objects.filter(
            booking__event_id=event_id,
            booking__status=BookingStatus.HELD,
            booking__expires_at__lte=now,
        )
        .order_by()
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
    types = list(types.order_by("position", "price", "name", "id"))
    lapsed = ticket_types_lapsed(event_id=event.pk, now=now)
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
    return types
