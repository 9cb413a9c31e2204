"""A ticket after payment: who comes (attendee details and answers) and who
holds it (transfer to another account).

Both change one ticket under its row lock. A transfer also locks the
ticket's booking first (the order ``booking_cancel`` takes them in: booking,
then its tickets), so a cancel and a transfer never deadlock, and it gives
the ticket a new ``code`` in the same statement that moves it: a check-in
racing it (a conditional ``UPDATE ... WHERE code = old AND checked_in_at IS
NULL``) either admits the ticket before the transfer reads it, and the
transfer is refused, or finds the old code gone and admits no one.

The booking, its payment and any refund stay the buyer's whoever holds the
ticket; a cancelled booking voids its transferred tickets too.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from bookings.models import (
    TICKET_ORDER,
    Booking,
    BookingStatus,
    NotificationKind,
    Ticket,
    TicketTransfer,
    new_ticket_code,
)
from bookings.notifications import notify
from events.models import Event, EventStatus, Question, QuestionKind
from nuvio.errors import BookingClosed, Invalid, InvalidState, NotFound
from nuvio.timezones import human

MAX_TEXT_ANSWER = 1000
ATTENDEE_NAME_LENGTH = Ticket._meta.get_field("attendee_name").max_length
ATTENDEE_EMAIL_LENGTH = Ticket._meta.get_field("attendee_email").max_length
# What a boolean question accepts besides true and false (forms send strings).
_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def event_questions(event_id) -> list[Question]:
    return list(Question.objects.filter(event_id=event_id).order_by("position", "id"))


def questions_by_event(event_ids) -> dict[Any, list[Question]]:
    """The questions of each of ``event_ids``, in order, in one query (an
    event that asks none maps to an empty list)."""
    found: dict[Any, list[Question]] = {event_id: [] for event_id in event_ids}
    for question in Question.objects.filter(event_id__in=list(found)).order_by(
        "event_id", "position", "id"
    ):
        found.setdefault(question.event_id, []).append(question)
    return found


def answers_shown(questions: list[Question], answers: dict[str, Any]) -> dict[str, Any]:
    """The answers to the event's current questions, in the questions' order
    (an answer to a question deleted since is no longer shown)."""
    return {str(q.pk): answers[str(q.pk)] for q in questions if str(q.pk) in answers}


def answer_value(question: Question, value: Any) -> Any:
    """``value`` as the answer to ``question`` stores it; None when it is
    blank (no answer). Raises ``ValueError`` with the reason in plain words."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if question.kind == QuestionKind.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[value.strip().lower()]
        raise ValueError("Must be true or false.")
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    value = value.strip()
    if question.kind == QuestionKind.CHOICE:
        if value not in question.choices:
            raise ValueError(f"Must be one of: {', '.join(question.choices)}.")
        return value
    if len(value) > MAX_TEXT_ANSWER:
        raise ValueError(f"At most {MAX_TEXT_ANSWER} characters.")
    return value


def answers_merge(
    questions: list[Question], current: dict[str, Any], given: dict[str, Any]
) -> dict[str, Any]:
    """``current`` answers with ``given`` ones applied (a blank one removes
    its answer). Every error at once: ``Invalid`` with details
    ``{"answers": {question id: [reason]}}``."""
    by_id = {str(question.pk): question for question in questions}
    merged = {key: value for key, value in current.items() if key in by_id}
    errors: dict[str, list[str]] = {}
    for key, value in given.items():
        question = by_id.get(str(key))
        if question is None:
            errors[str(key)] = ["No such question for this event."]
            continue
        try:
            stored = answer_value(question, value)
        except ValueError as exc:
            errors[str(key)] = [str(exc)]
            continue
        if stored is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = stored
    if errors:
        raise Invalid("Some answers are not valid.", details={"answers": errors})
    return merged


def missing_answers(questions: list[Question], answers: dict[str, Any]) -> list[Question]:
    """The required questions ``answers`` leaves unanswered."""
    return [q for q in questions if q.required and answers.get(str(q.pk)) in (None, "")]


def ticket_complete(ticket: Ticket, questions: list[Question]) -> bool:
    """Whether the ticket names its attendee and answers every required question."""
    return bool(ticket.attendee_name.strip()) and not missing_answers(questions, ticket.answers)


def tickets_held(*, user: User) -> QuerySet[Ticket]:
    """The valid tickets of confirmed bookings that ``user`` holds, bought
    or received, soonest event first; with their event, type and seat."""
    return (
        Ticket.objects.filter(
            holder=user, voided_at__isnull=True, booking__status=BookingStatus.CONFIRMED
        )
        .select_related("booking__event", "ticket_type", "seat")
        .order_by("booking__event__starts_at", *TICKET_ORDER)
    )


def _held_ticket_locked(user: User, ticket_id) -> Ticket:
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("booking__event")
        .filter(pk=ticket_id, holder=user)
        .first()
    )
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def _check_usable(ticket: Ticket) -> None:
    if ticket.voided_at is not None or ticket.booking.status != BookingStatus.CONFIRMED:
        raise InvalidState("This ticket's booking was cancelled: the ticket is void.")


def _check_event_open(event: Event) -> None:
    # A cancelled event's bookings are cancelled by a background job: its
    # tickets are as good as void before that job reaches them.
    if event.status == EventStatus.CANCELLED:
        raise BookingClosed("The event was cancelled: its tickets are void.")


def _attendee_values(data: dict[str, Any]) -> dict[str, str]:
    """``attendee_name`` and ``attendee_email`` of ``data`` (those given),
    trimmed; ``Invalid`` by field when too long or not an e-mail address."""
    values, errors = {}, {}
    for field in ("attendee_name", "attendee_email"):
        if field in data:
            value = data[field]
            if value is not None and not isinstance(value, str):
                errors[field] = ["Must be text."]
                continue
            values[field] = (value or "").strip()
    name = values.get("attendee_name", "")
    if len(name) > ATTENDEE_NAME_LENGTH:
        errors["attendee_name"] = [f"At most {ATTENDEE_NAME_LENGTH} characters."]
    address = values.get("attendee_email", "")
    if address:
        try:
            validate_email(address)
        except ValidationError:
            errors["attendee_email"] = ["Enter a valid e-mail address."]
        else:
            if len(address) > ATTENDEE_EMAIL_LENGTH:
                errors["attendee_email"] = [f"At most {ATTENDEE_EMAIL_LENGTH} characters."]
    if errors:
        field, messages = next(iter(errors.items()))
        raise Invalid(f"{field}: {messages[0]}", details=errors)
    return values


def ticket_attendee_update(
    *, user: User, ticket_id, data: dict[str, Any], now: dt.datetime | None = None
) -> Ticket:
    """Set who comes on a ticket the user holds: ``attendee_name``,
    ``attendee_email`` and ``answers`` (question id → value; a blank value
    removes that answer, questions left out keep theirs).

    Until the event starts (``BookingClosed`` after); not on a void ticket
    (``InvalidState``); an answer to an unknown question, of the wrong kind
    or not among a choice's options is ``Invalid`` and changes nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _held_ticket_locked(user, ticket_id)
        _check_usable(ticket)
        event = ticket.booking.event
        _check_event_open(event)
        if event.starts_at <= now:
            raise BookingClosed("The event has started: attendee details can no longer change.")
        values = _attendee_values(data)
        if "answers" in data:
            given = data["answers"] or {}
            if not isinstance(given, dict):
                raise Invalid(
                    "answers: give an object of question ids and answers.",
                    details={"answers": ["Must be an object of question ids and answers."]},
                )
            ticket.answers = answers_merge(event_questions(event.pk), ticket.answers, given)
        for field, value in values.items():
            setattr(ticket, field, value)
        ticket.save(update_fields=["attendee_name", "attendee_email", "answers"])
    return ticket


@dataclass(frozen=True)
class Transfer:
    ticket: Ticket
    old_code: str
    recipient: User


def ticket_transfer(
    *, user: User, ticket_id, email: str, now: dt.datetime | None = None
) -> Transfer:
    """Hand a ticket the user holds to the account with ``email``.

    The ticket gets a new code at once (the old one is refused at the door)
    and names the new holder as its attendee, with no answers; both people
    are told in the app and by e-mail. Refused: to an unknown address or to
    oneself (``Invalid``), after check-in or for a cancelled booking
    (``InvalidState``), once the event has started or when its
    ``transfers_enabled`` is off (``BookingClosed``).
    """
    now = now or timezone.now()
    address = (email or "").strip()
    with transaction.atomic():
        # Someone else's ticket is a 404 whatever the address: checked first.
        booking_id = (
            Ticket.objects.filter(pk=ticket_id, holder=user)
            .values_list("booking_id", flat=True)
            .first()
        )
        if booking_id is None:
            raise NotFound("No such ticket.")
        recipient = User.objects.filter(email__iexact=address, is_active=True).first()
        if recipient is None:
            raise Invalid(
                "No Nuvio account has this e-mail address: ask them to sign up first.",
                details={"email": ["No account has this e-mail address."]},
            )
        if recipient.pk == user.pk:
            raise Invalid(
                "This ticket is already yours.",
                details={"email": ["Give the e-mail address of someone else."]},
            )
        Booking.objects.select_for_update().filter(pk=booking_id).first()
        ticket = _held_ticket_locked(user, ticket_id)
        _check_usable(ticket)
        if ticket.checked_in_at is not None:
            raise InvalidState("This ticket was already checked in: it cannot change hands.")
        event = ticket.booking.event
        _check_event_open(event)
        if not event.transfers_enabled:
            raise BookingClosed("The organiser does not allow ticket transfers for this event.")
        if event.starts_at <= now:
            raise BookingClosed("The event has started: tickets can no longer change hands.")
        old_code = ticket.code
        ticket.holder = recipient
        ticket.code = new_ticket_code()
        ticket.attendee_name = recipient.name
        ticket.attendee_email = recipient.email
        ticket.answers = {}
        ticket.save(update_fields=["holder", "code", "attendee_name", "attendee_email", "answers"])
        transfer = TicketTransfer.objects.create(
            ticket=ticket, from_user=user, to_user=recipient, old_code=old_code, created_at=now
        )
        _notify_transfer(event, user, recipient, transfer, now)
    return Transfer(ticket=ticket, old_code=old_code, recipient=recipient)


def _notify_transfer(
    event: Event, sender: User, recipient: User, transfer: TicketTransfer, now: dt.datetime
) -> None:
    when = human(event.starts_at, event.timezone)
    notify(
        user_id=sender.pk,
        kind=NotificationKind.TICKET_SENT,
        message=(
            f"You sent a ticket for {event.name} ({when}) to {recipient.email}. "
            "Its old code no longer works."
        ),
        event_id=event.pk,
        dedupe_key=f"ticket_sent:{transfer.pk}",
        now=now,
    )
    notify(
        user_id=recipient.pk,
        kind=NotificationKind.TICKET_RECEIVED,
        message=(
            f"{sender.name or sender.email} sent you a ticket for {event.name} ({when}). "
            "It is in My tickets: add the attendee's details there."
        ),
        event_id=event.pk,
        dedupe_key=f"ticket_received:{transfer.pk}",
        now=now,
    )
