import datetime as dt
import json
import uuid

from django.conf import settings
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from events.models import Category, Event, EventStatus, PromoCode, QuestionKind, TicketType
from events.selectors import event_published, public_stock, ticket_types_on_offer
from events.services import (
    CODE_PATTERN,
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    MAX_QUESTION_LABEL,
    MAX_QUESTIONS,
    MAX_TICKET_TYPES,
    QUEUE_FIELDS,
    QUEUE_NAMES,
)
from nuvio.serializers import PositionalListSerializer
from nuvio.timezones import is_known_zone

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
    "timezone",
    "starts_at",
    "ends_at",
    "capacity",
    "available",
    "price",
    "currency",
    "status",
    "booking_enabled",
    "max_tickets_per_user",
    "seated",
    "queue",
    "questions",
    "transfers_enabled",
    "created_at",
    "updated_at",
]


# Written flat into the event's ``queue_*`` fields: ``events.services`` checks
# them together and keeps the rate's history.
class QueueSettingsSerializer(serializers.Serializer):
    """The event's waiting room; null when none was ever set. On update,
    fields left out keep their values, and null removes the waiting room
    (and its places)."""

    enabled = serializers.BooleanField(
        source="queue_enabled",
        required=False,
        help_text="While true, reserving needs a live admission from the waiting room.",
    )
    opens_at = serializers.DateTimeField(
        source="queue_opens_at",
        required=False,
        allow_null=True,
        help_text="When admission starts; who joined before gets a random place then. "
        "Required to enable; fixed once an enabled room has opened.",
    )
    admit_per_minute = serializers.IntegerField(
        source="queue_admit_per_minute",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=100_000,
        help_text="Places admitted a minute. Changed during the sale, the new rate goes "
        "on from the places admitted by then. Required to enable.",
    )
    pass_minutes = serializers.IntegerField(
        source="queue_pass_minutes",
        required=False,
        allow_null=True,
        min_value=1,
        max_value=120,
        help_text="How long an admission lasts. Required to enable.",
    )

    def to_representation(self, event: Event) -> dict | None:
        if not any(getattr(event, field) for field in QUEUE_FIELDS):
            return None
        return super().to_representation(event)

    def run_validation(self, data=serializers.empty):
        if data is None:  # the waiting room removed: every setting cleared
            return dict.fromkeys(QUEUE_FIELDS, None) | {"queue_enabled": False}
        return super().run_validation(data)


class QuestionSerializer(serializers.Serializer):
    """A question the event asks of each attendee. Written as part of the
    event's whole ``questions`` list: an item with the ``id`` of one of the
    event's questions changes it (fields left out keep their values), an
    item without ``id`` is a new question, and questions left out of the
    list are deleted. The rules that need the event's questions are
    ``events.services``'."""

    id = serializers.UUIDField(
        required=False, help_text="Leave out for a new question; an existing one's id to keep it."
    )
    label = serializers.CharField(
        required=False,
        max_length=MAX_QUESTION_LABEL,
        help_text=f"1 to {MAX_QUESTION_LABEL} characters; required for a new question.",
    )
    kind = serializers.ChoiceField(
        choices=QuestionKind.choices, required=False, help_text="A new question: text."
    )
    required = serializers.BooleanField(
        required=False,
        help_text="A ticket missing this answer is not complete. A new question: false.",
    )
    choices = serializers.ListField(
        child=serializers.CharField(max_length=MAX_CHOICE_LENGTH),
        required=False,
        max_length=MAX_CHOICES,
        help_text="The options of a choice question (distinct, at least one); empty otherwise.",
    )

    class Meta:
        list_serializer_class = PositionalListSerializer

    def validate(self, attrs):
        kind, choices = attrs.get("kind"), attrs.get("choices")
        if kind == QuestionKind.CHOICE and choices is not None and not choices:
            raise serializers.ValidationError(
                {"choices": ["A choice question needs at least one option."]}
            )
        if kind in (QuestionKind.TEXT, QuestionKind.BOOLEAN) and choices:
            raise serializers.ValidationError(
                {"choices": ["Only a choice question has options: leave it empty."]}
            )
        if choices and len({choice.casefold() for choice in choices}) != len(choices):
            raise serializers.ValidationError({"choices": ["Give each option once."]})
        if "id" not in attrs and "label" not in attrs:
            raise serializers.ValidationError({"label": ["Required for a new question."]})
        return attrs

    def to_representation(self, question) -> dict:
        return {
            "id": str(question.pk),
            "label": question.label,
            "kind": question.kind,
            "required": question.required,
            "choices": list(question.choices),
        }


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
    queue = QueueSettingsSerializer(
        source="*",
        required=False,
        allow_null=True,
        help_text='The waiting room (API.md "Waiting room"); null when none was ever set.',
    )
    timezone = serializers.CharField(
        max_length=64,
        required=False,
        help_text="Where the event happens, an IANA time zone name (Asia/Kolkata); defaults "
        "to NUVIO_TIME_ZONE. Times stay in UTC in the API; people read them in this zone.",
    )
    questions = QuestionSerializer(
        many=True,
        required=False,
        max_length=MAX_QUESTIONS,
        help_text=f"What the event asks of each attendee, in order (at most {MAX_QUESTIONS}). "
        "Written as the whole list: items with an id change those questions, items without "
        "one are new, and questions left out are deleted.",
    )
    transfers_enabled = serializers.BooleanField(
        required=False,
        help_text="Whether a ticket's holder may hand it to another account (default true).",
    )

    class Meta:
        model = Event
        fields = PUBLIC_FIELDS
        read_only_fields = ["id", "available", "seated", "created_at", "updated_at"]

    def validate_currency(self, value: str) -> str:
        return value.upper()

    def validate_timezone(self, value: str) -> str:
        value = value.strip()
        if not is_known_zone(value):
            raise serializers.ValidationError(
                "Must be an IANA time zone name, such as Asia/Kolkata."
            )
        return value

    def validate(self, attrs):
        if self.instance is None:
            attrs.setdefault("currency", settings.NUVIO_CURRENCY)
        starts_at = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends_at = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts_at and ends_at and ends_at <= starts_at:
            raise serializers.ValidationError({"ends_at": ["Must be after starts_at."]})
        if attrs.get("queue_enabled"):
            missing = {
                QUEUE_NAMES[field]: ["Required to enable the waiting room."]
                for field in QUEUE_FIELDS[1:]
                if attrs.get(field, getattr(self.instance, field, None)) is None
            }
            if missing:
                raise serializers.ValidationError({"queue": missing})
        return attrs


class TicketTypeSerializer(serializers.ModelSerializer):
    """A ticket type as ``ticket_types_on_offer`` annotates it: ``available``,
    ``on_sale``, and ``price`` after the discount of the promo code asked
    with (``discounted_price``). Staff write through it (the rules that need
    the event's lock in ``events.services``)."""

    event = serializers.PrimaryKeyRelatedField(read_only=True)
    name = serializers.CharField(min_length=1, max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    quota = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        required=False,
        allow_null=True,
        help_text="Null: limited only by the event's capacity (at most that capacity).",
    )
    available = serializers.IntegerField(read_only=True)
    sale_starts_at = serializers.DateTimeField(required=False, allow_null=True)
    sale_ends_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="After sale_starts_at; null bounds are open."
    )
    max_per_booking = serializers.IntegerField(
        min_value=1, max_value=100, required=False, allow_null=True
    )
    hidden = serializers.BooleanField(
        required=False, help_text="Shown and sold only with a promo code that unlocks it."
    )
    position = serializers.IntegerField(min_value=0, max_value=32767, required=False)
    on_sale = serializers.BooleanField(read_only=True)

    class Meta:
        model = TicketType
        fields = [
            "id",
            "event",
            "name",
            "description",
            "price",
            "quota",
            "available",
            "sale_starts_at",
            "sale_ends_at",
            "max_per_booking",
            "hidden",
            "position",
            "on_sale",
            "created_at",
        ]
        read_only_fields = ["id", "event", "available", "on_sale", "created_at"]

    def to_representation(self, ticket_type: TicketType) -> dict:
        data = super().to_representation(ticket_type)
        discounted = getattr(ticket_type, "discounted_price", None)
        if discounted is not None:
            data["price"] = self.fields["price"].to_representation(discounted)
        return data


class OfferedTicketTypes(PositionalListSerializer):
    """An event's ``ticket_types``: on create, the types to make (a list of
    ticket-type bodies); on read, the public ones as everyone sees them."""

    def get_attribute(self, instance: Event) -> list[TicketType]:
        return ticket_types_on_offer(event=instance)


class EventDetailSerializer(EventSerializer):
    """One event (``GET /api/events/{id}/``, and the answers of create and
    update) with its public ticket types."""

    price = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text=(
            "The lowest price of the public ticket types. On create without ticket_types: "
            'one public "General admission" type at this price; ignored with ticket_types. '
            "On update: the price of the event's only type (400 with several)."
        ),
    )
    ticket_types = OfferedTicketTypes(
        child=TicketTypeSerializer(),
        required=False,
        min_length=1,
        max_length=MAX_TICKET_TYPES,
        help_text=(
            "Read: the public ticket types. Create: the types to sell (instead of one at "
            "`price`). Not accepted on update: use /api/events/{id}/ticket-types/."
        ),
    )

    class Meta(EventSerializer.Meta):
        fields = [*PUBLIC_FIELDS, "ticket_types"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None and "ticket_types" in attrs:
            raise serializers.ValidationError(
                {
                    "ticket_types": [
                        "Change ticket types through /api/events/{id}/ticket-types/ and "
                        "/api/ticket-types/{id}/."
                    ]
                }
            )
        if self.instance is None and "ticket_types" not in attrs and "price" not in attrs:
            raise serializers.ValidationError(
                {"price": ["This field is required (or give ticket_types)."]}
            )
        return attrs


class PromoCodeSerializer(serializers.ModelSerializer):
    """A promo code as staff see and write it (the rules that need the
    event's lock in ``events.services``)."""

    event = serializers.PrimaryKeyRelatedField(read_only=True)
    code = serializers.RegexField(
        f"^{CODE_PATTERN.pattern}$",
        max_length=40,
        help_text="3 to 40 letters, digits, _ or -; unique per event, whatever the case.",
        error_messages={
            "invalid": "Use 3 to 40 characters: letters, digits, underscores and hyphens."
        },
    )
    discount_percent = serializers.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        allow_null=True,
        help_text="Exactly one of discount_percent and discount_amount.",
    )
    discount_amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Per ticket, never more than its price.",
    )
    ticket_types = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=TicketType.objects.all(),
        required=False,
        help_text="The types the discount applies to; empty: all of the event's types.",
    )
    unlocks = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=TicketType.objects.all(),
        required=False,
        help_text="Hidden types of the event that the code makes visible and sellable.",
    )
    max_uses = serializers.IntegerField(
        min_value=0,
        max_value=2_147_483_647,
        required=False,
        allow_null=True,
        help_text="Tickets that may use the code; null: unlimited.",
    )
    uses = serializers.IntegerField(
        read_only=True, help_text="Tickets of held and confirmed bookings that used the code."
    )
    valid_from = serializers.DateTimeField(required=False, allow_null=True)
    valid_until = serializers.DateTimeField(required=False, allow_null=True)
    active = serializers.BooleanField(required=False)

    class Meta:
        model = PromoCode
        fields = [
            "id",
            "event",
            "code",
            "discount_percent",
            "discount_amount",
            "ticket_types",
            "unlocks",
            "max_uses",
            "uses",
            "valid_from",
            "valid_until",
            "active",
            "created_at",
        ]
        read_only_fields = ["id", "event", "uses", "created_at"]


# What DRF does per field and row (source lookup, SkipField and None checks)
# costs more than half the rendering of an uncached list page. The list's
# rows come from the same EventSerializer fields, read directly: a field
# whose representation is its attribute as it is (text, whole numbers,
# flags) is read as that attribute; the others (dates, money, the waiting
# room, the questions) are the field's own ``to_representation``. A test
# compares the rows with EventSerializer's for events that use every field.
_PLAIN_FIELDS = (
    serializers.CharField,
    serializers.ChoiceField,
    serializers.IntegerField,
    serializers.BooleanField,
)


def _utc(value) -> str | None:
    """A time as DRF's DateTimeField writes it in the API's zone, UTC."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _row_reader(name: str, field: serializers.Field):
    if name == "id":
        return lambda event: str(event.pk)
    if field.source == name and isinstance(field, serializers.DateTimeField):
        return lambda event: _utc(getattr(event, name))
    if field.source == name and isinstance(field, _PLAIN_FIELDS):
        return lambda event: getattr(event, name)
    if field.source == "*":
        return field.to_representation
    if name == "questions":  # none to read where the page's query found none
        return lambda event: (
            []
            if getattr(event, "has_questions", True) is False
            else field.to_representation(event.questions.all())
        )

    def read(event):
        value = field.get_attribute(event)
        return None if value is None else field.to_representation(value)

    return read


_row_readers = [
    (name, _row_reader(name, field)) for name, field in EventSerializer().fields.items()
]


# The columns the rows read: the event's own fields among the list's, and the
# waiting room's. The list's query reads no others (not the search vector,
# the rate history or the counters behind ``available``, which the query
# itself turns into ``available_now``).
_event_columns = {field.name for field in Event._meta.concrete_fields}
PUBLIC_ROW_COLUMNS = [
    *(name for name in PUBLIC_FIELDS if name in _event_columns),
    *(name for name in QUEUE_FIELDS if name not in PUBLIC_FIELDS),
]


def public_event_rows(events) -> list[dict]:
    """The list's rows for everyone but staff: what ``EventSerializer`` makes
    of ``events``, field for field, in its order. An event annotated
    ``has_questions=False`` has no questions to read. Reads no column but
    ``PUBLIC_ROW_COLUMNS`` and the annotations."""
    return [{name: read(event) for name, read in _row_readers} for event in events]


# One instance renders every public event page: a ModelSerializer builds its
# fields anew for each instance it is made for, which costs more than the
# page's query, and reading an event needs nothing from the request.
_public_reader = EventDetailSerializer()


def public_event_json(event_id: uuid.UUID) -> bytes | None:
    """``GET /api/events/{id}/`` as everyone but staff sees it (the rendered
    JSON), or None when the event is not published or does not exist. The
    event's query, then its public ticket types' (``ticket_types_on_offer``)."""
    event = event_published(event_id)
    if event is None:
        return None
    return JSONRenderer().render(_public_reader.to_representation(event))


def public_event_refresh(event_id: uuid.UUID, stale: bytes) -> bytes | None:
    """``stale``, a page of ``public_event_json`` rendered under the current
    catalog version, with what moves without a catalog change (availability
    and what is on sale: ``public_stock``) as it is now: the page that
    ``public_event_json`` would render, for one query and no serializer (a
    test compares the two). None when the event is no longer published or
    its public types are not the page's: a full render decides."""
    stock = public_stock(event_id)
    if stock is None:
        return None
    available, types = stock
    data = json.loads(stale)
    shown = data["ticket_types"]
    if [row["id"] for row in shown] != [str(ticket_type.pk) for ticket_type in types]:
        return None
    data["available"] = available
    for row, ticket_type in zip(shown, types, strict=True):
        row["available"] = ticket_type.available
        row["on_sale"] = ticket_type.on_sale
    return JSONRenderer().render(data)
