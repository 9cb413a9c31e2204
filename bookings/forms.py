from django import forms

from bookings.services import MAX_QUANTITY
from nuvio.forms import StyledFormMixin


class ReserveForm(forms.Form):
    """The event page's booking form: which event and how many tickets."""

    event = forms.UUIDField(error_messages={"invalid": "That event could not be found."})
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={
            "required": "Choose how many tickets you want.",
            "invalid": "Choose how many tickets you want, as a whole number.",
            "min_value": "Choose at least 1 ticket.",
            "max_value": f"You can book at most {MAX_QUANTITY} tickets at once.",
        },
    )


class WaitlistJoinForm(forms.Form):
    """The sold-out event page's form: which event and how many tickets to wait for."""

    event = forms.UUIDField(error_messages={"invalid": "That event could not be found."})
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
