import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from events.models import Event, PromoCode, Seat, TicketType


class BookingStatus(models.TextChoices):
    HELD = "held", "Held"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class BookingQuerySet(models.QuerySet):
    def active_holds(self, now=None):
        """Holds whose time has not run out."""
        return self.filter(status=BookingStatus.HELD, expires_at__gt=now or timezone.now())

    def lapsed_holds(self, now=None):
        """Holds whose time ran out but which no one has released yet."""
        return self.filter(status=BookingStatus.HELD, expires_at__lte=now or timezone.now())


class Booking(models.Model):
    """Tickets for one event, bought by one user: held, then confirmed by
    payment, or cancelled, or expired (a hold not paid in time).

    A ``held`` row whose ``expires_at`` has passed is *lapsed*: every answer
    shows it as ``expired`` and counts its tickets as available, even before a
    worker (or the next reserve on its event) releases it for good.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on the foreign keys: the composite indexes
    # below lead with them, and every index is written by the hold's INSERT
    # while the event's row lock is held.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    event = models.ForeignKey(
        Event, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    quantity = models.PositiveSmallIntegerField()  # the sum of the items' quantities
    # The unit price when the booking has one item, else null.
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)  # before discounts
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total_price = models.DecimalField(max_digits=12, decimal_places=2)  # subtotal - discount
    promo_code = models.ForeignKey(
        PromoCode, on_delete=models.PROTECT, null=True, blank=True, related_name="bookings"
    )
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=BookingStatus.choices)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="booking_quantity_positive"),
            models.CheckConstraint(
                # Rounded: SQLite subtracts decimals as floats.
                condition=Q(discount__gte=0)
                & Q(discount__lte=F("subtotal"))
                & Q(total_price=Round(F("subtotal") - F("discount"), 2)),
                name="booking_total_is_subtotal_less_discount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=BookingStatus.values), name="booking_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=BookingStatus.CONFIRMED) | Q(confirmed_at__isnull=False),
                name="booking_confirmed_has_time",
            ),
        ]
        indexes = [
            # Holds by expiry: the release job.
            models.Index(
                fields=["expires_at"],
                condition=Q(status=BookingStatus.HELD),
                name="booking_held_by_expiry",
            ),
            # The per-user limit: a user's live bookings for an event.
            models.Index(
                fields=["user", "event"],
                condition=Q(status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]),
                name="booking_live_by_user_event",
            ),
            # History: a user's bookings, newest first.
            models.Index(fields=["user", "-created_at"], name="booking_by_user_created"),
            # An event's bookings by status, and its lapsed holds (event, held,
            # expires_at <= now) as one index range: no planner statistics
            # needed to find them without reading every hold of a sold-out event.
            models.Index(
                fields=["event", "status", "expires_at"], name="booking_event_status_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.event.name} for {self.user} ({self.status})"

    def is_lapsed(self, now=None) -> bool:
        return self.status == BookingStatus.HELD and self.expires_at <= (now or timezone.now())

    def effective_status(self, now=None) -> str:
        """The status every answer shows: a lapsed hold is already `expired`."""
        return BookingStatus.EXPIRED if self.is_lapsed(now) else self.status


class BookingItem(models.Model):
    """Tickets of one type in a booking, at the price and discount of the
    moment it was reserved (``discount`` is per ticket)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="items")
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, related_name="booking_items"
    )
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    discount = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    class Meta:
        ordering = ["booking", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="item_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0, discount__gte=0) & Q(discount__lte=F("unit_price")),
                name="item_discount_within_price",
            ),
            models.UniqueConstraint(fields=["booking", "ticket_type"], name="item_type_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.ticket_type_id}"

    @property
    def total(self):
        return self.quantity * (self.unit_price - self.discount)

    def seat_summaries(self) -> list[dict]:
        """The item's seats as ``[{id, label}]`` in the plan's order: those of
        a hold just made (``seat_choices``), else its seat holds (prefetch
        them for a list: ``bookings.selectors.item_seat_holds``; a seat taken
        again after a release counts once); empty on an unseated event."""
        choices = getattr(self, "seat_choices", None)
        if choices is not None:
            return [{"id": str(seat.id), "label": seat.label} for seat in choices]
        if not self.booking.event.seated:
            return []
        seats = {hold.seat_id: hold.seat for hold in self.seat_holds.all()}
        ordered = sorted(seats.values(), key=lambda seat: seat.position)
        return [{"id": str(seat.id), "label": seat.label} for seat in ordered]

    @property
    def seat_labels(self) -> str:
        """The item's seats for people: "Stalls A-1, Stalls A-2"."""
        return ", ".join(seat["label"] for seat in self.seat_summaries())


class PaymentStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    DECLINED = "declined", "Declined"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


class Payment(models.Model):
    """A charge at the gateway for one booking."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    gateway_intent_id = models.CharField(max_length=100, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    card_last4 = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.status} ({self.gateway_intent_id})"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    """Money given back for a payment: on cancellation (by the refund tiers),
    on event cancellation (in full), or when a charge could not be honoured."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    percent = models.PositiveSmallIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=RefundStatus.choices)
    reason = models.CharField(max_length=30)
    gateway_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="refund_percent_range"
            ),
            # One refund per payment: a retry can never refund twice.
            models.UniqueConstraint(fields=["payment"], name="refund_one_per_payment"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.percent}%) {self.status}"


# Ticket codes: 18 characters from 25 symbols without look-alikes (no 0/O,
# 1/I/L, 2/Z, 5/S, 8/B): 25 ** 18 is about 2 ** 83.6, from `secrets`.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 18


class SeatHold(models.Model):
    """A seat taken: by a booking (its hold, then its sale) or, with no
    booking, blocked by staff. It is live until ``released_at`` is set (the
    booking expired or was cancelled, or the seat was unblocked), and the
    database allows one live ``SeatHold`` per seat: a seat belongs to at most
    one live booking whatever the code above does. A hold that lapsed but was
    not released yet still counts as live here; the booking services release
    it under the event's lock before its seat is taken again, and reads show
    its seat as free (``events.seat_map.seat_statuses``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="holds")
    booking = models.ForeignKey(
        "Booking", on_delete=models.CASCADE, null=True, blank=True, related_name="seat_holds"
    )
    item = models.ForeignKey(
        "BookingItem", on_delete=models.CASCADE, null=True, blank=True, related_name="seat_holds"
    )
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["seat"], condition=Q(released_at__isnull=True), name="seat_one_live_hold"
            ),
            models.CheckConstraint(
                condition=Q(booking__isnull=True, item__isnull=True)
                | Q(booking__isnull=False, item__isnull=False),
                name="seat_hold_booking_and_item",
            ),
        ]
        indexes = [models.Index(fields=["booking"], name="seat_hold_by_booking")]

    def __str__(self) -> str:
        return f"{self.seat_id} ({'blocked' if self.booking_id is None else self.booking_id})"


def new_ticket_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# Tickets as people read them: a booking's by seat along the plan (none on an
# unseated event), in the order they were issued.
TICKET_ORDER = ("created_at", "seat__position", "id")


class Ticket(models.Model):
    """One place of a confirmed booking, with an unguessable code for the door.

    Its ``holder`` is the account that may use, show, fill in and hand on
    the ticket: the buyer at first, whoever it was transferred to after
    (``bookings.services.tickets``). The booking, its payment and any refund
    stay the buyer's. ``attendee_name``, ``attendee_email`` and ``answers``
    (question id → value, ``events.Question``) are who comes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="tickets")
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, null=True, related_name="tickets"
    )
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets_held"
    )
    code = models.CharField(max_length=CODE_LENGTH, unique=True, default=new_ticket_code)
    attendee_name = models.CharField(max_length=150, blank=True)
    attendee_email = models.EmailField(max_length=254, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    seat = models.ForeignKey(
        Seat, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.code

    def sent_by(self, user_id) -> str | None:
        """The e-mail address of the account ``user_id`` last sent this ticket
        to, or None (``transfers`` best prefetched with their ``to_user``)."""
        sent = [t for t in self.transfers.all() if t.from_user_id == user_id]
        return sent[-1].to_user.email if sent else None


class TicketTransfer(models.Model):
    """A ticket handed from one account to another: who, to whom, when, and
    the code that stopped working."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="transfers")
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    old_code = models.CharField(max_length=CODE_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.old_code} → {self.to_user_id}"


class IdempotencyRecord(models.Model):
    """The hold an ``Idempotency-Key`` created, per user, written in the same
    transaction as the hold and kept 24 hours: a retry whose answer the cache
    lost replays this hold instead of making a second (``bookings.idempotency``)."""

    # The unique (user, key) index leads with the user: no second index.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    resource_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class ScanResult(models.TextChoices):
    ADMITTED = "admitted", "Admitted"
    ALREADY_CHECKED_IN = "already_checked_in", "Already checked in"
    UNKNOWN = "unknown", "Unknown code"
    BOOKING_CLOSED = "booking_closed", "Booking cancelled"
    WRONG_EVENT = "wrong_event", "Ticket for another event"


class CheckInScan(models.Model):
    """Every scan at the door, whatever its result: who, when, what."""

    code = models.CharField(max_length=64)
    ticket = models.ForeignKey(
        Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="scans"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="scans"
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    result = models.CharField(max_length=20, choices=ScanResult.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["event", "-created_at"], name="scan_by_event"),
            models.Index(fields=["ticket"], name="scan_by_ticket"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.result} at {self.created_at:%Y-%m-%d %H:%M:%S}"


# --- waiting list ------------------------------------------------------------


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OFFERED = "offered", "Offered"  # a hold was made for the entry: pay it to keep it
    FULFILLED = "fulfilled", "Fulfilled"  # the offered hold was paid
    EXPIRED = "expired", "Expired"  # the offered hold ran out
    CANCELLED = "cancelled", "Cancelled"  # left the list, or released the offered hold
    CLOSED = "closed", "Closed"  # the event was cancelled, or the offer would break the limit


ACTIVE_WAITLIST_STATUSES = [WaitlistStatus.WAITING, WaitlistStatus.OFFERED]


class WaitlistEntryQuerySet(models.QuerySet):
    def with_position(self) -> "WaitlistEntryQuerySet":
        """Annotate ``position``: 1 for the first entry still waiting for its
        ticket type (entries are served in order per type), 2 for the next...;
        None for an entry no longer waiting."""
        ahead = (
            WaitlistEntry.objects.filter(
                event=OuterRef("event"),
                ticket_type=OuterRef("ticket_type"),
                status=WaitlistStatus.WAITING,
            )
            .filter(
                Q(created_at__lt=OuterRef("created_at"))
                | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
            )
            .order_by()
            .values("event")
            .annotate(n=Count("id"))
            .values("n")
        )
        return self.annotate(
            position=Case(
                When(
                    status=WaitlistStatus.WAITING,
                    then=Coalesce(Subquery(ahead, output_field=IntegerField()), 0) + Value(1),
                ),
                default=None,
                output_field=IntegerField(),
            )
        )


class WaitlistEntry(models.Model):
    """A user waiting for tickets of a sold-out event.

    Served first come, first served (``bookings.waitlist``): when tickets come
    back the entry gets a ``held`` booking (``offered_booking``) and becomes
    ``offered``. A user has at most one active (waiting or offered) entry per
    event. Rows change only under the event's row lock.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="waitlist_entries")
    ticket_type = models.ForeignKey(
        TicketType, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    quantity = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    created_at = models.DateTimeField(default=timezone.now)
    offered_booking = models.OneToOneField(
        Booking,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="waitlist_entry",
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = WaitlistEntryQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="waitlist_quantity_positive"),
            models.CheckConstraint(
                condition=Q(status__in=WaitlistStatus.values), name="waitlist_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=WaitlistStatus.OFFERED) | Q(offered_booking__isnull=False),
                name="waitlist_offered_has_booking",
            ),
            # One active entry per user and event: joining twice is refused.
            models.UniqueConstraint(
                fields=["user", "event"],
                condition=Q(status__in=ACTIVE_WAITLIST_STATUSES),
                name="waitlist_one_active_per_user_event",
            ),
        ]
        indexes = [
            # Serving in order, and positions: an event's waiting entries by age.
            models.Index(
                fields=["event", "created_at", "id"],
                condition=Q(status=WaitlistStatus.WAITING),
                name="waitlist_waiting_in_order",
            ),
            models.Index(fields=["user", "-created_at"], name="waitlist_by_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.event_id} for {self.user_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_WAITLIST_STATUSES


# --- notifications -----------------------------------------------------------


class NotificationKind(models.TextChoices):
    BOOKING_CONFIRMED = "booking_confirmed", "Booking confirmed"
    HOLD_EXPIRING = "hold_expiring", "Hold about to expire"
    WAITLIST_OFFER = "waitlist_offer", "Waiting list offer"
    BOOKING_CANCELLED = "booking_cancelled", "Booking cancelled"
    EVENT_CANCELLED = "event_cancelled", "Event cancelled"
    TICKET_SENT = "ticket_sent", "Ticket sent"
    TICKET_RECEIVED = "ticket_received", "Ticket received"
    TICKET_VOIDED = "ticket_voided", "Ticket cancelled"


class Notification(models.Model):
    """Something a user should know, shown in the app and sent by e-mail.

    Recorded in the transaction of the fact it tells (``bookings.notifications``);
    ``dedupe_key`` names the fact, so it is never recorded twice, and
    ``emailed_at`` is claimed before sending, so it is never e-mailed twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    message = models.TextField()
    booking = models.ForeignKey(
        Booking, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    dedupe_key = models.CharField(max_length=150, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NotificationKind.values), name="notification_kind_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_by_user"),
            # The header's unread badge: one COUNT on this index.
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
            # E-mails not sent yet (the sweeper task).
            models.Index(
                fields=["created_at"],
                condition=Q(emailed_at__isnull=True),
                name="notification_not_emailed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id} ({self.created_at:%Y-%m-%d %H:%M})"
