import uuid

from django.conf import settings
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from events.models import Category, Event, EventStatus
from events.selectors import event_published

PUBLIC_FIELDS = [
    "id",
    "name",
    "description",
    "category",
    "venue_name",
    "venue_address",
    "city",
    "state",
    "country",
    "postal_code",
    "starts_at",
    "ends_at",
    "capacity",
    "available",
    "price",
    "currency",
    "status",
    "booking_enabled",
    "max_tickets_per_user",
    "created_at",
    "updated_at",
]


class EventSerializer(serializers.ModelSerializer):
    """An event as everyone sees it; staff write through it (validation here,
    the rules that need the row lock in ``events.services``)."""

    name = serializers.CharField(min_length=1, max_length=200)
    category = serializers.ChoiceField(choices=Category.choices, default=Category.OTHER)
    capacity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    available = serializers.IntegerField(read_only=True)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        required=False,
        help_text="ISO 4217 code; defaults to NUVIO_CURRENCY.",
        error_messages={"invalid": "Must be a three-letter ISO 4217 code."},
    )
    status = serializers.ChoiceField(choices=EventStatus.choices, default=EventStatus.DRAFT)
    max_tickets_per_user = serializers.IntegerField(min_value=1, max_value=100, default=4)

    class Meta:
        model = Event
        fields = PUBLIC_FIELDS
        read_only_fields = ["id", "available", "created_at", "updated_at"]

    def validate_currency(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs):
        if self.instance is None:
            attrs.setdefault("currency", settings.NUVIO_CURRENCY)
        starts_at = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends_at = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts_at and ends_at and ends_at <= starts_at:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        return attrs


# One instance renders every public event page: a ModelSerializer builds its
# fields anew for each instance it is made for, which costs more than the
# page's query, and reading an event needs nothing from the request.
_public_reader = EventSerializer()


def public_event_json(event_id: uuid.UUID) -> bytes | None:
    """``GET /api/events/{id}/`` as everyone but staff sees it (the rendered
    JSON), or None when the event is not published or does not exist."""
    event = event_published(event_id)
    if event is None:
        return None
    return JSONRenderer().render(_public_reader.to_representation(event))
