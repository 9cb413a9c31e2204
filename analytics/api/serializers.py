"""Shapes of the analytics answers (API.md, "Analytics (staff)"). Money is a
decimal string with two places; rates are numbers from 0 to 1."""

from rest_framework import serializers

MONEY = {"max_digits": 16, "decimal_places": 2}


class BookingCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Bookings created in the range, any status.")
    held = serializers.IntegerField(help_text="Still held, not yet expired.")
    confirmed = serializers.IntegerField(help_text="Paid and not cancelled.")
    cancelled = serializers.IntegerField(help_text="Cancelled, as a hold or after payment.")
    expired = serializers.IntegerField(
        help_text="Not paid in time, including lapsed holds not yet released."
    )


class TopEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    tickets_sold = serializers.IntegerField()
    capacity = serializers.IntegerField()
    utilization = serializers.FloatField(
        min_value=0, max_value=1, help_text="tickets_sold / capacity."
    )
    revenue = serializers.DecimalField(**MONEY, help_text="Money charged.")


class DailySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="UTC creation date of the bookings.")
    bookings = serializers.IntegerField(help_text="Bookings created that day.")
    tickets = serializers.IntegerField(help_text="Their tickets sold (confirmed now).")
    revenue = serializers.DecimalField(**MONEY, help_text="Money charged for them.")
    cancellations = serializers.IntegerField(help_text="How many of them are cancelled.")


class SummarySerializer(serializers.Serializer):
    bookings = BookingCountsSerializer()
    tickets_sold = serializers.IntegerField(
        help_text="Tickets of confirmed bookings (cancelled ones excluded)."
    )
    revenue = serializers.DecimalField(**MONEY, help_text="Money charged (payments).")
    refunded = serializers.DecimalField(**MONEY, help_text="Refunds issued.")
    net_revenue = serializers.DecimalField(**MONEY, help_text="revenue - refunded.")
    cancellation_rate = serializers.FloatField(
        min_value=0,
        max_value=1,
        help_text="Cancelled after payment / (confirmed + cancelled after payment).",
    )
    utilization = serializers.FloatField(
        min_value=0,
        max_value=1,
        help_text="tickets_sold / capacity of the events with bookings in the range.",
    )
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217.")
    top_events = TopEventSerializer(many=True, help_text="At most 10, most tickets sold first.")
    daily = DailySerializer(many=True, help_text="Every day of the range, oldest first.")


class TicketTypeFiguresSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    tickets_sold = serializers.IntegerField(help_text="Tickets of this type confirmed now.")
    quota = serializers.IntegerField(
        allow_null=True, help_text="The type's own quota; null: only the event's capacity."
    )
    revenue = serializers.DecimalField(
        **MONEY,
        help_text="Charged for its tickets after discounts, quantity x (unit price - discount), "
        "by the bookings ever paid (refunds not taken off).",
    )


class PromoCodeFiguresSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField()
    uses = serializers.IntegerField(
        help_text="Tickets of the bookings with this code that are held (not lapsed) or confirmed."
    )
    discount_total = serializers.DecimalField(
        **MONEY, help_text="quantity x discount of the bookings with this code ever paid."
    )


class SectionFiguresSerializer(serializers.Serializer):
    name = serializers.CharField()
    seats = serializers.IntegerField(help_text="Seats in the section.")
    sold = serializers.IntegerField(help_text="Seats of confirmed bookings.")
    held = serializers.IntegerField(help_text="Seats of holds still running.")
    blocked = serializers.IntegerField(help_text="Seats staff blocked.")
    free = serializers.IntegerField(help_text="Seats a buyer could take now.")


class QueueFiguresSerializer(serializers.Serializer):
    waiting = serializers.IntegerField(
        help_text="Places not admitted yet (early arrivals before the opening included)."
    )
    admitted = serializers.IntegerField(help_text="Admissions running now.")
    expired = serializers.IntegerField(
        help_text="Admissions that ran out, their users not back in the queue."
    )
    admit_per_minute = serializers.IntegerField(
        allow_null=True, help_text="The rate now (null when not set)."
    )


class EventFiguresSerializer(SummarySerializer):
    available = serializers.IntegerField(
        help_text="Tickets a buyer could take now (lapsed holds count as available)."
    )
    waitlist = serializers.IntegerField(help_text="Entries waiting on the waiting list.")
    ticket_types = TicketTypeFiguresSerializer(
        many=True, help_text="Every ticket type of the event, in the order buyers see them."
    )
    promo_codes = PromoCodeFiguresSerializer(
        many=True, help_text="Every promo code of the event, by code."
    )
    sections = SectionFiguresSerializer(
        many=True,
        help_text="A seated event's seats per section as they are now, in the plan's order; "
        "empty for an event without a seating plan.",
    )
    queue = QueueFiguresSerializer(
        allow_null=True,
        help_text="The waiting room now (not cached); null when the event has none.",
    )
