import datetime as dt
import uuid

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from bookings.models import (
    Booking,
    BookingItem,
    BookingStatus,
    Notification,
    PaymentStatus,
    RefundStatus,
    Ticket,
    WaitlistEntry,
    WaitlistStatus,
)
from bookings.services import MAX_ITEMS, MAX_QUANTITY
from bookings.services import tickets as ticket_services
from events.models import Event, TicketType
from nuvio.serializers import PositionalListSerializer


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


class SeatSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    label = serializers.CharField()


class TicketTypeSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketType
        fields = ["id", "name"]


def _type_and_seat(ticket: Ticket) -> dict:
    """A ticket's ``ticket_type`` and ``seat`` summaries (null when it has none)."""
    return {
        "ticket_type": (
            {"id": str(ticket.ticket_type_id), "name": ticket.ticket_type.name}
            if ticket.ticket_type_id
            else None
        ),
        "seat": {"id": str(ticket.seat_id), "label": ticket.seat.label} if ticket.seat_id else None,
    }


class TicketSerializer(serializers.Serializer):
    """A ticket. Its holder and staff see all of it. The booking's owner
    sees a ticket they transferred to someone else without its code and
    without the new holder's attendee details (null), with
    `transferred_to` naming the account they sent it to: the code is the
    new holder's alone."""

    # Context: ``viewer_id``, the user looking (left out for staff, who see
    # everything); ``questions``, ``{event id: [Question]}`` for the
    # tickets' events (an event missing there is read once).

    id = serializers.UUIDField(read_only=True)
    code = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="What the door scans. Null for the booking's owner once the ticket was "
        "transferred to someone else (see transferred_to).",
    )
    event = serializers.UUIDField(read_only=True, help_text="The event's id.")
    ticket_type = TicketTypeSummarySerializer(read_only=True, allow_null=True)
    seat = SeatSummarySerializer(
        read_only=True, allow_null=True, help_text="The ticket's seat; null on unseated events."
    )
    attendee_name = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Who comes (the buyer's name at first). Null when transferred away.",
    )
    attendee_email = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The attendee's e-mail address, or empty. Null when transferred away.",
    )
    answers = serializers.DictField(
        read_only=True,
        allow_null=True,
        help_text="The answers to the event's questions: question id -> text, or true/false "
        "for a boolean question. Null when transferred away.",
    )
    complete = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="True when the attendee is named and every required question is answered; "
        "check-in admits an incomplete ticket all the same. Null when transferred away.",
    )
    transferred_to = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="For the booking's owner: the e-mail address of the account they transferred "
        "this ticket to; null while they hold it (and for its holder).",
    )
    checked_in_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def _questions(self, event_id) -> list:
        known = self.context.setdefault("questions", {})
        if event_id not in known:
            known[event_id] = ticket_services.event_questions(event_id)
        return known[event_id]

    def to_representation(self, ticket: Ticket) -> dict:
        viewer_id = self.context.get("viewer_id")
        event_id = ticket.booking.event_id
        data = {
            "id": str(ticket.id),
            "code": ticket.code,
            "event": str(event_id),
            **_type_and_seat(ticket),
            "attendee_name": None,
            "attendee_email": None,
            "answers": None,
            "complete": None,
            "transferred_to": None,
            "checked_in_at": _iso(ticket.checked_in_at),
        }
        if viewer_id is not None and ticket.holder_id != viewer_id:
            data["code"] = None
            data["transferred_to"] = ticket.sent_by(viewer_id)
            return data
        questions = self._questions(event_id)
        data["attendee_name"] = ticket.attendee_name
        data["attendee_email"] = ticket.attendee_email
        data["answers"] = ticket_services.answers_shown(questions, ticket.answers)
        data["complete"] = ticket_services.ticket_complete(ticket, questions)
        return data


class TicketAttendeeSerializer(serializers.Serializer):
    """``PATCH /api/tickets/{id}/``: who comes. Fields left out keep their
    values; in ``answers`` a blank or null answer removes it and questions
    left out keep theirs."""

    attendee_name = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=150
    )
    attendee_email = serializers.EmailField(
        required=False, allow_blank=True, allow_null=True, max_length=254
    )
    answers = serializers.DictField(
        required=False,
        help_text="Question id -> answer: text for a text question, one of the options for a "
        "choice question, true or false for a boolean one. A wrong kind, an unknown option "
        "or an unknown question is 400 invalid (details answers.{question id}).",
    )


class TicketTransferSerializer(serializers.Serializer):
    email = serializers.EmailField(
        max_length=254, help_text="The e-mail address of the Nuvio account to give it to."
    )


class TicketTransferredSerializer(serializers.Serializer):
    """What the sender is told: the ticket is no longer theirs, so not its
    new code."""

    ticket = serializers.UUIDField(help_text="The ticket's id.")
    to = serializers.EmailField(help_text="The account it went to.")
    transferred_at = serializers.DateTimeField()


class AttendeeSerializer(serializers.Serializer):
    """A ticket of a confirmed booking of the event, as staff list it."""

    # Context: ``questions``, the event's.

    id = serializers.UUIDField(help_text="The ticket's id.")
    code = serializers.CharField()
    booking = serializers.UUIDField()
    ticket_type = TicketTypeSummarySerializer(allow_null=True)
    seat = SeatSummarySerializer(allow_null=True)
    attendee_name = serializers.CharField()
    attendee_email = serializers.CharField()
    answers = serializers.DictField(help_text="Question id -> answer (text, or true/false).")
    complete = serializers.BooleanField()
    missing_answers = serializers.ListField(
        child=serializers.CharField(),
        help_text="The labels of the required questions left unanswered.",
    )
    holder_email = serializers.CharField(help_text="The account that holds the ticket.")
    buyer_email = serializers.CharField(help_text="The account that bought it.")
    checked_in_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, ticket: Ticket) -> dict:
        questions = self.context["questions"]
        return {
            "id": str(ticket.id),
            "code": ticket.code,
            "booking": str(ticket.booking_id),
            **_type_and_seat(ticket),
            "attendee_name": ticket.attendee_name,
            "attendee_email": ticket.attendee_email,
            "answers": ticket_services.answers_shown(questions, ticket.answers),
            "complete": ticket_services.ticket_complete(ticket, questions),
            "missing_answers": [
                q.label for q in ticket_services.missing_answers(questions, ticket.answers)
            ],
            "holder_email": ticket.holder.email,
            "buyer_email": ticket.booking.user.email,
            "checked_in_at": _iso(ticket.checked_in_at),
        }


class BookingItemSerializer(serializers.ModelSerializer):
    """Tickets of one type in a booking, at the price of the moment it was made."""

    ticket_type = TicketTypeSummarySerializer(read_only=True)
    discount = serializers.DecimalField(
        max_digits=10, decimal_places=2, read_only=True, help_text="Per ticket."
    )
    total = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="quantity * (unit_price - discount).",
    )
    seats = serializers.SerializerMethodField()

    class Meta:
        model = BookingItem
        fields = ["ticket_type", "quantity", "unit_price", "discount", "total", "seats"]
        read_only_fields = fields

    @extend_schema_field(SeatSummarySerializer(many=True))
    def get_seats(self, item: BookingItem) -> list:
        return item.seat_summaries()


class BookingSerializer(serializers.ModelSerializer):
    """A booking as its owner sees it. A hold whose time ran out is shown as
    ``expired`` at once, whether or not it has been released yet. Querysets
    load ``event`` and ``promo_code`` with it and prefetch ``refunds`` and
    ``items`` (``selectors.booking_items``) so that a list costs the same whatever its
    length."""

    event = EventSummarySerializer(read_only=True)
    items = BookingItemSerializer(many=True, read_only=True)
    unit_price = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="The unit price when the booking has one item, else null.",
    )
    subtotal = serializers.DecimalField(
        max_digits=12, decimal_places=2, read_only=True, help_text="Before discounts."
    )
    discount = serializers.DecimalField(
        max_digits=12, decimal_places=2, read_only=True, help_text="The sum of the discounts."
    )
    total_price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        read_only=True,
        help_text="subtotal - discount: what is charged.",
    )
    promo_code = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True, help_text="The code used, or null."
    )
    status = serializers.SerializerMethodField()
    refund = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "id",
            "event",
            "quantity",
            "items",
            "unit_price",
            "subtotal",
            "discount",
            "total_price",
            "promo_code",
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
            "items": [
                {
                    "ticket_type": {"id": str(item.ticket_type.id), "name": item.ticket_type.name},
                    "quantity": item.quantity,
                    "unit_price": _money(item.unit_price),
                    "discount": _money(item.discount),
                    "total": _money(item.total),
                    "seats": item.seat_summaries(),
                }
                for item in booking.items.all()
            ],
            "unit_price": _money(booking.unit_price),
            "subtotal": _money(booking.subtotal),
            "discount": _money(booking.discount),
            "total_price": _money(booking.total_price),
            "promo_code": booking.promo_code.code if booking.promo_code_id else None,
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


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


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
        valid = [t for t in booking.tickets.all() if t.voided_at is None]
        # As its owner sees them: not the codes of tickets handed to others.
        return TicketSerializer(valid, many=True, context={"viewer_id": booking.user_id}).data

    def to_representation(self, booking: Booking) -> dict:
        return {
            **super().to_representation(booking),
            "payment": self.get_payment(booking),
            "tickets": self.get_tickets(booking),
        }


class ReserveItemSerializer(serializers.Serializer):
    ticket_type = serializers.UUIDField(help_text="A ticket type of the event.")
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_QUANTITY, help_text="At most the type's max_per_booking."
    )

    class Meta:
        list_serializer_class = PositionalListSerializer


class ReserveSerializer(serializers.Serializer):
    """``{event, quantity}`` (the event's only public type on sale),
    ``{event, items, promo_code?}`` or, on a seated event, ``{event, seats,
    promo_code?}``: exactly one of ``quantity``, ``items`` and ``seats``.
    The rules that need the event (its types, their windows, the code) are
    the service's."""

    event = serializers.UUIDField()
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        required=False,
        help_text="Tickets of the event's only public type on sale; or give items.",
    )
    items = ReserveItemSerializer(
        many=True,
        required=False,
        allow_empty=False,
        max_length=MAX_ITEMS,
        help_text=f"1 to {MAX_ITEMS} distinct ticket types of the event; or give quantity.",
    )
    seats = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        max_length=MAX_QUANTITY,
        help_text="On a seated event: these seats (each sold at its ticket type's price); "
        "or give quantity or items for the best available seats.",
    )
    promo_code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="A promo code of the event (any case).",
    )

    def run_validation(self, data=empty):
        # The usual body, {"event": "<uuid>", "quantity": n} with n in range,
        # is checked here as the fields would check it, giving the same
        # values: DRF builds a serializer's fields afresh for every instance
        # (deep copies, with their validators), 0.4-0.5 ms of CPU in a
        # reserve (0.11 ms in a tight loop) against 0.01 ms for this. Any
        # other body, and so every error, goes through the fields; a test
        # keeps the two paths equal.
        if type(data) is dict and data.keys() == {"event", "quantity"}:
            event, quantity = data["event"], data["quantity"]
            if type(event) is str and type(quantity) is int and 1 <= quantity <= MAX_QUANTITY:
                try:
                    event = uuid.UUID(hex=event)
                except ValueError:
                    pass  # the field's error
                else:
                    return self.validate({"event": event, "quantity": quantity})
        return super().run_validation(data)

    def validate(self, attrs):
        if "seats" in attrs:
            if "quantity" in attrs or "items" in attrs:
                raise serializers.ValidationError(
                    {"seats": ["Give either seats, items or quantity."]}
                )
            if len(set(attrs["seats"])) != len(attrs["seats"]):
                raise serializers.ValidationError({"seats": ["Give each seat once."]})
            return attrs
        if "quantity" in attrs and "items" in attrs:
            raise serializers.ValidationError(
                {"items": ["Give either quantity or items, not both."]}
            )
        if "quantity" not in attrs and "items" not in attrs:
            raise serializers.ValidationError(
                {"quantity": ["This field is required (or give items or seats)."]}
            )
        items, seen, errors = attrs.get("items") or [], set(), []
        for item in items:
            twice = item["ticket_type"] in seen
            seen.add(item["ticket_type"])
            errors.append(
                {"ticket_type": ["Listed twice: give each ticket type once."]} if twice else {}
            )
        if any(errors):  # as the service says it: a list as long as the items
            raise serializers.ValidationError({"items": errors})
        return attrs

    def service_arguments(self) -> dict:
        """The validated body as ``booking_reserve``/``booking_quote`` take it."""
        data = self.validated_data
        items = data.get("items")
        return {
            "event_id": data["event"],
            "quantity": data.get("quantity"),
            "items": None if items is None else [dict(item) for item in items],
            "promo_code": data.get("promo_code") or None,
            "seats": data.get("seats"),
        }


class QuoteSerializer(serializers.Serializer):
    """What a reserve body would cost now (``booking_quote``)."""

    items = BookingItemSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    total_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()


class PaySerializer(serializers.Serializer):
    card_number = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Needed unless the booking is free (total_price 0).",
    )


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
    ticket_type = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The sold-out type to wait for; required when the event has several.",
    )


class WaitlistEntrySerializer(serializers.ModelSerializer):
    """An entry of a waiting list, as its owner sees it."""

    event = serializers.PrimaryKeyRelatedField(read_only=True)
    ticket_type = serializers.PrimaryKeyRelatedField(read_only=True)
    position = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="1 for the next entry served; null once the entry no longer waits.",
    )
    status = serializers.ChoiceField(choices=WaitlistStatus.choices, read_only=True)

    class Meta:
        model = WaitlistEntry
        fields = ["id", "event", "ticket_type", "quantity", "position", "status"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    booking = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    event = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "booking", "event", "created_at", "read_at"]
        read_only_fields = fields
