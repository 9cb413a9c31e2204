from django.urls import path
from rest_framework.routers import SimpleRouter

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
    *router.urls,
]
