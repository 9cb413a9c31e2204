"""``GET /api/events/{id}/seats/``: an event's seating plan with each seat's
status, served from the shared seat map (``events.seat_map``) as stored
bytes: gzipped for clients that accept it, with a weak ETag of the seats."""

from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from events.seat_map import SEAT_STATUSES, seat_map_get


class SeatSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    section = serializers.CharField()
    row = serializers.CharField()
    number = serializers.CharField()
    label = serializers.CharField(help_text='"{section} {row}-{number}", e.g. "Balcony B-12".')
    ticket_type = serializers.UUIDField(help_text="The seat's ticket type: its price.")
    x = serializers.FloatField()
    y = serializers.FloatField()
    status = serializers.ChoiceField(
        choices=SEAT_STATUSES, help_text="A seat whose hold ran out is `free`."
    )


class SeatMapSerializer(serializers.Serializer):
    seats = SeatSerializer(many=True)
    updated_at = serializers.DateTimeField(
        help_text="When the statuses were read (at most 2 s before the answer)."
    )


class SeatQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=SEAT_STATUSES, required=False, help_text="Only the seats with this status."
    )
    ticket_type = serializers.UUIDField(
        required=False, help_text="Only the seats of this ticket type (an id)."
    )


class EventSeatsView(APIView):
    """Anyone may read the plan of an event they may see (staff: any event;
    others: published ones). Throttled as every read."""

    permission_classes = [AllowAny]
    # The answer is always JSON: a browsable page of 50,000 seats helps no one.
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="An event's seats with their status (at most 2 s old)",
        description=(
            "The whole plan in plan order (sections, rows front to back, seats along "
            "the row), not paginated. `?status=` and `?ticket_type=` keep only the "
            "matching seats. Sent gzipped to clients that accept it, with a weak "
            "`ETag`: `If-None-Match` answers 304 while no seat changed."
        ),
        parameters=[SeatQuerySerializer],
        responses={
            200: SeatMapSerializer,
            304: OpenApiResponse(description="No seat changed since the `ETag` sent."),
        },
    )
    def get(self, request, event_id):
        seat_map = seat_map_get(event_id)
        if seat_map is None or not (seat_map.published or request.user.is_staff):
            raise Http404
        status = ticket_type = None
        if request.META.get("QUERY_STRING"):
            # An empty value (`?status=`) counts as not given.
            given = {k: v for k, v in request.query_params.items() if v}
            query = SeatQuerySerializer(data=given)
            query.is_valid(raise_exception=True)
            status = query.validated_data.get("status")
            if "ticket_type" in query.validated_data:
                ticket_type = str(query.validated_data["ticket_type"])
        etag = seat_map.filtered_etag(status=status, ticket_type=ticket_type)
        if _matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
            response = HttpResponseNotModified()
        else:
            gzipped = _accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING", ""))
            body = seat_map.body(gzipped=gzipped, status=status, ticket_type=ticket_type)
            response = HttpResponse(body, content_type="application/json")
            response["Content-Length"] = str(len(body))
            if gzipped:
                response["Content-Encoding"] = "gzip"
        response["ETag"] = etag
        patch_vary_headers(response, ["Accept-Encoding"])
        return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag`` (compared weakly, as RFC 9110 says for it)."""
    if not if_none_match:
        return False
    ours = etag.removeprefix("W/")
    return any(
        tag == "*" or tag.removeprefix("W/") == ours
        for tag in (part.strip() for part in if_none_match.split(","))
    )


def _accepts_gzip(accept_encoding: str) -> bool:
    """The client takes gzip: ``Accept-Encoding`` lists it (or ``*``) with
    a weight above 0."""
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        weight = params.strip().lower()
        if weight.startswith("q="):
            try:
                return float(weight[2:]) > 0
            except ValueError:
                return False
        return True
    return False
