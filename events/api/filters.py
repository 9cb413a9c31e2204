"""Query parameters of `GET /api/events/`. A malformed or unknown value of any
of them is a 400 `invalid` naming the parameter."""

import datetime as dt

import django_filters
from django import forms
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from events.models import Category, EventStatus

BOOL_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]
ORDERINGS = ["starts_at", "-starts_at", "price", "-price", "name", "-name", "-available"]


class DateOrDateTimeField(forms.Field):
    """ISO date (midnight UTC) or ISO datetime (a naive one is taken as UTC).

    A date is a UTC date whatever the events' own zones: ``2027-01-01`` is
    2027-01-01T00:00:00Z, not midnight where each event happens."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date or datetime."}

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            parsed = parse_datetime(value)
            if parsed is None:
                day = parse_date(value)
                if day is None:
                    raise ValueError
                parsed = dt.datetime.combine(day, dt.time.min)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, dt.UTC)
        try:
            # In UTC: PostgreSQL refuses offsets Python accepts (beyond ±15:59).
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # out of range once in UTC (year 0 or 10000)
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class DateOrDateTimeFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class StrictBooleanFilter(django_filters.ChoiceFilter):
    """`true`/`false` (or 1/0); anything else is an error, not silently ignored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", BOOL_CHOICES)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return self.apply(qs, value in ("true", "1"))

    def apply(self, qs, flag: bool):
        return qs.filter(**{self.field_name: flag})


class AvailableFilter(StrictBooleanFilter):
    """On ``available_now`` (``EventQuerySet.with_available``), whose lapsed
    holds are a subquery per event. Lapsed holds only add tickets, so an
    event with free capacity and no one waiting has tickets left whatever
    they are: the subquery is reached only for a full event. The same
    events, without a subquery for each event of a large catalog."""

    def apply(self, qs, flag: bool):
        # PostgreSQL tries the arms of OR and AND in the order written and
        # stops at the first that decides.
        free = Q(waitlist_waiting__lte=0, capacity__gt=F("tickets_taken"))
        if flag:
            return qs.filter(free | Q(available_now__gt=0))
        full = Q(capacity__lte=F("tickets_taken")) & Q(available_now__lte=0)
        return qs.filter(Q(waitlist_waiting__gt=0) | full)


class UpcomingFilter(StrictBooleanFilter):
    def apply(self, qs, flag: bool):
        now = timezone.now()
        return qs.filter(starts_at__gt=now) if flag else qs.filter(starts_at__lte=now)


class EventFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Words in the name, description, venue or city (ranked on PostgreSQL).",
    )
    category = django_filters.ChoiceFilter(choices=Category.choices)
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact", max_length=100)
    starts_after = DateOrDateTimeFilter(
        field_name="starts_at",
        lookup_expr="gte",
        help_text=(
            "Events starting at or after this ISO date or datetime (inclusive). A date "
            "means midnight UTC of that date (`2027-01-01` is `2027-01-01T00:00:00Z`), "
            "not midnight in the event's own `timezone`; a datetime without an offset "
            "is UTC."
        ),
    )
    starts_before = DateOrDateTimeFilter(
        field_name="starts_at",
        lookup_expr="lt",
        help_text=(
            "Events starting before this ISO date or datetime (exclusive). A date means "
            "midnight UTC of that date, not midnight in the event's own `timezone`; a "
            "datetime without an offset is UTC."
        ),
    )
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte", min_value=0)
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte", min_value=0)
    available = AvailableFilter(help_text="`true`: only events with tickets left.")
    upcoming = UpcomingFilter(
        help_text="`true`: only events not yet started (the default for non-staff)."
    )
    status = django_filters.ChoiceFilter(choices=EventStatus.choices, help_text="Staff.")
    ordering = django_filters.ChoiceFilter(
        choices=[(o, o) for o in ORDERINGS],
        method="filter_ordering",
        help_text="One of: "
        + ", ".join(ORDERINGS)
        + ". Default: by start (by rank when searching).",
    )

    class Meta:
        fields = []

    def get_form_class(self):
        # The form's fields follow from the filters alone: build its class once
        # per filter set class rather than on every request (a form still
        # copies its fields when it is made).
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class

    def filter_search(self, qs, name, value):
        value = value.strip()
        if not value:
            return qs
        if connection.vendor == "postgresql":
            query = SearchQuery(value, search_type="websearch", config="english")
            return qs.filter(search_vector=query).annotate(
                rank=SearchRank(F("search_vector"), query)
            )
        return qs.filter(
            Q(name__icontains=value)
            | Q(description__icontains=value)
            | Q(venue_name__icontains=value)
            | Q(city__icontains=value)
        )

    def filter_ordering(self, qs, name, value):
        if value == "-available":
            return qs.order_by("-available_now", "starts_at", "id")
        return qs.order_by(value, "id")

    @property
    def qs(self):
        qs = super().qs
        if self.is_bound and self.form.cleaned_data.get("ordering"):
            return qs
        if "rank" in qs.query.annotations:
            return qs.order_by("-rank", "starts_at", "id")
        return qs.order_by("starts_at", "id")
