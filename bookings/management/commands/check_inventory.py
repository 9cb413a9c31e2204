import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bookings.inventory import inventory_report
from events.models import Event

NAME_WIDTH = 32
COLUMNS = ("event", "name", "capacity", "taken", "held", "lapsed", "confirmed", "available")


class Command(BaseCommand):
    help = (
        "Check every event's ticket counter against its bookings: tickets_taken equals the "
        "tickets of held (lapsed or not) and confirmed bookings and is within capacity; "
        "capacity equals available + active holds + confirmed; each ticket type's "
        "tickets_taken equals its live items and is within its quota; each promo code's uses "
        "equal the tickets of the live bookings made with it and are within max_uses; each "
        "booking's items add up to its quantity, subtotal and discount; the waiting-list "
        "counters equal the waiting entries; every confirmed booking has its live tickets and "
        "a succeeded payment; no payment is refunded beyond its amount. "
        "Prints the mismatching events (all with --all) and exits non-zero on any mismatch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--event", type=uuid.UUID, metavar="UUID", help="Check only this event."
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="show_all",
            help="Print every event, not only the mismatches.",
        )

    def handle(self, *args, event: uuid.UUID | str | None, show_all: bool, **options):
        event_ids = None
        if event is not None:
            # call_command(event=...) passes the value as given, unparsed.
            try:
                event = uuid.UUID(str(event))
            except ValueError:
                raise CommandError(f"Not an event id: {event!r}.") from None
            if not Event.objects.filter(pk=event).exists():
                raise CommandError(f"No event with id {event}.")
            event_ids = [event]
        rows = inventory_report(event_ids)
        bad = [row for row in rows if row["problems"]]
        shown = rows if show_all else bad
        if shown:
            self._table(shown)
        summary = f"{len(rows)} events checked, {len(bad)} mismatches"
        if bad:
            self.stdout.write(self.style.ERROR(summary))
            raise CommandError(f"Inventory mismatch in {len(bad)} of {len(rows)} events.")
        self.stdout.write(self.style.SUCCESS(summary))

    def _table(self, rows: list[dict]) -> None:
        header = f"{'event':8}  {'name':{NAME_WIDTH}}" + "".join(
            f"  {title:>9}" for title in COLUMNS[2:]
        )
        self.stdout.write(f"{header}  status")
        for row in rows:
            name = row["name"]
            if len(name) > NAME_WIDTH:
                name = name[: NAME_WIDTH - 1] + "…"
            numbers = "".join(f"  {row[key]:>9}" for key in COLUMNS[2:])
            line = f"{row['event_id'].hex[:8]:8}  {name:{NAME_WIDTH}}{numbers}  "
            if row["problems"]:
                self.stdout.write(line + self.style.ERROR("MISMATCH"))
                for problem in row["problems"]:
                    self.stdout.write(f"          - {problem}")
            else:
                self.stdout.write(line + "OK")
