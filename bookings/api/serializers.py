import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookings.models import (
    Booking,
    BookingStatus,
    Notification,
    PaymentStatus,
    RefundStatus,
    Ticket,
    WaitlistEntry,
    WaitlistStatus,
)
from events.models import Event


class EventSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "name", "starts_at", "venue_name", "city"]


class RefundSummarySerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    percent = serializers.IntegerField(min_value=0, max_value=100)
    status = serializers.ChoiceField(choices=RefundStatus.choices)


class PaymentSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=PaymentStatus.choices)


class TicketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Ticket
        fields = ["id", "code", "checked_in_at"]


class BookingSerializer(serializers.ModelSerializer):
    """A booking as its owner sees it. A hold whose time ran out is shown as
    ``expired`` at once, whether or not it has been released yet."""

    event = EventSummarySerializer(read_only=True)
    status = serializers.SerializerMethodField()
    refund = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "id",
            "event",
            "quantity",
            "unit_price",
            "total_price",
            "currency",
            "status",
            "expires_at",
            "created_at",
            "confirmed_at",
            "cancelled_at",
            "refund",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=BookingStatus.choices))
    def get_status(self, booking: Booking) -> str:
        return booking.effective_status(self.context.get("now"))

    @extend_schema_field(RefundSummarySerializer(allow_null=True))
    def get_refund(self, booking: Booking):
        refunds = [r for r in booking.refunds.all() if r.reason != "not_honoured"]
        if not refunds:
            return None
        refund = refunds[-1]
        return {"amount": _money(refund.amount), "percent": refund.percent, "status": refund.status}

    def to_representation(self, booking: Booking) -> dict:
        # Written out by hand: a ModelSerializer builds all its fields again for
        # every instance, the largest CPU cost of a reserve. The declared fields
        # still describe it (OpenAPI), and a test keeps the two outputs equal.
        event = booking.event
        return {
            "id": str(booking.id),
            "event": {
                "id": str(event.id),
                "name": event.name,
                "starts_at": _iso(event.starts_at),
                "venue_name": event.venue_name,
                "city": event.city,
            },
            "quantity": booking.quantity,
            "unit_price": _money(booking.unit_price),
            "total_price": _money(booking.total_price),
            "currency": booking.currency,
            "status": self.get_status(booking),
            "expires_at": _iso(booking.expires_at),
            "created_at": _iso(booking.created_at),
            "confirmed_at": _iso(booking.confirmed_at),
            "cancelled_at": _iso(booking.cancelled_at),
            "refund": self.get_refund(booking),
        }


def _iso(value) -> str | None:
    """A datetime as DRF renders it: ISO 8601 in UTC with a ``Z``."""
    if value is None:
        return None
    text = value.astimezone(dt.UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _money(value) -> str:
    return f"{value:.2f}"


class BookingDetailSerializer(BookingSerializer):
    """The booking with its payment and tickets (detail, pay and cancel answers)."""

    payment = serializers.SerializerMethodField()
    tickets = serializers.SerializerMethodField()

    class Meta(BookingSerializer.Meta):
        fields = [*BookingSerializer.Meta.fields, "payment", "tickets"]
        read_only_fields = fields

    @extend_schema_field(PaymentSummarySerializer(allow_null=True))
    def get_payment(self, booking: Booking):
        paid = [p for p in booking.payments.all() if p.status != PaymentStatus.DECLINED]
        kept = [p for p in paid if not any(r.reason == "not_honoured" for r in p.refunds.all())]
        payment = (kept or paid or [None])[-1]
        return PaymentSummarySerializer(payment).data if payment else None

    @extend_schema_field(TicketSerializer(many=True))
    def get_tickets(self, booking: Booking):
        tickets = [t for t in booking.tickets.all() if t.voided_at is None]
        return TicketSerializer(tickets, many=True).data

    def to_representation(self, booking: Booking) -> dict:
        return {
            **super().to_representation(booking),
            "payment": self.get_payment(booking),
            "tickets": self.get_tickets(booking),
        }


class ReserveSerializer(serializers.Serializer):
    event = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=100)


class PaySerializer(serializers.Serializer):
    card_number = serializers.CharField(max_length=40)


class RefundQuoteSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    percent = serializers.IntegerField(min_value=0, max_value=100)
    currency = serializers.CharField()


class BookingListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BookingStatus.choices, required=False)
    when = serializers.ChoiceField(choices=["upcoming", "past"], required=False)


class StatsCountsSerializer(serializers.Serializer):
    held = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    expired = serializers.IntegerField()


class UserStatsSerializer(serializers.Serializer):
    bookings = StatsCountsSerializer()
    tickets_confirmed = serializers.IntegerField()
    upcoming_events = serializers.IntegerField()
    total_spent = serializers.DecimalField(max_digits=14, decimal_places=2)
    total_refunded = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class WaitlistJoinSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(
        min_value=1, max_value=100, help_text="1 to the event's max_tickets_per_user."
    )


class WaitlistEntrySerializer(serializers.ModelSerializer):
    """An entry of a waiting list, as its owner sees it."""

    event = serializers.PrimaryKeyRelatedField(read_only=True)
    position = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="1 for the next entry served; null once the entry no longer waits.",
    )
    status = serializers.ChoiceField(choices=WaitlistStatus.choices, read_only=True)

    class Meta:
        model = WaitlistEntry
        fields = ["id", "event", "quantity", "position", "status"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    booking = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    event = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "booking", "event", "created_at", "read_at"]
        read_only_fields = fields
