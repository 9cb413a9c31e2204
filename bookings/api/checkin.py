"""Staff check-in at the door, and a booking's tickets."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import checkin
from bookings.api.serializers import EventSummarySerializer, TicketSerializer
from events.models import Event
from nuvio.errors import NotFound


class CheckInRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text="The ticket's code, any case.")
    event = serializers.UUIDField(
        required=False, help_text="Refuse tickets for any other event (409 invalid_state)."
    )


class CheckInSerializer(serializers.Serializer):
    """An admitted ticket. An incomplete one (``ticket.complete`` false) is
    admitted all the same: the door may ask for what is missing."""

    ticket = TicketSerializer()
    event = EventSummarySerializer()
    checked_in_at = serializers.DateTimeField()
    missing_answers = serializers.ListField(
        source="missing",
        child=serializers.CharField(),
        help_text="The labels of the event's required questions this ticket leaves unanswered.",
    )


class CheckInSummaryQuerySerializer(serializers.Serializer):
    event = serializers.UUIDField()


class CheckInSummarySerializer(serializers.Serializer):
    event = EventSummarySerializer()
    tickets_sold = serializers.IntegerField()
    checked_in = serializers.IntegerField()


class CheckInView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=CheckInRequestSerializer,
        responses={200: CheckInSerializer},
        summary="Check a ticket in (staff): once; a second scan is 409 already_checked_in",
    )
    def post(self, request):
        data = CheckInRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = checkin.ticket_check_in(
            staff=request.user,
            code=data.validated_data["code"],
            event_id=data.validated_data.get("event"),
        )
        context = {"questions": {done.event.pk: done.questions}}
        return Response(CheckInSerializer(done, context=context).data)


class CheckInSummaryView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[
            OpenApiParameter("event", OpenApiTypes.UUID, required=True, description="Event id.")
        ],
        responses={200: CheckInSummarySerializer},
        summary="Tickets sold and checked in for an event (staff)",
    )
    def get(self, request):
        query = CheckInSummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        event = Event.objects.filter(pk=query.validated_data["event"]).first()
        if event is None:
            raise NotFound("No such event.")
        counts = checkin.checkin_counts(event_id=event.pk)
        return Response(CheckInSummarySerializer({"event": event, **counts}).data)
