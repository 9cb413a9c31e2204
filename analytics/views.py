"""The staff dashboard: figures, charts and CSV downloads, from the same
selectors (and the same cache) as the API. Anonymous visitors are sent to log
in; signed-in customers get 403."""

import csv
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analytics import selectors
from analytics.forms import AnalyticsFilterForm, DashboardFilterForm, EventPageFilterForm
from analytics.selectors import Filters, rate
from nuvio.errors import NuvioError, Unavailable

TABLE_ROWS = 20
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def staff_required(view):
    """Log in first (redirect), then staff only (403)."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _show_resolved(form, filters: Filters) -> None:
    """Show the dates actually used (the defaults when none were given)."""
    form.data = form.data.copy()
    form.data["from"] = filters.day_from.isoformat()
    form.data["to"] = filters.day_to.isoformat()


def _chart_data(summary: dict, table: list[dict]) -> dict:
    """What the charts draw (numbers, not strings), for ``json_script``."""
    return {
        "currency": summary["currency"],
        "daily": {
            "labels": [day["date"].isoformat() for day in summary["daily"]],
            "bookings": [day["bookings"] for day in summary["daily"]],
            "revenue": [float(day["revenue"]) for day in summary["daily"]],
        },
        "status": {
            "labels": ["Held", "Confirmed", "Cancelled", "Expired"],
            "values": [
                summary["bookings"]["held"],
                summary["bookings"]["confirmed"],
                summary["bookings"]["cancelled"],
                summary["bookings"]["expired"],
            ],
        },
        "top_events": {
            "labels": [event["name"] for event in summary["top_events"]],
            "tickets": [event["tickets_sold"] for event in summary["top_events"]],
        },
        "utilization": {
            "labels": [row["name"] for row in table],
            "percent": [round(row["utilization"] * 100, 2) for row in table],
        },
    }


def _breakdown(figures: dict) -> dict:
    """An event's sales per ticket type and promo code, each type with its
    ``share`` (0..1) of the tickets sold, for ``_sales_breakdown.html``."""
    sold = sum(row["tickets_sold"] for row in figures["ticket_types"])
    return {
        "ticket_types": [
            {**row, "share": rate(row["tickets_sold"], sold)} for row in figures["ticket_types"]
        ],
        "promo_codes": figures["promo_codes"],
        "sections": figures.get("sections", []),
        "currency": figures["currency"],
    }


@require_safe
@never_cache
@staff_required
def dashboard(request):
    form = DashboardFilterForm(request.GET)
    context = {"form": form, "summary": None}
    if form.is_valid():
        filters = form.filters
        try:
            summary = selectors.summary_cached(filters=filters)
        except NuvioError as exc:
            for field, messages in (exc.details or {None: [exc.message]}).items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            table = selectors.events_table_cached(filters=filters)
            shown = table[:TABLE_ROWS]
            _show_resolved(form, filters)
            context.update(
                summary=summary,
                filters=filters,
                table=shown,
                table_count=len(table),
                query_string=urlencode(filters.as_query()),
                data=_chart_data(summary, shown),
            )
            if filters.event_id:
                # One event chosen: its sales per type and code, from the
                # same cached figures as its own page and the API.
                try:
                    figures = selectors.event_cached(
                        event_id=filters.event_id, day_from=filters.day_from, day_to=filters.day_to
                    )
                except Unavailable as exc:  # its waiting room cannot be reached
                    form.add_error(None, exc.message)
                else:
                    context.update(breakdown=_breakdown(figures), event_id=filters.event_id)
    return render(request, "analytics/dashboard.html", context)


@require_safe
@never_cache
@staff_required
def event_page(request, event_id):
    form = EventPageFilterForm(request.GET)
    context = {"form": form, "figures": None}
    if form.is_valid():
        filters = form.filters
        try:
            figures = selectors.event_cached(
                event_id=event_id, day_from=filters.day_from, day_to=filters.day_to
            )
        except Unavailable as exc:
            # The event's waiting room cannot be reached: say so, figures or not.
            context["unavailable"] = exc.message
            return render(request, "analytics/event.html", context, status=503)
        except NuvioError as exc:
            if exc.status == 404:
                raise Http404("No such event.") from None
            raise
        _show_resolved(form, filters)
        table = [
            {"name": figures["event"]["name"], "utilization": figures["utilization"]},
        ]
        context.update(
            figures=figures,
            breakdown=_breakdown(figures),
            event=figures["event"],
            filters=filters,
            query_string=urlencode({**filters.as_query(), "event": str(event_id)}),
            data=_chart_data(figures, table),
        )
    return render(request, "analytics/event.html", context)


def _safe_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_response(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(value) for value in row])
    return response


def _csv_filters(request, form_class=AnalyticsFilterForm) -> Filters | HttpResponseBadRequest:
    form = form_class(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    return form.filters


def _range_name(filters: Filters) -> str:
    return f"{filters.day_from.isoformat()}_{filters.day_to.isoformat()}"


DAILY_COLUMNS = ["date", "bookings", "tickets", "revenue", "cancellations"]
EVENT_COLUMNS = [
    "id",
    "name",
    "category",
    "starts_at",
    "capacity",
    "bookings",
    "confirmed",
    "cancelled",
    "tickets_sold",
    "utilization",
    "revenue",
    "refunded",
    "net_revenue",
    "cancellation_rate",
]


@require_safe
@never_cache
@staff_required
def daily_csv(request):
    """The daily series of the dashboard's filters, one row per day."""
    filters = _csv_filters(request)
    if isinstance(filters, HttpResponse):
        return filters
    try:
        summary = selectors.summary_cached(filters=filters)
    except NuvioError as exc:
        return HttpResponseBadRequest(exc.message, content_type="text/plain; charset=utf-8")
    rows = ([day[column] for column in DAILY_COLUMNS] for day in summary["daily"])
    return _csv_response(f"nuvio-daily-{_range_name(filters)}.csv", DAILY_COLUMNS, rows)


@require_safe
@never_cache
@staff_required
def events_csv(request):
    """Every event in scope with its figures, most tickets sold first."""
    filters = _csv_filters(request)
    if isinstance(filters, HttpResponse):
        return filters
    try:
        table = selectors.events_table_cached(filters=filters)
    except NuvioError as exc:
        return HttpResponseBadRequest(exc.message, content_type="text/plain; charset=utf-8")
    rows = (
        [
            row["starts_at"].isoformat() if column == "starts_at" else row[column]
            for column in EVENT_COLUMNS
        ]
        for row in table
    )
    return _csv_response(f"nuvio-events-{_range_name(filters)}.csv", EVENT_COLUMNS, rows)


@require_safe
@never_cache
@staff_required
def event_sales_csv(request, event_id):
    """One event's sales per ticket type and per promo code: the figures of
    its page (the same cached selector), for its page's dates."""
    filters = _csv_filters(request, EventPageFilterForm)
    if isinstance(filters, HttpResponse):
        return filters
    try:
        figures = selectors.event_cached(
            event_id=event_id, day_from=filters.day_from, day_to=filters.day_to
        )
    except NuvioError as exc:
        if exc.status == 404:
            raise Http404("No such event.") from None
        return HttpResponseBadRequest(exc.message, content_type="text/plain; charset=utf-8")
    filename = f"nuvio-sales-{event_id}-{_range_name(filters)}.csv"
    return _csv_response(filename, selectors.SALES_COLUMNS, selectors.sales_rows(figures))
