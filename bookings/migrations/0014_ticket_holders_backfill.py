"""Existing tickets: held by their buyer, named after them, and of their
item's ticket type (a seat's type on seated events; in item order otherwise)."""

from django.db import migrations
from django.db.models import Count, OuterRef, Subquery


def backfill(apps, schema_editor):
    Ticket = apps.get_model("bookings", "Ticket")
    BookingItem = apps.get_model("bookings", "BookingItem")
    User = apps.get_model("accounts", "User")
    Seat = apps.get_model("events", "Seat")
    buyer = User.objects.filter(bookings__pk=OuterRef("booking_id"))
    Ticket.objects.filter(holder__isnull=True).update(
        holder_id=Subquery(buyer.values("pk")[:1]),
        attendee_name=Subquery(buyer.values("name")[:1]),
        attendee_email=Subquery(buyer.values("email")[:1]),
    )
    Ticket.objects.filter(seat__isnull=False, ticket_type__isnull=True).update(
        ticket_type_id=Subquery(
            Seat.objects.filter(pk=OuterRef("seat_id")).values("ticket_type_id")
        )
    )
    items = BookingItem.objects.filter(booking_id=OuterRef("booking_id")).order_by("id")
    Ticket.objects.filter(ticket_type__isnull=True).update(
        ticket_type_id=Subquery(items.values("ticket_type_id")[:1])
    )
    # Bookings of several types: their tickets, in order, take the items in order.
    mixed = (
        BookingItem.objects.values("booking_id")
        .order_by()
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("booking_id", flat=True)
    )
    for booking_id in mixed.iterator():
        types = [
            type_id
            for type_id, quantity in BookingItem.objects.filter(booking_id=booking_id)
            .order_by("id")
            .values_list("ticket_type_id", "quantity")
            for _ in range(quantity)
        ]
        tickets = Ticket.objects.filter(booking_id=booking_id, seat__isnull=True).order_by(
            "created_at", "id"
        )
        for ticket, type_id in zip(tickets, types, strict=False):
            Ticket.objects.filter(pk=ticket.pk).update(ticket_type_id=type_id)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("bookings", "0013_ticket_holders_attendees"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
