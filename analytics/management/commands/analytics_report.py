import csv
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from analytics import selectors
from analytics.api.serializers import (
    PromoCodeFiguresSerializer,
    SummarySerializer,
    TicketTypeFiguresSerializer,
)
from analytics.forms import parse_filters
from events.models import Category
from nuvio.errors import NuvioError

FORMATS = ["table", "csv", "json"]


class Command(BaseCommand):
    help = (
        "Print the analytics figures of the bookings created from --from to --to (UTC "
        "dates, both included), for all events, one --category or one --event: the same "
        "figures as GET /api/analytics/summary/. With --event, also the event's sales per "
        "ticket type and per promo code, as GET /api/analytics/events/{id}/ gives them. "
        "--format table (for people), csv (sections: figures, top events, daily, then with "
        "--event ticket types and promo codes, each with its header, separated by an empty "
        "line) or json (exactly the summary API's answer; with --event plus the event API's "
        "ticket_types and promo_codes)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="to", required=True, help="YYYY-MM-DD")
        parser.add_argument("--event", help="An event id (UUID).")
        parser.add_argument("--category", choices=Category.values)
        parser.add_argument("--format", choices=FORMATS, default="table")

    def handle(self, *args, **options):
        query = {name: options.get(name) for name in ("from", "to", "category", "event")}
        try:
            filters = parse_filters({k: v for k, v in query.items() if v})
            now = timezone.now()
            summary = selectors.analytics_summary(filters=filters, now=now)
            # One event: its sales per type and code, from the event API's selector.
            event = (
                selectors.analytics_event(
                    event_id=filters.event_id,
                    day_from=filters.day_from,
                    day_to=filters.day_to,
                    now=now,
                )
                if filters.event_id
                else None
            )
        except NuvioError as exc:
            problems = "; ".join(
                f"--{name}: {' '.join(messages)}" for name, messages in exc.details.items()
            )
            raise CommandError(problems or exc.message) from None
        data = SummarySerializer(summary).data
        if event is not None:
            data["ticket_types"] = TicketTypeFiguresSerializer(
                event["ticket_types"], many=True
            ).data
            data["promo_codes"] = PromoCodeFiguresSerializer(event["promo_codes"], many=True).data
        getattr(self, f"_write_{options['format']}")(data, filters)
        if event is not None and options["format"] != "json":
            getattr(self, f"_write_{options['format']}_sales")(event)

    # --- formats -------------------------------------------------------------------

    def _figures(self, data) -> list[tuple[str, object]]:
        counts = data["bookings"]
        return [
            ("bookings", counts["total"]),
            ("held", counts["held"]),
            ("confirmed", counts["confirmed"]),
            ("cancelled", counts["cancelled"]),
            ("expired", counts["expired"]),
            ("tickets_sold", data["tickets_sold"]),
            ("revenue", data["revenue"]),
            ("refunded", data["refunded"]),
            ("net_revenue", data["net_revenue"]),
            ("cancellation_rate", data["cancellation_rate"]),
            ("utilization", data["utilization"]),
            ("currency", data["currency"]),
        ]

    def _write_json(self, data, filters) -> None:
        self.stdout.write(json.dumps(data, cls=JSONEncoder, indent=2))

    def _write_csv(self, data, filters) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["figure", "value"])
        writer.writerows(self._figures(data))
        writer.writerow([])
        writer.writerow(["event_id", "name", "tickets_sold", "capacity", "utilization", "revenue"])
        for event in data["top_events"]:
            writer.writerow(
                [
                    event["id"],
                    event["name"],
                    event["tickets_sold"],
                    event["capacity"],
                    event["utilization"],
                    event["revenue"],
                ]
            )
        writer.writerow([])
        writer.writerow(["date", "bookings", "tickets", "revenue", "cancellations"])
        for day in data["daily"]:
            writer.writerow(
                [day["date"], day["bookings"], day["tickets"], day["revenue"], day["cancellations"]]
            )

    def _write_table(self, data, filters) -> None:
        write = self.stdout.write
        scope = filters.category or (f"event {filters.event_id}" if filters.event_id else "all")
        heading = f"Bookings created {filters.day_from} to {filters.day_to}"
        write(self.style.MIGRATE_HEADING(heading))
        write(f"Scope: {scope}\n")
        width = max(len(name) for name, _ in self._figures(data))
        for name, value in self._figures(data):
            if name in ("cancellation_rate", "utilization"):
                value = f"{value:.4f} ({value * 100:.1f} %)"
            write(f"  {name.ljust(width)}  {value}")
        write("")
        write(self.style.MIGRATE_HEADING("Top events"))
        if not data["top_events"]:
            write("  (no tickets sold)")
        for rank, event in enumerate(data["top_events"], start=1):
            write(
                f"  {rank:>2}. {event['name'][:40]:<40} {event['tickets_sold']:>7} tickets "
                f"of {event['capacity']:>7} ({event['utilization'] * 100:5.1f} %)  "
                f"{event['revenue']:>14}"
            )
        write("")
        write(self.style.MIGRATE_HEADING("Daily"))
        write(f"  {'date':<10} {'bookings':>9} {'tickets':>9} {'revenue':>14} {'cancelled':>9}")
        for day in data["daily"]:
            write(
                f"  {day['date']:<10} {day['bookings']:>9} {day['tickets']:>9} "
                f"{day['revenue']:>14} {day['cancellations']:>9}"
            )

    # --- one event's sales per ticket type and promo code (not in json: see handle) --

    def _write_csv_sales(self, event) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow([])
        writer.writerow(selectors.SALES_COLUMNS)
        writer.writerows(selectors.sales_rows(event))

    def _write_table_sales(self, event) -> None:
        write = self.stdout.write
        currency = event["currency"]
        write("")
        write(self.style.MIGRATE_HEADING("Ticket types"))
        if not event["ticket_types"]:
            write("  (no ticket types)")
        else:
            write(
                f"  {'ticket type':<40} {'sold':>7} {'quota':>9} {'revenue (' + currency + ')':>16}"
            )
        for row in event["ticket_types"]:
            name = row["name"][:40] if not row["hidden"] else f"{row['name'][:31]} (hidden)"
            quota = "capacity" if row["quota"] is None else row["quota"]
            write(f"  {name:<40} {row['tickets_sold']:>7} {quota:>9} {row['revenue']:>16}")
        write("")
        write(self.style.MIGRATE_HEADING("Promo codes"))
        if not event["promo_codes"]:
            write("  (no promo codes)")
        else:
            write(f"  {'code':<40} {'uses':>7} {'discount (' + currency + ')':>16}")
        for row in event["promo_codes"]:
            write(f"  {row['code'][:40]:<40} {row['uses']:>7} {row['discount_total']:>16}")
