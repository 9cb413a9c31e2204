"""Best-available picking on an arena stays linear in the plan's size even
when PostgreSQL's statistics still think the tables empty (a fresh deploy,
or the minute before autovacuum looks): the pick runs under the event's
lock, so a plan that compares every seat with every live hold holds every
other buyer of the event."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings import services
from bookings.models import SeatHold
from events.models import Seat
from events.tests.factories import make_event, make_seat_plan
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db]

ROWS, PER_ROW = 100, 20  # 2,000 seats


def _rows_touched(sql: str) -> int:
    """Rows every node of the statement's executed plan produced or threw
    away, over all its loops."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    plan = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    total, nodes = 0, [plan]
    while nodes:
        node = nodes.pop()
        removed = sum(
            node.get(k, 0) for k in ("Rows Removed by Join Filter", "Rows Removed by Filter")
        )
        total += (node["Actual Rows"] + removed) * node["Actual Loops"]
        nodes += node.get("Plans", [])
    return total


def test_picking_with_empty_table_statistics_touches_each_seat_a_few_times():
    with connection.cursor() as cursor:  # the statistics of empty tables
        cursor.execute("ANALYZE events_seat; ANALYZE bookings_seathold")
    event = make_event(capacity=1, max_tickets_per_user=4)
    kind = event.ticket_types.get()
    make_seat_plan(event, [("Arena", [(f"R{r}", PER_ROW, kind) for r in range(ROWS)])])
    # Every other row full and one seat short of a pair in the rest: the
    # first pair is past the middle of the plan.
    seats = list(Seat.objects.filter(event=event).order_by("position"))
    blocked = [s for s in seats if s.row_index % 2 == 0 or s.position % 2 == 0]
    first_pair = next(s for s in seats if s.row_index >= ROWS // 2 and s.row_index % 2 == 1)
    blocked = [
        s for s in blocked if s.pk != first_pair.pk and s.position != first_pair.position + 1
    ]
    SeatHold.objects.bulk_create([SeatHold(seat=s) for s in blocked])

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        picked = services.seats_pick_best_locked(event=event, ticket_type=kind, quantity=2)

    assert [choice.id for choice in picked] == [first_pair.pk, seats[first_pair.position + 1].pk]
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    touched = sum(_rows_touched(sql) for sql in selects)
    assert touched <= 10 * ROWS * PER_ROW, touched
