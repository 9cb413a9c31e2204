import uuid

from django import forms
from django.core.exceptions import ValidationError

from bookings.services import MAX_ITEMS, MAX_QUANTITY
from nuvio.forms import StyledFormMixin


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
