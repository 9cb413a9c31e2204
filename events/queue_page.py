"""The waiting room as the HTML pages show it: a person's place in an event's
queue (what ``GET /api/events/{id}/queue/`` answers, from ``events.queue``),
in the words, numbers and progress the waiting room's page and the event
page show.

The pages are rendered on the server, so they read without JavaScript;
``static/js/waiting-room.js`` keeps the waiting room's page up to date from
the same answer, fetched again from the API every ``retry_after`` seconds.
"""

import datetime as dt
import math
from dataclasses import dataclass, replace

from events.models import Event
from events.queue import QueuePlace, WaitingRoom, queue_join, queue_leave
from events.queue import queue_place as queue_place_now
from nuvio.errors import Unavailable


@dataclass(frozen=True)
class Place:
    """One person's place in an event's queue, as the API answers it, and
    how far they have come since they first saw it: ``ahead_at_first``, the
    people who were ahead of them then (the progress bar runs from there to
    their turn)."""

    status: str  # waiting, admitted or expired
    position: int | None  # None before the queue opens: places are drawn then
    ahead: int | None  # people ahead who still wait
    opens_at: dt.datetime
    estimated_wait_seconds: int
    admitted_until: dt.datetime | None
    retry_after: int
    answer: dict  # the API's JSON answer, for the page's script
    ahead_at_first: int = 0

    @classmethod
    def of(cls, place: QueuePlace) -> "Place":
        return cls(
            status=place.status,
            position=place.position,
            ahead=place.ahead,
            opens_at=place.opens_at,
            estimated_wait_seconds=place.estimated_wait_seconds,
            admitted_until=place.admitted_until,
            retry_after=place.retry_after,
            answer=place.as_dict(),
        )

    @property
    def waiting(self) -> bool:
        return self.status == "waiting"

    @property
    def admitted(self) -> bool:
        return self.status == "admitted"

    @property
    def expired(self) -> bool:
        return self.status == "expired"

    @property
    def drawn(self) -> bool:
        """Whether the place has its number yet (not before the queue opens)."""
        return self.position is not None

    @property
    def progress_max(self) -> int:
        """The progress bar's steps: each person ahead at first, then one's own turn."""
        return max(self.ahead_at_first, self.ahead or 0) + 1

    @property
    def progress(self) -> int:
        if not self.waiting:
            return self.progress_max
        return self.progress_max - 1 - (self.ahead or 0)

    @property
    def wait_words(self) -> str:
        return wait_in_words(self.estimated_wait_seconds)


@dataclass(frozen=True)
class QueueGate:
    """An event's enabled waiting room as its page shows it to one person:
    when it opens, and their place in it (None: not in it, or anonymous)."""

    opens_at: dt.datetime
    opened: bool
    place: Place | None
    unavailable: bool = False

    @property
    def admitted(self) -> bool:
        return self.place is not None and self.place.admitted


def place_seen(place: Place | None, seen: list | None) -> tuple[Place | None, list | None]:
    """``place`` with the people who were ahead of it when it was first seen
    (``seen``: ``[position, ahead]`` from then, or None), and what to
    remember of it now (a new place starts again from its own count)."""
    if place is None or not place.drawn:
        return place, seen
    ahead = place.ahead or 0
    if not seen or seen[0] != place.position or seen[1] < ahead:
        seen = [place.position, ahead]
    return replace(place, ahead_at_first=seen[1]), seen


def wait_in_words(seconds: int | None) -> str:
    """An estimated wait as a person says it: "less than a minute", "about
    12 minutes", "about 1 hour 20 minutes" (static/js/waiting-room.js says
    it the same way); empty when there is no estimate."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    words = f"about {hours} hour{'s' if hours != 1 else ''}"
    if minutes:
        words += f" {minutes} minute{'s' if minutes != 1 else ''}"
    return words


# --- what the pages ask of events.queue ------------------------------------


def queue_place(*, event: Event, user, now: dt.datetime) -> Place | None:
    """``user``'s place in ``event``'s queue now; None if they are not in it.
    Raises ``Unavailable`` when the waiting room cannot be reached."""
    place = queue_place_now(room=WaitingRoom.of(event), user=user, now=now)
    return None if place is None else Place.of(place)


def queue_place_take(*, event: Event, user, now: dt.datetime) -> Place:
    """Join ``event``'s queue (or keep the live place already taken; an
    expired one goes to the back). Raises ``InvalidState`` when the event
    has no enabled queue or cannot be booked, ``Unavailable`` or ``Busy``
    when the waiting room cannot be reached."""
    place, _ = queue_join(room=WaitingRoom.of(event), user=user, now=now)
    return Place.of(place)


def queue_place_leave(*, event: Event, user) -> None:
    """Give up ``user``'s place in ``event``'s queue (nothing if they had
    none). Raises ``Unavailable`` when the waiting room cannot be reached."""
    queue_leave(room=WaitingRoom.of(event), user=user)


def queue_gate(*, event: Event, user, now: dt.datetime) -> QueueGate | None:
    """The waiting room between ``user`` and ``event``'s Book form, or None
    when the event sells without one. When the waiting room cannot be
    reached the place is unknown (``unavailable``): nobody gets past it."""
    if not event.queue_enabled:
        return None
    place, unavailable = None, False
    if user.is_authenticated:
        try:
            place = queue_place(event=event, user=user, now=now)
        except Unavailable:
            unavailable = True
    return QueueGate(
        opens_at=event.queue_opens_at,
        opened=now >= event.queue_opens_at,
        place=place,
        unavailable=unavailable,
    )
