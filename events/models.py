import uuid

from django.apps import apps
from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Case, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Upper
from django.utils import timezone


class Category(models.TextChoices):
    MUSIC = "music", "Music"
    CONFERENCE = "conference", "Conference"
    WORKSHOP = "workshop", "Workshop"
    SPORTS = "sports", "Sports"
    THEATRE = "theatre", "Theatre"
    COMEDY = "comedy", "Comedy"
    FESTIVAL = "festival", "Festival"
    EXHIBITION = "exhibition", "Exhibition"
    OTHER = "other", "Other"


class EventStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    CANCELLED = "cancelled", "Cancelled"


def default_currency() -> str:
    return settings.NUVIO_CURRENCY


def default_timezone() -> str:
    return settings.NUVIO_TIME_ZONE


class EventQuerySet(models.QuerySet):
    def visible_to(self, user) -> "EventQuerySet":
        """Staff see every event; everyone else only published ones."""
        if user is not None and user.is_staff:
            return self
        return self.filter(status=EventStatus.PUBLISHED)

    def with_available(self, now=None) -> "EventQuerySet":
        """Annotate ``available_now``: tickets a buyer could take at this instant.

        That is the free capacity plus the tickets of holds whose time ran out
        but which no one has released yet: they are available at once, worker
        or not (the subquery reads a partial index of held bookings). While
        anyone waits on the waiting list it is 0: freed tickets go to them.
        """
        booking_model = apps.get_model("bookings", "Booking")
        lapsed = (
            booking_model.objects.filter(
                event=OuterRef("pk"), status="held", expires_at__lte=now or timezone.now()
            )
            .order_by()
            .values("event")
            .annotate(n=Sum("quantity"))
            .values("n")
        )
        free = F("capacity") - F("tickets_taken") + Coalesce(Subquery(lapsed), 0)
        # While people wait on the list, freed tickets are theirs: none for new buyers.
        return self.annotate(
            available_now=Case(When(waitlist_waiting__gt=0, then=Value(0)), default=free)
        )


class Event(models.Model):
    """Something people buy tickets for.

    ``tickets_taken`` counts the tickets of held and confirmed bookings; it only
    moves inside booking services that hold this row's lock, and the database
    refuses it above ``capacity``. What a client sees as ``available`` is
    ``capacity - tickets_taken`` plus any holds whose time ran out but which
    no one has released yet (see ``EventQuerySet.with_available``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    venue_name = models.CharField(max_length=200)
    venue_address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    # Where the event happens, as an IANA zone: its times are stored and
    # served in UTC and shown to people in this zone (``nuvio.timezones``).
    timezone = models.CharField(max_length=64, default=default_timezone)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    tickets_taken = models.PositiveIntegerField(default=0, editable=False)
    # Entries of the waiting list still waiting (bookings.WaitlistEntry), moved
    # only by the waiting-list services under this row's lock. While it is above
    # 0 the reserve fast path finds no room: tickets that come back go to the
    # waiting list first, never to a new buyer.
    waitlist_waiting = models.PositiveIntegerField(default=0, editable=False)
    # True once the event has a seating plan (``Seat`` rows): its capacity then
    # follows its seats that are not blocked, and every ticket has a seat.
    seated = models.BooleanField(default=False, editable=False)
    # The waiting room (API.md "Waiting room"): while ``queue_enabled``, a
    # reserve needs a live admission. Places live in Redis (events.queue);
    # who is admitted follows from the clock: at time t the first
    # admitted_by(t) places, ``queue_admit_per_minute`` a minute from
    # ``queue_opens_at``. ``queue_rate_changes`` keeps the rate's history
    # ``[[at, admitted by then, new rate], ...]`` so that a new rate takes
    # over from the places already admitted, never re-admitting or skipping.
    queue_enabled = models.BooleanField(default=False)
    queue_opens_at = models.DateTimeField(null=True, blank=True)
    queue_admit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    queue_pass_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    queue_rate_changes = models.JSONField(default=list, blank=True, editable=False)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default=default_currency)
    status = models.CharField(max_length=10, choices=EventStatus.choices, default=EventStatus.DRAFT)
    booking_enabled = models.BooleanField(default=True)
    max_tickets_per_user = models.PositiveSmallIntegerField(default=4)
    # Whether a ticket's holder may hand it to another account.
    transfers_enabled = models.BooleanField(default=True)
    refund_tiers = models.CharField(
        max_length=100,
        blank=True,
        help_text="Overrides NUVIO_REFUND_TIERS for this event, e.g. '14:100,3:25,0:0'.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Kept up to date by a PostgreSQL trigger (migration 0002); null on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__gte=1, capacity__lte=1_000_000),
                name="event_capacity_range",
            ),
            models.CheckConstraint(
                condition=Q(tickets_taken__lte=F("capacity")),
                name="event_tickets_taken_within_capacity",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="event_price_not_negative"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(max_tickets_per_user__gte=1, max_tickets_per_user__lte=100),
                name="event_max_tickets_per_user_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(queue_enabled=False)
                | Q(
                    queue_opens_at__isnull=False,
                    queue_admit_per_minute__gte=1,
                    queue_admit_per_minute__lte=100_000,
                    queue_pass_minutes__gte=1,
                    queue_pass_minutes__lte=120,
                ),
                name="event_queue_complete",
            ),
        ]
        indexes = [
            # Every browse path starts with the status and sorts or bounds by start.
            models.Index(fields=["status", "starts_at"], name="event_status_starts"),
            models.Index(fields=["status", "city", "starts_at"], name="event_status_city"),
            models.Index(fields=["status", "category", "starts_at"], name="event_status_category"),
            models.Index(fields=["status", "price"], name="event_status_price"),
            models.Index(fields=["status", "name"], name="event_status_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_at:%Y-%m-%d})"

    @property
    def available(self) -> int:
        """Tickets left; an annotated value (``with_available``) wins when present."""
        annotated = self.__dict__.get("available_now")
        if annotated is not None:
            return annotated
        return self.capacity - self.tickets_taken

    @property
    def is_published(self) -> bool:
        return self.status == EventStatus.PUBLISHED

    def booking_closed_reason(self, now=None) -> str | None:
        """Why no one can book this event now, in plain words; None if they can."""
        if self.status == EventStatus.CANCELLED:
            return "This event was cancelled."
        if self.status != EventStatus.PUBLISHED:
            return "This event is not on sale."
        if self.starts_at <= (now or timezone.now()):
            return "This event has already started, so booking is closed."
        if not self.booking_enabled:
            return "Booking is closed for this event."
        return None


class TicketType(models.Model):
    """A tier of an event's tickets ("Early bird", "VIP") with its own price and,
    optionally, its own quota inside the event's capacity.

    ``tickets_taken`` counts the tickets of held and confirmed bookings of this
    type and ``waitlist_waiting`` the waiting-list entries for it; like the
    event's counters they move only inside booking services that hold the
    event's row lock, and the database refuses ``tickets_taken`` above ``quota``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="ticket_types")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: limited only by the event's capacity."
    )
    tickets_taken = models.PositiveIntegerField(default=0, editable=False)
    waitlist_waiting = models.PositiveIntegerField(default=0, editable=False)
    sale_starts_at = models.DateTimeField(null=True, blank=True)
    sale_ends_at = models.DateTimeField(null=True, blank=True)
    max_per_booking = models.PositiveSmallIntegerField(null=True, blank=True)
    hidden = models.BooleanField(
        default=False, help_text="Shown and sold only with a promo code that unlocks it."
    )
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "price", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "name"], name="ticket_type_name_per_event"),
            models.CheckConstraint(
                condition=Q(price__gte=0), name="ticket_type_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(quota__isnull=True) | Q(quota__gte=1, tickets_taken__lte=F("quota")),
                name="ticket_type_taken_within_quota",
            ),
            models.CheckConstraint(
                condition=Q(sale_starts_at__isnull=True)
                | Q(sale_ends_at__isnull=True)
                | Q(sale_ends_at__gt=F("sale_starts_at")),
                name="ticket_type_sale_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(max_per_booking__isnull=True)
                | Q(max_per_booking__gte=1, max_per_booking__lte=100),
                name="ticket_type_max_per_booking_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.price})"

    def quota_left(self) -> int | None:
        """Tickets left in this type's own quota; None when it has none."""
        return None if self.quota is None else self.quota - self.tickets_taken

    def sale_closed_reason(self, now=None) -> str | None:
        """Why this type is not on sale by its own window, in plain words."""
        now = now or timezone.now()
        if self.sale_starts_at and now < self.sale_starts_at:
            return f"{self.name} is not on sale yet."
        if self.sale_ends_at and now >= self.sale_ends_at:
            return f"The sale of {self.name} has ended."
        return None


class PromoCode(models.Model):
    """A code of one event: a discount per ticket on the types it applies to
    (all of them when ``ticket_types`` is empty), and/or hidden types it
    unlocks. ``uses`` counts the tickets of held and confirmed bookings that
    used it; it moves only under the event's row lock, and the database refuses
    it above ``max_uses``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="promo_codes")
    code = models.CharField(max_length=40)
    discount_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    discount_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    ticket_types = models.ManyToManyField(TicketType, blank=True, related_name="discounting_codes")
    unlocks = models.ManyToManyField(TicketType, blank=True, related_name="unlocking_codes")
    max_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0, editable=False)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code", "id"]
        constraints = [
            models.UniqueConstraint(Upper("code"), "event", name="promo_code_unique_per_event"),
            models.CheckConstraint(
                condition=(Q(discount_percent__isnull=True) & Q(discount_amount__isnull=False))
                | (Q(discount_percent__isnull=False) & Q(discount_amount__isnull=True)),
                name="promo_code_one_discount",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True) | Q(discount_percent__lte=100),
                name="promo_code_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__isnull=True) | Q(discount_amount__gte=0),
                name="promo_code_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=F("max_uses")),
                name="promo_code_uses_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def closed_reason(self, now=None) -> str | None:
        """``inactive``, ``not_started``, ``expired`` or ``used_up`` (API.md's
        ``promo_invalid`` reasons), or None while the code can be used."""
        now = now or timezone.now()
        if not self.active:
            return "inactive"
        if self.valid_from and now < self.valid_from:
            return "not_started"
        if self.valid_until and now >= self.valid_until:
            return "expired"
        if self.max_uses is not None and self.uses >= self.max_uses:
            return "used_up"
        return None


class Seat(models.Model):
    """One seat of an event's seating plan, sold at its ticket type's price.

    A plan is sections of rows of seats, kept flat: ``position`` numbers every
    seat in the plan's order (sections as listed, rows front to back, seats in
    their order within the row), which is also the "best available" ranking,
    and ``row_index`` numbers the rows, so that two seats side by side are
    consecutive positions of one row. Who has a seat is not here: a seat is
    held, sold or blocked by a live ``bookings.SeatHold``, and the database
    allows at most one of those per seat.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="seats")
    section = models.CharField(max_length=100)
    row = models.CharField(max_length=20)
    number = models.CharField(max_length=20)
    label = models.CharField(max_length=150)  # "{section} {row}-{number}"
    x = models.FloatField()
    y = models.FloatField()
    ticket_type = models.ForeignKey(TicketType, on_delete=models.PROTECT, related_name="seats")
    row_index = models.PositiveIntegerField()
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["event", "position"]
        constraints = [
            models.UniqueConstraint(fields=["event", "position"], name="seat_position_per_event"),
            models.UniqueConstraint(fields=["event", "label"], name="seat_label_per_event"),
        ]
        indexes = [models.Index(fields=["ticket_type"], name="seat_by_ticket_type")]

    def __str__(self) -> str:
        return self.label

    @staticmethod
    def label_for(section: str, row: str, number: str) -> str:
        return f"{section} {row}-{number}"


class QuestionKind(models.TextChoices):
    TEXT = "text", "Text"
    CHOICE = "choice", "Choice"
    BOOLEAN = "boolean", "Yes/no"


class Question(models.Model):
    """Something an event asks of each attendee (diet, T-shirt size, company).

    Answers live on the ticket (``bookings.Ticket.answers``), keyed by this
    question's id; a ticket missing the answer to a ``required`` question is
    incomplete, which check-in shows but does not refuse.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="questions")
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=QuestionKind.choices, default=QuestionKind.TEXT)
    required = models.BooleanField(default=False)
    # The options of a ``choice`` question, in the order shown; empty otherwise.
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["event", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=QuestionKind.values), name="question_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.label
