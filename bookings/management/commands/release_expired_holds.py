from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Sum
from django.utils import timezone

from bookings import services
from bookings.models import Booking


class Command(BaseCommand):
    help = (
        "Release every lapsed hold (held past its expiry): mark it expired and give its "
        "tickets back to the event. The beat task does this every few seconds; this "
        "command is for running it by hand. --dry-run only counts them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the lapsed holds and their tickets per event; release nothing.",
        )

    def handle(self, *args, dry_run: bool, **options):
        if dry_run:
            self._count(timezone.now())
            return
        freed = services.holds_release_expired()
        self.stdout.write(self.style.SUCCESS(f"Released lapsed holds: {freed} tickets freed."))

    def _count(self, now) -> None:
        per_event = (
            Booking.objects.lapsed_holds(now)
            .order_by()
            .values("event_id", "event__name")
            .annotate(holds=Count("id"), tickets=Sum("quantity"))
            .order_by("event__name", "event_id")
        )
        holds = tickets = 0
        for row in per_event:
            holds += row["holds"]
            tickets += row["tickets"]
            self.stdout.write(
                f"{row['event_id'].hex[:8]}  {row['event__name']}: "
                f"{row['holds']} holds, {row['tickets']} tickets"
            )
        self.stdout.write(
            f"Dry run: {holds} lapsed holds with {tickets} tickets would be released."
        )
