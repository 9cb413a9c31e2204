"""Every state change of an event. Views, the API, admin actions and commands
call these; each runs in one transaction and invalidates the catalog cache
after commit."""

import logging
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from bookings.services import waitlist_serve_locked
from bookings.tasks import cancel_event_bookings
from events import cache as catalog_cache
from events import queue
from events.models import Event, EventStatus, PromoCode, Question, QuestionKind, TicketType
from nuvio.errors import Invalid, InvalidState, NotFound
from nuvio.timezones import is_known_zone

logger = logging.getLogger("nuvio.events")

EDITABLE_FIELDS = {
    "name",
    "description",
    "category",
    "venue_name",
    "venue_address",
    "city",
    "state",
    "country",
    "postal_code",
    "starts_at",
    "ends_at",
    "capacity",
    "price",
    "currency",
    "status",
    "booking_enabled",
    "max_tickets_per_user",
    "refund_tiers",
    "timezone",
    "transfers_enabled",
}
# The waiting room's settings (API.md "Waiting room"; the API's ``queue``).
QUEUE_FIELDS = ("queue_enabled", "queue_opens_at", "queue_admit_per_minute", "queue_pass_minutes")
EDITABLE_FIELDS |= set(QUEUE_FIELDS)
# The API's names of the queue fields, for the errors' details.
QUEUE_NAMES = {
    "queue_enabled": "enabled",
    "queue_opens_at": "opens_at",
    "queue_admit_per_minute": "admit_per_minute",
    "queue_pass_minutes": "pass_minutes",
}
QUEUE_RATE_RANGE = (1, 100_000)
QUEUE_PASS_RANGE = (1, 120)
# What staff edit of a ticket type and of a promo code, in the order forms show them.
TICKET_TYPE_FIELDS = (
    "name",
    "description",
    "price",
    "quota",
    "sale_starts_at",
    "sale_ends_at",
    "max_per_booking",
    "hidden",
    "position",
)
PROMO_CODE_FIELDS = (
    "code",
    "discount_percent",
    "discount_amount",
    "max_uses",
    "valid_from",
    "valid_until",
    "active",
    "ticket_types",
    "unlocks",
)
GENERAL_ADMISSION = "General admission"
MAX_TICKET_TYPES = 50  # per event: API.md's ticket-type list is not paginated
# What an event asks of each attendee (``Question``): how many, and how long.
MAX_QUESTIONS = 50
MAX_QUESTION_LABEL = 200
MAX_CHOICES = 100
MAX_CHOICE_LENGTH = 200
QUESTION_FIELDS = ("label", "kind", "required", "choices")
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{3,40}")


def _check_dates(starts_at, ends_at) -> None:
    if ends_at <= starts_at:
        raise Invalid(
            "The event must end after it starts.",
            details={"ends_at": ["Must be after starts_at."]},
        )


def _check_zone(data: dict[str, Any]) -> None:
    if "timezone" in data and not is_known_zone(data["timezone"]):
        raise Invalid(
            f"Unknown time zone {data['timezone']!r}.",
            details={"timezone": ["Must be an IANA time zone name, such as Asia/Kolkata."]},
        )


def question_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """The rules of API.md for one question's ``values`` (``label``,
    ``kind``, ``required``, ``choices``: all of them), by field. Normalises
    ``values`` in place: the label and the options trimmed, ``required`` a
    bool."""
    errors: dict[str, list[str]] = {}
    label = values["label"].strip() if isinstance(values["label"], str) else ""
    values["label"] = label
    if not label:
        errors["label"] = ["Give the question a label."]
    elif len(label) > MAX_QUESTION_LABEL:
        errors["label"] = [f"At most {MAX_QUESTION_LABEL} characters."]
    if values["kind"] not in QuestionKind.values:
        errors["kind"] = [f"Must be one of: {', '.join(QuestionKind.values)}."]
    values["required"] = bool(values["required"])
    choices = values["choices"]
    if not isinstance(choices, list | tuple) or not all(isinstance(c, str) for c in choices):
        errors["choices"] = ["Must be a list of texts."]
        return errors
    choices = values["choices"] = [choice.strip() for choice in choices]
    if values["kind"] == QuestionKind.CHOICE:
        folded = [choice.casefold() for choice in choices]
        if not choices:
            errors["choices"] = ["A choice question needs at least one option."]
        elif len(choices) > MAX_CHOICES:
            errors["choices"] = [f"At most {MAX_CHOICES} options."]
        elif not all(choices):
            errors["choices"] = ["An option cannot be blank."]
        elif any(len(choice) > MAX_CHOICE_LENGTH for choice in choices):
            errors["choices"] = [f"Each option has at most {MAX_CHOICE_LENGTH} characters."]
        elif len(set(folded)) != len(folded):
            errors["choices"] = ["Give each option once."]
    elif choices and "kind" not in errors:
        errors["choices"] = ["Only a choice question has options: leave it empty."]
    return errors


def _question_item(
    fields: dict[str, Any], current: Question | None, seen: set
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One item of a question list as it is to be stored (a new question's
    defaults, or an existing one's fields where the item leaves them out)
    and the rules it breaks, by field."""
    unknown = set(fields) - {"id", *QUESTION_FIELDS}
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if current is not None:
        values = {name: getattr(current, name) for name in QUESTION_FIELDS}
    else:
        values = {"label": "", "kind": QuestionKind.TEXT, "required": False, "choices": []}
    values |= {name: fields[name] for name in QUESTION_FIELDS if name in fields}
    errors = question_errors(values)
    if "id" in fields:
        key = str(fields["id"])
        if current is None:
            errors["id"] = ["No such question of this event (leave id out for a new one)."]
        elif key in seen:
            errors["id"] = ["This question is listed twice."]
        seen.add(key)
    return values, errors


def _questions_replace_locked(event: Event, items: list[dict[str, Any]]) -> None:
    """Make ``items`` the event's questions, in their order (the event is
    locked, or new): an item with the ``id`` of one of its questions
    changes that question (fields left out keep their values), one without
    an ``id`` is new, and a question left out is deleted (its answers on
    tickets are no longer shown nor asked). Every rule at once, before
    anything is written: ``Invalid`` with details ``{"questions": [...]}``
    (one entry per item, ``{}`` for the good ones), or the list's own
    message (more than ``MAX_QUESTIONS``)."""
    items = list(items)
    if len(items) > MAX_QUESTIONS:
        raise Invalid(
            f"An event asks at most {MAX_QUESTIONS} questions.",
            details={"questions": [f"At most {MAX_QUESTIONS} questions."]},
        )
    existing = {str(q.pk): q for q in Question.objects.filter(event=event)}
    rows, errors, seen = [], [], set()
    for fields in items:
        fields = dict(fields)
        current = existing.get(str(fields["id"])) if "id" in fields else None
        values, problems = _question_item(fields, current, seen)
        rows.append((current, values))
        errors.append(problems)
    if any(errors):
        index, first = next((i, e) for i, e in enumerate(errors) if e)
        field, messages = next(iter(first.items()))
        raise Invalid(f"questions[{index}].{field}: {messages[0]}", details={"questions": errors})
    kept = {str(current.pk) for current, _ in rows if current is not None}
    Question.objects.filter(event=event).exclude(pk__in=kept).delete()
    for position, (current, values) in enumerate(rows):
        if current is None:
            Question.objects.create(event=event, position=position, **values)
            continue
        changed = {name: value for name, value in values.items() if getattr(current, name) != value}
        if changed or current.position != position:
            Question.objects.filter(pk=current.pk).update(position=position, **changed)


def _queue_changes(event: Event | None, data: dict[str, Any], now) -> tuple[dict, bool]:
    """The waiting-room fields to write for ``data`` (its queue fields, over
    the event's current ones), and whether the room is being removed (every
    setting cleared).

    A rate changed after the opening is appended to ``queue_rate_changes``,
    so admission goes on from the places admitted by then; a new opening
    time starts the history anew (its places stay, admitted from the new
    opening). Raises ``Invalid`` (details ``{"queue": {field: [...]}}``, the
    API's names): a rate outside 1-100,000 a minute or a pass outside 1-120
    minutes; enabling without an opening time, a rate and a pass; moving the
    opening of an enabled room that has opened."""
    given = {field: data[field] for field in QUEUE_FIELDS if field in data}
    if not given:
        return {}, False
    old = {field: getattr(event, field, None) for field in QUEUE_FIELDS}
    old["queue_enabled"] = bool(old["queue_enabled"])
    new = old | given
    errors: dict[str, list[str]] = {}
    for field, (low, high) in (
        ("queue_admit_per_minute", QUEUE_RATE_RANGE),
        ("queue_pass_minutes", QUEUE_PASS_RANGE),
    ):
        value = new[field]
        if value is not None and not low <= value <= high:
            errors[QUEUE_NAMES[field]] = [f"Must be between {low} and {high:,}."]
    if new["queue_enabled"]:
        for field in ("queue_opens_at", "queue_admit_per_minute", "queue_pass_minutes"):
            if new[field] is None:
                errors.setdefault(QUEUE_NAMES[field], ["Required to enable the waiting room."])
    moved = event is not None and new["queue_opens_at"] != old["queue_opens_at"]
    opened = old["queue_opens_at"] is not None and old["queue_opens_at"] <= now
    if moved and old["queue_enabled"] and opened:
        errors.setdefault(
            "opens_at",
            ["The waiting room has opened: its opening cannot move (disable it first)."],
        )
    if errors:
        name, messages = next(iter(errors.items()))
        raise Invalid(f"queue: {name}: {messages[0]}", details={"queue": errors})
    changes = dict(given)
    removed = not any(new.values())
    if event is None:
        return changes, False
    if moved or removed:
        changes["queue_rate_changes"] = []
    elif (
        new["queue_admit_per_minute"] != old["queue_admit_per_minute"]
        and old["queue_admit_per_minute"]
        and opened
    ):
        changes["queue_rate_changes"] = queue.rate_changes_after(
            opens_at=old["queue_opens_at"],
            old_rate=old["queue_admit_per_minute"],
            new_rate=new["queue_admit_per_minute"],
            changes=event.queue_rate_changes,
            now=now,
        )
    return changes, removed and any(old.values())


def event_create(*, actor: User, data: dict[str, Any], now=None) -> Event:
    """Create an event (draft unless ``status`` says published) with the
    ticket types it sells: those of ``data["ticket_types"]`` (a list of
    ticket-type fields, as ``ticket_type_create`` takes them), or else one
    public "General admission" type at ``data["price"]`` with no quota of its
    own. The event's ``price`` is the lowest public price (``_from_price``): a
    ``price`` given with ``ticket_types`` is ignored.

    ``data["questions"]`` (a list of question fields) are what it asks of
    each attendee (``_questions_replace_locked``).

    Raises ``Invalid`` when it would start in the past or end before it
    starts, when it has neither a price nor ticket types, when a ticket
    type breaks a rule (details ``ticket_types``: one entry per type), when
    a question does (details ``questions``), when its time zone is unknown,
    or when its waiting room's settings break a rule (details ``queue``).
    """
    now = now or timezone.now()
    data = dict(data)
    types = [dict(fields) for fields in data.pop("ticket_types", None) or []]
    questions = data.pop("questions", None)
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if data.get("status") == EventStatus.CANCELLED:
        raise Invalid(
            "A new event cannot be cancelled.",
            details={"status": ["Choose draft or published."]},
        )
    if data["starts_at"] <= now:
        raise Invalid(
            "The event must start in the future.",
            details={"starts_at": ["Must be in the future."]},
        )
    _check_dates(data["starts_at"], data["ends_at"])
    _check_zone(data)
    _queue_changes(None, data, now)
    if types:
        _ticket_types_check_new(types, capacity=data["capacity"])
        data["price"] = _from_price([(t["price"], t.get("hidden", False)) for t in types])
    elif data.get("price") is None:
        raise Invalid(
            "Give the event a price, or the ticket types it sells.",
            details={"price": ["This field is required."]},
        )
    else:
        types = [{"name": GENERAL_ADMISSION, "price": data["price"]}]
    with transaction.atomic():
        event = Event.objects.create(created_by=actor, **data)
        TicketType.objects.bulk_create([TicketType(event=event, **fields) for fields in types])
        if questions:
            _questions_replace_locked(event, questions)
        catalog_cache.catalog_changed()
    return event


def event_update(*, actor: User, event_id, data: dict[str, Any]) -> Event:
    """Change an event's facts under its row lock.

    Capacity never drops below the tickets already held or confirmed, and a
    seated event's follows its seats (``Invalid``); a cancelled event cannot
    be edited or reopened, and an event with tickets out cannot go back to
    draft (``InvalidState``). Cancelling goes through ``event_cancel``, which
    refunds everyone.

    ``price`` is the price of the event's only ticket type: it changes that
    type's price; with several types it is ``Invalid`` unless unchanged
    (their prices change through ``ticket_type_update``).

    More capacity is handed out like tickets that come back: the new tickets go
    to the waiting list first (``waitlist_serve_locked``, still under the lock).

    The waiting room's settings follow ``_queue_changes`` (its rules raise
    ``Invalid``); removing them all forgets the room's places after commit.

    ``data["questions"]``, when given, is the whole list of the event's
    questions (``_questions_replace_locked``: kept, changed, added and
    deleted under the lock, all or nothing).
    """
    data = dict(data)
    questions = data.pop("questions", None)
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event.status == EventStatus.CANCELLED:
            raise InvalidState("A cancelled event cannot be changed.")
        new_status = data.get("status", event.status)
        if new_status == EventStatus.CANCELLED:
            raise Invalid(
                "Cancel an event with its cancel action, which refunds every booking.",
                details={"status": ["Use POST /api/events/{id}/cancel/ to cancel."]},
            )
        if (
            new_status == EventStatus.DRAFT
            and event.status == EventStatus.PUBLISHED
            and event.tickets_taken > 0
        ):
            raise InvalidState(
                "Tickets are held or sold for this event: it cannot go back to draft."
            )
        capacity = data.get("capacity", event.capacity)
        if event.seated and capacity != event.capacity:
            raise Invalid(
                "A seated event's capacity is its unblocked seats: change the seating plan "
                "or block seats instead.",
                details={"capacity": [f"Must stay {event.capacity} (its unblocked seats)."]},
            )
        if capacity < event.tickets_taken:
            raise Invalid(
                f"Capacity cannot be below the {event.tickets_taken} tickets held or sold.",
                details={"capacity": [f"Must be at least {event.tickets_taken} (tickets taken)."]},
            )
        _check_dates(data.get("starts_at", event.starts_at), data.get("ends_at", event.ends_at))
        _check_zone(data)
        if questions is not None:
            _questions_replace_locked(event, questions)
        queue_changes, queue_removed = _queue_changes(event, data, timezone.now())
        data.update(queue_changes)
        price = data.pop("price", event.price)
        for field, value in data.items():
            setattr(event, field, value)
        event.save()
        if price != event.price:
            _price_set_locked(event, price)
        # More capacity, or booking reopened (enabled again, start moved later):
        # whoever waits gets the free tickets first.
        waitlist_serve_locked(event=event, now=timezone.now())
        catalog_cache.catalog_changed()
        if queue_changes:
            event_id = event.pk
            transaction.on_commit(
                (lambda: queue.queue_drop(event_id))
                if queue_removed
                else (lambda: queue.waiting_room_forget(event_id))
            )
    return event


def event_cancel(*, actor: User | None, event_id) -> Event:
    """Cancel an event and refund every booking in full, in the background.

    The event becomes ``cancelled`` now, under its row lock, so from this
    commit on no reserve succeeds (``booking_closed``); then, after commit, the
    ``cancel_event_bookings`` task releases every hold, cancels every confirmed
    booking with a 100 % refund, closes the waiting list and notifies each
    holder. Cancelling a cancelled event dispatches the task again, which
    finishes what a dead worker left (nobody is refunded twice). Raises
    ``NotFound`` for no such event.
    """
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        if event.status != EventStatus.CANCELLED:
            event.status = EventStatus.CANCELLED
            event.save(update_fields=["status", "updated_at"])
            catalog_cache.catalog_changed()
        logger.info("event %s cancelled by %s", event.pk, actor or "a command")
        transaction.on_commit(
            lambda: cancel_event_bookings.delay(str(event.pk)),
            robust=True,  # if the broker is away, the beat's resume task dispatches it
        )
    return event


def event_delete(*, actor: User, event_id) -> None:
    """Delete an event that never had a booking; otherwise ``InvalidState``."""
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event_has_bookings(event):
            raise InvalidState(
                "This event has bookings and cannot be deleted; cancel it instead.",
            )
        event.delete()
        catalog_cache.catalog_changed()


def event_has_bookings(event: Event) -> bool:
    return event.tickets_taken > 0 or event.bookings.exists()


def event_publish(*, actor: User, event_id) -> Event:
    return event_update(actor=actor, event_id=event_id, data={"status": EventStatus.PUBLISHED})


def event_unpublish(*, actor: User, event_id) -> Event:
    return event_update(actor=actor, event_id=event_id, data={"status": EventStatus.DRAFT})


# --- ticket types ------------------------------------------------------------------
#
# Each write locks the event's row first (the lock order of the booking
# services: event, then its ticket types, then a promo code), so a quota is
# never set below the tickets a concurrent reserve just took. The event's
# ``price`` (the "from" price of the catalog) is recomputed in the same
# transaction, and the catalog pages are refreshed after commit.


def _from_price(types: Iterable[tuple[Decimal, bool]]) -> Decimal | None:
    """The lowest price of the public types, from ``(price, hidden)`` pairs;
    when every type is hidden (sold only with codes), the lowest of all;
    None when there is no type."""
    types = list(types)
    public = [price for price, hidden in types if not hidden]
    return min(public or [price for price, _ in types], default=None)


def _price_refresh_locked(event: Event) -> None:
    """Set the event's ``price`` to its from-price (the event is locked)."""
    price = _from_price(TicketType.objects.filter(event=event).values_list("price", "hidden"))
    if price is not None and price != event.price:
        event.price = price
        Event.objects.filter(pk=event.pk).update(price=price, updated_at=timezone.now())


def _price_set_locked(event: Event, price: Decimal) -> None:
    """``event_update``'s ``price``: the price of the event's only type."""
    types = list(TicketType.objects.select_for_update().filter(event=event).order_by("id"))
    if len(types) > 1:
        raise Invalid(
            "This event sells several ticket types: change their prices instead.",
            details={
                "price": [
                    "The event sells several ticket types: change their prices "
                    "(the event's price is the lowest public one)."
                ]
            },
        )
    if types:
        types[0].price = price
        types[0].save(update_fields=["price", "updated_at"])
    event.price = price
    Event.objects.filter(pk=event.pk).update(price=price)
    _price_refresh_locked(event)


def _ticket_type_errors(
    values: dict[str, Any], *, capacity: int, taken: int, names: set[str]
) -> dict[str, list[str]]:
    """The rules of API.md for a ticket type's ``values`` (all its fields),
    by field: ``taken`` tickets of it are held or sold, ``names`` are those of
    the event's other types."""
    errors: dict[str, list[str]] = {}
    name = values.get("name") or ""
    if not name:
        errors["name"] = ["This field is required."]
    elif len(name) > 100:
        errors["name"] = ["Must be at most 100 characters."]
    elif name in names:
        errors["name"] = [f"This event already has a ticket type named {name!r}."]
    price = values.get("price")
    if price is None:
        errors["price"] = ["This field is required."]
    elif price < 0:
        errors["price"] = ["Must be 0 or more."]
    quota = values.get("quota")
    if quota is not None:
        if quota < taken:
            errors["quota"] = [f"Must be at least {taken} (tickets held or sold)."]
        elif quota < 1:
            errors["quota"] = ["Must be at least 1, or null for no quota of its own."]
        elif quota > capacity:
            errors["quota"] = [f"Must be at most the event's capacity ({capacity})."]
    starts, ends = values.get("sale_starts_at"), values.get("sale_ends_at")
    if starts and ends and ends <= starts:
        errors["sale_ends_at"] = ["Must be after sale_starts_at."]
    per_booking = values.get("max_per_booking")
    if per_booking is not None and not 1 <= per_booking <= 100:
        errors["max_per_booking"] = ["Must be between 1 and 100, or null."]
    return errors


def _editable(data: dict[str, Any], fields: tuple[str, ...], text: str) -> dict[str, Any]:
    """A copy of ``data`` with its ``text`` field stripped; a field staff may
    not edit is a programming error, not bad input."""
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    data = dict(data)
    if isinstance(data.get(text), str):
        data[text] = data[text].strip()
    return data


def _ticket_type_values(data: dict[str, Any]) -> dict[str, Any]:
    return _editable(data, TICKET_TYPE_FIELDS, "name")


def _ticket_types_check_new(types: list[dict[str, Any]], *, capacity: int) -> None:
    """``event_create``'s ticket types, checked together (normalised in place)."""
    if len(types) > MAX_TICKET_TYPES:
        raise Invalid(
            f"An event sells at most {MAX_TICKET_TYPES} ticket types.",
            details={"ticket_types": [f"At most {MAX_TICKET_TYPES} ticket types."]},
        )
    errors, names = [], set()
    for i, fields in enumerate(types):
        types[i] = fields = _ticket_type_values(fields)
        errors.append(_ticket_type_errors(fields, capacity=capacity, taken=0, names=names))
        names.add(fields.get("name"))
    if any(errors):
        raise Invalid("Some ticket types are not valid.", details={"ticket_types": errors})


def _event_locked(event_id) -> Event:
    """The event's row, locked; ``NotFound`` if none, ``InvalidState`` if cancelled."""
    event = Event.objects.select_for_update().filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such event.")
    if event.status == EventStatus.CANCELLED:
        raise InvalidState("A cancelled event cannot be changed.")
    return event


def _locked_with_event(model, pk, missing: str):
    """A ticket type's or promo code's row and its event's, both locked, the
    event first (the lock order of the booking services). ``NotFound`` with
    ``missing`` when there is no such row."""
    event_id = model.objects.filter(pk=pk).values_list("event_id", flat=True).first()
    if event_id is None:
        raise NotFound(missing)
    event = _event_locked(event_id)
    return event, model.objects.select_for_update().get(pk=pk)


def _raise_if_any(errors: dict[str, list[str]]) -> None:
    """``Invalid`` with the errors by field; the message names the first (as
    the API's own validation does)."""
    if errors:
        field, messages = next(iter(errors.items()))
        raise Invalid(f"{field}: {messages[0]}", details=errors)


def ticket_type_create(*, actor: User, event_id, data: dict[str, Any]) -> TicketType:
    """Add a ticket type to an event (``data``: its fields, ``name`` and
    ``price`` required) and recompute the event's from-price.

    Raises ``NotFound`` (no such event), ``InvalidState`` (the event is
    cancelled) or ``Invalid`` (a rule of API.md, by field: a name already used
    in the event, a quota above the event's capacity, a sale window out of
    order; more than ``MAX_TICKET_TYPES`` types).
    """
    data = _ticket_type_values(data)
    with transaction.atomic():
        event = _event_locked(event_id)
        names = set(TicketType.objects.filter(event=event).values_list("name", flat=True))
        if len(names) >= MAX_TICKET_TYPES:
            raise Invalid(
                f"An event sells at most {MAX_TICKET_TYPES} ticket types.",
                details={"event": [f"Already {len(names)} ticket types."]},
            )
        errors = _ticket_type_errors(data, capacity=event.capacity, taken=0, names=names)
        _raise_if_any(errors)
        ticket_type = TicketType.objects.create(event=event, **data)
        _price_refresh_locked(event)
        catalog_cache.catalog_changed()
        logger.info("ticket type %s added to event %s by %s", ticket_type.pk, event.pk, actor)
    return ticket_type


def ticket_type_update(*, actor: User, ticket_type_id, data: dict[str, Any]) -> TicketType:
    """Change a ticket type under its event's row lock, then recompute the
    event's from-price.

    Its ``quota`` never drops below its tickets held or confirmed
    (``Invalid``). A larger quota or a sale window that opens again hands
    the free tickets to the type's waiting list first
    (``waitlist_serve_locked``, still under the lock). Raises ``NotFound``,
    ``InvalidState`` (a cancelled event) or ``Invalid`` (by field, as
    ``ticket_type_create``).
    """
    data = _ticket_type_values(data)
    with transaction.atomic():
        event, ticket_type = _locked_with_event(TicketType, ticket_type_id, "No such ticket type.")
        values = {field: getattr(ticket_type, field) for field in TICKET_TYPE_FIELDS} | data
        names = set(
            TicketType.objects.filter(event=event)
            .exclude(pk=ticket_type.pk)
            .values_list("name", flat=True)
        )
        errors = _ticket_type_errors(
            values, capacity=event.capacity, taken=ticket_type.tickets_taken, names=names
        )
        _raise_if_any(errors)
        for field, value in data.items():
            setattr(ticket_type, field, value)
        ticket_type.save()
        ticket_type.event = event
        _price_refresh_locked(event)
        waitlist_serve_locked(event=event, now=timezone.now())
        catalog_cache.catalog_changed()
    return ticket_type


def ticket_type_delete(*, actor: User, ticket_type_id) -> None:
    """Delete a ticket type that was never booked nor waited for, then
    recompute the event's from-price.

    Raises ``NotFound``, or ``InvalidState``: the type has (or had) bookings
    or waiting-list entries (hide it or end its sale instead), it is the
    event's last type, seats of the seating plan are of this type, or a promo
    code's discount is limited to it alone (deleting it would make that code
    discount every type); a cancelled event cannot be changed.
    """
    with transaction.atomic():
        event, ticket_type = _locked_with_event(TicketType, ticket_type_id, "No such ticket type.")
        if (
            ticket_type.tickets_taken
            or ticket_type.booking_items.exists()
            or ticket_type.waitlist_entries.exists()
        ):
            raise InvalidState(
                f"{ticket_type.name} has bookings and cannot be deleted: hide it or end "
                "its sale instead."
            )
        if not TicketType.objects.filter(event=event).exclude(pk=ticket_type.pk).exists():
            raise InvalidState(
                "An event sells at least one ticket type: this is its last one.",
            )
        if ticket_type.seats.exists():
            raise InvalidState(
                f"Seats of the seating plan are sold as {ticket_type.name}: give them another "
                "type in the plan first."
            )
        limited = sorted(
            code.code
            for code in ticket_type.discounting_codes.prefetch_related("ticket_types")
            if len(code.ticket_types.all()) == 1
        )
        if limited:
            raise InvalidState(
                f"The discount of {', '.join(limited)} applies to {ticket_type.name} alone: "
                "change the code first (without types it would discount every type).",
                details={"promo_codes": limited},
            )
        ticket_type.delete()
        _price_refresh_locked(event)
        catalog_cache.catalog_changed()
        logger.info("ticket type %s of event %s deleted by %s", ticket_type_id, event.pk, actor)


# --- promo codes -------------------------------------------------------------------
#
# Written under the event's row lock too: ``uses`` moves under it, so
# ``max_uses`` is compared with a count that cannot change meanwhile. Codes are
# not part of the cached catalog pages: no refresh needed.


def _type_ids(values) -> list[uuid.UUID | None]:
    """Ticket types given as instances or ids (None for what is not an id)."""
    ids = []
    for value in values or []:
        try:
            ids.append(uuid.UUID(str(getattr(value, "pk", value))))
        except ValueError:
            ids.append(None)
    return ids


def _promo_code_errors(
    values: dict[str, Any], *, changed: set[str], event: Event, promo: PromoCode | None
) -> dict[str, list[str]]:
    """The rules of API.md for a promo code's ``values`` (all its fields, the
    types as ids), by field. The types are checked when they are ``changed``
    (a type unlocked once and made public since does not block other edits)."""
    errors: dict[str, list[str]] = {}
    code = values.get("code") or ""
    if not CODE_PATTERN.fullmatch(code):
        errors["code"] = ["Use 3 to 40 characters: letters, digits, underscores and hyphens."]
    else:
        same = PromoCode.objects.filter(event=event, code__iexact=code)
        if promo is not None:
            same = same.exclude(pk=promo.pk)
        if same.exists():
            errors["code"] = ["This event already has this code (codes ignore case)."]
    percent, amount = values.get("discount_percent"), values.get("discount_amount")
    if percent is not None and amount is not None:
        message = "Give discount_percent or discount_amount, not both (set the other to null)."
        errors["discount_percent"] = errors["discount_amount"] = [message]
    elif percent is None and amount is None:
        message = (
            "Give discount_percent or discount_amount (0 for a code that only unlocks "
            "hidden types)."
        )
        errors["discount_percent"] = errors["discount_amount"] = [message]
    elif percent is not None and not 0 <= percent <= 100:
        errors["discount_percent"] = ["Must be between 0 and 100."]
    elif amount is not None and amount < 0:
        errors["discount_amount"] = ["Must be 0 or more."]
    types = {t.pk: t for t in TicketType.objects.filter(event=event)}
    if "ticket_types" in changed and any(pk not in types for pk in values["ticket_types"]):
        errors["ticket_types"] = ["Choose ticket types of this code's event."]
    if "unlocks" in changed:
        if any(pk not in types for pk in values["unlocks"]):
            errors["unlocks"] = ["Choose ticket types of this code's event."]
        else:
            public = sorted(types[pk].name for pk in values["unlocks"] if not types[pk].hidden)
            if public:
                errors["unlocks"] = [
                    f"A code unlocks hidden types only; not hidden: {', '.join(public)}."
                ]
    max_uses, uses = values.get("max_uses"), promo.uses if promo is not None else 0
    if max_uses is not None and max_uses < uses:
        errors["max_uses"] = [f"Must be at least {uses} (tickets that used it)."]
    elif max_uses is not None and max_uses < 0:
        errors["max_uses"] = ["Must be 0 or more, or null for no limit."]
    starts, ends = values.get("valid_from"), values.get("valid_until")
    if starts and ends and ends <= starts:
        errors["valid_until"] = ["Must be after valid_from."]
    return errors


def _promo_code_values(data: dict[str, Any]) -> dict[str, Any]:
    data = _editable(data, PROMO_CODE_FIELDS, "code")
    for field in ("ticket_types", "unlocks"):
        if field in data:
            data[field] = _type_ids(data[field])
    return data


def _promo_code_save(promo: PromoCode, data: dict[str, Any]) -> None:
    for field, value in data.items():
        if field not in ("ticket_types", "unlocks"):
            setattr(promo, field, value)
    promo.save()
    for field in ("ticket_types", "unlocks"):
        if field in data:
            getattr(promo, field).set(data[field])


def promo_code_create(*, actor: User, event_id, data: dict[str, Any]) -> PromoCode:
    """Add a promo code to an event. ``data``: its fields; ``ticket_types``
    (the types its discount applies to; none: all) and ``unlocks`` (hidden
    types it makes sellable) as ticket types or their ids.

    Raises ``NotFound`` (no such event), ``InvalidState`` (the event is
    cancelled) or ``Invalid`` (by field: a code that is malformed or that the
    event has already, whatever the case; not exactly one of
    ``discount_percent`` and ``discount_amount``; types of another event; an
    unlocked type that is not hidden; a validity window out of order).
    """
    data = _promo_code_values(data)
    with transaction.atomic():
        event = _event_locked(event_id)
        values = {"ticket_types": [], "unlocks": []} | data
        errors = _promo_code_errors(values, changed=set(values), event=event, promo=None)
        _raise_if_any(errors)
        promo = PromoCode(event=event)
        _promo_code_save(promo, data)
        logger.info("promo code %s added to event %s by %s", promo.pk, event.pk, actor)
    return promo


def promo_code_update(*, actor: User, promo_code_id, data: dict[str, Any]) -> PromoCode:
    """Change a promo code under its event's row lock: ``max_uses`` never
    drops below ``uses``. Bookings already made keep their prices. Raises
    ``NotFound``, ``InvalidState`` (a cancelled event) or ``Invalid`` (by
    field, as ``promo_code_create``)."""
    data = _promo_code_values(data)
    with transaction.atomic():
        event, promo = _locked_with_event(PromoCode, promo_code_id, "No such promo code.")
        values = {
            field: getattr(promo, field)
            for field in PROMO_CODE_FIELDS
            if field not in ("ticket_types", "unlocks")
        }
        values["ticket_types"] = [t.pk for t in promo.ticket_types.all()]
        values["unlocks"] = [t.pk for t in promo.unlocks.all()]
        values |= data
        errors = _promo_code_errors(values, changed=set(data), event=event, promo=promo)
        _raise_if_any(errors)
        _promo_code_save(promo, data)
    return promo


def promo_code_delete(*, actor: User, promo_code_id) -> None:
    """Delete a promo code that no booking used; otherwise ``InvalidState``
    (make it inactive instead). Raises ``NotFound`` for no such code."""
    with transaction.atomic():
        event, promo = _locked_with_event(PromoCode, promo_code_id, "No such promo code.")
        if promo.uses > 0 or promo.bookings.exists():
            raise InvalidState(
                f"{promo.code} has been used and cannot be deleted: make it inactive instead."
            )
        promo.delete()
        logger.info("promo code %s of event %s deleted by %s", promo_code_id, event.pk, actor)
