from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from events import cache as catalog_cache
from events import services
from events.api.filters import EventFilter
from events.api.serializers import EventSerializer, public_event_json
from events.models import Event


class IsStaffOrReadOnly(BasePermission):
    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


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
    permission_classes = [IsStaffOrReadOnly]
    lookup_value_converter = "uuid"

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[Event]:
        qs = Event.objects.visible_to(self.request.user).with_available()
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
        def render() -> bytes:
            data = super(EventViewSet, self).list(request, *args, **kwargs).data
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
            catalog_cache.event_page(event_id), lambda: public_event_json(event_id)
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
        responses={202: EventSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        event = self.get_object()
        services.event_cancel(actor=request.user, event_id=event.pk)
        event = self.get_queryset().get(pk=event.pk)
        return Response(self.get_serializer(event).data, status=status.HTTP_202_ACCEPTED)
