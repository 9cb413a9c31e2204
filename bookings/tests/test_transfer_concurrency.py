"""A transfer racing a check-in, or another transfer, of the same ticket, on
PostgreSQL with real threads: exactly one of them happens, every round."""

import threading

import pytest
from django.db import connections

from bookings import checkin
from bookings.models import TicketTransfer
from bookings.services import tickets as ticket_services
from bookings.tests.helpers import confirmed
from events.tests.factories import make_event
from nuvio.errors import NuvioError
from nuvio.testing import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 20


def _together(*jobs) -> list:
    """Run the jobs on threads released at once; each outcome is "ok" or the
    error code (``reason`` for ``already_checked_in``)."""
    start = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(index, job):
        try:
            start.wait(timeout=10)
            job()
            outcomes[index] = "ok"
        except NuvioError as exc:
            outcomes[index] = exc.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.fixture
def people(django_user_model):
    make = django_user_model.objects.create_user
    return {
        "buyer": make(email="buyer@example.com", password="x", name="Buyer"),
        "ann": make(email="ann@example.com", password="x", name="Ann"),
        "ben": make(email="ben@example.com", password="x", name="Ben"),
        "door": make(email="door@example.com", password="x", name="Door", is_staff=True),
    }


def test_a_transfer_and_a_check_in_at_once_exactly_one_wins(people):
    event = make_event(capacity=ROUNDS, max_tickets_per_user=ROUNDS)
    buyer, ann, door = people["buyer"], people["ann"], people["door"]
    won = {"transfer": 0, "check-in": 0}
    for _ in range(ROUNDS):
        ticket = confirmed(buyer, event).tickets.get()
        old_code = ticket.code
        transfer, check_in = _together(
            lambda t=ticket: ticket_services.ticket_transfer(
                user=buyer, ticket_id=t.pk, email=ann.email
            ),
            lambda code=old_code: checkin.ticket_check_in(staff=door, code=code),
        )
        ticket.refresh_from_db()
        if transfer == "ok":
            # The old code admitted no one; the ticket is Ann's, unused, new code.
            assert check_in == "not_found"
            assert (ticket.holder_id, ticket.checked_in_at) == (ann.pk, None)
            assert ticket.code != old_code
            assert TicketTransfer.objects.filter(ticket=ticket).count() == 1
            won["transfer"] += 1
        else:
            # Admitted first: the transfer is refused and the ticket stays the buyer's.
            assert (transfer, check_in) == ("invalid_state", "ok")
            assert (ticket.holder_id, ticket.code) == (buyer.pk, old_code)
            assert ticket.checked_in_at is not None
            assert not TicketTransfer.objects.filter(ticket=ticket).exists()
            won["check-in"] += 1
    assert sum(won.values()) == ROUNDS


def test_two_transfers_of_one_ticket_at_once_exactly_one_happens(people):
    event = make_event(capacity=ROUNDS, max_tickets_per_user=ROUNDS)
    buyer, ann, ben = people["buyer"], people["ann"], people["ben"]
    for _ in range(ROUNDS):
        ticket = confirmed(buyer, event).tickets.get()
        old_code = ticket.code
        outcomes = _together(
            *(
                lambda t=ticket, to=to: ticket_services.ticket_transfer(
                    user=buyer, ticket_id=t.pk, email=to.email
                )
                for to in (ann, ben)
            )
        )
        assert sorted(outcomes) == ["not_found", "ok"], outcomes
        winner = (ann, ben)[outcomes.index("ok")]
        ticket.refresh_from_db()
        assert ticket.holder_id == winner.pk
        assert ticket.code != old_code
        (record,) = TicketTransfer.objects.filter(ticket=ticket)
        assert (record.to_user_id, record.old_code) == (winner.pk, old_code)
