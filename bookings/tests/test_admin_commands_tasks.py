import datetime as dt
import uuid
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.db import InterfaceError, OperationalError
from django.urls import reverse
from django.utils import timezone

from accounts.management.commands import seed_demo
from analytics.selectors import Filters, analytics_summary
from analytics.services import rollups_stale, utc_day
from bookings import services
from bookings.gateway import GatewayError, MockGateway
from bookings.inventory import inventory_problems, inventory_report
from bookings.models import (
    Booking,
    BookingStatus,
    IdempotencyRecord,
    Payment,
    Refund,
    RefundStatus,
    Ticket,
)
from bookings.tasks import cleanup_idempotency_keys, release_expired_holds, retry_pending_refunds
from bookings.tests.helpers import confirmed, hold
from events.models import Event
from events.tests.factories import make_event
from nuvio.celery import app

pytestmark = pytest.mark.django_db

BOOKINGS = reverse("admin:bookings_booking_changelist")


def _lapsed_at() -> dt.datetime:
    """A reservation time whose hold has already run out."""
    return timezone.now() - dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 60)


def _taken(event: Event) -> int:
    event.refresh_from_db()
    return event.tickets_taken


# Tasks ----------------------------------------------------------------------


def test_release_task_releases_a_lapsed_hold_and_gives_its_tickets_back(customer):
    event = make_event(capacity=10)
    lapsed = hold(customer, event, 3, now=_lapsed_at())
    active = hold(customer, event, 1)
    assert _taken(event) == 4

    result = release_expired_holds.delay()

    assert result.get() == 3
    assert _taken(event) == 1
    lapsed.refresh_from_db()
    active.refresh_from_db()
    assert lapsed.status == BookingStatus.EXPIRED and lapsed.expired_at is not None
    assert active.status == BookingStatus.HELD
    assert release_expired_holds.delay().get() == 0  # idempotent: nothing left to do
    assert inventory_problems() == []


def test_release_task_retries_a_transient_database_error(customer, monkeypatch):
    event = make_event()
    hold(customer, event, 2, now=_lapsed_at())
    real = services.holds_release_expired
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "holds_release_expired", flaky)
    # Run in process without propagating (as a worker does), the retry runs at once.
    assert release_expired_holds.apply(throw=False).get() == 2
    assert len(calls) == 2
    assert _taken(event) == 0


@pytest.mark.parametrize(
    "task", [release_expired_holds, retry_pending_refunds, cleanup_idempotency_keys]
)
def test_tasks_retry_only_transient_database_errors(task):
    assert task.autoretry_for == (OperationalError, InterfaceError)
    assert task.retry_backoff is True
    assert task.max_retries == 5


def test_refund_task_sends_a_pending_refund_again(customer, monkeypatch):
    event = make_event()
    booking = confirmed(customer, event, 2)

    def down(self, **kwargs):
        raise GatewayError("gateway unreachable")

    monkeypatch.setattr(MockGateway, "refund", down)
    services.booking_cancel(user=customer, booking_id=booking.pk)
    refund = Refund.objects.get(booking=booking)
    assert refund.status == RefundStatus.PENDING
    monkeypatch.undo()

    # Too recent for a retry (a first attempt may still be on its way)...
    assert retry_pending_refunds.delay().get() == 0
    # ...then picked up.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        assert retry_pending_refunds.delay().get() == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.gateway_reference


def test_cleanup_task_deletes_only_expired_idempotency_records(customer):
    now = timezone.now()
    old = now - dt.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS + 1)
    IdempotencyRecord.objects.create(
        user=customer,
        key="old",
        scope="reserve",
        request_hash="x",
        created_at=old,
        resource_id=uuid.uuid4(),
    )
    IdempotencyRecord.objects.create(
        user=customer,
        key="new",
        scope="reserve",
        request_hash="x",
        created_at=now,
        resource_id=uuid.uuid4(),
    )
    assert cleanup_idempotency_keys.delay().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_beat_schedule_names_registered_tasks_at_their_intervals():
    app.loader.import_default_modules()  # what a worker or beat does on start
    schedule = app.conf.beat_schedule
    intervals = {entry["task"]: float(entry["schedule"]) for entry in schedule.values()}
    # Other apps (analytics) have entries of their own.
    assert {name: every for name, every in intervals.items() if name.startswith("bookings.")} == {
        "bookings.tasks.release_expired_holds": 15.0,
        "bookings.tasks.retry_pending_refunds": 60.0,
        "bookings.tasks.cleanup_idempotency_keys": 3600.0,
        "bookings.tasks.send_hold_reminders": 60.0,
        "bookings.tasks.send_unsent_emails": 300.0,
        "bookings.tasks.resume_event_cancellations": 300.0,
    }
    for name in intervals:
        assert name in app.tasks, name
    assert release_expired_holds.name == "bookings.tasks.release_expired_holds"


# release_expired_holds command -----------------------------------------------


def _call(name: str, *args, **kwargs) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, **kwargs)
    return out.getvalue()


def test_release_command_dry_run_counts_and_changes_nothing(customer, outsider):
    jazz = make_event(name="Jazz Night")
    rock = make_event(name="Rock Night")
    first = hold(customer, jazz, 2)
    hold(outsider, jazz, 1)
    hold(customer, rock, 4)

    with time_machine.travel(
        timezone.now() + dt.timedelta(seconds=settings.NUVIO_HOLD_SECONDS + 1), tick=False
    ):
        out = _call("release_expired_holds", "--dry-run")
        assert "Jazz Night: 2 holds, 3 tickets" in out
        assert "Rock Night: 1 holds, 4 tickets" in out
        assert "3 lapsed holds with 7 tickets would be released" in out
        assert (_taken(jazz), _taken(rock)) == (3, 4)
        first.refresh_from_db()
        assert first.status == BookingStatus.HELD

        out = _call("release_expired_holds")
        assert "7 tickets freed" in out
        assert (_taken(jazz), _taken(rock)) == (0, 0)
        assert set(Booking.objects.values_list("status", flat=True)) == {BookingStatus.EXPIRED}

        assert "0 tickets freed" in _call("release_expired_holds")
        assert "0 lapsed holds" in _call("release_expired_holds", "--dry-run")


def test_release_command_leaves_active_holds_alone(customer):
    event = make_event()
    hold(customer, event, 2)
    out = _call("release_expired_holds", "--dry-run")
    assert "0 lapsed holds with 0 tickets" in out
    assert "0 tickets freed" in _call("release_expired_holds")
    assert _taken(event) == 2


# check_inventory ------------------------------------------------------------------


@pytest.fixture
def busy_event(customer, outsider, staff):
    """An event with bookings in every state, and a quiet one next to it."""
    event = make_event(name="Busy Gig", capacity=20)
    confirmed(customer, event, 3)
    cancelled = confirmed(outsider, event, 2)
    services.booking_cancel(user=outsider, booking_id=cancelled.pk)
    hold(staff, event, 1)  # active
    hold(outsider, event, 2, now=_lapsed_at())  # lapsed, not released: still counted
    expired = hold(staff, event, 1, now=_lapsed_at())
    services.holds_release_expired()  # releases both lapsed holds...
    hold(outsider, event, 2, now=_lapsed_at())  # ...and this one lapses unreleased
    make_event(name="Quiet Gig")
    assert Booking.objects.get(pk=expired.pk).status == BookingStatus.EXPIRED
    return event


def test_inventory_is_consistent_after_every_kind_of_booking(busy_event):
    assert inventory_problems() == []
    row = next(r for r in inventory_report() if r["event_id"] == busy_event.pk)
    assert row == {
        "event_id": busy_event.pk,
        "name": "Busy Gig",
        "capacity": 20,
        "taken": 6,
        "held": 3,
        "lapsed": 2,
        "confirmed": 3,
        "available": 16,  # 20 - 6 + the 2 lapsed
        "problems": [],
    }


def test_check_inventory_passes_on_a_consistent_database(busy_event):
    out = _call("check_inventory")
    assert "2 events checked, 0 mismatches" in out
    assert "Busy Gig" not in out  # only mismatches are listed by default

    out = _call("check_inventory", "--all")
    assert "Busy Gig" in out and "Quiet Gig" in out and "MISMATCH" not in out
    assert busy_event.pk.hex[:8] in out


def _check_fails(*args) -> str:
    out = StringIO()
    with pytest.raises(CommandError, match="Inventory mismatch in 1 of"):
        call_command("check_inventory", *args, stdout=out)
    return out.getvalue()


def test_check_inventory_fails_on_a_corrupt_counter(busy_event):
    Event.objects.filter(pk=busy_event.pk).update(tickets_taken=9)
    out = _check_fails()
    assert "Busy Gig" in out and busy_event.pk.hex[:8] in out and "MISMATCH" in out
    assert "tickets_taken is 9 but held + confirmed bookings hold 6 tickets" in out
    assert "Quiet Gig" not in out
    assert "2 events checked, 1 mismatches" in out
    [problem] = inventory_problems()
    assert problem["event_id"] == busy_event.pk


def test_check_inventory_fails_when_a_confirmed_booking_lost_a_ticket(busy_event):
    booking = Booking.objects.get(event=busy_event, status=BookingStatus.CONFIRMED)
    Ticket.objects.filter(booking=booking).first().delete()
    out = _check_fails()
    assert "Busy Gig" in out
    assert f"confirmed booking {booking.pk} has 2 live tickets, not 3" in out


def test_check_inventory_fails_when_a_confirmed_booking_has_no_payment(busy_event):
    booking = Booking.objects.get(event=busy_event, status=BookingStatus.CONFIRMED)
    Payment.objects.filter(booking=booking).update(status="declined")
    out = _check_fails()
    assert f"confirmed booking {booking.pk} has no succeeded payment" in out


def test_check_inventory_fails_when_refunds_exceed_the_payment(busy_event):
    refund = Refund.objects.select_related("payment").get(booking__event=busy_event)
    Refund.objects.filter(pk=refund.pk).update(amount=refund.payment.amount + Decimal("0.01"))
    out = _check_fails()
    assert "Busy Gig" in out
    assert f"payment {refund.payment.pk} of {refund.payment.amount} is refunded" in out


def test_check_inventory_for_one_event(busy_event):
    quiet = Event.objects.get(name="Quiet Gig")
    Event.objects.filter(pk=busy_event.pk).update(tickets_taken=1)
    assert "1 events checked, 0 mismatches" in _call("check_inventory", "--event", str(quiet.pk))
    out = _check_fails("--event", str(busy_event.pk))
    assert "1 events checked, 1 mismatches" in out
    # As the burst benchmark calls it.
    with pytest.raises(CommandError):
        call_command("check_inventory", event=str(busy_event.pk), stdout=StringIO())
    with pytest.raises(CommandError, match="No event"):
        call_command("check_inventory", event=str(Booking().pk), stdout=StringIO())


# Admin -------------------------------------------------------------------------


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(
        email="root@example.com", password="pw", name="Root Admin"
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_booking_changelist_and_change_page_render(admin_client, customer):
    event = make_event(name="Jazz Night")
    booking = confirmed(customer, event, 2)
    hold(customer, make_event(name="Rock Night"), 1, now=_lapsed_at())

    response = admin_client.get(BOOKINGS)
    assert response.status_code == 200
    assert "Jazz Night" in response.text and "customer@example.com" in response.text
    assert "Cancel selected bookings (with refund)" in response.text

    response = admin_client.get(BOOKINGS, {"q": "jazz", "status": "confirmed"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [booking]
    response = admin_client.get(BOOKINGS, {"q": str(booking.pk)})
    assert list(response.context["cl"].result_list) == [booking]
    response = admin_client.get(BOOKINGS, {"q": "customer@example"})
    assert len(response.context["cl"].result_list) == 2

    response = admin_client.get(reverse("admin:bookings_booking_change", args=[booking.pk]))
    assert response.status_code == 200
    text = response.text
    payment = booking.payments.get()
    assert payment.gateway_intent_id in text  # payment inline
    assert all(ticket.code in text for ticket in booking.tickets.all())  # ticket inline
    assert 'name="_save"' not in text  # read-only


def test_booking_admin_has_no_add_or_delete(admin_client, customer):
    booking = confirmed(customer, make_event(), 1)
    assert admin_client.get(reverse("admin:bookings_booking_add")).status_code == 403
    delete = reverse("admin:bookings_booking_delete", args=[booking.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Booking.objects.filter(pk=booking.pk).exists()


def test_money_and_ticket_admins_render_read_only(admin_client, customer, outsider):
    booking = confirmed(customer, make_event(name="Jazz Night"), 2)
    services.booking_cancel(user=customer, booking_id=booking.pk)
    IdempotencyRecord.objects.create(
        user=outsider, key="k-123", scope="reserve", request_hash="x", resource_id=uuid.uuid4()
    )
    for model in ["payment", "refund", "ticket", "idempotencyrecord"]:
        changelist = reverse(f"admin:bookings_{model}_changelist")
        response = admin_client.get(changelist, {"q": "example.com"})
        assert response.status_code == 200, model
        assert admin_client.get(reverse(f"admin:bookings_{model}_add")).status_code == 403
    refund = Refund.objects.get()
    response = admin_client.get(reverse("admin:bookings_refund_change", args=[refund.pk]))
    assert response.status_code == 200 and 'name="_save"' not in response.text


def test_cancel_action_cancels_and_refunds_and_reports_failures(admin_client, customer, outsider):
    event = make_event(name="Jazz Night", capacity=10)
    paid = confirmed(customer, event, 3)
    gone = confirmed(outsider, event, 1)
    services.booking_cancel(user=outsider, booking_id=gone.pk)
    assert _taken(event) == 3

    response = admin_client.post(
        BOOKINGS,
        {"action": "cancel_selected", "_selected_action": [paid.pk, gone.pk]},
        follow=True,
    )

    assert response.status_code == 200
    paid.refresh_from_db()
    assert paid.status == BookingStatus.CANCELLED
    refund = Refund.objects.get(booking=paid)
    assert refund.percent == 100 and refund.amount == paid.total_price
    assert refund.status == RefundStatus.SUCCEEDED
    assert not paid.tickets.filter(voided_at__isnull=True).exists()
    assert _taken(event) == 0
    messages = _messages(response)
    assert "Cancelled 1 booking (refunds by the event's tiers)." in messages
    assert f"{gone.pk}: This booking is already cancelled." in messages
    assert inventory_problems() == []


def test_cancel_action_needs_the_change_permission(client, django_user_model, customer):
    viewer = django_user_model.objects.create_user(
        email="viewer@example.com", password="pw", name="Viewer", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_booking"))
    client.force_login(viewer)
    booking = confirmed(customer, make_event(), 1)

    response = client.get(BOOKINGS)
    assert response.status_code == 200
    assert "Cancel selected bookings" not in response.text
    client.post(BOOKINGS, {"action": "cancel_selected", "_selected_action": [booking.pk]})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


# seed_demo ------------------------------------------------------------------------


def test_seed_demo_makes_real_bookings_in_every_state_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = {
        status: Booking.objects.filter(status=status).count() for status in BookingStatus.values
    }
    call_command("seed_demo", stdout=StringIO())

    assert inventory_problems() == []
    assert {
        status: Booking.objects.filter(status=status).count() for status in BookingStatus.values
    } == counts
    for email in ["alice@nuvio.test", "bob@nuvio.test", "chen@nuvio.test"]:
        statuses = sorted(
            booking.effective_status()
            for booking in Booking.objects.filter(user__email=email).order_by()
        )
        assert statuses == sorted(BookingStatus.values), email
    # Sold-out events are sold out by real, paid bookings.
    sold_out = [event for event in Event.objects.all() if event.available == 0]
    assert sold_out
    for event in sold_out:
        assert Ticket.objects.filter(booking__event=event, voided_at__isnull=True).count() == (
            event.capacity
        )
    cancelled = Booking.objects.filter(status=BookingStatus.CANCELLED)
    assert all(booking.refunds.get().status == RefundStatus.SUCCEEDED for booking in cancelled)


def test_seed_demo_spreads_the_sales_over_the_last_30_days():
    call_command("seed_demo", stdout=StringIO())
    now = timezone.now()

    sales = list(
        Booking.objects.filter(user__email__endswith=seed_demo.FAN_DOMAIN)
        .select_related("event")
        .prefetch_related("payments", "tickets")
    )
    days = {utc_day(booking.created_at) for booking in sales}
    assert len(days) >= 20
    assert min(days) >= utc_day(now) - dt.timedelta(days=29)
    for booking in sales:
        # Paid at once, then each step in order, and before the event started.
        assert booking.created_at <= booking.confirmed_at <= now
        assert booking.confirmed_at - booking.created_at < dt.timedelta(minutes=1)
        assert booking.created_at < booking.event.starts_at
        assert booking.event.created_at < booking.created_at
        assert {p.created_at for p in booking.payments.all()} == {booking.confirmed_at}
        assert {t.created_at for t in booking.tickets.all()} == {booking.confirmed_at}
    for booking in Booking.objects.all():
        for step in (booking.confirmed_at, booking.cancelled_at, booking.expired_at):
            assert step is None or booking.created_at <= step <= now

    # The dashboard's figures follow the spread sales, day by day.
    assert rollups_stale() == []
    summary = analytics_summary(filters=Filters.default())
    assert summary["bookings"]["total"] == Booking.objects.count()
    busy_days = [day for day in summary["daily"] if day["bookings"]]
    assert len(busy_days) >= 20
