"""Tickets at the door: check a ticket in exactly once, and log every scan.

A ticket is admitted by one conditional ``UPDATE ... WHERE checked_in_at IS
NULL``: of two scanners reading the same code at the same instant, the
database lets exactly one change the row. Every attempt, admitted or not, is
written to ``CheckInScan`` (committed even when the answer is an error).
"""

import io
from dataclasses import dataclass, field

import segno
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from bookings.models import (
    CODE_ALPHABET,
    TICKET_ORDER,
    BookingStatus,
    CheckInScan,
    ScanResult,
    Ticket,
)
from bookings.services.tickets import event_questions, missing_answers, ticket_complete
from events.models import Event, Question
from nuvio.errors import BookingClosed, InvalidState, NotFound, NuvioError


def normalize_code(raw: str) -> str:
    """What people type: any case, spaces and dashes between groups."""
    return "".join(ch for ch in (raw or "").upper() if ch not in " -\t")


@dataclass
class CheckIn:
    """An admitted ticket, with what the door should know about who comes:
    the event's ``questions`` and the labels of the required ones the
    ticket leaves unanswered (``missing``). An incomplete ticket is still
    admitted: the door only says so."""

    ticket: Ticket
    event: Event
    checked_in_at: object
    questions: list[Question] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [question.label for question in missing_answers(self.questions, self.ticket.answers)]

    @property
    def complete(self) -> bool:
        return ticket_complete(self.ticket, self.questions)


def ticket_check_in(*, staff: User, code: str, event_id=None, now=None) -> CheckIn:
    """Admit the ticket with ``code``, once.

    Raises ``NotFound`` (no such code), ``BookingClosed`` (its booking was
    cancelled: the ticket is void), ``InvalidState`` with ``reason``
    ``already_checked_in`` (and when) or ``wrong_event`` (``event_id`` given
    and the ticket is for another event). The scan is logged in every case.
    """
    now = now or timezone.now()
    code = normalize_code(code)
    outcome: CheckIn | None = None
    error: NuvioError | None = None
    with transaction.atomic():
        admitted = Ticket.objects.filter(
            code=code, checked_in_at__isnull=True, voided_at__isnull=True
        )
        if event_id is not None:
            admitted = admitted.filter(booking__event_id=event_id)
        won = admitted.update(checked_in_at=now, checked_in_by=staff)
        ticket = (
            Ticket.objects.select_related("booking__event", "seat", "ticket_type")
            .filter(code=code)
            .first()
            if set(code) <= set(CODE_ALPHABET)
            else None
        )
        if won:
            result = ScanResult.ADMITTED
            event = ticket.booking.event
            outcome = CheckIn(
                ticket=ticket,
                event=event,
                checked_in_at=now,
                questions=event_questions(event.pk),
            )
        else:
            result, error = _refusal(ticket, event_id)
        scan_event_id = ticket.booking.event_id if ticket else None
        if event_id is not None and Event.objects.filter(pk=event_id).exists():
            scan_event_id = event_id  # the door's event; an unknown id is not logged
        CheckInScan.objects.create(
            code=code[:64],
            ticket=ticket,
            event_id=scan_event_id,
            staff=staff,
            result=result,
            created_at=now,
        )
    if error is not None:
        raise error
    return outcome


def _refusal(ticket: Ticket | None, event_id) -> tuple[str, NuvioError]:
    if ticket is None:
        return ScanResult.UNKNOWN, NotFound("No ticket has this code.")
    if ticket.voided_at is not None or ticket.booking.status == BookingStatus.CANCELLED:
        return ScanResult.BOOKING_CLOSED, BookingClosed(
            "This ticket's booking was cancelled: the ticket is void."
        )
    if event_id is not None and str(ticket.booking.event_id) != str(event_id):
        event = ticket.booking.event
        return ScanResult.WRONG_EVENT, InvalidState(
            f"wrong_event: this ticket is for {event.name}.",
            details={"reason": "wrong_event", "event": str(event.pk)},
        )
    when = ticket.checked_in_at
    return ScanResult.ALREADY_CHECKED_IN, InvalidState(
        f"already_checked_in: this ticket was checked in at {when:%Y-%m-%d %H:%M:%S} UTC.",
        details={"reason": "already_checked_in", "checked_in_at": when.isoformat()},
    )


def checkin_counts(*, event_id) -> dict:
    """Tickets sold (valid tickets of confirmed bookings) and checked in, for an event."""
    counts = Ticket.objects.filter(
        booking__event_id=event_id,
        booking__status=BookingStatus.CONFIRMED,
        voided_at__isnull=True,
    ).aggregate(sold=Count("id"), checked_in=Count("id", filter=Q(checked_in_at__isnull=False)))
    return {"tickets_sold": counts["sold"], "checked_in": counts["checked_in"]}


def event_attendees(*, event_id) -> QuerySet[Ticket]:
    """Every valid ticket of the event's confirmed bookings, with its type,
    seat, holder and buyer, in the order of sale (staff's attendee list)."""
    return (
        Ticket.objects.filter(
            booking__event_id=event_id,
            booking__status=BookingStatus.CONFIRMED,
            voided_at__isnull=True,
        )
        .select_related("booking__user", "holder", "ticket_type", "seat")
        .order_by("booking__confirmed_at", "booking_id", *TICKET_ORDER)
    )


def ticket_qr_svg(code: str, *, scale: int = 6) -> str:
    """The ticket's QR code as an SVG document (error correction M)."""
    buffer = io.BytesIO()
    segno.make_qr(code, error="m").save(
        buffer, kind="svg", scale=scale, border=2, xmldecl=False, title=f"Ticket {code}"
    )
    return buffer.getvalue().decode()


def visible_ticket(*, user: User, code: str) -> Ticket:
    """A valid ticket its holder (or staff) may see; anything else is ``NotFound``."""
    ticket = Ticket.objects.filter(code=normalize_code(code), voided_at__isnull=True).first()
    if ticket is None or not (user.is_staff or ticket.holder_id == user.pk):
        raise NotFound("No such ticket.")
    return ticket
