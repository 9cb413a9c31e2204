from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("daily.csv", views.daily_csv, name="daily-csv"),
    path("events.csv", views.events_csv, name="events-csv"),
    path("events/<uuid:event_id>/", views.event_page, name="event"),
    path("events/<uuid:event_id>/sales.csv", views.event_sales_csv, name="event-sales-csv"),
]
