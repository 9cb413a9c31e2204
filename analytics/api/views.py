"""Staff analytics: `GET /api/analytics/summary/` and
`GET /api/analytics/events/{id}/`. Both answer from the cache when they can
(no database query then) and otherwise from the roll-ups."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.api.serializers import EventFiguresSerializer, SummarySerializer
from analytics.forms import parse_filters
from analytics.selectors import DEFAULT_DAYS, MAX_DAYS, TOP_EVENTS
from events.models import Category

FIGURES_DESCRIPTION = f"""
Staff only. Every figure is about the bookings **created** from `from` to `to`
(UTC dates, both included) of the events in scope, whatever happened to them
since. Without `to` the range ends today (UTC); without `from` it starts
{DEFAULT_DAYS - 1} days before `to` (the last {DEFAULT_DAYS} days). A range may
span at most {MAX_DAYS} days.

- `bookings`: `total` created; `held` still held and not yet expired;
  `confirmed` paid and not cancelled; `cancelled` cancelled as a hold or after
  payment; `expired` not paid in time, **including lapsed holds** (past their
  expiry but not yet released).
- `tickets_sold`: tickets of the bookings confirmed now. A booking cancelled
  after payment does not count (its tickets are void and back on sale).
- `revenue`: money charged, the amount of every payment taken, refunded later
  or not (a charge refunded at once because its hold could not be honoured
  included). `refunded`: refunds issued (settled or still pending at the
  gateway). `net_revenue` = `revenue` - `refunded`. Decimal strings.
- `cancellation_rate`: bookings cancelled after payment / (confirmed +
  cancelled after payment); holds given up unpaid are not cancellations here.
- `utilization`: `tickets_sold` / the capacity of the events in scope with at
  least one booking in the range.
- `top_events`: at most {TOP_EVENTS} events with tickets sold, most first (then
  by revenue); `utilization` = their tickets sold / their capacity.
- `daily`: every day of the range, oldest first, zeros included: bookings
  created that day, their tickets sold, the money charged for them, and how
  many of them are cancelled.

Rates are fractions from 0 to 1 rounded to 4 places, 0 when nothing divides
them. A booking change shows in these figures within 5 seconds (they are
cached for a few seconds and summed from per-event daily roll-ups, which each
computation first brings up to date).
"""

DATE_PARAMS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.DATE,
        description=f"First creation date (YYYY-MM-DD, UTC). Default: {DEFAULT_DAYS - 1} "
        "days before `to`.",
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATE,
        description=f"Last creation date (YYYY-MM-DD, UTC), included. Default: today. "
        f"At most {MAX_DAYS} days after `from`.",
    ),
]
SCOPE_PARAMS = [
    OpenApiParameter("category", str, enum=Category.values, description="Only this category."),
    OpenApiParameter(
        "event", OpenApiTypes.UUID, description="Only this event (unknown id: 400 `invalid`)."
    ),
]


class AnalyticsSummaryView(APIView):
    permission_classes = [IsAdminUser]
    throttle_scope = "read"

    @extend_schema(
        summary="Booking figures for staff: by status, tickets, money, rates, top events, daily",
        description=FIGURES_DESCRIPTION,
        parameters=[*DATE_PARAMS, *SCOPE_PARAMS],
        responses={200: SummarySerializer},
    )
    def get(self, request):
        filters = parse_filters(request.query_params)
        return Response(SummarySerializer(selectors.summary_cached(filters=filters)).data)


class AnalyticsEventView(APIView):
    permission_classes = [IsAdminUser]
    throttle_scope = "read"

    @extend_schema(
        summary="The same figures for one event, with its availability, waiting list, "
        "and sales per ticket type and promo code",
        description=FIGURES_DESCRIPTION
        + "\n`available`: tickets a buyer could take now (exact; lapsed holds count as "
        "available). `waitlist`: entries waiting on the event's waiting list. "
        "`currency` is the event's. Only `from` and `to` apply here.\n\n"
        "`ticket_types` lists every type of the event and `promo_codes` every code, "
        "with the bookings created in the range: a type's `tickets_sold` (confirmed "
        "now) and `revenue` (what its items cost after discounts, quantity x (unit "
        "price - discount), in the bookings ever paid: confirmed, or cancelled after "
        "payment; refunds are not taken off, as for `revenue`), `quota` (null: only "
        "the event's capacity); a code's `uses` (tickets of its bookings held, not "
        "lapsed, or confirmed) and `discount_total` (quantity x discount in its "
        "bookings ever paid).\n\n"
        "`queue` (null when the event has no waiting room) is read at the moment of "
        "asking, not cached: `waiting` places not admitted yet (early arrivals "
        "included), `admitted` admissions running, `expired` admissions that ran out "
        "(their users not back in the queue), `admit_per_minute` the rate now. 503 "
        "`unavailable` when the waiting room cannot be reached.",
        parameters=DATE_PARAMS,
        responses={200: EventFiguresSerializer},
    )
    def get(self, request, pk):
        filters = parse_filters(request.query_params, fields=("from", "to"))
        figures = selectors.event_cached(
            event_id=pk, day_from=filters.day_from, day_to=filters.day_to
        )
        return Response(EventFiguresSerializer(figures).data)
