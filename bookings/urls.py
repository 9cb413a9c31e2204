from django.urls import path

from bookings import views

app_name = "bookings"

urlpatterns = [
    path("", views.booking_list, name="list"),
    path("new/", views.booking_new, name="new"),
    path("<uuid:booking_id>/", views.booking_detail, name="detail"),
    path("<uuid:booking_id>/pay/", views.booking_pay, name="pay"),
    path("<uuid:booking_id>/cancel/", views.booking_cancel, name="cancel"),
    path(
        "<uuid:booking_id>/tickets/<uuid:ticket_id>/attendee/",
        views.booking_ticket_attendee,
        name="ticket-attendee",
    ),
    path("<uuid:booking_id>/calendar.ics", views.booking_calendar, name="calendar"),
    path("waitlist/join/", views.waitlist_join, name="waitlist-join"),
    path("waitlist/<uuid:entry_id>/leave/", views.waitlist_leave, name="waitlist-leave"),
]

# Mounted at /notifications/ (namespace "notifications") by nuvio/urls.py.
notification_urlpatterns = [
    path("", views.notification_list, name="list"),
    path("<uuid:notification_id>/read/", views.notification_read, name="read"),
    path("read-all/", views.notification_read_all, name="read-all"),
]
