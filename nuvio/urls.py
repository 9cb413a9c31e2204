from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from bookings.urls import notification_urlpatterns
from nuvio import views

api_patterns = [
    path("", include("accounts.api.urls")),
    path("", include("events.api.urls")),
    path("", include("bookings.api.urls")),
    path("", include("analytics.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # ReDoc's bundle adds a style sheet (its scroll bars') while it loads, before
    # it can be handed the nonce: this page alone allows inline styles.
    path(
        "redoc/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="redoc",
    ),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    # The split view serves Swagger UI's start-up script as a file of its own
    # (`?script`), which the Content-Security-Policy allows; an inline one it would not.
    path("api-docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("bookings.ticket_urls")),
    path("bookings/", include("bookings.urls")),
    path("notifications/", include((notification_urlpatterns, "notifications"))),
    path("dashboard/", include("analytics.urls")),
    path("", include("events.urls")),
]

handler400 = "nuvio.views.bad_request"
handler403 = "nuvio.views.permission_denied"
handler404 = "nuvio.views.page_not_found"
handler500 = "nuvio.views.server_error"
