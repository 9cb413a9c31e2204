"""The analytics filters, validated in one place for the API, the dashboard,
its CSV files and the report command."""

import datetime as dt

from django import forms
from django.utils import timezone

from analytics.selectors import DEFAULT_DAYS, MAX_DAYS, Filters
from analytics.services import utc_day
from events.models import Category, Event
from nuvio.errors import Invalid
from nuvio.forms import StyledFormMixin
from nuvio.timezones import in_zone

DATE_ERROR = "Enter a date as YYYY-MM-DD."
# Far enough inside Python's years 1..9999 that a default `from` (DEFAULT_DAYS
# before `to`) and the day after `to` (the end of the range) both exist.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(9998, 12, 31)
RANGE_ERROR = f"Enter a date from {FIRST_DAY} to {LAST_DAY}."


def _in_range(day: dt.date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise forms.ValidationError(RANGE_ERROR, code="out_of_range")


class AnalyticsFilterForm(forms.Form):
    """``from``, ``to`` (ISO dates, UTC, both included), ``category``, ``event``.

    A missing ``to`` is today (UTC); a missing ``from`` is ``DEFAULT_DAYS - 1``
    days before ``to`` (so the default is the last 30 days). ``from`` after
    ``to`` or a range over ``MAX_DAYS`` days is an error on ``to``; a date
    outside ``FIRST_DAY``..``LAST_DAY`` is an error on its field; an unknown
    category or a malformed event id is an error on its field. Whether the
    event exists is checked where the figures are computed, so a cached answer
    needs no query.
    """

    category = forms.ChoiceField(
        required=False,
        choices=[("", "Any category"), *Category.choices],
        error_messages={"invalid_choice": "Unknown category: %(value)s."},
    )
    event = forms.UUIDField(
        required=False, error_messages={"invalid": "Must be an event id (a UUID)."}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `from` is a Python keyword: these two are added by name.
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(
                required=False,
                label=label,
                input_formats=["%Y-%m-%d"],
                error_messages={"invalid": DATE_ERROR},
                validators=[_in_range],
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )
        self.order_fields(["from", "to", "category", "event"])

    def clean(self):
        data = super().clean()
        if self.has_error("from") or self.has_error("to"):
            return data
        day_to = data.get("to") or utc_day(timezone.now())
        day_from = data.get("from") or day_to - dt.timedelta(days=DEFAULT_DAYS - 1)
        if day_from > day_to:
            self.add_error("to", "Must be on or after from.")
        elif (day_to - day_from).days + 1 > MAX_DAYS:
            self.add_error("to", f"The range may span at most {MAX_DAYS} days.")
        data["from"], data["to"] = day_from, day_to
        return data

    @property
    def filters(self) -> Filters:
        """The validated filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        return Filters(
            day_from=data["from"],
            day_to=data["to"],
            category=data.get("category") or None,
            event_id=data.get("event"),
        )

    def raise_invalid(self) -> None:
        """Raise the errors as ``Invalid``, the API's 400 ``invalid``."""
        details = {
            name: [str(message) for message in errors] for name, errors in self.errors.items()
        }
        name, messages = next(iter(details.items()))
        raise Invalid(f"{name}: {messages[0]}", details=details)


def parse_filters(data, *, fields: tuple[str, ...] | None = None) -> Filters:
    """Validated filters from query parameters or options; ``Invalid`` naming
    the parameter otherwise. ``fields`` limits which filters are read."""
    if fields is not None:
        data = {name: data.get(name) for name in fields if data.get(name) not in (None, "")}
    form = AnalyticsFilterForm(data)
    if not form.is_valid():
        form.raise_invalid()
    return form.filters


class DashboardFilterForm(StyledFormMixin, AnalyticsFilterForm):
    """The dashboard's filter form: the same rules, with the events to choose from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].label = "Event"
        events = Event.objects.order_by("-starts_at", "name").values_list(
            "id", "name", "starts_at", "timezone"
        )
        self.fields["event"].widget = forms.Select(
            attrs={"class": "form-select"},
            choices=[
                ("", "All events"),
                *(
                    (str(pk), f"{name} ({in_zone(starts, zone):%Y-%m-%d})")
                    for pk, name, starts, zone in events
                ),
            ],
        )
        self.fields["category"].label = "Category"
        self.fields["from"].help_text = f"Default: {DEFAULT_DAYS} days before To."
        self.fields["to"].help_text = "Default: today (UTC)."


class EventPageFilterForm(StyledFormMixin, AnalyticsFilterForm):
    """The per-event page's filter form: only the dates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["category"], self.fields["event"]
        self.fields["from"].help_text = f"Default: {DEFAULT_DAYS} days before To."
        self.fields["to"].help_text = "Default: today (UTC)."
