from django.urls import path

from events import queue_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("events/<uuid:event_id>/", views.event_detail, name="event-detail"),
    path("events/<uuid:event_id>/queue/", queue_views.event_queue, name="event-queue"),
    path(
        "events/<uuid:event_id>/queue/leave/",
        queue_views.event_queue_leave,
        name="event-queue-leave",
    ),
]
