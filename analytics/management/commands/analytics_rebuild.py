import datetime as dt
import time
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics import services
from events.models import Event


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Recompute the analytics roll-ups (per event, per day) from the bookings, from "
        "scratch: all of them, one event's (--event), and/or the bookings created in a "
        "range of UTC days (--from/--to, both included). For backfills and repairs; "
        "--dry-run only counts the rows that differ from a recomputation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--event", type=uuid.UUID, help="Only this event (its id).")
        parser.add_argument("--from", dest="day_from", type=_date, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="day_to", type=_date, help="Last day, YYYY-MM-DD.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the stale rows; change nothing."
        )

    def handle(self, *args, event, day_from, day_to, dry_run: bool, **options):
        if day_from and day_to and day_from > day_to:
            raise CommandError("--from must be on or before --to.")
        if event is not None and not Event.objects.filter(pk=event).exists():
            raise CommandError(f"No such event: {event}")
        scope = {"event_id": event, "day_from": day_from, "day_to": day_to}
        if dry_run:
            stale = services.rollups_stale(**scope)
            self.stdout.write(f"Dry run: {len(stale)} roll-up rows differ from the bookings.")
            return
        started = time.perf_counter()
        written = services.rollups_rebuild(**scope)
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {written} roll-up rows in {elapsed:.1f} s."))
