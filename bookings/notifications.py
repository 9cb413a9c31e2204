"""Notifications: in-app and by e-mail, each fact once.

A notification is recorded in the same transaction as the fact it tells (a
``bookings_changed`` receiver for confirmations and cancellations, the waiting
list for offers and closures, a beat task for holds about to expire), under a
``dedupe_key`` naming the fact, so it is never recorded twice and a rollback
records nothing. Its e-mail is sent by a Celery task dispatched with
``transaction.on_commit``; the task claims the notification first (a
conditional ``UPDATE`` setting ``emailed_at``), so a retried or doubled task
never sends it twice. A sweeper task re-dispatches e-mails whose dispatch was
lost (the broker was away at commit time). The sending task lives here, with
what it sends, so this module needs nothing above it (``bookings.tasks``
imports it, not the other way round). Inside ``emails_withheld()`` (demo
data) notifications are recorded for the app and never e-mailed.
"""

import datetime as dt
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from bookings.calendar import booking_ics, ics_filename
from bookings.models import TICKET_ORDER, Booking, BookingStatus, Notification, NotificationKind
from events.models import EventStatus
from nuvio.errors import NotFound
from nuvio.timezones import human

logger = logging.getLogger("nuvio.notifications")
_withheld: ContextVar[bool] = ContextVar("nuvio_notification_emails_withheld", default=False)


SUBJECTS = {
    NotificationKind.BOOKING_CONFIRMED: "Your tickets for {event}",
    NotificationKind.HOLD_EXPIRING: "Your hold for {event} is about to expire",
    NotificationKind.WAITLIST_OFFER: "Tickets are held for you: {event}",
    NotificationKind.BOOKING_CANCELLED: "Booking cancelled: {event}",
    NotificationKind.EVENT_CANCELLED: "Event cancelled: {event}",
    NotificationKind.TICKET_SENT: "You sent a ticket: {event}",
    NotificationKind.TICKET_RECEIVED: "A ticket for you: {event}",
    NotificationKind.TICKET_VOIDED: "Your ticket was cancelled: {event}",
}


def _plural(n: int, word: str = "ticket") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _site_url() -> str:
    return settings.NUVIO_SITE_URL


# --- recording ---------------------------------------------------------------


@contextmanager
def emails_withheld():
    """Notifications recorded inside the block are shown in the app but never
    e-mailed: seeding demo data must not write to its demo people. Each is
    recorded with its e-mail already settled (``emailed_at``), so neither the
    dispatch after commit nor the sweeper of unsent e-mails picks it up."""
    token = _withheld.set(True)
    try:
        yield
    finally:
        _withheld.reset(token)


def notify(
    *,
    user_id,
    kind: str,
    message: str,
    dedupe_key: str,
    booking_id=None,
    event_id=None,
    now: dt.datetime | None = None,
) -> None:
    """Record a notification in the current transaction and e-mail it after
    commit (not inside ``emails_withheld()``). A fact already recorded (same
    ``dedupe_key``) is left alone."""
    now = now or timezone.now()
    withheld = _withheld.get()
    notification = Notification(
        user_id=user_id,
        kind=kind,
        message=message,
        booking_id=booking_id,
        event_id=event_id,
        dedupe_key=dedupe_key,
        created_at=now,
        emailed_at=now if withheld else None,
    )
    # ON CONFLICT DO NOTHING: a duplicate leaves no row under this new id, and
    # the e-mail task then finds nothing to send.
    Notification.objects.bulk_create([notification], ignore_conflicts=True)
    if withheld:
        return
    # A lambda, not functools.partial: when a robust callback fails, Django logs
    # its __qualname__, which a partial lacks (the AttributeError would escape).
    notification_id = notification.pk
    transaction.on_commit(lambda: _dispatch_email(notification_id), robust=True)


def _dispatch_email(notification_id) -> None:
    send_notification_email.delay(str(notification_id))


def _refund_of(booking: Booking):
    refunds = [r for r in booking.refunds.all() if r.reason != "not_honoured"]
    return refunds[-1] if refunds else None


def _cancelled_message(booking: Booking) -> tuple[str, str] | None:
    """The kind and message for a cancelled booking; None when not worth
    telling (the owner released their own unpaid hold)."""
    event = booking.event
    refund = _refund_of(booking)
    what = _plural(booking.quantity)
    if event.status == EventStatus.CANCELLED:
        if refund is None:
            text = f"Your hold on {what} was released; nothing was charged."
        else:
            text = (
                f"Your booking of {what} is cancelled and {refund.currency} {refund.amount} "
                f"({refund.percent} %) is refunded to your card."
            )
        return NotificationKind.EVENT_CANCELLED, f"{event.name} was cancelled. {text}"
    if booking.confirmed_at is None:
        return None
    if refund is not None and refund.amount > 0:
        text = (
            f"{refund.currency} {refund.amount} ({refund.percent} %) is being refunded "
            "to your card."
        )
    else:
        text = "No refund was due this close to the event (0 %)."
    return (
        NotificationKind.BOOKING_CANCELLED,
        f"Your booking of {what} for {event.name} was cancelled. {text}",
    )


def on_bookings_changed(sender, event_id, booking_ids, change: str, now, **kwargs) -> None:
    """Record the notifications of confirmed and cancelled bookings (runs in
    the service's transaction: a rollback records and sends nothing)."""
    if change not in ("confirmed", "cancelled"):
        return
    bookings = (
        Booking.objects.filter(pk__in=booking_ids)
        .select_related("event")
        .prefetch_related("refunds")
    )
    for booking in bookings:
        if change == "confirmed":
            notify(
                user_id=booking.user_id,
                kind=NotificationKind.BOOKING_CONFIRMED,
                message=(
                    f"Your booking for {booking.event.name} is confirmed: "
                    f"{_plural(booking.quantity)}. Your ticket codes are on the booking page."
                ),
                booking_id=booking.pk,
                event_id=booking.event_id,
                dedupe_key=f"booking_confirmed:{booking.pk}",
                now=now,
            )
            continue
        _notify_voided_holders(booking, now)
        told = _cancelled_message(booking)
        if told is not None:
            kind, message = told
            notify(
                user_id=booking.user_id,
                kind=kind,
                message=message,
                booking_id=booking.pk,
                event_id=booking.event_id,
                dedupe_key=f"{kind}:{booking.pk}",
                now=now,
            )


def _notify_voided_holders(booking: Booking, now: dt.datetime) -> None:
    """Whoever holds a ticket of a cancelled booking that was transferred to
    them: the ticket is void (the refund goes to the buyer)."""
    held = (
        booking.tickets.exclude(holder_id=booking.user_id)
        .values_list("holder_id", flat=True)
        .distinct()
        .order_by()
    )
    event = booking.event
    why = (
        "the event was cancelled"
        if event.status == EventStatus.CANCELLED
        else "its buyer cancelled the booking"
    )
    for holder_id in held:
        notify(
            user_id=holder_id,
            kind=NotificationKind.TICKET_VOIDED,
            message=f"The ticket for {event.name} that was sent to you is cancelled: {why}.",
            event_id=event.pk,
            dedupe_key=f"ticket_voided:{booking.pk}:{holder_id}",
            now=now,
        )


def notifications_remind_expiring_holds(*, now=None, within_seconds: int | None = None) -> int:
    """Record a ``hold_expiring`` notification for every hold running out in
    the next ``within_seconds`` (default NUVIO_HOLD_REMINDER_SECONDS) that has
    none yet; once per hold, whoever runs it. Returns how many."""
    now = now or timezone.now()
    within_seconds = within_seconds or settings.NUVIO_HOLD_REMINDER_SECONDS
    within = dt.timedelta(seconds=within_seconds)
    reminded = Notification.objects.filter(
        booking=OuterRef("pk"), kind=NotificationKind.HOLD_EXPIRING
    )
    due = (
        Booking.objects.filter(
            status=BookingStatus.HELD, expires_at__gt=now, expires_at__lte=now + within
        )
        .exclude(Exists(reminded))
        .select_related("event")
        .order_by("expires_at")[:500]
    )
    count = 0
    with transaction.atomic():
        for booking in due:
            notify(
                user_id=booking.user_id,
                kind=NotificationKind.HOLD_EXPIRING,
                message=(
                    f"Your hold on {_plural(booking.quantity)} for {booking.event.name} "
                    f"expires at {human(booking.expires_at, booking.event.timezone, '%H:%M')}. "
                    "Pay now to keep "
                    f"{'them' if booking.quantity != 1 else 'it'}."
                ),
                booking_id=booking.pk,
                event_id=booking.event_id,
                dedupe_key=f"hold_expiring:{booking.pk}",
                now=now,
            )
            count += 1
    return count


# --- reading and marking -----------------------------------------------------


def notifications_for_user(*, user: User):
    """A user's notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_mark_read(*, user: User, notification_id, now=None) -> Notification:
    """Mark one of the user's notifications read (the first time counts);
    another user's is ``NotFound``."""
    now = now or timezone.now()
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user: User, now=None) -> int:
    """Mark every unread notification of the user read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )


# --- e-mail ------------------------------------------------------------------


def _email_for(notification: Notification) -> EmailMultiAlternatives:
    booking = notification.booking
    event = notification.event or (booking.event if booking else None)
    site = _site_url()
    context = {
        "notification": notification,
        "user": notification.user,
        "event": event,
        "booking": booking,
        "site_url": site,
        "notifications_url": site + reverse("notifications:list"),
        "tickets_url": site + reverse("my-tickets"),
        "event_url": site + reverse("event-detail", args=[event.pk]) if event else None,
        "booking_url": site + reverse("bookings:detail", args=[booking.pk]) if booking else None,
        "tickets": [],
        "refund": None,
        "items": [],
    }
    if booking is not None:
        context["tickets"] = list(
            booking.tickets.filter(voided_at=None).select_related("seat").order_by(*TICKET_ORDER)
        )
        context["refund"] = _refund_of(booking)
        context["items"] = list(
            booking.items.select_related("ticket_type", "booking__event")
            .prefetch_related("seat_holds__seat")
            .order_by("ticket_type__position", "ticket_type__price", "ticket_type__name")
        )
    kind = notification.kind
    subject = SUBJECTS[kind].format(event=event.name if event else "Nuvio")
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.user.email],
    )
    email.attach_alternative(render_to_string(f"emails/{kind}.html", context), "text/html")
    if (
        kind == NotificationKind.BOOKING_CONFIRMED
        and booking is not None
        and booking.status == BookingStatus.CONFIRMED
    ):
        ics = booking_ics(
            booking,
            booking_url=context["booking_url"],
            codes=[t.code for t in context["tickets"]],
        )
        email.attach(ics_filename(booking), ics, "text/calendar")
    return email


def notification_send_email(*, notification_id, now=None) -> bool:
    """Send a notification's e-mail at most once; True if this call sent it.

    The notification is claimed first (``emailed_at`` set only if still
    empty), so a second run, a retried task or a sweeper finds nothing to do.
    If sending fails the claim is given back and the error goes up for the
    task to retry.
    """
    now = now or timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
        emailed_at=now
    )
    if not claimed:
        return False
    try:
        notification = Notification.objects.select_related(
            "user", "event", "booking__event", "booking__promo_code"
        ).get(pk=notification_id)
        _email_for(notification).send()
    except BaseException:
        Notification.objects.filter(pk=notification_id, emailed_at=now).update(emailed_at=None)
        raise
    return True


def notifications_email_unsent(
    *, now=None, older_than_seconds: int = 120, max_age_hours: int = 6
) -> int:
    """Dispatch the e-mails of notifications still unsent a while after they
    were recorded (their dispatch was lost, or every retry failed); returns how
    many were dispatched. Claiming keeps a doubled dispatch harmless."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.filter(
            emailed_at__isnull=True,
            created_at__lte=now - dt.timedelta(seconds=older_than_seconds),
            created_at__gte=now - dt.timedelta(hours=max_age_hours),
        ).values_list("id", flat=True)[:500]
    )
    for notification_id in ids:
        _dispatch_email(notification_id)
    return len(ids)


# E-mail: a lost connection or a refusing server is worth another try.
_RETRY_EMAIL = {
    "autoretry_for": (
        SMTPException,
        ConnectionError,
        TimeoutError,
        OperationalError,
        InterfaceError,
    ),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 8,
}


@shared_task(name="bookings.tasks.send_notification_email", **_RETRY_EMAIL)
def send_notification_email(notification_id: str) -> bool:
    """E-mail one notification, at most once whatever the retries."""
    return notification_send_email(notification_id=notification_id)
