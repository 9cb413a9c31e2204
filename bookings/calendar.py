"""A confirmed booking as an iCalendar file: the booking page's download and
the confirmation e-mail's attachment are the same file."""

import datetime as dt

import icalendar
from django.utils import timezone
from django.utils.text import slugify

from bookings.models import Booking


def booking_ics(booking: Booking, *, booking_url: str, codes: list[str], now=None) -> bytes:
    """The event of ``booking`` as one VEVENT, its ticket ``codes`` and a link
    to ``booking_url`` in the description."""
    event = booking.event
    plural = "s" if booking.quantity != 1 else ""
    description = "\n".join(
        [
            f"{booking.quantity} ticket{plural} booked on Nuvio.",
            f"Ticket code{plural}: {', '.join(codes)}",
            f"Your booking: {booking_url}",
        ]
    )
    vevent = icalendar.Event()
    vevent.add("uid", f"{booking.pk}@nuvio")
    vevent.add("dtstamp", (now or timezone.now()).astimezone(dt.UTC))
    vevent.add("dtstart", event.starts_at.astimezone(dt.UTC))
    vevent.add("dtend", event.ends_at.astimezone(dt.UTC))
    vevent.add("summary", event.name)
    vevent.add(
        "location",
        ", ".join(part for part in (event.venue_name, event.venue_address, event.city) if part),
    )
    vevent.add("description", description)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Nuvio//Bookings//EN")
    calendar.add("version", "2.0")
    calendar.add_component(vevent)
    return calendar.to_ical()


def ics_filename(booking: Booking) -> str:
    return f"nuvio-{slugify(booking.event.name) or 'event'}.ics"
