"""Time zones: the API keeps every time in UTC; people read an event's times
in the event's own zone (``Event.timezone``, an IANA name), and times that
belong to no event in ``NUVIO_TIME_ZONE``."""

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings

# How a person reads a time: "Mon 14 Dec 2026, 19:30 IST".
HUMAN_FORMAT = "%a %d %b %Y, %H:%M"


@cache
def known_zones() -> frozenset[str]:
    """Every IANA zone name this machine's zone database knows."""
    return frozenset(available_timezones())


def is_known_zone(name: str) -> bool:
    return isinstance(name, str) and name in known_zones()


def zone(name: str | None) -> ZoneInfo:
    """The zone ``name``; ``NUVIO_TIME_ZONE`` when blank or unknown (an old
    row, a zone dropped from the database): a page never fails on a zone.
    (``ZoneInfo`` keeps each zone it made: asking again costs a lookup.)"""
    if name and is_known_zone(name):
        return ZoneInfo(name)
    return ZoneInfo(settings.NUVIO_TIME_ZONE)


def default_zone_name() -> str:
    return settings.NUVIO_TIME_ZONE


def in_zone(value: dt.datetime, name: str | None) -> dt.datetime:
    """``value`` (aware) as a wall-clock time in zone ``name``."""
    return value.astimezone(zone(name))


def abbreviation(value: dt.datetime, name: str | None) -> str:
    """The zone's abbreviation at that instant: IST, GMT or BST, CET, "+04"."""
    return in_zone(value, name).tzname() or ""


def human(value: dt.datetime | None, name: str | None, fmt: str = HUMAN_FORMAT) -> str:
    """``value`` as a person reads it in zone ``name``, with the zone's
    abbreviation: "Mon 14 Dec 2026, 19:30 IST". Empty for None."""
    if value is None:
        return ""
    local = in_zone(value, name)
    return f"{local.strftime(fmt)} {local.tzname()}"
