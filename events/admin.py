"""Staff admin for events. Every write goes through ``events.services``: the
form repeats the services' rules only so that errors show next to the fields;
the services re-check them under the row lock."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.translation import ngettext

from events import services
from events.models import Event, EventStatus
from nuvio.errors import NuvioError

# (minimum, maximum) of the numeric fields, as in API.md; the database
# constraints would only report a violation without naming the field.
_LIMITS = {
    "capacity": (1, 1_000_000),
    "max_tickets_per_user": (1, 100),
    "price": (0, None),
}
_CANCEL_HINT = "Cancel an event with its cancel action, which refunds every booking."


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

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValidationError("Must be a three-letter ISO 4217 code.")
        return currency

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
            if (
                status == EventStatus.DRAFT
                and event.status == EventStatus.PUBLISHED
                and event.tickets_taken > 0
            ):
                self.add_error(
                    "status", "Tickets are held or sold for this event: it cannot go back to draft."
                )
        return cleaned


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
    readonly_fields = ["tickets_taken", "available", "created_by", "created_at", "updated_at"]
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
        ("When", {"fields": ["starts_at", "ends_at"]}),
        (
            "Tickets",
            {
                "fields": [
                    "capacity",
                    "tickets_taken",
                    "available",
                    "price",
                    "currency",
                    "max_tickets_per_user",
                    "refund_tiers",
                ]
            },
        ),
        ("Record", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    actions = ["publish_selected", "unpublish_selected", "cancel_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_available()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == EventStatus.CANCELLED:
            # A cancelled event is history: event_update refuses any change.
            return [*self.readonly_fields, *sorted(services.EDITABLE_FIELDS)]
        return self.readonly_fields

    @admin.display(description="Available", ordering="available_now")
    def available(self, obj: Event) -> int | None:
        if obj.capacity is None:  # an add form that did not validate
            return None
        return obj.capacity - obj.tickets_taken

    # Saving and deleting ------------------------------------------------

    def save_model(self, request, obj, form, change):
        if change:
            data = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.EDITABLE_FIELDS
            }
            if not data:
                return
            saved = services.event_update(actor=request.user, event_id=obj.pk, data=data)
        else:
            data = {
                name: value
                for name, value in form.cleaned_data.items()
                if name in services.EDITABLE_FIELDS
            }
            saved = services.event_create(actor=request.user, data=data)
        # The admin goes on with ``obj`` (history entry, redirect): make it the saved row.
        for field in Event._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

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
