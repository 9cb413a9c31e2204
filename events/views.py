"""Catalog pages: browse events with filters, and one event with its booking form."""

from dataclasses import dataclass

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from bookings.waitlist import waitlist_entry_for
from events import cache as catalog_cache
from events.forms import SHOWN_FIELDS, EventBrowseFilter
from events.models import Event, EventStatus

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
        paginator = Paginator(filterset.qs, PAGE_SIZE)
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


def event_detail(request, event_id):
    event = get_object_or_404(Event.objects.visible_to(request.user).with_available(), pk=event_id)
    stock = Stock.of(event)
    if event.waitlist_waiting:
        # Tickets that came back are kept for the people waiting: sold out to anyone else.
        stock = Stock(left=0, capacity=event.capacity)
    closed_reason = event.booking_closed_reason()
    bookable = not closed_reason and not stock.sold_out
    quantities = range(1, min(event.max_tickets_per_user, stock.left) + 1) if bookable else []
    context = {
        "event": event,
        "stock": stock,
        "closed_reason": closed_reason,
        "bookable": bookable,
        "quantities": quantities,
    }
    if stock.sold_out and not closed_reason:
        context["waitlist_entry"] = waitlist_entry_for(user=request.user, event=event)
        context["waitlist_quantities"] = range(1, event.max_tickets_per_user + 1)
    return render(request, "events/detail.html", context)
