"""Times as people read them: in the event's own zone, with its abbreviation.

``{{ event.starts_at|local_time:event }}`` → "Mon 14 Dec 2026, 19:30 IST";
``local_date`` → "Mon 14 Dec 2026"; ``local_clock`` → "19:30 IST". The
argument is an event (its ``timezone``), a row of an event as a dict (its
``"timezone"``), a zone name, or nothing (``NUVIO_TIME_ZONE``, for times that
belong to no event). Anything but an aware datetime (None, or the empty
string of a missing variable) shows as nothing, as with Django's ``date``.
"""

import datetime as dt
from collections.abc import Mapping

from django import template

from nuvio.timezones import HUMAN_FORMAT, human

register = template.Library()


def _zone_name(where) -> str | None:
    if where is None or isinstance(where, str):
        return where or None
    if isinstance(where, Mapping):
        return where.get("timezone")
    return getattr(where, "timezone", None)


def _shown(value, where, fmt: str) -> str:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        return ""
    return human(value, _zone_name(where), fmt)


@register.filter
def local_time(value, where=None) -> str:
    return _shown(value, where, HUMAN_FORMAT)


@register.filter
def local_date(value, where=None) -> str:
    return _shown(value, where, "%a %d %b %Y").rpartition(" ")[0]


@register.filter
def local_clock(value, where=None) -> str:
    return _shown(value, where, "%H:%M")


@register.filter
def zone_abbreviation(value, where=None) -> str:
    return _shown(value, where, "").strip()
