from django.conf import settings
from django.db.models import Prefetch, prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import notifications, selectors, services
from bookings.api.serializers import (
    BookingDetailSerializer,
    BookingListQuerySerializer,
    BookingSerializer,
    NotificationSerializer,
    PaySerializer,
    QuoteSerializer,
    RefundQuoteSerializer,
    ReserveSerializer,
    TicketSerializer,
    UserStatsSerializer,
    WaitlistEntrySerializer,
    WaitlistJoinSerializer,
)
from bookings.api.tickets import transfers_prefetch
from bookings.idempotency import REPLAYED_HEADER, idempotent
from bookings.models import TICKET_ORDER, Booking, Notification, Payment, Ticket, WaitlistEntry

# The quote takes nothing, but it answers whether a promo code exists: guessing
# codes costs the same there as reserving with them.
WRITE_ACTIONS = {"create", "quote", "pay", "cancel"}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    required=False,
    description="Retry safely: the same key and body give the first answer back (24 h).",
)


def _detail_queryset():
    return Booking.objects.select_related("event", "promo_code").prefetch_related(
        "refunds",
        selectors.booking_items(),
        Prefetch(
            "tickets",
            queryset=Ticket.objects.select_related("seat", "ticket_type")
            .prefetch_related(transfers_prefetch())
            .order_by(*TICKET_ORDER),
        ),
        Prefetch("payments", queryset=Payment.objects.prefetch_related("refunds")),
    )


@extend_schema_view(
    list=extend_schema(
        summary="Your bookings, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=["held", "confirmed", "cancelled", "expired"]),
            OpenApiParameter("when", str, enum=["upcoming", "past"]),
        ],
    ),
    retrieve=extend_schema(summary="One of your bookings", responses=BookingDetailSerializer),
)
class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Holds, payments and cancellations. Another user's booking is a 404."""

    permission_classes = [IsAuthenticated]
    serializer_class = BookingSerializer
    lookup_value_converter = "uuid"

    @property
    def throttle_scope(self):
        return "write" if self.action in WRITE_ACTIONS else "read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Booking.objects.none()
        if self.action == "list":
            query = BookingListQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            return selectors.bookings_for_user(user=self.request.user, **query.validated_data)
        return _detail_queryset().filter(user=self.request.user)

    def get_serializer_class(self):
        return BookingSerializer if self.action == "list" else BookingDetailSerializer

    def _detail(self, booking_id, status_code=status.HTTP_200_OK):
        booking = _detail_queryset().get(pk=booking_id)
        return Response(BookingDetailSerializer(booking).data, status=status_code)

    @extend_schema(
        summary="Hold tickets (capacity, quotas and code uses are taken at once; pay "
        "before expires_at)",
        description=(
            "`{event, quantity}` buys the event's only public ticket type on sale; "
            "`{event, items: [{ticket_type, quantity}], promo_code?}` 1 to 10 distinct types "
            "of the event. All or nothing."
        ),
        request=ReserveSerializer,
        responses={201: BookingSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def create(self, request):
        data = ReserveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = self.idempotency
        booking, created = services.booking_reserve(
            user=request.user,
            **data.service_arguments(),
            idempotency_key=claim.key if claim else None,
            request_hash=claim.request_hash if claim else "",
        )
        if created:
            booking._prefetched_objects_cache = {
                "refunds": [],
                **getattr(booking, "_prefetched_objects_cache", {}),
            }
        if "items" not in getattr(booking, "_prefetched_objects_cache", {}):
            prefetch_related_objects([booking], selectors.booking_items())
        response = Response(BookingSerializer(booking).data, status=status.HTTP_201_CREATED)
        if not created:
            # This key made its hold already (its stored answer was lost): that hold.
            response[REPLAYED_HEADER] = "true"
        return response

    @extend_schema(
        summary="Price a reserve body now, taking nothing",
        description=(
            "The same body as `POST /api/bookings/` and the same errors (`sold_out`, "
            "`booking_closed`, `promo_invalid`, `limit_exceeded`, `invalid`); nothing is "
            "held and no code is used."
        ),
        request=ReserveSerializer,
        responses={200: QuoteSerializer},
    )
    @action(detail=False, methods=["post"])
    def quote(self, request):
        data = ReserveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote = services.booking_quote(user=request.user, **data.service_arguments())
        return Response(QuoteSerializer(quote).data)

    @extend_schema(
        summary="Pay for a hold (mock gateway) and get the tickets",
        request=PaySerializer,
        responses={200: BookingDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def pay(self, request, pk=None):
        booking = self.get_object()
        data = PaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.booking_pay(
            user=request.user,
            booking_id=booking.pk,
            card_number=data.validated_data.get("card_number") or None,
        )
        return self._detail(booking.pk)

    @extend_schema(
        summary="Cancel: a hold is released; a paid booking is refunded by the tiers",
        request=None,
        responses={200: BookingDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        services.booking_cancel(user=request.user, booking_id=booking.pk)
        return self._detail(booking.pk)

    @extend_schema(
        summary="The booking's valid tickets",
        description=(
            "Every ticket of the booking, as its owner sees them: a ticket the owner "
            "transferred to someone else has no `code` nor attendee details (null) and names "
            "the account it went to in `transferred_to`."
        ),
        responses=TicketSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def tickets(self, request, pk=None):
        booking = self.get_object()
        tickets = (
            Ticket.objects.filter(booking=booking, voided_at__isnull=True)
            .select_related("booking", "seat", "ticket_type")
            .prefetch_related(transfers_prefetch())
            .order_by(*TICKET_ORDER)
        )
        page = self.paginate_queryset(tickets)
        context = {"viewer_id": request.user.pk}
        return self.get_paginated_response(TicketSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="What cancelling now would refund",
        responses={200: RefundQuoteSerializer},
    )
    @action(detail=True, methods=["get"], url_path="refund-quote")
    def refund_quote(self, request, pk=None):
        booking = self.get_object()
        quote = services.booking_refund_quote(user=request.user, booking_id=booking.pk)
        return Response(RefundQuoteSerializer(quote).data)


class MeStatsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: UserStatsSerializer}, summary="Your booking figures")
    def get(self, request):
        stats = selectors.user_booking_stats(user=request.user, currency=settings.NUVIO_CURRENCY)
        return Response(UserStatsSerializer(stats).data)


# --- waiting list ------------------------------------------------------------


class WaitlistJoinView(APIView):
    """``POST /api/events/{id}/waitlist/``: join a sold-out event's waiting list."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "write"

    @extend_schema(
        summary="Join the waiting list of a sold-out ticket type",
        description=(
            "Only when that type (or the event) is sold out (else 409 `invalid_state`); "
            "`ticket_type` is required when the event has several public types. One active "
            "entry per user and event. Entries are served first come, first served per "
            "type: each gets a `held` booking for its quantity and becomes `offered`."
        ),
        request=WaitlistJoinSerializer,
        responses={201: WaitlistEntrySerializer},
    )
    def post(self, request, event_id):
        data = WaitlistJoinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.waitlist_join(
            user=request.user,
            event_id=event_id,
            quantity=data.validated_data["quantity"],
            ticket_type_id=data.validated_data.get("ticket_type"),
        )
        return Response(WaitlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Your waiting list entries, newest first, with positions"),
    retrieve=extend_schema(summary="One of your waiting list entries"),
    destroy=extend_schema(
        summary="Leave the waiting list (an offered hold is released to the next person)",
        description=(
            "The entry is not erased: it stays in `GET /api/waitlist/` (and its detail) "
            "with status `cancelled`, as a record. Leaving twice is harmless (204)."
        ),
    ),
)
class WaitlistViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your waiting list entries. Another user's entry is a 404."""

    permission_classes = [IsAuthenticated]
    serializer_class = WaitlistEntrySerializer
    lookup_value_converter = "uuid"

    @property
    def throttle_scope(self):
        return "write" if self.action == "destroy" else "read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return WaitlistEntry.objects.none()
        return selectors.waitlist_for_user(user=self.request.user)

    def perform_destroy(self, instance):
        services.waitlist_leave(user=self.request.user, entry_id=instance.pk)


# --- notifications -----------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Your notifications, newest first"))
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your notifications. Another user's notification is a 404."""

    permission_classes = [IsAuthenticated]
    serializer_class = NotificationSerializer
    lookup_value_converter = "uuid"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Notification.objects.none()
        return notifications.notifications_for_user(user=self.request.user)

    @extend_schema(
        summary="Mark a notification read", request=None, responses={200: NotificationSerializer}
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = self.get_object()
        notification = notifications.notification_mark_read(
            user=request.user, notification_id=notification.pk
        )
        return Response(NotificationSerializer(notification).data)
