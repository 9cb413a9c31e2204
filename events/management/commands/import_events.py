import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from events import services
from events.api.serializers import PUBLIC_FIELDS, EventSerializer
from events.models import EventStatus
from nuvio.errors import NuvioError
from nuvio.timezones import is_known_zone

# The event's IANA time zone: checked here, whether or not the serializer has it.
ZONE = "timezone"
# The API's writable fields, in the API's order, and the zone before the times.
COLUMNS = [field for field in PUBLIC_FIELDS if field in services.EDITABLE_FIELDS and field != ZONE]
COLUMNS.insert(COLUMNS.index("starts_at"), ZONE)

# (line number of the row's first line, cells by column, more cells than columns)
Row = tuple[int, dict[str, str], bool]


class Command(BaseCommand):
    help = (
        "Import events from a CSV file whose header row names event fields "
        f"({', '.join(COLUMNS)}). Dates are ISO 8601 with their offset, e.g. "
        "2027-03-14T19:00:00+05:30 (one without is UTC). timezone is the event's IANA zone, "
        "e.g. Asia/Kolkata (default NUVIO_TIME_ZONE): pages show its times in that zone. "
        "Every row is checked with the API's rules first; if any row is invalid nothing "
        "is imported unless --skip-invalid is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file (UTF-8) with a header row.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and skip the invalid ones instead of importing nothing.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report, but write nothing."
        )
        parser.add_argument(
            "--created-by",
            metavar="EMAIL",
            help="E-mail of the staff member recorded as the events' creator (default: none).",
        )

    def handle(self, *args, file: Path, skip_invalid: bool, dry_run: bool, **options):
        actor = self._staff_user(options["created_by"])
        rows = self._read(file)
        now = timezone.now()

        valid: list[tuple[int, dict[str, Any]]] = []
        invalid = 0
        for line, cells, too_long in rows:
            if too_long:
                data, errors = {}, {"row": ["More cells than there are columns."]}
            else:
                data, errors = self._validate(cells, now)
            if errors:
                invalid += 1
                for field, messages in errors.items():
                    for message in messages:
                        self.stderr.write(f"line {line}: {field}: {message}")
            else:
                valid.append((line, data))

        if invalid and not skip_invalid:
            raise CommandError(
                f"{invalid} of {len(rows)} rows are invalid; nothing was imported. "
                "Fix them, or pass --skip-invalid to import the valid rows."
            )
        if invalid:
            self.stdout.write(self.style.WARNING(f"Skipped {invalid} invalid rows."))
        if dry_run:
            self.stdout.write(
                self.style.SUCCESS(f"Dry run: {len(valid)} events would be imported.")
            )
            return

        with transaction.atomic():
            for line, data in valid:
                try:
                    services.event_create(actor=actor, data=data, now=now)
                except NuvioError as error:
                    # Validation above mirrors the service, so this means a rule
                    # changed: stop, and the transaction rolls every row back.
                    raise CommandError(
                        f"line {line}: {error.message} {error.details}; nothing was imported."
                    ) from error
        self.stdout.write(self.style.SUCCESS(f"Imported {len(valid)} events."))

    def _staff_user(self, email: str | None) -> User | None:
        if email is None:
            return None
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        if not (user.is_staff and user.is_active):
            raise CommandError(f"{email} is not an active staff member.")
        return user

    def _read(self, file: Path) -> list[Row]:
        """The data rows with their line numbers (the header is line 1).

        Blank rows are skipped; a row whose cells span several lines (a quoted
        description with line breaks) is numbered by its first line.
        """
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                header = [name.strip() for name in next(reader, [])]
                if not any(header):
                    raise CommandError(f"{file} is empty: expected a header row.")
                self._check_header(header)
                rows: list[Row] = []
                last_line = reader.line_num
                for cells in reader:
                    line, last_line = last_line + 1, reader.line_num
                    if not any(cell.strip() for cell in cells):
                        continue
                    too_long = len(cells) > len(header)
                    rows.append((line, dict(zip(header, cells, strict=False)), too_long))
        except FileNotFoundError as error:
            raise CommandError(f"No such file: {file}") from error
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except csv.Error as error:
            raise CommandError(f"{file} is not valid CSV: {error}") from error
        return rows

    def _check_header(self, header: list[str]) -> None:
        unknown = [name for name in header if name not in COLUMNS]
        if unknown:
            raise CommandError(
                f"Unknown columns: {', '.join(repr(name) for name in unknown)}. "
                f"Known columns: {', '.join(COLUMNS)}."
            )
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise CommandError(f"Columns named more than once: {', '.join(repeated)}.")

    def _validate(self, cells: dict[str, str], now) -> tuple[dict[str, Any], dict[str, list]]:
        """The row as ``event_create`` data, or the errors by field.

        Empty cells are left out so the defaults apply (and a required field
        reads as missing). The API's rules come from ``EventSerializer``; the
        ones it leaves to ``event_create`` are checked here, so that either
        every row is known good before anything is written or none is written.
        """
        row = {name: value.strip() for name, value in cells.items() if value and value.strip()}
        zone = row.pop(ZONE, None)
        errors: dict[str, list] = {}
        if zone is not None and not is_known_zone(zone):
            errors[ZONE] = [f"Unknown time zone {zone!r}: use an IANA name such as Asia/Kolkata."]
        serializer = EventSerializer(data=row)
        if not serializer.is_valid():
            serializer_errors = {f: list(map(str, errs)) for f, errs in serializer.errors.items()}
            return {}, {**serializer_errors, **errors}
        data = dict(serializer.validated_data)
        if zone is not None:
            data[ZONE] = zone
        if data["starts_at"] <= now:
            errors["starts_at"] = ["Must be in the future."]
        if data.get("status") == EventStatus.CANCELLED:
            errors["status"] = ["A new event cannot be cancelled; choose draft or published."]
        return data, errors
