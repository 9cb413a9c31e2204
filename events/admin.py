"""Staff admin for events, with their ticket types and promo codes as inlines.
Every write goes through ``events.services``: the forms repeat the services'
rules only so that errors show next to the fields; the services re-check
them under the row lock."""

import re
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Case, Exists, OuterRef, Value, When
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import ngettext

from bookings.models import BookingStatus, SeatHold
from events import seating, services
from events.models import Event, EventStatus, PromoCode, Question, Seat, TicketType
from nuvio.errors import NuvioError
from nuvio.timezones import default_zone_name, is_known_zone

# (minimum, maximum) of the numeric fields, as in API.md; the database
# constraints would only report a violation without naming the field.
_LIMITS = {
    "capacity": (1, 1_000_000),
    "max_tickets_per_user": (1, 100),
    "price": (0, None),
    "queue_admit_per_minute": services.QUEUE_RATE_RANGE,
    "queue_pass_minutes": services.QUEUE_PASS_RANGE,
}
_CANCEL_HINT = "Cancel an event with its cancel action, which refunds every booking."
# The waiting room's fields as its fieldset shows them: (label, help text).
_QUEUE_LABELS = {
    "queue_enabled": ("Enabled", "Reserving needs an admission from the waiting room."),
    "queue_opens_at": ("Opens at", "When admission starts; fixed once an enabled room opened."),
    "queue_admit_per_minute": ("Admitted a minute", "1 to 100,000 places a minute."),
    "queue_pass_minutes": ("Pass (minutes)", "How long an admission lasts: 1 to 120."),
}

# The fields staff edit, in the order the forms show them.
TYPE_COLUMNS = list(services.TICKET_TYPE_FIELDS)
CODE_COLUMNS = [f for f in services.PROMO_CODE_FIELDS if f not in ("ticket_types", "unlocks")]


class EventAdminForm(forms.ModelForm):
    class Meta:
        model = Event
        fields = sorted(services.EDITABLE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (low, high) in _LIMITS.items():
            field = self.fields.get(name)
            if field is None:
                continue
            field.validators.append(MinValueValidator(low))
            field.widget.attrs["min"] = low
            if high is not None:
                field.validators.append(MaxValueValidator(high))
                field.widget.attrs["max"] = high
        for name, (label, help_text) in _QUEUE_LABELS.items():
            if name in self.fields:
                self.fields[name].label, self.fields[name].help_text = label, help_text
        if "timezone" in self.fields:
            self.fields["timezone"].required = False
            self.fields["timezone"].help_text = (
                "Where the event happens, as an IANA name (Asia/Kolkata): pages, e-mails "
                "and tickets show its times in this zone. Blank: "
                f"{default_zone_name()} for a new event."
            )
        if "transfers_enabled" in self.fields:
            self.fields[
                "transfers_enabled"
            ].help_text = "Ticket holders may give their tickets to another account."
        if "price" in self.fields:
            self.fields["price"].help_text = (
                "The lowest price of its public ticket types. A new event without "
                "ticket types below sells one, General admission, at this price."
            )

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValidationError("Must be a three-letter ISO 4217 code.")
        return currency

    def clean_timezone(self) -> str:
        zone = (self.cleaned_data.get("timezone") or "").strip()
        if not zone:  # left blank: the event's zone, or the default of a new one
            return self.instance.timezone or default_zone_name()
        if not is_known_zone(zone):
            raise ValidationError(
                "Unknown time zone: give an IANA name such as Asia/Kolkata or Europe/London."
            )
        return zone

    def clean(self):
        cleaned = super().clean()
        event = self.instance  # still the stored values: the form applies them after clean()
        creating = event._state.adding
        if not creating and event.status == EventStatus.CANCELLED:
            raise ValidationError("A cancelled event cannot be changed.")
        status = cleaned.get("status")
        if status == EventStatus.CANCELLED:
            self.add_error("status", _CANCEL_HINT)
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if creating and starts_at and starts_at <= timezone.now():
            self.add_error("starts_at", "Must be in the future.")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "Must be after the start.")
        if not creating:
            capacity = cleaned.get("capacity")
            if capacity is not None and capacity < event.tickets_taken:
                self.add_error(
                    "capacity", f"Must be at least {event.tickets_taken} (tickets taken)."
                )
            price = cleaned.get("price")
            if price is not None and price != event.price and event.ticket_types.count() > 1:
                self.add_error(
                    "price",
                    "This event sells several ticket types: change their prices below "
                    "(the event's price is the lowest of its public types).",
                )
            if (
                status == EventStatus.DRAFT
                and event.status == EventStatus.PUBLISHED
                and event.tickets_taken > 0
            ):
                self.add_error(
                    "status", "Tickets are held or sold for this event: it cannot go back to draft."
                )
        self._clean_queue(cleaned, event, creating)
        return cleaned

    def _clean_queue(self, cleaned, event: Event, creating: bool) -> None:
        """The waiting room's rules next to its fields (``events.services``
        checks them again under the lock)."""
        if cleaned.get("queue_enabled"):
            for name in services.QUEUE_FIELDS[1:]:
                if name in self.fields and cleaned.get(name) is None and not self.has_error(name):
                    self.add_error(name, "Required to enable the waiting room.")
        opens_at = cleaned.get("queue_opens_at")
        if (
            not creating
            and "queue_opens_at" in self.fields
            and event.queue_enabled
            and event.queue_opens_at is not None
            and event.queue_opens_at <= timezone.now()
            and opens_at != event.queue_opens_at
        ):
            self.add_error(
                "queue_opens_at",
                "The waiting room has opened: its opening cannot move (disable it first).",
            )


# --- ticket types and promo codes ----------------------------------------------


def _copy_saved(obj, saved) -> None:
    """The admin goes on with ``obj`` (history entry, redirect): make it the
    row a service saved."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


def _rows_to_save(formset) -> list:
    """The inline's rows that add or change something (not deleted ones)."""
    deleted = set(map(id, formset.deleted_forms))
    return [
        row
        for row in formset.forms
        if id(row) not in deleted and row.has_changed() and hasattr(row, "cleaned_data")
    ]


def _fields_of(row, fields) -> dict:
    return {name: row.cleaned_data[name] for name in fields if name in row.cleaned_data}


def _limit(field, low, high=None) -> None:
    field.validators.append(MinValueValidator(low))
    field.widget.attrs["min"] = low
    if high is not None:
        field.validators.append(MaxValueValidator(high))
        field.widget.attrs["max"] = high


class _EventPartForm(forms.ModelForm):
    """A form of something that belongs to an event (a ticket type, a code)."""

    def _event(self) -> Event | None:
        event = self.cleaned_data.get("event") if "event" in self.cleaned_data else None
        if event is None and self.instance.event_id is not None:
            event = self.instance.event
        return event


class TicketTypeForm(_EventPartForm):
    """A ticket type, inline on its event or on its own page, with the rules
    of API.md next to the fields: a unique name in the event, a price of 0 or
    more, a quota from the tickets already held or sold up to the event's
    capacity, a sale window in order."""

    class Meta:
        model = TicketType
        fields = ["event", *TYPE_COLUMNS]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 30})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _limit(self.fields["price"], 0)
        _limit(self.fields["quota"], 1)
        _limit(self.fields["max_per_booking"], 1, 100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the ticket type a name.")
        return name

    def clean(self):
        cleaned = super().clean()
        event = self._event()
        taken = self.instance.tickets_taken if self.instance.pk else 0
        quota = cleaned.get("quota")
        if quota is not None:
            if quota < taken:
                self.add_error("quota", f"Must be at least {taken} (tickets held or sold).")
            elif event is not None and event.capacity and quota > event.capacity:
                self.add_error("quota", f"Must be at most the event's capacity ({event.capacity}).")
        starts, ends = cleaned.get("sale_starts_at"), cleaned.get("sale_ends_at")
        if starts and ends and ends <= starts:
            self.add_error("sale_ends_at", "Must be after the start of the sale.")
        name = cleaned.get("name")
        if name and event is not None and event.pk and not event._state.adding:
            others = TicketType.objects.filter(event=event, name=name).exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error("name", f"This event already has a ticket type named {name!r}.")
        return cleaned


class PromoCodeForm(_EventPartForm):
    """A promo code, inline on its event or on its own page: 3 to 40 letters,
    digits, ``_`` or ``-``, unique in the event whatever the case; exactly one
    of a percentage (0 to 100) and an amount per ticket; ``max_uses`` not below
    the tickets that used it; a validity window in order."""

    class Meta:
        model = PromoCode
        fields = ["event", *CODE_COLUMNS, "ticket_types", "unlocks"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _limit(self.fields["discount_percent"], 0, 100)
        _limit(self.fields["discount_amount"], 0)
        _limit(self.fields["max_uses"], 0)
        for name in ("ticket_types", "unlocks"):
            field = self.fields.get(name)
            if field is not None and self.instance.event_id is not None:
                field.queryset = TicketType.objects.filter(event_id=self.instance.event_id)

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not services.CODE_PATTERN.fullmatch(code):
            raise ValidationError(
                "Use 3 to 40 characters: letters, digits, underscores and hyphens."
            )
        return code

    def clean(self):
        cleaned = super().clean()
        percent, amount = cleaned.get("discount_percent"), cleaned.get("discount_amount")
        if percent is not None and amount is not None:
            self.add_error(
                "discount_amount", "Give a percentage or an amount per ticket, not both."
            )
        elif (
            percent is None
            and amount is None
            and not self.has_error("discount_percent")
            and not self.has_error("discount_amount")
        ):
            self.add_error(
                "discount_percent",
                "Give a percentage or an amount per ticket (0 for a code that only "
                "unlocks hidden types).",
            )
        uses = self.instance.uses if self.instance.pk else 0
        max_uses = cleaned.get("max_uses")
        if max_uses is not None and max_uses < uses:
            self.add_error("max_uses", f"Must be at least {uses} (tickets that used it).")
        valid_from, valid_until = cleaned.get("valid_from"), cleaned.get("valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            self.add_error("valid_until", "Must be after the start of the validity.")
        event = self._event()
        code = cleaned.get("code")
        if code and event is not None and event.pk and not event._state.adding:
            same = PromoCode.objects.filter(event=event, code__iexact=code).exclude(
                pk=self.instance.pk
            )
            if same.exists():
                self.add_error(
                    "code", f"This event already has the code {code!r} (codes ignore case)."
                )
        for name in ("ticket_types", "unlocks"):
            chosen = cleaned.get(name)
            if event is not None and chosen and any(t.event_id != event.pk for t in chosen):
                self.add_error(name, "Choose ticket types of this code's event.")
        # Checked when chosen: a type unlocked once and made public since blocks nothing.
        public = sorted(t.name for t in cleaned.get("unlocks") or [] if not t.hidden)
        if public and "unlocks" in self.changed_data and not self.has_error("unlocks"):
            self.add_error(
                "unlocks", f"A code unlocks hidden types only; not hidden: {', '.join(public)}."
            )
        return cleaned

    def validate_unique(self):
        if self.has_error("code"):
            return  # already said next to the field, in plain words
        super().validate_unique()


class _ServicesInlineFormSet(forms.BaseInlineFormSet):
    """An inline whose rows two at a time must also be told apart (the
    database's unique rules, checked before anything is written)."""

    def clean(self):
        super().clean()
        seen: dict[str, forms.ModelForm] = {}
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            key = self.unique_key(form.cleaned_data)
            if not key:
                continue
            if key in seen:
                form.add_error(self.unique_field, self.duplicate_message(form.cleaned_data))
            seen[key] = form


class TicketTypeInlineFormSet(_ServicesInlineFormSet):
    unique_field = "name"

    def clean(self):
        super().clean()
        deleted = [form.instance.pk for form in self.deleted_forms if form.instance.pk]
        if not deleted or self.instance._state.adding:
            return
        added = [
            form
            for form in self.forms
            if form.instance._state.adding
            and form.has_changed()
            and not self._should_delete_form(form)
        ]
        kept = TicketType.objects.filter(event=self.instance).exclude(pk__in=deleted)
        if not added and not kept.exists():
            raise ValidationError("An event sells at least one ticket type: keep one.")

    @staticmethod
    def unique_key(data) -> str | None:
        return data.get("name")

    @staticmethod
    def duplicate_message(data) -> str:
        return f"Two ticket types are named {data['name']!r}."

    @staticmethod
    def undeletable(ticket_type: TicketType) -> str | None:
        if (
            ticket_type.tickets_taken
            or ticket_type.booking_items.exists()
            or ticket_type.waitlist_entries.exists()
        ):
            return (
                f"{ticket_type.name} has bookings and cannot be deleted: hide it or end "
                "its sale instead."
            )
        return None


class PromoCodeInlineFormSet(_ServicesInlineFormSet):
    unique_field = "code"

    @staticmethod
    def unique_key(data) -> str | None:
        return (data.get("code") or "").upper() or None

    @staticmethod
    def duplicate_message(data) -> str:
        return f"Two codes are {data['code']!r} apart from case: codes ignore case."

    @staticmethod
    def undeletable(promo: PromoCode) -> str | None:
        if promo.uses > 0 or promo.bookings.exists():
            return f"{promo.code} has been used and cannot be deleted: make it inactive instead."
        return None


class _ServicesInline(admin.TabularInline):
    """A row whose deletion the services would refuse says why in plain words
    (before the admin's own words about protected rows)."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        undeletable = formset.undeletable

        class RowForm(formset.form):
            def hand_clean_DELETE(self):
                if self.cleaned_data.get(DELETION_FIELD_NAME) and not self.instance._state.adding:
                    problem = undeletable(self.instance)
                    if problem:
                        raise ValidationError(problem)
                super().hand_clean_DELETE()

        formset.form = RowForm
        return formset


class TicketTypeInline(_ServicesInline):
    model = TicketType
    form = TicketTypeForm
    formset = TicketTypeInlineFormSet
    fields = [*TYPE_COLUMNS, "tickets_taken"]
    readonly_fields = ["tickets_taken"]
    extra = 0
    show_change_link = True

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0  # a new event: one row to fill (or leave for the price)


class PromoCodeInline(_ServicesInline):
    """The codes of the event; the types a code discounts or unlocks are chosen
    on the code's own page (its "change" link)."""

    model = PromoCode
    form = PromoCodeForm
    formset = PromoCodeInlineFormSet
    fields = [*CODE_COLUMNS, "uses"]
    readonly_fields = ["uses"]
    extra = 0
    show_change_link = True


class QuestionForm(forms.ModelForm):
    """A question the event asks of each attendee, its options one a line
    (``events.services.question_errors`` says what is wrong, next to the
    fields; the service checks again when it saves the whole list)."""

    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 30}),
        help_text="Choice questions only: one option a line.",
    )

    class Meta:
        model = Question
        fields = ["label", "kind", "required", "choices", "position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and not self.is_bound:
            self.initial["choices"] = "\n".join(self.instance.choices)
        _limit(self.fields["position"], 0, 32767)

    def clean_choices(self) -> list[str]:
        lines = (self.cleaned_data.get("choices") or "").splitlines()
        return [line.strip() for line in lines if line.strip()]

    def clean(self):
        cleaned = super().clean()
        if self.has_error("label") or self.has_error("kind"):
            return cleaned
        values = {name: cleaned.get(name) for name in services.QUESTION_FIELDS}
        values["choices"] = values["choices"] or []
        for name, problems in services.question_errors(values).items():
            for problem in problems:
                self.add_error(name, problem)
        return cleaned


class QuestionInlineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if hasattr(form, "cleaned_data")
            and not self._should_delete_form(form)
            and (not form.instance._state.adding or form.has_changed())
        ]
        if len(kept) > services.MAX_QUESTIONS:
            raise ValidationError(f"An event asks at most {services.MAX_QUESTIONS} questions.")

    def service_items(self) -> list[dict]:
        """The event's whole question list as ``events.services`` takes it:
        the rows kept, in the order of their positions."""
        rows = []
        for index, form in enumerate(self.forms):
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            adding = form.instance._state.adding
            if adding and not form.has_changed():
                continue  # an empty extra row
            item = {name: form.cleaned_data[name] for name in services.QUESTION_FIELDS}
            if not adding:
                item["id"] = form.instance.pk
            rows.append((form.cleaned_data.get("position") or 0, index, item))
        return [item for _, _, item in sorted(rows, key=lambda row: row[:2])]


class QuestionInline(admin.TabularInline):
    """What the event asks of each attendee. Saved as the whole list through
    ``event_create``/``event_update``; answers live on the tickets."""

    model = Question
    form = QuestionForm
    formset = QuestionInlineFormSet
    fields = ["label", "kind", "required", "choices", "position"]
    extra = 0

    @staticmethod
    def _closed(obj) -> bool:
        return obj is not None and obj.status == EventStatus.CANCELLED  # history: unchanged

    def has_add_permission(self, request, obj=None):
        return not self._closed(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._closed(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._closed(obj) and super().has_delete_permission(request, obj)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    form = EventAdminForm
    list_display = [
        "name",
        "starts_at",
        "city",
        "category",
        "capacity",
        "available",
        "status",
        "booking_enabled",
    ]
    list_filter = ["status", "category", "city", "booking_enabled"]
    search_fields = ["name", "venue_name", "city"]
    date_hierarchy = "starts_at"
    list_select_related = False  # no list column follows a relation
    readonly_fields = [
        "tickets_taken",
        "available",
        "seating_plan",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "category", "status", "booking_enabled"]}),
        (
            "Venue",
            {
                "fields": [
                    "venue_name",
                    "venue_address",
                    "city",
                    "state",
                    "country",
                    "postal_code",
                ]
            },
        ),
        ("When", {"fields": ["starts_at", "ends_at", "timezone"]}),
        (
            "Waiting room",
            {
                "fields": list(services.QUEUE_FIELDS),
                "description": (
                    "For a sale that opens at a set time and draws more buyers than it has "
                    "tickets: while enabled, reserving needs an admission from the waiting "
                    "room. Whoever joins before the opening gets a random place then; the "
                    "first places are admitted at the rate a minute, each for the pass's "
                    "minutes. A rate changed during the sale goes on from the places "
                    "admitted by then."
                ),
            },
        ),
        (
            "Tickets",
            {
                "fields": [
                    "capacity",
                    "tickets_taken",
                    "available",
                    "seating_plan",
                    "price",
                    "currency",
                    "max_tickets_per_user",
                    "refund_tiers",
                    "transfers_enabled",
                ]
            },
        ),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    inlines = [TicketTypeInline, PromoCodeInline, QuestionInline]
    actions = ["publish_selected", "unpublish_selected", "cancel_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_available()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == EventStatus.CANCELLED:
            # A cancelled event is history: event_update refuses any change.
            return [*self.readonly_fields, *sorted(services.EDITABLE_FIELDS)]
        if obj is not None and obj.seated:
            # Its capacity is its unblocked seats: the plan and blocks move it.
            return [*self.readonly_fields, "capacity"]
        return self.readonly_fields

    @admin.display(description="Available", ordering="available_now")
    def available(self, obj: Event) -> int | None:
        if obj.capacity is None:  # an add form that did not validate
            return None
        return obj.capacity - obj.tickets_taken

    @admin.display(description="Seating plan")
    def seating_plan(self, obj: Event) -> str:
        """A link to the event's seats (a plan can be 100,000 seats: no inline)."""
        if obj.pk is None or not obj.seated:
            return "None (load one with PUT /api/events/{id}/seating/ or manage.py import_seating)"
        url = reverse("admin:events_seat_changelist")
        return format_html(
            '<a href="{}?event__id__exact={}">{} seats</a>', url, obj.pk, obj.seats.count()
        )

    # Saving and deleting ------------------------------------------------

    def save_model(self, request, obj, form, change):
        if not change:
            return  # created in save_related, with the ticket types of its inline
        data = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.EDITABLE_FIELDS
        }
        if data:
            _copy_saved(obj, services.event_update(actor=request.user, event_id=obj.pk, data=data))

    def save_related(self, request, form, formsets, change):
        if not change:
            # A new event sells the ticket types of its inline, or, without
            # any, one "General admission" at the form's price.
            event = form.instance
            data = {
                name: value
                for name, value in form.cleaned_data.items()
                if name in services.EDITABLE_FIELDS
            }
            types = [
                _fields_of(row, TYPE_COLUMNS)
                for formset in formsets
                if formset.model is TicketType
                for row in _rows_to_save(formset)
            ]
            if types:
                data["ticket_types"] = types
            questions = [
                item
                for formset in formsets
                if formset.model is Question
                for item in formset.service_items()
            ]
            if questions:
                data["questions"] = questions
            _copy_saved(event, services.event_create(actor=request.user, data=data))
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        """Each row through its service: the ticket-type services keep the
        event's price (the lowest public price) up to date."""
        if formset.model is Question:
            self._save_questions(request, form.instance, formset, change)
            return
        if formset.model not in (TicketType, PromoCode):
            super().save_formset(request, form, formset, change)
            return
        event = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is TicketType and not change:  # made with the event
            formset.new_objects = list(event.ticket_types.all())
            return
        deleted = [
            row.instance
            for row in formset.deleted_forms
            if row.instance.pk is not None and not row.instance._state.adding
        ]
        rows = _rows_to_save(formset)
        if not (deleted or rows):
            return
        if formset.model is TicketType:
            create, update, delete = (
                services.ticket_type_create,
                services.ticket_type_update,
                services.ticket_type_delete,
            )
            fields, key = TYPE_COLUMNS, "ticket_type_id"
        else:
            create, update, delete = (
                services.promo_code_create,
                services.promo_code_update,
                services.promo_code_delete,
            )
            fields, key = CODE_COLUMNS, "promo_code_id"
        for row in rows:
            if row.instance._state.adding:
                saved = create(actor=request.user, event_id=event.pk, data=_fields_of(row, fields))
                formset.new_objects.append(saved)
            else:
                data = {name: row.cleaned_data[name] for name in row.changed_data if name in fields}
                saved = update(actor=request.user, data=data, **{key: row.instance.pk})
                formset.changed_objects.append((saved, list(data)))
        # Deleted last: a type replaced by a new one is never the event's last.
        for instance in deleted:
            delete(actor=request.user, **{key: instance.pk})
            formset.deleted_objects.append(instance)

    def _save_questions(self, request, event: Event, formset, change: bool) -> None:
        """The question inline as one list through ``event_update`` (made
        with the event by ``event_create`` on a new one)."""
        before = set(Question.objects.filter(event=event).values_list("pk", flat=True))
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if change:
            deleted = [
                row.instance
                for row in formset.deleted_forms
                if row.instance.pk is not None and not row.instance._state.adding
            ]
            changed = [
                (row.instance, list(row.changed_data))
                for row in _rows_to_save(formset)
                if not row.instance._state.adding
            ]
            added = any(row.instance._state.adding for row in _rows_to_save(formset))
            if not (deleted or changed or added):
                return
            services.event_update(
                actor=request.user,
                event_id=event.pk,
                data={"questions": formset.service_items()},
            )
            formset.changed_objects, formset.deleted_objects = changed, deleted
            before = {pk for pk in before if pk not in {q.pk for q in deleted}}
        else:
            before = set()
        formset.new_objects = list(Question.objects.filter(event=event).exclude(pk__in=before))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except NuvioError as error:
            # The form checks the services' rules, but the row can change between
            # the check and the locked write; the admin's transaction rolled back.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Listed as protected, the admin shows why and refuses the deletion
        # (the delete page and the "delete selected" action alike).
        for event in objs:
            if services.event_has_bookings(event):
                protected.append(
                    f"{event}: it has bookings ({event.tickets_taken} tickets held or sold) "
                    "and cannot be deleted; cancel it instead."
                )
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        services.event_delete(actor=request.user, event_id=obj.pk)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except NuvioError as error:
            # A booking arrived after the confirmation page: nothing was deleted.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request, queryset):
        for event in queryset:
            try:
                services.event_delete(actor=request.user, event_id=event.pk)
            except NuvioError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)

    # Actions ---------------------------------------------------------------

    @admin.action(description="Publish selected events", permissions=["change"])
    def publish_selected(self, request, queryset):
        self._apply(request, queryset, services.event_publish, "Published")

    @admin.action(description="Unpublish selected events", permissions=["change"])
    def unpublish_selected(self, request, queryset):
        self._apply(request, queryset, services.event_unpublish, "Unpublished")

    @admin.action(description="Cancel selected events (refund everyone)", permissions=["change"])
    def cancel_selected(self, request, queryset):
        """``event_cancel`` per event: cancelled at once, every booking refunded
        in full by a background job (selecting a cancelled event resumes its job)."""
        done = 0
        for event in queryset:
            try:
                services.event_cancel(actor=request.user, event_id=event.pk)
            except NuvioError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)
            else:
                done += 1
        if done:
            message = ngettext(
                "Cancelled %(count)d event: every booking is being refunded in full "
                "in the background and each holder notified.",
                "Cancelled %(count)d events: every booking is being refunded in full "
                "in the background and each holder notified.",
                done,
            )
            self.message_user(request, message % {"count": done}, messages.SUCCESS)

    def _apply(self, request, queryset, service, verb: str) -> None:
        """Call ``service`` per event; each succeeds or fails on its own."""
        done = 0
        for event in queryset:
            try:
                service(actor=request.user, event_id=event.pk)
            except NuvioError as error:
                self.message_user(request, f"{event}: {error.message}", messages.ERROR)
            else:
                done += 1
        if done:
            message = ngettext("%(verb)s %(count)d event.", "%(verb)s %(count)d events.", done)
            self.message_user(request, message % {"verb": verb, "count": done}, messages.SUCCESS)


class _ThroughServicesAdmin(admin.ModelAdmin):
    """A ticket type's or a promo code's own page: saved and deleted through
    the services (``create``, ``update``, ``delete`` with the ``key`` of the
    row), whose refusals come back as messages."""

    editable: list[str]
    key: str

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "event"]  # it stays with its event
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        create, update, _ = self.services()
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            data = {name: value for name, value in data.items() if name in self.editable}
            saved = update(actor=request.user, data=data, **{self.key: obj.pk}) if data else obj
        else:
            data = {
                name: value for name, value in form.cleaned_data.items() if name in self.editable
            }
            saved = create(actor=request.user, event_id=form.cleaned_data["event"].pk, data=data)
        _copy_saved(obj, saved)

    def save_related(self, request, form, formsets, change):
        pass  # many-to-many fields go with the other fields, through the service

    def delete_model(self, request, obj):
        self.services()[2](actor=request.user, **{self.key: obj.pk})

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_model(request, obj)
            except NuvioError as error:
                self.message_user(request, f"{obj}: {error.message}", messages.ERROR)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except NuvioError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except NuvioError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(TicketType)
class TicketTypeAdmin(_ThroughServicesAdmin):
    form = TicketTypeForm
    editable = TYPE_COLUMNS
    key = "ticket_type_id"
    list_display = [
        "name",
        "event",
        "price",
        "quota",
        "tickets_taken",
        "hidden",
        "sale_starts_at",
        "sale_ends_at",
        "position",
    ]
    list_filter = ["hidden", ("event", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["event"]
    search_fields = ["name", "event__name"]
    readonly_fields = ["tickets_taken", "waitlist_waiting", "created_at", "updated_at"]
    fields = ["event", *TYPE_COLUMNS, *readonly_fields]

    @staticmethod
    def services():
        return (
            services.ticket_type_create,
            services.ticket_type_update,
            services.ticket_type_delete,
        )


@admin.register(PromoCode)
class PromoCodeAdmin(_ThroughServicesAdmin):
    """A promo code with the ticket types it discounts and unlocks (chosen
    among its event's types once it exists)."""

    form = PromoCodeForm
    editable = [*CODE_COLUMNS, "ticket_types", "unlocks"]
    key = "promo_code_id"
    list_display = [
        "code",
        "event",
        "discount_percent",
        "discount_amount",
        "uses",
        "max_uses",
        "valid_from",
        "valid_until",
        "active",
    ]
    list_filter = ["active", ("event", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["event"]
    search_fields = ["code", "event__name"]
    readonly_fields = ["uses", "created_at", "updated_at"]
    filter_horizontal = ["ticket_types", "unlocks"]

    def get_fields(self, request, obj=None):
        fields = ["event", *CODE_COLUMNS]
        if obj is not None:  # the types to choose from are those of its event
            fields += ["ticket_types", "unlocks"]
        return [*fields, *self.readonly_fields]

    @staticmethod
    def services():
        return (
            services.promo_code_create,
            services.promo_code_update,
            services.promo_code_delete,
        )


# --- seats ---------------------------------------------------------------------


@admin.register(Seat)
class SeatAdmin(admin.ModelAdmin):
    """An event's seating plan, read-only: plans are loaded whole (the API's
    ``PUT /api/events/{id}/seating/``, ``manage.py import_seating``); staff
    block and unblock seats here with the actions (``seats_block``)."""

    list_display = ["label", "event", "section", "row", "number", "ticket_type", "status"]
    list_filter = [
        ("event", admin.RelatedOnlyFieldListFilter),
        "section",
        ("ticket_type", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["event", "ticket_type"]
    search_fields = ["label"]
    ordering = ["event", "position"]
    list_per_page = 200
    show_full_result_count = False
    actions = ["block_seats", "unblock_seats"]
    fields = [
        "event",
        "label",
        "section",
        "row",
        "number",
        "ticket_type",
        "status",
        "x",
        "y",
        "row_index",
        "position",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        live = SeatHold.objects.filter(seat=OuterRef("pk"), released_at__isnull=True)
        held = live.filter(
            booking__status=BookingStatus.HELD, booking__expires_at__gt=timezone.now()
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                status=Case(
                    When(Exists(live.filter(booking__isnull=True)), then=Value("blocked")),
                    When(
                        Exists(live.filter(booking__status=BookingStatus.CONFIRMED)),
                        then=Value("sold"),
                    ),
                    When(Exists(held), then=Value("held")),
                    default=Value("free"),  # a lapsed hold's seat is free
                )
            )
        )

    @admin.display(description="Status")
    def status(self, obj: Seat) -> str:
        return obj.status

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The list's actions need it; one seat's page is read-only.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Block selected seats", permissions=["change"])
    def block_seats(self, request, queryset):
        self._block(request, queryset, blocked=True)

    @admin.action(description="Unblock selected seats", permissions=["change"])
    def unblock_seats(self, request, queryset):
        self._block(request, queryset, blocked=False)

    def _block(self, request, queryset, *, blocked: bool) -> None:
        """``seats_block`` per event; each event's seats change or none do."""
        by_event = defaultdict(list)
        for event_id, seat_id in queryset.order_by().values_list("event_id", "pk"):
            by_event[event_id].append(seat_id)
        changed = 0
        for event_id, seat_ids in by_event.items():
            try:
                changed += seating.seats_block(
                    actor=request.user, event_id=event_id, seat_ids=seat_ids, blocked=blocked
                )
            except NuvioError as error:
                self.message_user(request, error.message, messages.ERROR)
        verb = "Blocked" if blocked else "Unblocked"
        message = ngettext("%(verb)s %(count)d seat.", "%(verb)s %(count)d seats.", changed)
        self.message_user(request, message % {"verb": verb, "count": changed}, messages.SUCCESS)
