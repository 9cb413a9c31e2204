"""Notifications: recorded with the fact they tell, e-mailed after commit, never
twice; the e-mails themselves; hold reminders once per hold."""

import datetime as dt
from smtplib import SMTPException

import icalendar
import pytest
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from bookings import notifications, services
from bookings.models import Notification, NotificationKind
from bookings.tasks import send_hold_reminders, send_notification_email, send_unsent_emails
from bookings.tests.helpers import confirmed, hold
from events.tests.factories import make_event
from nuvio import errors

pytestmark = pytest.mark.django_db


def _kinds(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user).order_by("created_at").values_list("kind", flat=True)
    )


def _html(message) -> str:
    (alternative,) = message.alternatives
    assert alternative.mimetype == "text/html"
    return alternative.content


# --- recorded with the fact, e-mailed after commit -------------------------------


def test_confirming_a_booking_records_and_emails_it_after_commit(
    customer, django_capture_on_commit_callbacks
):
    event = make_event(name="Jazz Night")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        booking = confirmed(customer, event, 2)

    notification = Notification.objects.get(user=customer)
    assert notification.kind == NotificationKind.BOOKING_CONFIRMED
    assert (notification.booking_id, notification.event_id) == (booking.pk, event.pk)
    assert "Jazz Night" in notification.message
    assert notification.emailed_at is None
    assert mail.outbox == []  # nothing is sent before the commit

    for callback in callbacks:
        callback()

    (message,) = mail.outbox
    assert message.to == ["customer@example.com"]
    assert message.subject == "Your tickets for Jazz Night"
    codes = list(booking.tickets.values_list("code", flat=True))
    assert len(codes) == 2
    for code in codes:
        assert code in message.body and code in _html(message)
    (attachment,) = message.attachments
    assert attachment.filename == "nuvio-jazz-night.ics"
    assert attachment.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.content)
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["summary"]) == "Jazz Night"
    assert codes[0] in str(vevent["description"])
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_a_rolled_back_fact_records_and_sends_nothing(customer, django_capture_on_commit_callbacks):
    booking = confirmed(customer, make_event())
    Notification.objects.all().delete()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.booking_cancel(user=customer, booking_id=booking.pk)
        assert Notification.objects.filter(kind="booking_cancelled").exists()
        raise RuntimeError("something later in the same transaction failed")

    assert callbacks == []
    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_cancelling_a_paid_booking_tells_the_refund(customer, django_capture_on_commit_callbacks):
    event = make_event(name="Rock Night", starts_at=timezone.now() + dt.timedelta(days=4))
    booking = confirmed(customer, event, 2)  # 2 x 500.00
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(user=customer, booking_id=booking.pk)

    notification = Notification.objects.get(kind=NotificationKind.BOOKING_CANCELLED)
    assert "INR 500.00 (50 %)" in notification.message
    message = mail.outbox[-1]
    assert message.subject == "Booking cancelled: Rock Night"
    assert "INR 500.00 (50 %)" in message.body
    assert "INR 500.00" in _html(message)


def test_releasing_your_own_hold_sends_nothing(customer, django_capture_on_commit_callbacks):
    booking = hold(customer, make_event())
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(user=customer, booking_id=booking.pk)
    assert _kinds(customer) == []
    assert mail.outbox == []


def test_a_waitlist_offer_is_notified(customer, outsider, django_capture_on_commit_callbacks):
    event = make_event(name="Small Room", capacity=1)
    held = hold(customer, event, 1)
    services.waitlist_join(user=outsider, event_id=event.pk, quantity=1)

    with django_capture_on_commit_callbacks(execute=True):
        services.booking_cancel(user=customer, booking_id=held.pk)

    notification = Notification.objects.get(user=outsider)
    assert notification.kind == NotificationKind.WAITLIST_OFFER
    offer = notification.booking
    assert offer.user == outsider and offer.status == "held"
    (message,) = mail.outbox
    assert message.subject == "Tickets are held for you: Small Room"
    assert f"/bookings/{offer.pk}/" in message.body
    assert f"/bookings/{offer.pk}/" in _html(message)


# --- never twice -------------------------------------------------------------


def test_running_the_send_task_twice_sends_one_email(customer):
    confirmed(customer, make_event())  # recorded; not sent: the test never commits
    notification = Notification.objects.get()

    assert send_notification_email.delay(str(notification.pk)).get() is True
    assert send_notification_email.delay(str(notification.pk)).get() is False

    assert len(mail.outbox) == 1


def test_a_transient_smtp_failure_is_retried_and_sent_once(customer, monkeypatch):
    confirmed(customer, make_event())
    notification = Notification.objects.get()
    real_send = EmailMultiAlternatives.send
    attempts = []

    def flaky_send(self, *args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise SMTPException("421 try again later")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", flaky_send)

    # As a worker runs it: the retry is not propagated to the caller but run
    # (eagerly here, with no countdown).
    send_notification_email.apply(args=[str(notification.pk)], throw=False)

    assert len(attempts) == 2
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.emailed_at is not None


def test_a_failed_send_gives_its_claim_back(customer, monkeypatch):
    confirmed(customer, make_event())
    notification = Notification.objects.get()

    def broken_send(self, *args, **kwargs):
        raise ConnectionError("mail server away")

    monkeypatch.setattr(EmailMultiAlternatives, "send", broken_send)
    with pytest.raises(ConnectionError):
        notifications.notification_send_email(notification_id=notification.pk)

    notification.refresh_from_db()
    assert notification.emailed_at is None  # the sweeper (or a retry) sends it later


def test_the_sweeper_sends_what_was_never_dispatched(customer):
    confirmed(customer, make_event())
    Notification.objects.update(created_at=timezone.now() - dt.timedelta(minutes=10))

    assert send_unsent_emails.delay().get() == 1
    assert send_unsent_emails.delay().get() == 0
    assert len(mail.outbox) == 1


def test_withheld_emails_are_recorded_for_the_app_and_never_sent(
    customer, django_capture_on_commit_callbacks
):
    event = make_event(name="Demo Night")
    with (
        django_capture_on_commit_callbacks(execute=True),
        notifications.emails_withheld(),
    ):
        booking = confirmed(customer, event)
        services.booking_cancel(user=customer, booking_id=booking.pk)
    # And the sweeper, later, finds nothing to send either.
    Notification.objects.update(created_at=timezone.now() - dt.timedelta(minutes=10))
    assert send_unsent_emails.delay().get() == 0

    assert sorted(_kinds(customer)) == ["booking_cancelled", "booking_confirmed"]
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    assert mail.outbox == []
    # Outside the block, e-mails go out again.
    with django_capture_on_commit_callbacks(execute=True):
        confirmed(customer, event)
    assert len(mail.outbox) == 1


def test_the_same_fact_is_recorded_once(customer):
    booking = confirmed(customer, make_event())
    notifications.notify(
        user_id=customer.pk,
        kind=NotificationKind.BOOKING_CONFIRMED,
        message="again",
        booking_id=booking.pk,
        dedupe_key=f"booking_confirmed:{booking.pk}",
    )
    assert Notification.objects.count() == 1
    assert Notification.objects.get().message != "again"


# --- hold reminders ------------------------------------------------------------


def test_a_hold_about_to_expire_is_reminded_once(
    customer, outsider, django_capture_on_commit_callbacks
):
    event = make_event(name="Comedy Club")
    hold_seconds = settings.NUVIO_HOLD_SECONDS
    soon = hold(customer, event, 2, now=timezone.now() - dt.timedelta(seconds=hold_seconds - 120))
    hold(outsider, event, 1)  # 15 minutes left: not yet
    paid = confirmed(outsider, make_event())

    with django_capture_on_commit_callbacks(execute=True):
        assert send_hold_reminders.delay().get() == 1
        assert send_hold_reminders.delay().get() == 0

    notification = Notification.objects.get(kind=NotificationKind.HOLD_EXPIRING)
    assert (notification.user, notification.booking_id) == (customer, soon.pk)
    assert "Comedy Club" in notification.message
    reminders = [m for m in mail.outbox if "about to expire" in m.subject]
    assert len(reminders) == 1
    assert reminders[0].subject == "Your hold for Comedy Club is about to expire"
    assert f"/bookings/{soon.pk}/" in reminders[0].body
    assert not Notification.objects.filter(booking=paid, kind="hold_expiring").exists()


def test_lapsed_holds_get_no_reminder(customer):
    hold(customer, make_event(), now=timezone.now() - dt.timedelta(hours=1))
    assert notifications.notifications_remind_expiring_holds() == 0


# --- reading -------------------------------------------------------------------


def test_mark_read_is_for_the_owner_only(customer, outsider):
    confirmed(customer, make_event())
    notification = Notification.objects.get()
    with pytest.raises(errors.NotFound):
        notifications.notification_mark_read(user=outsider, notification_id=notification.pk)

    first = notifications.notification_mark_read(user=customer, notification_id=notification.pk)
    again = notifications.notification_mark_read(user=customer, notification_id=notification.pk)

    assert first.read_at is not None and again.read_at == first.read_at
    assert notifications.unread_count(user=customer) == 0


def test_every_kind_renders_text_and_html(customer, outsider):
    event = make_event(name="Everything Fest", capacity=2)
    booking = confirmed(customer, event, 1)
    for kind in NotificationKind.values:
        notification = Notification.objects.create(
            user=customer,
            kind=kind,
            message=f"message of {kind}",
            booking=booking,
            event=event,
            dedupe_key=f"test:{kind}",
        )
        email = notifications._email_for(notification)
        assert "Everything Fest" in email.subject
        assert "Everything Fest" in email.body or "message of" in email.body
        assert "<html" in _html(email)
        assert "{{" not in email.body and "{%" not in _html(email)
