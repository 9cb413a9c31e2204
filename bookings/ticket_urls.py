from django.urls import path

from bookings import ticket_views

urlpatterns = [
    path("tickets/<str:code>.svg", ticket_views.ticket_qr, name="ticket-qr"),
    path("bookings/<uuid:booking_id>/print/", ticket_views.ticket_print, name="ticket-print"),
    path("checkin/", ticket_views.checkin_page, name="checkin"),
]
