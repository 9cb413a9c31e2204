import uuid
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q, Sum

from bookings.models import ACTIVE_WAITLIST_STATUSES, BookingStatus, Payment, PaymentStatus
from events import services
from events.models import Event, EventStatus
from nuvio.timezones import human

CENT = Decimal("0.01")


class Command(BaseCommand):
    help = (
        "Cancel an event: it is cancelled at once (no new bookings), then a background job "
        "releases every hold, cancels every confirmed booking with a full (100 %) refund, "
        "closes the waiting list and notifies each holder. Asks for confirmation unless "
        "--yes. Running it again on a cancelled event resumes an unfinished job; nobody is "
        "refunded twice. --dry-run only says what would happen."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event_id", type=uuid.UUID, help="The event's id (UUID).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be cancelled; change nothing."
        )

    def handle(self, *args, event_id, yes: bool, dry_run: bool, **options):
        try:
            event_id = uuid.UUID(str(event_id))  # call_command passes it unparsed
        except ValueError:
            raise CommandError(f"Not an event id: {event_id!r}.") from None
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise CommandError(f"No event with id {event_id}.")

        live = event.bookings.aggregate(
            holds=Count("id", filter=Q(status=BookingStatus.HELD)),
            confirmed=Count("id", filter=Q(status=BookingStatus.CONFIRMED)),
        )
        refund_total = Payment.objects.filter(
            booking__event=event,
            booking__status=BookingStatus.CONFIRMED,
            status=PaymentStatus.SUCCEEDED,
        ).aggregate(total=Sum("amount"))["total"]
        waiting = event.waitlist_entries.filter(status__in=ACTIVE_WAITLIST_STATUSES).count()
        state = "already cancelled; resuming" if event.status == EventStatus.CANCELLED else ""
        when = human(event.starts_at, event.timezone)
        self.stdout.write(f"{event.name} ({when}) {state}".strip())
        self.stdout.write(
            f"  {live['holds']} holds to release, {live['confirmed']} confirmed bookings to "
            f"refund in full ({Decimal(refund_total or 0).quantize(CENT)} {event.currency}), "
            f"{waiting} waiting list entries to close."
        )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
            return
        if not yes:
            answer = input("Cancel this event and refund everyone? Type 'yes' to go on: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Not cancelled.")
        services.event_cancel(actor=None, event_id=event.pk)
        self.stdout.write(
            self.style.SUCCESS(
                f"Event {event.pk} is cancelled; the refunds are being made in the background."
            )
        )
