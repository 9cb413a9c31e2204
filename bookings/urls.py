from django.urls import path

from bookings import views

app_name = "bookings"

urlpatterns = [
    path("", views.booking_list, name="list"),
    path("new/", views.booking_new, name="new"),
    path("<uuid:booking_id>/", views.booking_detail, name="detail"),
    path("<uuid:booking_id>/pay/", views.booking_pay, name="pay"),
    path("<uuid:booking_id>/cancel/", views.booking_cancel, name="cancel"),
    path("<uuid:booking_id>/calendar.ics", views.booking_calendar, name="calendar"),
]
