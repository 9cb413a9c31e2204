"""A confirmed booking as an iCalendar file: the booking page's download and
the confirmation e-mail's attachment are the same file.

The event's times are its local wall times with ``TZID=<Event.timezone>``,
and the file carries that zone's VTIMEZONE (its offsets and their changes
over the years of the event), so that a calendar shows the right time even
where its own zone database differs. A UTC event keeps the plain ``Z`` form."""

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
from django.utils import timezone
from django.utils.text import slugify

from bookings.models import Booking
from nuvio.timezones import in_zone

# Zone changes are looked for at this step, then to the second: no zone
# changes twice within it.
_SEARCH_STEP = dt.timedelta(hours=6)
_SECOND = dt.timedelta(seconds=1)


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
    starts_at = in_zone(event.starts_at, event.timezone)
    ends_at = in_zone(event.ends_at, event.timezone)
    vevent = icalendar.Event()
    vevent.add("uid", f"{booking.pk}@nuvio")
    vevent.add("dtstamp", (now or timezone.now()).astimezone(dt.UTC))
    vevent.add("dtstart", starts_at)
    vevent.add("dtend", ends_at)
    vevent.add("summary", event.name)
    vevent.add(
        "location",
        ", ".join(part for part in (event.venue_name, event.venue_address, event.city) if part),
    )
    vevent.add("description", description)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Nuvio//Bookings//EN")
    calendar.add("version", "2.0")
    tzid = vevent["DTSTART"].params.get("TZID")  # none for UTC, written with a Z
    if tzid:
        calendar.add_component(vtimezone(tzid, first=starts_at, last=ends_at))
    calendar.add_component(vevent)
    return calendar.to_ical()


def vtimezone(name: str, *, first: dt.datetime, last: dt.datetime) -> icalendar.Timezone:
    """The VTIMEZONE of zone ``name`` from the start of ``first``'s year to the
    end of ``last``'s, from this machine's zone database.

    RFC 5545 §3.6.5: each observance starts (DTSTART, then RDATEs) at the
    local time in force just before the change, that is in its TZOFFSETFROM:
    Europe/London's summer time starts at 01:00 (GMT) on the last Sunday of
    March, America/New_York's at 02:00 (EST). (icalendar's own
    ``add_missing_timezones`` writes the time after a change forward.)"""
    zone = ZoneInfo(name)
    begin = dt.datetime(first.year, 1, 1, tzinfo=zone)
    if last.year < dt.MAXYEAR:
        end = dt.datetime(last.year + 1, 1, 1, tzinfo=zone)
    else:
        end = dt.datetime(dt.MAXYEAR, 12, 30, tzinfo=zone)
    # (offset from, offset to, name, daylight saving) -> onsets in local time
    observances: dict[tuple[dt.timedelta, dt.timedelta, str, bool], list[dt.datetime]] = {}
    offset = begin.utcoffset()
    observances[(offset, offset, begin.tzname(), bool(begin.dst()))] = [begin.replace(tzinfo=None)]
    for change in _changes(zone, begin.astimezone(dt.UTC), end.astimezone(dt.UTC)):
        before, after = (change - _SECOND).astimezone(zone), change.astimezone(zone)
        key = (before.utcoffset(), after.utcoffset(), after.tzname(), bool(after.dst()))
        onset = (change + before.utcoffset()).replace(tzinfo=None)
        observances.setdefault(key, []).append(onset)

    component = icalendar.Timezone()
    component.add("tzid", name)
    for (offset_from, offset_to, tzname, daylight), onsets in observances.items():
        observance = icalendar.TimezoneDaylight() if daylight else icalendar.TimezoneStandard()
        observance.add("dtstart", onsets[0])
        if onsets[1:]:
            observance.add("rdate", onsets[1:])
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        observance.add("tzname", tzname)
        component.add_component(observance)
    return component


def _changes(zone: ZoneInfo, begin: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The UTC instants in (``begin``, ``end``] at which ``zone`` changes its
    offset, its name or its daylight saving, each the first second of the new
    state."""

    def state(instant: dt.datetime):
        local = instant.astimezone(zone)
        return local.utcoffset(), local.tzname(), local.dst()

    changes = []
    low = begin
    while low < end:
        high = min(low + _SEARCH_STEP, end)
        if state(high) != state(low):
            before, after = low, high
            while after - before > _SECOND:
                middle = before + dt.timedelta(seconds=(after - before).total_seconds() // 2)
                if state(middle) == state(before):
                    before = middle
                else:
                    after = middle
            changes.append(after)
        low = high
    return changes


def ics_filename(booking: Booking) -> str:
    return f"nuvio-{slugify(booking.event.name) or 'event'}.ics"
