import csv
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events import seating
from events.models import Event, TicketType
from nuvio.errors import NuvioError


class Command(BaseCommand):
    help = (
        "Replace an event's seating plan with the seats of a CSV file, one seat a line: "
        f"{','.join(seating.CSV_COLUMNS)} (ticket_type: the id or the name of one of the "
        "event's ticket types; a first line naming the columns is skipped). Sections and "
        "rows keep the order in which they first appear. All or nothing: any problem is "
        "reported with its line number and nothing is written. Refused once a seat of the "
        "event was ever held. --dry-run only checks the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event_id", type=uuid.UUID, help="The event's id (UUID).")
        parser.add_argument("file", type=Path, help="CSV file (UTF-8).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file; change nothing."
        )

    def handle(self, *args, event_id, file: Path, dry_run: bool, **options):
        try:
            event_id = uuid.UUID(str(event_id))  # call_command passes it unparsed
        except ValueError:
            raise CommandError(f"Not an event id: {event_id!r}.") from None
        event = Event.objects.filter(pk=event_id).first()
        if event is None:
            raise CommandError(f"No event with id {event_id}.")
        types = list(TicketType.objects.filter(event=event))
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                try:
                    sections = seating.seating_from_csv(lines=handle, ticket_types=types)
                    if dry_run:
                        ids = {str(t.pk): t.pk for t in types}
                        count = len(seating.seating_check(sections=sections, ticket_types=ids))
                    else:
                        count = seating.seating_replace(
                            actor=None, event_id=event.pk, sections=sections
                        )
                except NuvioError as error:
                    self._report(error)
                    raise CommandError(f"{error.message} Nothing was written.") from None
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        except csv.Error as error:
            raise CommandError(f"{file} is not valid CSV: {error}") from None
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run: {count} seats would be loaded."))
            return
        self.stdout.write(self.style.SUCCESS(f"{count} seats loaded for {event.name}."))

    def _report(self, error: NuvioError) -> None:
        """Every problem on its own line: ``line 3: x: Must be a number.``"""
        for place, messages in error.details.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.stderr.write(f"{place}: {message}")
