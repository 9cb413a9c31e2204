from django.urls import path
from rest_framework.routers import SimpleRouter

from bookings.api.checkin import CheckInSummaryView, CheckInView
from bookings.api.tickets import EventAttendeesView, TicketViewSet
from bookings.api.views import (
    BookingViewSet,
    MeStatsView,
    NotificationViewSet,
    WaitlistJoinView,
    WaitlistViewSet,
)

router = SimpleRouter()
router.register("bookings", BookingViewSet, basename="booking")
router.register("waitlist", WaitlistViewSet, basename="waitlist")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("tickets", TicketViewSet, basename="ticket")

urlpatterns = [
    path("me/stats/", MeStatsView.as_view(), name="api-me-stats"),
    path("events/<uuid:event_id>/waitlist/", WaitlistJoinView.as_view(), name="api-waitlist-join"),
    path(
        "events/<uuid:event_id>/attendees/",
        EventAttendeesView.as_view(),
        name="api-event-attendees",
    ),
    path("checkin/", CheckInView.as_view(), name="api-checkin"),
    path("checkin/summary/", CheckInSummaryView.as_view(), name="api-checkin-summary"),
    *router.urls,
]
