from django.urls import path

from events import views

urlpatterns = [
    path("", views.home, name="home"),
    path("events/<uuid:event_id>/", views.event_detail, name="event-detail"),
]
