import datetime as dt
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from bookings.models import Ticket
from bookings.services import MAX_ITEMS, MAX_QUANTITY
from bookings.services.tickets import (
    MAX_TEXT_ANSWER,
    Transfer,
    missing_answers,
    ticket_attendee_update,
    ticket_complete,
    ticket_transfer,
)
from events.models import Question, QuestionKind
from nuvio.errors import NuvioError
from nuvio.forms import StyledFormMixin
from nuvio.timezones import human


def _quantity(value: str, *, most: int = MAX_QUANTITY, least: int = 1) -> int:
    """A quantity typed or picked on the event page, or ``ValidationError``
    in plain words."""
    if value in (None, ""):
        raise ValidationError("Choose how many tickets you want.")
    try:
        quantity = int(value)
    except (TypeError, ValueError):
        raise ValidationError("Choose how many tickets you want, as a whole number.") from None
    if quantity < least:
        raise ValidationError("Choose at least 1 ticket.")
    if quantity > most:
        raise ValidationError(f"You can book at most {most} tickets at once.")
    return quantity


class ReserveForm(forms.Form):
    """The event page's booking form: the event, a ``quantity`` for each
    ticket type (``ticket_type`` and ``quantity`` pairs, in order; 0 for the
    types not wanted) and the promo code applied, if any. A lone ``quantity``
    without a type buys the event's only ticket type.

    On a seated event's map the form sends ``pick_seats`` and one ``seats``
    field per chosen seat instead: the seats themselves are booked.

    ``cleaned_data`` has ``items`` (``[{"ticket_type": id, "quantity": n}]``,
    or None), ``quantity`` (or None) and ``seats`` (seat ids, or None), one
    of them set, as ``booking_reserve`` takes them."""

    event = forms.UUIDField(error_messages={"invalid": "That event could not be found."})
    promo_code = forms.CharField(max_length=40, required=False)

    def clean(self):
        cleaned = super().clean()
        types = self.data.getlist("ticket_type")
        quantities = self.data.getlist("quantity")
        cleaned["items"] = cleaned["quantity"] = cleaned["seats"] = None
        try:
            if "pick_seats" in self.data or "seats" in self.data:
                cleaned["seats"] = self._seats(self.data.getlist("seats"))
            elif not types:
                cleaned["quantity"] = _quantity(quantities[-1] if quantities else None)
            else:
                cleaned["items"] = self._items(types, quantities)
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned

    def _items(self, types: list[str], quantities: list[str]) -> list[dict]:
        if len(types) != len(quantities) or len(types) > MAX_ITEMS:
            raise ValidationError("Choose how many tickets of each type you want.")
        items = []
        for type_id, value in zip(types, quantities, strict=True):
            try:
                ticket_type = uuid.UUID(type_id)
            except ValueError:
                raise ValidationError("That ticket type could not be found.") from None
            quantity = _quantity(value, least=0)
            if quantity:
                items.append({"ticket_type": ticket_type, "quantity": quantity})
        if not items:
            raise ValidationError("Choose at least 1 ticket.")
        return items

    def _seats(self, values: list[str]) -> list[uuid.UUID]:
        if not values:
            raise ValidationError("Choose at least one free seat on the map.")
        seats = []
        for value in values:
            try:
                seat = uuid.UUID(value)
            except ValueError:
                raise ValidationError("That seat could not be found.") from None
            if seat not in seats:
                seats.append(seat)
        if len(seats) > MAX_QUANTITY:
            raise ValidationError(f"You can book at most {MAX_QUANTITY} seats at once.")
        return seats

    def chosen_seats(self) -> list[str]:
        """The ``seats`` as sent, to choose them again."""
        return self.data.getlist("seats")

    def chosen(self) -> list[tuple[str, str]]:
        """The ``ticket_type`` and ``quantity`` pairs as sent, to show them again."""
        return list(
            zip(self.data.getlist("ticket_type"), self.data.getlist("quantity"), strict=False)
        )


class WaitlistJoinForm(forms.Form):
    """The sold-out event page's form: which event, which ticket type (needed
    when the event has several) and how many tickets to wait for."""

    event = forms.UUIDField(error_messages={"invalid": "That event could not be found."})
    ticket_type = forms.UUIDField(
        required=False, error_messages={"invalid": "That ticket type could not be found."}
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={
            "required": "Choose how many tickets you want to wait for.",
            "invalid": "Choose how many tickets you want, as a whole number.",
            "min_value": "Choose at least 1 ticket.",
            "max_value": f"You can wait for at most {MAX_QUANTITY} tickets.",
        },
    )


class CardNumberInput(forms.TextInput):
    """A text box that never renders its value: a card number typed once is
    not sent back in the page (nor kept in caches or the browser's history)."""

    def format_value(self, value):
        return None


class PayForm(StyledFormMixin, forms.Form):
    card_number = forms.CharField(
        label="Card number",
        max_length=40,
        widget=CardNumberInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
        error_messages={
            "required": "Enter your card number.",
            "max_length": "That is too long for a card number.",
        },
        help_text=(
            "This is a test payment; no money moves. Use 4242 4242 4242 4242 to pay "
            "successfully or 4000 0000 0000 0002 to see a declined card."
        ),
    )


class CheckInForm(StyledFormMixin, forms.Form):
    """The door: the event being checked in, and a code typed or scanned."""

    event = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any event", label="Event"
    )
    code = forms.CharField(
        max_length=64,
        required=False,
        label="Ticket code",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, events, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].queryset = events
        # Each event by its name and its start in its own zone.
        self.fields["event"].label_from_instance = lambda event: (
            f"{event.name} · {human(event.starts_at, event.timezone)}"
        )


# --- tickets: who comes, and handing a ticket on ---------------------------------

# A yes/no question's options; the answers service reads "yes" and "no".
YES_NO_CHOICES = [("", "Choose yes or no"), ("yes", "Yes"), ("no", "No")]


def question_field_name(question: Question) -> str:
    return f"q_{question.pk.hex}"


def _question_field(question: Question) -> forms.Field:
    """The form field that asks ``question``, with its errors in plain words."""
    common = {"label": question.label, "required": question.required}
    if question.kind == QuestionKind.CHOICE:
        return forms.ChoiceField(
            choices=[("", "Choose one"), *((choice, choice) for choice in question.choices)],
            error_messages={
                "required": "Choose an answer: this question is required.",
                "invalid_choice": "Choose one of the options in the list.",
            },
            **common,
        )
    if question.kind == QuestionKind.BOOLEAN:
        return forms.ChoiceField(
            choices=YES_NO_CHOICES,
            error_messages={
                "required": "Choose yes or no: this question is required.",
                "invalid_choice": "Choose yes or no.",
            },
            **common,
        )
    return forms.CharField(
        max_length=MAX_TEXT_ANSWER,
        error_messages={
            "required": "Answer this question: it is required.",
            "max_length": f"Keep the answer to at most {MAX_TEXT_ANSWER} characters.",
        },
        **common,
    )


def _initial_answer(question: Question, value: Any) -> Any:
    if question.kind == QuestionKind.BOOLEAN and isinstance(value, bool):
        return "yes" if value else "no"
    return value


class TicketFormMixin(StyledFormMixin):
    """A form shown once per ticket on a page: prefixed by the ticket, so that
    its ids are unique, and each field with errors described by its own
    error text (and help text) by id. ``status`` is the HTTP status of the
    page that shows its errors: 400, or that of the service's refusal."""

    status = 400

    def full_clean(self):
        super().full_clean()
        self._describe_errors()

    def add_error(self, field, error):
        super().add_error(field, error)
        self._describe_errors()

    def _describe_errors(self):
        for name in self._errors or {}:
            if name not in self.fields:
                continue
            bound = self[name]
            attrs = self.fields[name].widget.attrs
            if "is-invalid" not in attrs.get("class", ""):
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
            attrs["aria-invalid"] = "true"
            described = [f"{bound.auto_id}_errors"]
            if bound.help_text:
                described.append(f"{bound.auto_id}_helptext")
            attrs["aria-describedby"] = " ".join(described)

    def add_service_error(self, exc: NuvioError) -> None:
        """A service's refusal next to the fields its ``details`` name, or
        above the form when it names none."""
        placed = False
        for field, reasons in (exc.details or {}).items():
            if field in self.fields and isinstance(reasons, list):
                for reason in reasons:
                    self.add_error(field, str(reason))
                    placed = True
        if not placed:
            self.add_error(None, exc.message)


class AttendeeForm(TicketFormMixin, forms.Form):
    """Who comes on a ticket: name, e-mail and one field per question of the
    event (text box, list of choices, yes or no), filled with what the ticket
    holds."""

    attendee_name = forms.CharField(
        label="Attendee's name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={
            "required": "Enter the name of the person who will come.",
            "max_length": "Keep the name to at most 150 characters.",
        },
    )
    attendee_email = forms.EmailField(
        label="Attendee's e-mail address",
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "invalid": "Enter an e-mail address such as name@example.com.",
            "max_length": "That is too long for an e-mail address.",
        },
    )

    def __init__(self, *args, ticket: Ticket, questions: list[Question], **kwargs):
        self.questions = questions
        # The event's questions join the declared fields before the form
        # copies them (and before ``StyledFormMixin`` styles them).
        self.base_fields = {
            **self.base_fields,
            **{question_field_name(q): _question_field(q) for q in questions},
        }
        initial = {"attendee_name": ticket.attendee_name, "attendee_email": ticket.attendee_email}
        for question in questions:
            answer = ticket.answers.get(str(question.pk))
            initial[question_field_name(question)] = _initial_answer(question, answer)
        self.ticket = ticket
        kwargs.setdefault("prefix", f"attendee-{ticket.pk.hex}")
        super().__init__(*args, initial=initial, **kwargs)

    def service_data(self) -> dict[str, Any]:
        """What ``ticket_attendee_update`` takes (a blank answer removes it)."""
        data = self.cleaned_data
        return {
            "attendee_name": data["attendee_name"],
            "attendee_email": data["attendee_email"],
            "answers": {str(q.pk): data[question_field_name(q)] for q in self.questions},
        }

    def add_service_error(self, exc: NuvioError) -> None:
        answers = (exc.details or {}).get("answers")
        if isinstance(answers, dict):
            names = {str(q.pk): question_field_name(q) for q in self.questions}
            details = {names.get(str(key), "?"): reasons for key, reasons in answers.items()}
            exc = type(exc)(exc.message, details=details)
        super().add_service_error(exc)

    def save(self, *, user) -> Ticket | None:
        """Store the details through ``ticket_attendee_update``; None when it
        refuses them, with its reasons on the form and its ``status`` kept."""
        try:
            return ticket_attendee_update(
                user=user, ticket_id=self.ticket.pk, data=self.service_data()
            )
        except NuvioError as exc:
            self.status = exc.status
            self.add_service_error(exc)
            return None

    def saved_message(self, ticket: Ticket) -> str:
        """What the person reads once the details are stored."""
        missing = [q.label for q in missing_answers(self.questions, ticket.answers)]
        event = ticket.booking.event
        if missing:
            return (
                f"Saved the details of {ticket.attendee_name}'s ticket for {event.name}. "
                f"Still to answer: {', '.join(missing)}."
            )
        return f"Saved the details of {ticket.attendee_name}'s ticket for {event.name}."


class TransferForm(TicketFormMixin, forms.Form):
    """Hand a ticket to another account: their e-mail address, and a tick
    that says the sender knows the ticket's code stops working at once."""

    email = forms.EmailField(
        label="Their e-mail address",
        max_length=254,
        help_text="They need a Nuvio account with this address.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        error_messages={
            "required": "Enter the e-mail address of the person to send this ticket to.",
            "invalid": "Enter an e-mail address such as name@example.com.",
            "max_length": "That is too long for an e-mail address.",
        },
    )
    confirm = forms.BooleanField(
        label=(
            "I understand that this ticket's code stops working at once "
            "and the ticket leaves my account."
        ),
        error_messages={"required": "Tick this box to confirm that you want to send the ticket."},
    )

    def __init__(self, *args, ticket: Ticket, **kwargs):
        self.ticket = ticket
        kwargs.setdefault("prefix", f"transfer-{ticket.pk.hex}")
        super().__init__(*args, **kwargs)

    def save(self, *, user) -> Transfer | None:
        """Send the ticket through ``ticket_transfer``; None when it refuses,
        with its reasons on the form and its ``status`` kept."""
        try:
            return ticket_transfer(
                user=user, ticket_id=self.ticket.pk, email=self.cleaned_data["email"]
            )
        except NuvioError as exc:
            self.status = exc.status
            self.add_service_error(exc)
            return None


def tickets_with_forms(
    tickets: list[Ticket],
    *,
    user,
    now: dt.datetime,
    bound: dict | None = None,
    transfers: bool = True,
) -> list[Ticket]:
    """``tickets`` (with their booking's event loaded) ready for a page, each
    with ``held`` (``user`` holds it), its event's ``questions``, the
    required ones still ``missing``, ``name_missing``, ``complete``, and the
    forms ``user`` may use now: ``attendee_form`` until the event starts and
    ``transfer_form`` (when ``transfers``) while the event allows transfers
    and the ticket is not checked in. ``bound`` (ticket id → form) puts the
    forms just posted in their place, with their errors and what was typed.
    One query for the questions of all the tickets' events."""
    bound = bound or {}
    questions: dict = {}
    for question in Question.objects.filter(
        event_id__in={ticket.booking.event_id for ticket in tickets}
    ).order_by("position", "id"):
        questions.setdefault(question.event_id, []).append(question)
    for ticket in tickets:
        event = ticket.booking.event
        ticket.questions = questions.get(event.pk, [])
        ticket.held = ticket.holder_id == user.pk
        ticket.missing = missing_answers(ticket.questions, ticket.answers)
        ticket.name_missing = not ticket.attendee_name.strip()
        ticket.complete = ticket_complete(ticket, ticket.questions)
        ticket.attendee_form = ticket.transfer_form = None
        if not ticket.held:
            continue
        upcoming = event.starts_at > now
        if upcoming:
            ticket.attendee_form = AttendeeForm(ticket=ticket, questions=ticket.questions)
        if transfers and upcoming and event.transfers_enabled and ticket.checked_in_at is None:
            ticket.transfer_form = TransferForm(ticket=ticket)
        posted = bound.get(ticket.pk)
        if isinstance(posted, AttendeeForm):
            ticket.attendee_form = posted
        elif isinstance(posted, TransferForm):
            ticket.transfer_form = posted
    return tickets
