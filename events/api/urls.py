from django.urls import path
from rest_framework.routers import SimpleRouter

from events.api.queue import EventQueueView
from events.api.seating import EventSeatingView, EventSeatsBlockView
from events.api.seats import EventSeatsView
from events.api.views import (
    EventPromoCodesView,
    EventTicketTypesView,
    EventViewSet,
    PromoCodeViewSet,
    TicketTypeViewSet,
)

router = SimpleRouter()
router.register("events", EventViewSet, basename="event")
router.register("ticket-types", TicketTypeViewSet, basename="ticket-type")
router.register("promo-codes", PromoCodeViewSet, basename="promo-code")

urlpatterns = [
    path(
        "events/<uuid:event_id>/ticket-types/",
        EventTicketTypesView.as_view(),
        name="api-event-ticket-types",
    ),
    path(
        "events/<uuid:event_id>/promo-codes/",
        EventPromoCodesView.as_view(),
        name="api-event-promo-codes",
    ),
    path("events/<uuid:event_id>/seating/", EventSeatingView.as_view(), name="api-event-seating"),
    path(
        "events/<uuid:event_id>/seats/block/",
        EventSeatsBlockView.as_view(),
        name="api-event-seats-block",
    ),
    path("events/<uuid:event_id>/seats/", EventSeatsView.as_view(), name="api-event-seats"),
    path("events/<uuid:event_id>/queue/", EventQueueView.as_view(), name="api-event-queue"),
    *router.urls,
]
