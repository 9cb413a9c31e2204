"""Staff admin for bookings and their money: read-only views, because every
change goes through ``bookings.services``. The one write is the cancel action,
which calls ``booking_cancel`` exactly as the API does."""

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from bookings import services
from bookings.models import (
    Booking,
    BookingItem,
    CheckInScan,
    IdempotencyRecord,
    Notification,
    Payment,
    Refund,
    Ticket,
    TicketTransfer,
    WaitlistEntry,
)
from bookings.services.tickets import answers_shown, event_questions, ticket_complete
from nuvio.errors import NuvioError


class ReadOnlyAdminMixin:
    """View only: rows change through the services, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class BookingItemInline(ReadOnlyInline):
    model = BookingItem
    fields = ["ticket_type", "quantity", "unit_price", "discount", "total"]
    show_change_link = False  # an item has no page of its own

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ticket_type")

    @admin.display(description="Total")
    def total(self, obj: BookingItem):
        return obj.total


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ["gateway_intent_id", "amount", "currency", "status", "card_last4", "created_at"]


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = [
        "amount",
        "percent",
        "currency",
        "status",
        "reason",
        "gateway_reference",
        "created_at",
    ]


class TicketInline(ReadOnlyInline):
    """A booking's tickets: who holds each (the buyer, or whoever it was
    transferred to) and who comes."""

    model = Ticket
    fields = [
        "code",
        "ticket_type",
        "seat",
        "holder",
        "attendee_name",
        "attendee_email",
        "checked_in_at",
        "voided_at",
        "created_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ticket_type", "seat", "holder")


class TicketTransferInline(ReadOnlyInline):
    """The hands a ticket went through, with the codes that stopped working."""

    model = TicketTransfer
    fields = ["created_at", "from_user", "to_user", "old_code"]
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_user", "to_user")


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "user",
        "event",
        "quantity",
        "total_price",
        "promo_code",
        "currency",
        "status",
        "effective_status",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", ("event", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__email", "event__name", "=id", "promo_code__code"]
    list_select_related = ["user", "event", "promo_code"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "user",
        "event",
        "quantity",
        "unit_price",
        "subtotal",
        "discount",
        "promo_code",
        "total_price",
        "currency",
        "status",
        "effective_status",
        "expires_at",
        "created_at",
        "confirmed_at",
        "cancelled_at",
        "expired_at",
    ]
    fields = readonly_fields
    inlines = [BookingItemInline, PaymentInline, RefundInline, TicketInline]
    actions = ["cancel_selected"]

    @admin.display(description="Effective status")
    def effective_status(self, obj: Booking) -> str:
        return obj.effective_status()

    def has_cancel_permission(self, request) -> bool:
        # The admin cannot edit a booking, but cancelling one is a change.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Cancel selected bookings (with refund)", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        """Cancel each booking through ``booking_cancel`` on its own: one that
        cannot be cancelled (already cancelled, expired, event started) is
        reported and the others go ahead."""
        done = 0
        for booking in queryset.select_related("event"):
            try:
                services.booking_cancel(user=request.user, booking_id=booking.pk, as_staff=True)
            except NuvioError as error:
                self.message_user(request, f"{booking.pk}: {error.message}", messages.ERROR)
            else:
                done += 1
        if done:
            message = ngettext(
                "Cancelled %(count)d booking (refunds by the event's tiers).",
                "Cancelled %(count)d bookings (refunds by the event's tiers).",
                done,
            )
            self.message_user(request, message % {"count": done}, messages.SUCCESS)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "gateway_intent_id",
        "booking_id",
        "amount",
        "currency",
        "status",
        "card_last4",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["gateway_intent_id", "=booking__id", "booking__user__email"]
    date_hierarchy = "created_at"


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "booking_id",
        "amount",
        "percent",
        "currency",
        "status",
        "reason",
        "gateway_reference",
        "created_at",
    ]
    list_filter = ["status", "reason"]
    search_fields = [
        "=id",
        "=booking__id",
        "gateway_reference",
        "payment__gateway_intent_id",
        "booking__user__email",
    ]
    date_hierarchy = "created_at"


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tickets, read-only: attendee details change through
    ``ticket_attendee_update`` (the holder's API and page) and holders
    through ``ticket_transfer``, never by hand."""

    list_display = [
        "code",
        "booking_id",
        "event",
        "ticket_type",
        "holder",
        "attendee_name",
        "checked_in_at",
        "voided_at",
        "created_at",
    ]
    list_select_related = ["booking__event", "ticket_type", "holder"]
    search_fields = [
        "code",
        "=booking__id",
        "booking__user__email",
        "holder__email",
        "attendee_name",
        "attendee_email",
        "booking__event__name",
    ]
    date_hierarchy = "created_at"
    fields = [
        "code",
        "booking",
        "event",
        "ticket_type",
        "seat",
        "buyer",
        "holder",
        "attendee_name",
        "attendee_email",
        "answers_shown",
        "complete",
        "checked_in_at",
        "checked_in_by",
        "voided_at",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [TicketTransferInline]

    @admin.display(description="Event", ordering="booking__event__name")
    def event(self, obj: Ticket) -> str:
        return obj.booking.event.name

    @admin.display(description="Buyer")
    def buyer(self, obj: Ticket) -> str:
        return obj.booking.user.email

    @admin.display(description="Answers")
    def answers_shown(self, obj: Ticket) -> str:
        questions = event_questions(obj.booking.event_id)
        answers = answers_shown(questions, obj.answers)
        labels = {str(q.pk): q.label for q in questions}
        if not answers:
            return "-"
        return format_html(
            "<dl>{}</dl>",
            format_html_join(
                "",
                "<dt>{}</dt><dd>{}</dd>",
                ((labels[key], _answer_text(value)) for key, value in answers.items()),
            ),
        )

    @admin.display(description="Complete", boolean=True)
    def complete(self, obj: Ticket) -> bool:
        return ticket_complete(obj, event_questions(obj.booking.event_id))


def _answer_text(value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


@admin.register(TicketTransfer)
class TicketTransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every transfer of a ticket; search an old code to see where it went."""

    list_display = ["created_at", "ticket", "from_user", "to_user", "old_code"]
    list_select_related = ["ticket", "from_user", "to_user"]
    search_fields = ["old_code", "ticket__code", "from_user__email", "to_user__email"]
    date_hierarchy = "created_at"


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "user", "scope", "resource_id", "created_at"]
    list_filter = ["scope"]
    list_select_related = ["user"]
    search_fields = ["key", "user__email", "=resource_id"]
    date_hierarchy = "created_at"


@admin.register(CheckInScan)
class CheckInScanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every scan at the door: who, when, which code, what happened."""

    list_display = ["created_at", "code", "result", "event", "staff"]
    list_filter = ["result", "event"]
    list_select_related = ["event", "staff"]
    search_fields = ["code", "staff__email", "event__name"]
    date_hierarchy = "created_at"


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Waiting lists: served by the booking services only, never by hand."""

    list_display = [
        "id",
        "event",
        "ticket_type",
        "user",
        "quantity",
        "status",
        "created_at",
        "offered_booking",
    ]
    list_filter = ["status", ("event", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["event", "ticket_type", "user"]
    search_fields = ["=id", "user__email", "event__name", "=offered_booking__id"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "event", "booking_id", "read_at", "emailed_at"]
    list_filter = ["kind"]
    list_select_related = ["user", "event"]
    search_fields = ["user__email", "=booking__id", "event__name", "dedupe_key"]
    date_hierarchy = "created_at"
