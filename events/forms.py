"""Forms of the catalog pages.

The browse page filters with the API's `EventFilter` itself, so a page and an
API call with the same query show the same events; only the form people see
differs: labels, widgets and error messages in plain words.
"""

from django import forms

from bookings.services.reserve import PROMO_MESSAGES
from events.api.filters import ORDERINGS, EventFilter
from events.models import Category, EventStatus
from nuvio.forms import StyledFormMixin

# The filters the browse page shows, in order (plus `status` for staff); the
# others still apply when they are in the URL and are carried along hidden.
SHOWN_FIELDS = [
    "category",
    "city",
    "starts_after",
    "starts_before",
    "min_price",
    "max_price",
    "ordering",
]
PRICE_FIELDS = ["min_price", "max_price"]
ORDERING_LABELS = {
    "starts_at": "Soonest first",
    "-starts_at": "Latest first",
    "price": "Price: low to high",
    "-price": "Price: high to low",
    "name": "Name: A to Z",
    "-name": "Name: Z to A",
    "-available": "Most tickets left",
}


class EventBrowseForm(StyledFormMixin, forms.Form):
    """The form of `EventBrowseFilter`; its fields come from `EventFilter`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        for field in fields.values():
            field.help_text = ""  # the API's help texts speak of parameters, not people

        fields["search"].label = "Search"
        fields["search"].widget.input_type = "search"
        fields["search"].widget.attrs["placeholder"] = "Artist, event, venue or city"

        fields["category"].label = "Category"
        self._set_choices("category", "Any category", Category.choices)

        fields["city"].label = "City"
        fields["city"].widget = forms.Select(attrs={"class": "form-select"})
        self.set_cities([])

        fields["starts_after"].label = "Starts on or after"
        fields["starts_before"].label = "Starts before"
        for name in ("starts_after", "starts_before"):
            fields[name].widget.input_type = "date"
            fields[name].error_messages["invalid"] = "Enter a date such as 2030-06-30."

        fields["min_price"].label = "Lowest price"
        fields["max_price"].label = "Highest price"
        for name in PRICE_FIELDS:
            # A text box, not type=number: what was typed comes back as typed,
            # and the server says what is wrong with it.
            fields[name].widget = forms.TextInput(
                attrs={"class": "form-control", "inputmode": "decimal"}
            )
            fields[name].error_messages["min_value"] = "Enter a price of 0 or more."

        fields["ordering"].label = "Sort by"
        orderings = [(value, ORDERING_LABELS.get(value, value)) for value in ORDERINGS]
        self._set_choices("ordering", "Best match", orderings)
        fields["status"].label = "Status"
        self._set_choices("status", "Any status", EventStatus.choices)
        fields["available"].label = "Tickets left"
        fields["upcoming"].label = "Upcoming"

    def _set_choices(self, name: str, empty_label: str, choices) -> None:
        field = self.fields[name]
        field.empty_label = empty_label
        field.choices = choices  # rebuilds the widget's options with the new label

    def set_cities(self, cities: list[str]) -> None:
        """Offer these cities; a city typed into the URL stays selected even if
        it is not among them (the filter ignores case)."""
        typed = (self.data.get(self.add_prefix("city")) or "") if self.is_bound else ""
        choices = [("", "Any city")]
        for city in cities:
            value = typed if typed and typed.casefold() == city.casefold() else city
            choices.append((value, city))
        if typed and all(typed.casefold() != city.casefold() for city in cities):
            choices.append((typed, typed))
        self.fields["city"].widget.choices = choices


class EventBrowseFilter(EventFilter):
    """`EventFilter`, unchanged, with the browse page's form."""

    class Meta(EventFilter.Meta):
        form = EventBrowseForm


class PromoCodeForm(StyledFormMixin, forms.Form):
    """The event page's promo-code box, sent by GET: the page comes back with
    the ticket types the code unlocks and its discounted prices."""

    promo_code = forms.CharField(
        label="Promo code",
        max_length=40,
        required=False,
        # Longer than any code can be: no such code, in the words of the reserve.
        error_messages={"max_length": PROMO_MESSAGES["unknown"]},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def refuse(self, message: str) -> None:
        """Say, next to the field, why the code typed cannot be used (after
        validation: the page checks the code against the event)."""
        self.add_error("promo_code", message)
        attrs = self.fields["promo_code"].widget.attrs
        attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
        attrs["aria-invalid"] = "true"
        attrs["aria-describedby"] = "id_promo_code_errors"
