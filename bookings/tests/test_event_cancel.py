"""Staff event cancellation: everything refunded in full, in a background job
that a crash halfway cannot make refund anyone twice; API, admin, command."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from bookings import services
from bookings.gateway import MockGateway
from bookings.inventory import inventory_problems
from bookings.models import (
    Booking,
    BookingStatus,
    Notification,
    NotificationKind,
    PaymentStatus,
    Refund,
    RefundStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from bookings.services import cancel as cancel_services
from bookings.tasks import cancel_event_bookings, resume_event_cancellations
from bookings.tests.helpers import confirmed, hold
from events import services as event_services
from events.models import Event, EventStatus
from events.tests.factories import make_event
from nuvio import errors

pytestmark = pytest.mark.django_db


class Crash(Exception):
    """The worker dies."""


def _users(n: int) -> list[User]:
    return [
        User.objects.create_user(email=f"holder{i}@example.com", password="x", name=f"Holder {i}")
        for i in range(n)
    ]


@pytest.fixture
def full_event():
    """An event 1 day away (0 % by the tiers), sold out (capacity 11): 5 paid
    bookings (7 tickets), 2 holds, a hold that has run out, 2 people waiting."""
    event = make_event(
        name="Stadium Show",
        capacity=11,
        price=Decimal("300.00"),
        starts_at=timezone.now() + dt.timedelta(days=1),
    )
    users = _users(10)
    event.paid = [confirmed(u, event, 2 if i < 2 else 1) for i, u in enumerate(users[:5])]
    event.holds = [hold(u, event, 1) for u in users[5:7]]
    event.lapsed = hold(users[7], event, 2)
    event.waiting = [
        services.waitlist_join(user=u, event_id=event.pk, quantity=1) for u in users[8:]
    ]
    Booking.objects.filter(pk=event.lapsed.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    Notification.objects.all().delete()  # the confirmations of the setup
    return event


def _refunds(event) -> list[Refund]:
    return list(Refund.objects.filter(booking__event=event))


def _assert_fully_cancelled(event) -> None:
    event.refresh_from_db()
    assert event.status == EventStatus.CANCELLED
    assert event.tickets_taken == 0
    assert event.waitlist_waiting == 0
    statuses = set(Booking.objects.filter(event=event).values_list("status", flat=True))
    assert statuses <= {BookingStatus.CANCELLED, BookingStatus.EXPIRED}
    refunds = _refunds(event)
    assert len(refunds) == 5  # one per paid booking, never two
    for refund in refunds:
        assert refund.percent == 100
        assert refund.amount == refund.payment.amount
        assert refund.status == RefundStatus.SUCCEEDED
        assert refund.reason == "event_cancelled"
        assert refund.payment.status == PaymentStatus.REFUNDED
    assert set(WaitlistEntry.objects.filter(event=event).values_list("status", flat=True)) == {
        WaitlistStatus.CLOSED
    }
    assert inventory_problems() == []


def test_cancelling_an_event_refunds_everyone_in_full_and_tells_each_once(
    full_event, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event_services.event_cancel(actor=staff, event_id=full_event.pk)

    _assert_fully_cancelled(full_event)
    told = Notification.objects.filter(kind=NotificationKind.EVENT_CANCELLED)
    # 5 paid + 2 live holds + 2 waiting; the lapsed hold had already run out.
    assert told.count() == 9
    assert told.values("user").distinct().count() == 9
    paid_message = told.get(booking=full_event.paid[0]).message
    assert "Stadium Show was cancelled" in paid_message
    assert "INR 600.00 (100 %)" in paid_message
    assert "nothing was charged" in told.get(booking=full_event.holds[0]).message
    assert not Notification.objects.exclude(kind=NotificationKind.EVENT_CANCELLED).exists()
    assert len(mail.outbox) == 9
    assert {m.subject for m in mail.outbox} == {"Event cancelled: Stadium Show"}
    refund_mail = next(m for m in mail.outbox if m.to == [full_event.paid[0].user.email])
    assert "INR 600.00 (100 %)" in refund_mail.body


def test_new_reserves_and_joins_are_closed_at_once(full_event, staff, customer):
    # The job is dispatched on commit; here it never runs (the test never commits).
    event_services.event_cancel(actor=staff, event_id=full_event.pk)

    with pytest.raises(errors.BookingClosed):
        hold(customer, full_event, 1)
    with pytest.raises(errors.BookingClosed):
        services.waitlist_join(user=customer, event_id=full_event.pk, quantity=1)


def test_a_crash_halfway_then_a_rerun_finishes_without_refunding_twice(full_event, monkeypatch):
    gateway_refunds = []
    real_refund = MockGateway.refund

    def counting_refund(self, **kwargs):
        gateway_refunds.append(kwargs["reference"])
        return real_refund(self, **kwargs)

    monkeypatch.setattr(MockGateway, "refund", counting_refund)
    done = []

    def die_after_three(booking_id):
        done.append(booking_id)
        if len(done) == 3:
            raise Crash

    monkeypatch.setattr(cancel_services, "_event_booking_done", die_after_three)

    with pytest.raises(Crash):
        cancel_event_bookings.delay(str(full_event.pk))

    full_event.refresh_from_db()
    assert full_event.status == EventStatus.CANCELLED  # the first thing it did
    assert Booking.objects.filter(event=full_event, status=BookingStatus.CANCELLED).count() == 3
    assert (
        Booking.objects.filter(
            event=full_event, status__in=[BookingStatus.HELD, BookingStatus.CONFIRMED]
        ).count()
        == 4
    )
    assert len(gateway_refunds) <= 3

    monkeypatch.setattr(cancel_services, "_event_booking_done", lambda booking_id: None)
    result = cancel_event_bookings.delay(str(full_event.pk)).get()

    assert result["cancelled"] == 4
    _assert_fully_cancelled(full_event)
    assert len(gateway_refunds) == 5 and len(set(gateway_refunds)) == 5
    # Each holder told once, whatever the crash.
    told = Notification.objects.filter(kind=NotificationKind.EVENT_CANCELLED)
    assert told.count() == 9

    # A third run finds nothing left to do.
    assert cancel_event_bookings.delay(str(full_event.pk)).get() == {
        "cancelled": 0,
        "refunds_retried": 0,
    }
    assert len(gateway_refunds) == 5


def test_a_crash_between_cancel_and_refund_is_finished_by_the_rerun(full_event, monkeypatch):
    calls = []
    real_execute = services.refund_execute

    def die_on_second_refund(*, refund_id):
        calls.append(refund_id)
        if len(calls) == 2:
            raise Crash
        return real_execute(refund_id=refund_id)

    monkeypatch.setattr(cancel_services, "refund_execute", die_on_second_refund)
    with pytest.raises(Crash):
        services.event_cancel_bookings(event_id=full_event.pk)
    assert Refund.objects.filter(status=RefundStatus.PENDING).count() == 1

    monkeypatch.setattr(cancel_services, "refund_execute", real_execute)
    result = services.event_cancel_bookings(event_id=full_event.pk)

    assert result["refunds_retried"] == 1
    _assert_fully_cancelled(full_event)


def test_the_beat_resumes_a_cancellation_a_dead_worker_left(full_event, monkeypatch):
    monkeypatch.setattr(
        cancel_services, "_event_booking_done", lambda booking_id: (_ for _ in ()).throw(Crash)
    )
    with pytest.raises(Crash):
        cancel_event_bookings.delay(str(full_event.pk))
    monkeypatch.setattr(cancel_services, "_event_booking_done", lambda booking_id: None)

    assert resume_event_cancellations.delay().get() == 0  # too recent: maybe still running
    Event.objects.filter(pk=full_event.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=10)
    )
    assert resume_event_cancellations.delay().get() == 1

    _assert_fully_cancelled(full_event)
    assert resume_event_cancellations.delay().get() == 0


def test_a_gateway_failure_leaves_the_refund_pending_for_the_retry_task(full_event, monkeypatch):
    from bookings.gateway import GatewayError

    def down(self, **kwargs):
        raise GatewayError("gateway down")

    monkeypatch.setattr(MockGateway, "refund", down)
    services.event_cancel_bookings(event_id=full_event.pk)
    assert Refund.objects.filter(status=RefundStatus.PENDING).count() == 5
    assert Booking.objects.filter(event=full_event, status=BookingStatus.CONFIRMED).count() == 0

    monkeypatch.undo()
    assert services.refunds_retry_pending(older_than_seconds=0) == 5
    _assert_fully_cancelled(full_event)


# --- API -----------------------------------------------------------------------


def _cancel_url(event) -> str:
    return f"/api/events/{event.pk}/cancel/"


def test_api_cancel_is_202_and_does_the_job(
    full_event, staff_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(_cancel_url(full_event))

    assert response.status_code == 202
    body = response.json()
    assert body["id"] == str(full_event.pk)
    assert body["status"] == "cancelled"
    _assert_fully_cancelled(full_event)

    again = staff_api.post(_cancel_url(full_event))  # idempotent: resumes, changes nothing
    assert again.status_code == 202
    assert len(_refunds(full_event)) == 5


def test_api_cancel_is_for_staff_only(full_event, customer_api, anon_api):
    forbidden = customer_api.post(_cancel_url(full_event))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "permission_denied"
    anonymous = anon_api.post(_cancel_url(full_event))
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    full_event.refresh_from_db()
    assert full_event.status == EventStatus.PUBLISHED


def test_api_cancel_of_an_unknown_event_is_404(staff_api):
    response = staff_api.post("/api/events/00000000-0000-0000-0000-000000000000/cancel/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_reserve_on_a_cancelled_event_is_booking_closed(full_event, staff, customer_api):
    event_services.event_cancel(actor=staff, event_id=full_event.pk)
    response = customer_api.post(
        "/api/bookings/", {"event": str(full_event.pk), "quantity": 1}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "booking_closed"


# --- admin and command -----------------------------------------------------------


def test_admin_action_cancels_and_refunds(
    full_event, admin_client, django_capture_on_commit_callbacks
):
    other = make_event(name="Untouched")
    url = reverse("admin:events_event_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url,
            {"action": "cancel_selected", "_selected_action": [str(full_event.pk)]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Cancelled 1 event" in response.text
    _assert_fully_cancelled(full_event)
    other.refresh_from_db()
    assert other.status == EventStatus.PUBLISHED


def test_command_asks_first_and_cancels_with_yes(
    full_event, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Not cancelled"):
        call_command("cancel_event", str(full_event.pk), stdout=StringIO())
    full_event.refresh_from_db()
    assert full_event.status == EventStatus.PUBLISHED

    out = StringIO()
    call_command("cancel_event", str(full_event.pk), "--dry-run", stdout=out)
    assert "3 holds to release, 5 confirmed bookings to refund in full (2100.00 INR)" in (
        out.getvalue()
    )
    assert "2 waiting list entries" in out.getvalue()
    full_event.refresh_from_db()
    assert full_event.status == EventStatus.PUBLISHED

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("cancel_event", str(full_event.pk), "--yes", stdout=out)
    assert "is cancelled" in out.getvalue()
    _assert_fully_cancelled(full_event)


def test_command_rejects_unknown_events():
    with pytest.raises(CommandError, match="No event with id"):
        call_command("cancel_event", "00000000-0000-0000-0000-000000000000", "--yes")
