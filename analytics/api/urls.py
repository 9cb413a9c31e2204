from django.urls import path

from analytics.api.views import AnalyticsEventView, AnalyticsSummaryView

urlpatterns = [
    path("analytics/summary/", AnalyticsSummaryView.as_view(), name="api-analytics-summary"),
    path(
        "analytics/events/<uuid:pk>/",
        AnalyticsEventView.as_view(),
        name="api-analytics-event",
    ),
]
