from django.db.models import Exists, OuterRef, Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.services.reserve import promo_invalid
from events import cache as catalog_cache
from events import services
from events.api.filters import EventFilter
from events.api.serializers import (
    PUBLIC_ROW_COLUMNS,
    EventDetailSerializer,
    EventSerializer,
    PromoCodeSerializer,
    TicketTypeSerializer,
    public_event_json,
    public_event_refresh,
    public_event_rows,
)
from events.models import Event, EventStatus, PromoCode, Question, TicketType
from events.selectors import promo_code_find, ticket_types_on_offer
from nuvio.pagination import OnePassPaginator, PageNumberPagination
from nuvio.schema import ErrorSerializer


class IsStaffOrReadOnly(BasePermission):
    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class IsStaff(BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def _questions() -> Prefetch:
    """Each event's questions, in order, in one query for the whole page."""
    return Prefetch("questions", queryset=Question.objects.order_by("position", "id"))


class EventPagination(PageNumberPagination):
    """A search's page and count come from one pass over its matches
    (``OnePassPaginator``); other lists are counted apart."""

    def paginate_queryset(self, queryset, request, view=None):
        self.django_paginator_class = OnePassPaginator.or_djangos(queryset)
        return super().paginate_queryset(queryset, request, view)


@extend_schema_view(
    list=extend_schema(summary="Browse events (published and upcoming unless you are staff)"),
    retrieve=extend_schema(summary="One event (its availability at most 2 s old)"),
    create=extend_schema(summary="Create an event (staff)"),
    update=extend_schema(summary="Replace an event (staff)"),
    partial_update=extend_schema(summary="Change an event (staff)"),
    destroy=extend_schema(summary="Delete an event that never had a booking (staff)"),
)
class EventViewSet(viewsets.ModelViewSet):
    serializer_class = EventSerializer
    filterset_class = EventFilter
    pagination_class = EventPagination
    permission_classes = [IsStaffOrReadOnly]
    lookup_value_converter = "uuid"

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return super().get_permissions()

    def get_serializer_class(self):
        # The list leaves the ticket types out; one event shows its public ones.
        return EventSerializer if self.action == "list" else EventDetailSerializer

    def get_queryset(self) -> QuerySet[Event]:
        qs = Event.objects.visible_to(self.request.user).with_available()
        qs = qs.prefetch_related(_questions())
        listing = self.action == "list" and not self.request.user.is_staff
        if listing and "upcoming" not in self.request.query_params:
            qs = qs.filter(starts_at__gt=timezone.now())
        return qs

    def filter_queryset(self, queryset):
        # The filters are the list's query parameters; building and validating
        # a FilterSet to look up one event by id cost a quarter of a detail page.
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        if request.user.is_staff or request.accepted_renderer.format != "json":
            return super().list(request, *args, **kwargs)

        # Everyone but staff sees the same page for the same query: share the
        # rendered JSON, so a hit costs one cache round trip and no rendering.
        # Most events ask nothing: the page's query says which do, and only
        # theirs are fetched (no query at all for a page without questions).
        def render() -> bytes:
            asks = Exists(Question.objects.filter(event=OuterRef("pk")))
            queryset = self.filter_queryset(self.get_queryset()).prefetch_related(None)
            queryset = queryset.only(*PUBLIC_ROW_COLUMNS)
            page = self.paginate_queryset(queryset.annotate(has_questions=asks))
            prefetch_related_objects([event for event in page if event.has_questions], _questions())
            data = self.get_paginated_response(public_event_rows(page)).data
            return JSONRenderer().render(data)

        query = catalog_cache.list_query(request.query_params)
        page = catalog_cache.list_page(request.get_host(), query)
        body = catalog_cache.cached_page(page, render)
        return HttpResponse(body, content_type="application/json")

    def retrieve(self, request, *args, **kwargs):
        if request.user.is_staff or request.accepted_renderer.format != "json":
            return super().retrieve(request, *args, **kwargs)
        # The page every buyer reloads is shared like the list's pages (its
        # availability at most 2 s old) and rendered without a per-request
        # serializer; events.middleware answers anonymous clients the same way.
        event_id = kwargs["pk"]
        body = catalog_cache.cached_page(
            catalog_cache.event_page(event_id),
            lambda: public_event_json(event_id),
            lambda stale: public_event_refresh(event_id, stale),
        )
        if body is None:
            raise Http404
        return HttpResponse(body, content_type="application/json")

    def perform_create(self, serializer):
        serializer.instance = services.event_create(
            actor=self.request.user, data=serializer.validated_data
        )

    def perform_update(self, serializer):
        services.event_update(
            actor=self.request.user,
            event_id=serializer.instance.pk,
            data=serializer.validated_data,
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def destroy(self, request, *args, **kwargs):
        event = self.get_object()
        services.event_delete(actor=request.user, event_id=event.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Cancel an event and refund every booking in full (staff)",
        description=(
            "202 at once: the event is `cancelled` (new reserves get `booking_closed`); a "
            "background job then releases every hold, cancels every confirmed booking with "
            "a **full** refund, closes the waiting list and notifies each holder. Calling it "
            "again on a cancelled event resumes an unfinished job."
        ),
        request=None,
        responses={202: EventDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        event = self.get_object()
        services.event_cancel(actor=request.user, event_id=event.pk)
        event = self.get_queryset().get(pk=event.pk)
        return Response(self.get_serializer(event).data, status=status.HTTP_202_ACCEPTED)


# --- ticket types ------------------------------------------------------------------


def _event_or_404(user, event_id) -> Event:
    """The event, if ``user`` may see it (staff: any; others: published)."""
    event = Event.objects.visible_to(user).filter(pk=event_id).first()
    if event is None:
        raise Http404
    return event


def _offered(ticket_type: TicketType, user) -> TicketType:
    """``ticket_type`` with what ``ticket_types_on_offer`` annotates."""
    for offered in ticket_types_on_offer(event=ticket_type.event, user=user):
        if offered.pk == ticket_type.pk:
            return offered
    raise Http404


class TicketTypeQuerySerializer(serializers.Serializer):
    promo_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text=(
            "Adds the hidden types the code unlocks and shows discounted prices; "
            "409 `promo_invalid` (details `reason`) for a code that is unknown, inactive "
            "or outside its validity."
        ),
    )


PROMO_INVALID = OpenApiResponse(
    ErrorSerializer,
    description="`promo_invalid`: the promo code can't be used (details `reason`).",
)


class EventTicketTypesView(APIView):
    """``/api/events/{id}/ticket-types/``: an event's ticket types."""

    permission_classes = [IsStaffOrReadOnly]

    @property
    def throttle_scope(self) -> str:
        # Asking with a code tells whether it exists: guessing codes costs the
        # same here as reserving with them.
        return "write" if self.request.query_params.get("promo_code") else "read"

    @extend_schema(
        summary="An event's ticket types (staff: hidden ones too)",
        description=(
            "The public types, ordered by position then price; staff see every type. "
            "`?promo_code=` adds the hidden types that code unlocks and shows each "
            "`price` after its discount. Not paginated (at most 50 per event)."
        ),
        parameters=[TicketTypeQuerySerializer],
        responses={200: TicketTypeSerializer(many=True), 409: PROMO_INVALID},
    )
    def get(self, request, event_id):
        event = _event_or_404(request.user, event_id)
        query = TicketTypeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = timezone.now()
        promo = None
        code = query.validated_data.get("promo_code", "").strip()
        if code:
            promo = promo_code_find(event=event, code=code)
            if promo is None:
                raise promo_invalid("unknown")
            # ``used_up`` is for the quote and the reserve to say: lapsed holds
            # may give uses back.
            reason = promo.closed_reason(now)
            if reason is not None and reason != "used_up":
                raise promo_invalid(reason)
        types = ticket_types_on_offer(event=event, user=request.user, promo=promo, now=now)
        return Response(TicketTypeSerializer(types, many=True).data)

    @extend_schema(
        summary="Add a ticket type to an event (staff)",
        request=TicketTypeSerializer,
        responses={201: TicketTypeSerializer},
    )
    def post(self, request, event_id):
        event = _event_or_404(request.user, event_id)
        data = TicketTypeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket_type = services.ticket_type_create(
            actor=request.user, event_id=event.pk, data=data.validated_data
        )
        ticket_type.event = event
        return Response(
            TicketTypeSerializer(_offered(ticket_type, request.user)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema_view(
    retrieve=extend_schema(summary="One ticket type (a hidden one: staff only)"),
    partial_update=extend_schema(
        summary="Change a ticket type (staff)",
        description="`quota` can't drop below its tickets held or confirmed (400 `invalid`).",
    ),
    destroy=extend_schema(
        summary="Delete a ticket type that was never booked (staff)",
        description=(
            "409 `invalid_state` if it has bookings (hide it or end its sale instead), is "
            "the event's last type, or is the only type a promo code's discount applies to."
        ),
    ),
)
class TicketTypeViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/api/ticket-types/{id}/``. A hidden type, or one of an event that is
    not published, is a 404 for everyone but staff."""

    permission_classes = [IsStaffOrReadOnly]
    serializer_class = TicketTypeSerializer
    lookup_value_converter = "uuid"

    def get_queryset(self) -> QuerySet[TicketType]:
        types = TicketType.objects.select_related("event")
        if not self.request.user.is_staff:
            types = types.filter(hidden=False, event__status=EventStatus.PUBLISHED)
        return types

    def retrieve(self, request, *args, **kwargs):
        return Response(self.get_serializer(_offered(self.get_object(), request.user)).data)

    def partial_update(self, request, *args, **kwargs):
        ticket_type = self.get_object()
        data = TicketTypeSerializer(ticket_type, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.ticket_type_update(
            actor=request.user, ticket_type_id=ticket_type.pk, data=data.validated_data
        )
        ticket_type = self.get_queryset().get(pk=ticket_type.pk)
        return Response(self.get_serializer(_offered(ticket_type, request.user)).data)

    def destroy(self, request, *args, **kwargs):
        ticket_type = self.get_object()
        services.ticket_type_delete(actor=request.user, ticket_type_id=ticket_type.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- promo codes -------------------------------------------------------------------


def _promo_codes() -> QuerySet[PromoCode]:
    return PromoCode.objects.prefetch_related("ticket_types", "unlocks")


@extend_schema_view(
    get=extend_schema(summary="An event's promo codes (staff)"),
    post=extend_schema(summary="Add a promo code to an event (staff)"),
)
class EventPromoCodesView(generics.ListCreateAPIView):
    """``/api/events/{id}/promo-codes/`` (staff)."""

    permission_classes = [IsStaff]
    serializer_class = PromoCodeSerializer
    filter_backends = []

    def get_queryset(self) -> QuerySet[PromoCode]:
        return _promo_codes().filter(event_id=self.kwargs["event_id"]).order_by("code", "id")

    def list(self, request, *args, **kwargs):
        _event_or_404(request.user, kwargs["event_id"])
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer):
        event = _event_or_404(self.request.user, self.kwargs["event_id"])
        promo = services.promo_code_create(
            actor=self.request.user, event_id=event.pk, data=serializer.validated_data
        )
        serializer.instance = _promo_codes().get(pk=promo.pk)


@extend_schema_view(
    retrieve=extend_schema(summary="One promo code (staff)"),
    partial_update=extend_schema(summary="Change a promo code (staff)"),
    destroy=extend_schema(
        summary="Delete a promo code no booking used (staff)",
        description="409 `invalid_state` once it has `uses` (set `active` false instead).",
    ),
)
class PromoCodeViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """``/api/promo-codes/{id}/`` (staff)."""

    permission_classes = [IsStaff]
    serializer_class = PromoCodeSerializer
    lookup_value_converter = "uuid"

    def get_queryset(self) -> QuerySet[PromoCode]:
        return _promo_codes()

    def partial_update(self, request, *args, **kwargs):
        promo = self.get_object()
        data = PromoCodeSerializer(promo, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.promo_code_update(
            actor=request.user, promo_code_id=promo.pk, data=data.validated_data
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=promo.pk)).data)

    def destroy(self, request, *args, **kwargs):
        promo = self.get_object()
        services.promo_code_delete(actor=request.user, promo_code_id=promo.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
