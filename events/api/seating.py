"""An event's seating plan through the API (staff): replace it, block and
unblock seats. The rules are ``events.seating``'s; the plan is checked there
in plain Python, not here seat by seat (up to 100,000 seats in one body)."""

import io

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from events import seating
from events.api.views import IsStaff, _event_or_404
from nuvio.errors import Invalid, TooLarge
from nuvio.parsers import JSONParser
from nuvio.schema import ErrorSerializer


class LargeJSONParser(BaseParser):
    """JSON up to ``NUVIO_SEATING_MAX_BYTES`` instead of Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which every other request keeps).

    DRF hands a ``JSONParser`` the body through ``request.body``, which
    enforces the global limit; a parser of its own kind gets the request's
    stream, reads at most the limit from it, and leaves the decoding to the
    API's ``JSONParser`` (with its bound on nesting)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.NUVIO_SEATING_MAX_BYTES
        too_large = TooLarge(
            f"The request body is larger than {limit} bytes.", details={"max_bytes": limit}
        )
        request = (parser_context or {}).get("request")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            length = 0
        if length > limit:
            raise too_large
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise too_large
        return JSONParser().parse(io.BytesIO(body), media_type, parser_context)


# The plan's shape, for the OpenAPI document only: ``events.seating`` checks it.
class SeatPlanSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=20, help_text="Unique in its row, e.g. `12`.")
    x = serializers.FloatField(help_text="Where the seat map draws it.")
    y = serializers.FloatField()
    ticket_type = serializers.UUIDField(help_text="A ticket type of this event: the seat's price.")


class RowPlanSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=20, help_text="Unique in its section, e.g. `B`.")
    seats = SeatPlanSerializer(many=True, help_text="In order along the row.")


class SectionPlanSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Unique in the plan, e.g. `Balcony`.")
    rows = RowPlanSerializer(many=True, help_text="Front to back.")


class SeatingPlanSerializer(serializers.Serializer):
    sections = SectionPlanSerializer(many=True)


class SeatCountSerializer(serializers.Serializer):
    seats = serializers.IntegerField(help_text="How many seats the plan has.")


class SeatsBlockSerializer(serializers.Serializer):
    seats = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=1,
        max_length=seating.MAX_SEATS,
        help_text="Ids of seats of this event.",
    )
    blocked = serializers.BooleanField(help_text="true: block the seats; false: unblock them.")


class SeatsBlockedSerializer(serializers.Serializer):
    seats = serializers.IntegerField(
        help_text="How many seats changed (seats already in the asked state are left as they are)."
    )
    capacity = serializers.IntegerField(help_text="The event's capacity now: its unblocked seats.")


class EventSeatingView(APIView):
    """``PUT /api/events/{id}/seating/`` (staff)."""

    permission_classes = [IsStaff]
    parser_classes = [LargeJSONParser]

    @extend_schema(
        summary="Replace an event's seating plan (staff)",
        description=(
            "The whole plan at once: sections of rows of seats, each seat sold at the price "
            "of its ticket type. All or nothing: 400 `invalid` with the problems by place "
            '(`{"sections[0].rows[2].seats[5].ticket_type": ["Not a ticket type of this '
            'event."]}`, at most 50): no seat or more than 100,000, a blank or too long name '
            "or number, a section name twice, a row name twice in a section, a seat twice "
            "(same label `{section} {row}-{number}`), `x`/`y` not numbers, a ticket type of "
            "another event. The event becomes `seated`, its `capacity` the number of seats. "
            "409 `invalid_state` once any seat of the event was ever held, if it has tickets "
            "held or sold without seats, or if it is cancelled. The body may be up to "
            "`NUVIO_SEATING_MAX_BYTES` (32 MB by default)."
        ),
        request=SeatingPlanSerializer,
        responses={200: SeatCountSerializer},
    )
    def put(self, request, event_id):
        event = _event_or_404(request.user, event_id)
        if not isinstance(request.data, dict):
            raise Invalid(
                "Send the plan as an object {sections: [...]}.",
                details={"non_field_errors": ["Expected an object {sections: [...]}."]},
            )
        count = seating.seating_replace(
            actor=request.user, event_id=event.pk, sections=request.data.get("sections")
        )
        return Response({"seats": count})


class EventSeatsBlockView(APIView):
    """``POST /api/events/{id}/seats/block/`` (staff)."""

    permission_classes = [IsStaff]
    parser_classes = [LargeJSONParser]  # every seat of a large plan at once

    @extend_schema(
        summary="Block or unblock seats of an event (staff)",
        description=(
            "A blocked seat is sold to no one and does not count in the event's `capacity`; "
            "unblocking gives it back (to the waiting list first). Seats already in the "
            "asked state are left as they are. 400 `invalid` (details `seats`) for an id "
            "that is not a seat of this event or is given twice; 409 `invalid_state` for a "
            "seat that is held or sold (details `seats`: their ids; a lapsed hold's seat "
            "can be blocked), or when blocking would leave no seat or fewer seats than "
            "tickets held or sold."
        ),
        request=SeatsBlockSerializer,
        responses={
            200: SeatsBlockedSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="`invalid_state`: a seat is held or sold (details `seats`), or "
                "the event would keep no seat.",
            ),
        },
    )
    def post(self, request, event_id):
        event = _event_or_404(request.user, event_id)
        data = SeatsBlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changed = seating.seats_block(
            actor=request.user,
            event_id=event.pk,
            seat_ids=data.validated_data["seats"],
            blocked=data.validated_data["blocked"],
        )
        event.refresh_from_db(fields=["capacity"])
        return Response({"seats": changed, "capacity": event.capacity})
