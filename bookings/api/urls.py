from django.urls import path
from rest_framework.routers import SimpleRouter

from bookings.api.checkin import CheckInSummaryView, CheckInView
from bookings.api.views import BookingViewSet, MeStatsView

router = SimpleRouter()
router.register("bookings", BookingViewSet, basename="booking")

urlpatterns = [
    path("me/stats/", MeStatsView.as_view(), name="api-me-stats"),
    path("checkin/", CheckInView.as_view(), name="api-checkin"),
    path("checkin/summary/", CheckInSummaryView.as_view(), name="api-checkin-summary"),
    *router.urls,
]
