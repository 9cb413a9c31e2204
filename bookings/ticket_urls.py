from django.urls import path

from bookings import ticket_views

urlpatterns = [
    path("tickets/", ticket_views.my_tickets, name="my-tickets"),
    path(
        "tickets/<uuid:ticket_id>/attendee/",
        ticket_views.ticket_attendee,
        name="ticket-attendee",
    ),
    path(
        "tickets/<uuid:ticket_id>/transfer/",
        ticket_views.ticket_transfer,
        name="ticket-transfer",
    ),
    path("tickets/<str:code>.svg", ticket_views.ticket_qr, name="ticket-qr"),
    path("bookings/<uuid:booking_id>/print/", ticket_views.ticket_print, name="ticket-print"),
    path("checkin/", ticket_views.checkin_page, name="checkin"),
]
