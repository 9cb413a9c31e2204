import views
from django.urls import path

urlpatterns = [
    path("hello/", views.hello),
    path("book/<int:event_id>/", views.book),
    path("events/", views.events),
]
