"""Catalog pages: browse events with filters, and one event with its booking form."""

import math
import uuid
from dataclasses import dataclass

from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from bookings.selectors import waitlist_entry_for
from bookings.services import MAX_QUANTITY
from bookings.services.reserve import PROMO_MESSAGES
from events import cache as catalog_cache
from events.forms import SHOWN_FIELDS, EventBrowseFilter, PromoCodeForm
from events.models import Event, EventStatus, PromoCode, TicketType
from events.queue_page import queue_gate
from events.seat_map_page import seat_map_build
from events.selectors import (
    promo_applies,
    promo_code_find,
    promo_unlocks,
    ticket_types_lapsed,
    ticket_types_on_offer,
)
from nuvio.pagination import OnePassPaginator
from nuvio.replicas import primary_reads
from nuvio.throttling import ScopedThrottle

PAGE_SIZE = 12
# "Only N left" at or below this many tickets, or this share of the capacity.
LOW_STOCK_TICKETS = 10
LOW_STOCK_PERCENT = 10


@dataclass(frozen=True)
class Stock:
    """What the availability badge says about an event."""

    left: int
    capacity: int

    @classmethod
    def of(cls, event: Event) -> "Stock":
        return cls(left=max(event.available, 0), capacity=event.capacity)

    @property
    def sold_out(self) -> bool:
        return self.left <= 0

    @property
    def low(self) -> bool:
        return not self.sold_out and (
            self.left <= LOW_STOCK_TICKETS or self.left * 100 <= self.capacity * LOW_STOCK_PERCENT
        )


def _cities() -> list[str]:
    """Cities of published upcoming events, one spelling each, for the city filter."""

    def compute() -> dict:
        rows = (
            Event.objects.filter(status=EventStatus.PUBLISHED, starts_at__gt=timezone.now())
            .order_by()
            .values_list("city", flat=True)
            .distinct()
        )
        spellings: dict[str, str] = {}
        for city in rows:
            if city.strip():
                spellings.setdefault(city.casefold(), city)
        return {"cities": sorted(spellings.values(), key=str.casefold)}

    # Kept for minutes: read from the primary, never from a lagging replica.
    with primary_reads():
        facets = catalog_cache.cached(
            catalog_cache.facets_key(), catalog_cache.FACETS_TTL_SECONDS, compute
        )
    return facets["cities"]


def home(request):
    queryset = Event.objects.visible_to(request.user).with_available()
    # As in the API: everyone but staff sees upcoming events unless they ask.
    if not request.user.is_staff and "upcoming" not in request.GET:
        queryset = queryset.filter(starts_at__gt=timezone.now())
    filterset = EventBrowseFilter(request.GET, queryset=queryset)
    form = filterset.form
    form.set_cities(_cities())

    shown = [*SHOWN_FIELDS, "status"] if request.user.is_staff else SHOWN_FIELDS
    # Filters given in the URL but not on the form: their errors are shown
    # above it, and the valid ones are kept when the form is sent again.
    unshown = [
        form[name]
        for name in form.fields
        if name not in shown and name != "search" and request.GET.get(name)
    ]

    page = cards = page_numbers = None
    if filterset.is_valid():
        queryset = filterset.qs
        paginator = OnePassPaginator.or_djangos(queryset)(queryset, PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))  # a bad number: first or last page
        cards = [(event, Stock.of(event)) for event in page]
        page_numbers = paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)

    context = {
        "form": form,
        "filter_fields": [form[name] for name in shown],
        "carried": [field for field in unshown if not field.errors],
        "carried_errors": [field for field in unshown if field.errors],
        "page": page,
        "cards": cards,
        "page_numbers": page_numbers,
        "filtered": any(value for key, value in request.GET.items() if key != "page"),
    }
    return render(request, "events/home.html", context)


@dataclass
class TicketRow:
    """One ticket type as the event page offers it (``ticket_type`` annotated
    by ``ticket_types_on_offer``)."""

    ticket_type: TicketType
    # on_sale, not_started, ended, sold_out, hidden (staff see the hidden
    # types; only a code sells them) or closed (the event's booking is)
    state: str
    quantities: range  # what the quantity picker offers; empty: no picker
    chosen: int  # preselected quantity
    stock: Stock
    unlocked: bool  # a hidden type the promo code applied makes sellable

    @property
    def discounted(self) -> bool:
        return self.ticket_type.discounted_price != self.ticket_type.price


def _chosen(query) -> dict[uuid.UUID, int]:
    """Quantities per ticket type carried in the URL as ``ticket_type`` and
    ``quantity`` pairs (back from a refused booking, or kept while applying a
    promo code); anything malformed is ignored."""
    chosen = {}
    for type_id, quantity in zip(
        query.getlist("ticket_type"), query.getlist("quantity"), strict=False
    ):
        try:
            chosen[uuid.UUID(type_id)] = int(quantity)
        except ValueError:
            continue
    return chosen


def _promo_checked(request, form: PromoCodeForm, event: Event, now) -> PromoCode | None:
    """The usable code typed into ``form`` (bound by a GET), or None; why it
    cannot be used goes next to the field, in the words of the reserve.

    Each code looked up counts against the ``write`` rate of its person (or
    network), as the API's quote does: the answer tells whether a code
    exists, so guessing codes here costs what guessing them there does."""
    if not form.is_bound or not form.is_valid():
        return None
    code = form.cleaned_data["promo_code"].strip()
    if not code:
        return None
    allowed, wait, _ = ScopedThrottle().check(request, "write")
    if not allowed:
        form.refuse(f"Too many codes tried. Please wait {math.ceil(wait)} seconds and try again.")
        return None
    promo = promo_code_find(event=event, code=code)
    reason = "unknown" if promo is None else promo.closed_reason(now)
    if reason:
        form.refuse(PROMO_MESSAGES[reason])
        return None
    return promo


def _row(
    ticket_type: TicketType,
    *,
    event: Event,
    promo: PromoCode | None,
    bookable: bool,
    simple: bool,
    chosen: int,
    now,
) -> TicketRow:
    """``simple``: the event's only type on offer, whose picker starts at 1."""
    unlocked = ticket_type.hidden and promo_unlocks(promo, ticket_type)
    if not bookable:
        state = "closed"
    elif ticket_type.hidden and not unlocked:
        state = "hidden"
    elif ticket_type.sale_starts_at and now < ticket_type.sale_starts_at:
        state = "not_started"
    elif ticket_type.sale_ends_at and now >= ticket_type.sale_ends_at:
        state = "ended"
    elif not ticket_type.on_sale:
        state = "sold_out"
    else:
        state = "on_sale"
    quantities = range(0)
    if state == "on_sale":
        most = min(
            ticket_type.available,
            event.max_tickets_per_user,
            ticket_type.max_per_booking or MAX_QUANTITY,
        )
        quantities = range(1 if simple else 0, most + 1)
    if chosen not in quantities:
        chosen = quantities.start if quantities else 0
    stock = Stock(left=ticket_type.available, capacity=ticket_type.quota or event.capacity)
    return TicketRow(ticket_type, state, quantities, chosen, stock, unlocked)


def _stock(event: Event, rows: list[TicketRow], now) -> Stock:
    """What the page's badge says: the tickets of every type still on sale
    (or yet to be), within the event's free capacity (lapsed holds count as
    free, as everywhere)."""
    if not rows:
        return Stock(left=0, capacity=event.capacity)
    lapsed = ticket_types_lapsed(event_id=event.pk, now=now)
    event_free = event.capacity - event.tickets_taken + sum(lapsed.values())
    sellable = sum(row.ticket_type.available for row in rows if row.state != "ended")
    return Stock(left=max(min(event_free, sellable), 0), capacity=event.capacity)


def _waitlist_context(request, event: Event, rows: list[TicketRow]) -> dict:
    """The waiting list of the public types sold out in their sale window."""
    waitable = [row.ticket_type for row in rows if row.state == "sold_out"]
    waitable = [ticket_type for ticket_type in waitable if not ticket_type.hidden]
    if not waitable:
        return {}
    most = event.max_tickets_per_user
    if len(waitable) == 1 and waitable[0].max_per_booking:
        most = min(most, waitable[0].max_per_booking)
    return {
        "waitlist_types": waitable,
        "waitlist_entry": waitlist_entry_for(user=request.user, event=event),
        "waitlist_quantities": range(1, most + 1),
    }


def event_detail(request, event_id):
    """The event with its ticket types. A promo code (``?promo_code=``, sent
    by the page's GET form) shows the hidden types it unlocks and its
    discounted prices before anything is held; ``ticket_type``/``quantity``
    pairs in the URL preselect quantities.

    A seated event's page shows its seat map (``events.seat_map_page``):
    ``seat`` and ``taken`` seat ids in the URL (back from a refused booking)
    preselect the seats still free and mark those lost; ``section`` picks
    the section to show of a plan too large to show whole.

    While the event sells through its waiting room, the page offers the
    waiting room instead of the Book form (and the seat map cannot be
    picked from) to everyone without a live admission."""
    event = get_object_or_404(Event.objects.visible_to(request.user).with_available(), pk=event_id)
    now = timezone.now()
    return render(request, "events/detail.html", offer_context(request, event, now))


def offer_context(request, event: Event, now, *, seat_map: bool = True) -> dict:
    """What the event page shows of ``event`` to the requester at ``now``:
    its ticket types, the Book form's rows, the promo code and the waiting
    list (``seat_map``: the seat map of a seated event too). The waiting
    room's page shows its Book form from the same rows."""
    closed_reason = event.booking_closed_reason(now)

    promo_form = PromoCodeForm(request.GET if "promo_code" in request.GET else None)
    promo = _promo_checked(request, promo_form, event, now)
    types = ticket_types_on_offer(event=event, user=request.user, promo=promo, now=now)
    chosen = _chosen(request.GET)
    if promo is not None:
        if not any(promo_applies(promo, t) for t in types):
            promo_form.refuse(PROMO_MESSAGES["not_applicable"])
            promo = None
        elif any(chosen.get(t.pk) for t in types) and not any(
            promo_applies(promo, t) for t in types if chosen.get(t.pk)
        ):
            # Back from a booking the code did not apply to: say so where it was typed.
            promo_form.refuse(PROMO_MESSAGES["not_applicable"])

    simple = len(types) == 1
    rows = [
        _row(
            t,
            event=event,
            promo=promo,
            bookable=not closed_reason,
            simple=simple,
            chosen=chosen.get(t.pk, 0),
            now=now,
        )
        for t in types
    ]
    bookable = not closed_reason and any(row.quantities for row in rows)
    queue = None if closed_reason else queue_gate(event=event, user=request.user, now=now)
    context = {
        "event": event,
        "stock": _stock(event, rows, now),
        "closed_reason": closed_reason,
        "bookable": bookable,
        "queue": queue,
        # The waiting room stands between this person and the Book form.
        "queue_gated": bookable and queue is not None and not queue.admitted,
        "rows": rows,
        "simple": simple,
        "from_price": len({t.price for t in types if not t.hidden}) > 1,
        "promo_form": promo_form,
        "promo": promo,
        "offer_promo": promo_form.is_bound or event.promo_codes.exists(),
        "sales_over": bool(rows) and all(row.state == "ended" for row in rows),
    }
    if event.seated and seat_map:
        context["seat_map"] = seat_map_build(
            event=event,
            rows=rows,
            now=now,
            pickable=request.user.is_authenticated and bookable and not context["queue_gated"],
            most=min(event.max_tickets_per_user, MAX_QUANTITY),
            chosen=request.GET.getlist("seat"),
            taken=request.GET.getlist("taken"),
            section=request.GET.get("section"),
        )
    if not closed_reason:
        context |= _waitlist_context(request, event, rows)
    return context
