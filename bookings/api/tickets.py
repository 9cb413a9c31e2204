"""Tickets after payment: the ones a user holds (attendee details, transfer)
and an event's attendee list for staff (JSON, or a CSV download)."""

import csv
from collections.abc import Iterator

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from bookings import checkin
from bookings.api.serializers import (
    AttendeeSerializer,
    TicketAttendeeSerializer,
    TicketSerializer,
    TicketTransferredSerializer,
    TicketTransferSerializer,
)
from bookings.models import Ticket, TicketTransfer
from bookings.services import tickets as ticket_services
from events.models import Event
from nuvio.errors import NotFound
from nuvio.schema import ErrorSerializer

# Spreadsheets run a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ATTENDEE_COLUMNS = [
    "ticket",
    "code",
    "booking",
    "ticket_type",
    "seat",
    "attendee_name",
    "attendee_email",
    "holder_email",
    "buyer_email",
    "complete",
    "checked_in_at",
]


def transfers_prefetch() -> Prefetch:
    """A ticket's transfers with their recipients: what its booking's owner
    is told of a ticket they handed on (``TicketSerializer``)."""
    return Prefetch("transfers", queryset=TicketTransfer.objects.select_related("to_user"))


# --- the tickets a user holds ---------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your tickets: those you hold, bought or transferred to you",
        description="Valid tickets of confirmed bookings, soonest event first.",
    ),
    retrieve=extend_schema(summary="One of your tickets"),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The tickets the user holds. Anyone else's ticket, and one the user
    handed on, is a 404."""

    permission_classes = [IsAuthenticated]
    serializer_class = TicketSerializer
    lookup_value_converter = "uuid"

    @property
    def throttle_scope(self) -> str:
        return "write" if self.action in ("partial_update", "transfer") else "read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Ticket.objects.none()
        return ticket_services.tickets_held(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "viewer_id": self.request.user.pk}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = self.get_serializer_context()
        # The questions of every event on the page, in one query.
        context["questions"] = ticket_services.questions_by_event(
            {ticket.booking.event_id for ticket in page}
        )
        return self.get_paginated_response(TicketSerializer(page, many=True, context=context).data)

    def _ticket(self, ticket_id) -> Response:
        ticket = self.get_queryset().filter(pk=ticket_id).first()
        if ticket is None:
            raise NotFound("No such ticket.")
        return Response(TicketSerializer(ticket, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Name the attendee and answer the event's questions (the holder)",
        description=(
            "Until the event starts (409 `booking_closed` after). Fields left out keep their "
            "values. An answer of the wrong kind, not among a choice question's options, or to "
            "a question the event does not ask is 400 `invalid` and changes nothing."
        ),
        request=TicketAttendeeSerializer,
        responses={200: TicketSerializer},
    )
    def partial_update(self, request, pk=None):
        data = TicketAttendeeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket_services.ticket_attendee_update(
            user=request.user, ticket_id=pk, data=data.validated_data
        )
        return self._ticket(pk)

    @extend_schema(
        summary="Give the ticket to another Nuvio account (the holder)",
        description=(
            "The ticket moves to the account with that e-mail address and gets a new code; "
            "the old code stops working at once, and both people are notified. The answer is "
            "for the sender: which ticket went to whom, and when (never the new code). "
            "Errors: no such account, or yourself: 400 `invalid`; checked in already, or its "
            "booking cancelled: 409 `invalid_state`; the event does not allow transfers, has "
            "started or was cancelled: 409 `booking_closed`; not your ticket: 404."
        ),
        request=TicketTransferSerializer,
        responses={200: TicketTransferredSerializer},
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        data = TicketTransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        done = ticket_services.ticket_transfer(
            user=request.user, ticket_id=pk, email=data.validated_data["email"], now=now
        )
        answer = {"ticket": done.ticket.pk, "to": done.recipient.email, "transferred_at": now}
        return Response(TicketTransferredSerializer(answer).data)


# --- an event's attendees (staff) -----------------------------------------------


class AttendeesCSVRenderer(BaseRenderer):
    """``?format=csv`` of the attendee list. The view streams the file
    itself; this renderer only lets content negotiation choose CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("the attendee list streams its CSV itself")


def csv_cell(value) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def attendee_csv_rows(event: Event) -> Iterator[str]:
    """The attendee list as CSV lines: the columns of ``ATTENDEE_COLUMNS``,
    then one per question of the event, headed by its label."""
    questions = ticket_services.event_questions(event.pk)
    writer = csv.writer(_Echo())
    header = [*ATTENDEE_COLUMNS, *(question.label for question in questions)]
    yield writer.writerow([csv_cell(name) for name in header])
    for ticket in checkin.event_attendees(event_id=event.pk).iterator(chunk_size=500):
        row = [
            ticket.pk,
            ticket.code,
            ticket.booking_id,
            ticket.ticket_type.name if ticket.ticket_type_id else "",
            ticket.seat.label if ticket.seat_id else "",
            ticket.attendee_name,
            ticket.attendee_email,
            ticket.holder.email,
            ticket.booking.user.email,
            ticket_services.ticket_complete(ticket, questions),
            ticket.checked_in_at.isoformat() if ticket.checked_in_at else "",
            *(ticket.answers.get(str(q.pk)) for q in questions),
        ]
        yield writer.writerow([csv_cell(value) for value in row])


@extend_schema(
    summary="An event's attendees (staff): every ticket of its confirmed bookings",
    description=(
        "Attendee details, answers, whether each ticket is complete, its holder and buyer, "
        "type, seat and check-in, in the order of sale. Paginated JSON; `?format=csv` "
        "downloads the whole list as a CSV file (one column per question, headed by its "
        "label)."
    ),
    parameters=[
        OpenApiParameter(
            "format",
            str,
            enum=["json", "csv"],
            description="`csv`: the whole list as a CSV download (not paginated).",
        )
    ],
    responses={
        (200, "application/json"): AttendeeSerializer(many=True),
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file."),
        (404, "application/json"): OpenApiResponse(ErrorSerializer, description="No such event."),
    },
)
class EventAttendeesView(generics.GenericAPIView):
    """``GET /api/events/{id}/attendees/`` (staff)."""

    permission_classes = [IsAdminUser]
    serializer_class = AttendeeSerializer
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, AttendeesCSVRenderer]
    filter_backends = []

    def get(self, request, event_id):
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        if request.accepted_renderer.format == AttendeesCSVRenderer.format:
            response = StreamingHttpResponse(
                attendee_csv_rows(event), content_type="text/csv; charset=utf-8"
            )
            filename = f"nuvio-attendees-{event.pk}.csv"
            response["Content-Disposition"] = content_disposition_header(True, filename)
            return response
        page = self.paginate_queryset(checkin.event_attendees(event_id=event.pk))
        context = {"questions": ticket_services.event_questions(event.pk)}
        data = AttendeeSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever was asked for (the file streams by itself).
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and isinstance(renderer, AttendeesCSVRenderer):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
