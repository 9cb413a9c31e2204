"""Booking pages: book from the event page, my bookings, one booking (pay,
cancel, tickets) and its calendar file; joining and leaving a waiting list;
my notifications. Every change goes through ``bookings.services`` (and
``bookings.notifications``); their errors come back as messages or form
errors."""

import datetime as dt
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from bookings import notifications, selectors, services
from bookings.calendar import booking_ics, ics_filename
from bookings.forms import AttendeeForm, PayForm, ReserveForm, WaitlistJoinForm, tickets_with_forms
from bookings.models import (
    TICKET_ORDER,
    Booking,
    BookingItem,
    BookingStatus,
    PaymentStatus,
    Ticket,
    TicketTransfer,
    WaitlistStatus,
)
from bookings.services.tickets import event_questions
from events.models import Seat, TicketType
from nuvio.decorators import session_or_token_required
from nuvio.errors import (
    Invalid,
    NuvioError,
    PaymentDeclined,
    PromoInvalid,
    QueueRequired,
    SeatTaken,
)

# A booking's items as the event page lists their types.
ITEM_ORDER = ["ticket_type__position", "ticket_type__price", "ticket_type__name"]

# Payment failures that belong next to the card field; any other error is
# about the booking itself and is shown above the page.
CARD_ERRORS = (Invalid, PaymentDeclined)


def _login_then(next_url):
    """``login_required`` for POST-only views: after logging in the person
    lands on ``next_url(request, **kwargs)``, a page they can GET, not on the
    POST-only address (which would answer 405)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(next_url(request, **kwargs))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _event_page_of_post(request) -> str:
    """The event page a booking or waiting-list form was posted from."""
    form = ReserveForm(request.POST)
    form.is_valid()
    event_id = form.cleaned_data.get("event")
    return reverse("event-detail", args=[event_id]) if event_id else reverse("home")


def _back_to_event(request, form):
    """An invalid booking or waiting-list form: back to its event page, saying why."""
    event_id = form.cleaned_data.get("event")
    if event_id is None:
        messages.error(request, "That event could not be found.")
        return redirect("home")
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))
    return redirect("event-detail", event_id=event_id)


def _booking_page(request, booking_id, **kwargs) -> str:
    return reverse("bookings:detail", args=[booking_id])


def _own_booking_or_404(request, booking_id) -> Booking:
    """The requester's booking with what its page shows; anyone else's is a 404."""
    queryset = (
        Booking.objects.filter(user=request.user)
        .select_related("event", "promo_code")
        .prefetch_related(
            Prefetch(
                "items",
                BookingItem.objects.select_related("ticket_type")
                .prefetch_related(selectors.item_seat_holds())
                .order_by(*ITEM_ORDER),
            ),
            Prefetch(
                "tickets",
                Ticket.objects.select_related("seat", "ticket_type")
                .prefetch_related(
                    Prefetch("transfers", TicketTransfer.objects.select_related("to_user"))
                )
                .order_by(*TICKET_ORDER),
            ),
            "payments",
            "refunds",
        )
    )
    return get_object_or_404(queryset, pk=booking_id)


def _money(amount, currency: str) -> str:
    return f"{currency} {amount}"


# --- book --------------------------------------------------------------------


def _event_page_as_sent(event_id, form: ReserveForm, taken=()) -> str:
    """The event page with the promo code and quantities (or seats) the
    booking form sent, so that it shows them again (and why the code was
    refused); ``taken``: the seats lost to someone else, marked on its map."""
    query = QueryDict(mutable=True)
    if form.cleaned_data.get("promo_code"):
        query["promo_code"] = form.cleaned_data["promo_code"]
    for ticket_type, quantity in form.chosen():
        query.appendlist("ticket_type", ticket_type)
        query.appendlist("quantity", quantity)
    taken = {str(seat) for seat in taken}
    for seat in form.chosen_seats():
        query.appendlist("taken" if seat in taken else "seat", seat)
    url = reverse("event-detail", args=[event_id])
    return f"{url}?{query.urlencode()}" if query else url


def _reserve_problem(exc: NuvioError, form: ReserveForm) -> str | None:
    """What went wrong with a booking, in plain words naming the ticket type
    it is about; None for a refused promo code, which the event page shows
    next to its field."""
    if isinstance(exc, PromoInvalid):
        return None
    sent = [str(item["ticket_type"]) for item in form.cleaned_data.get("items") or []]
    about = exc.details.get("ticket_type")
    wanted = {*sent, str(about)} if about else set(sent)
    names = {
        str(pk): name
        for pk, name in TicketType.objects.filter(pk__in=wanted).values_list("pk", "name")
    }
    if about and str(about) in names:
        name = names[str(about)]
        return exc.message if name in exc.message else f"{name}: {exc.message}"
    per_item = exc.details.get("items")
    if isinstance(per_item, list):
        # Field errors by item, in the order sent: name each item's type.
        problems = [
            f"{names.get(type_id, 'Tickets')}: "
            + " ".join(str(error) for field in errors.values() for error in field)
            for type_id, errors in zip(sent, per_item, strict=False)
            if isinstance(errors, dict) and errors
        ]
        if problems:
            return " ".join(problems)
    return exc.message


def _seats_taken_problem(exc: SeatTaken, event_id) -> str:
    """Which chosen seats someone else took, by their labels."""
    labels = list(
        Seat.objects.filter(event_id=event_id, pk__in=exc.details.get("seats") or [])
        .order_by("position")
        .values_list("label", flat=True)
    )
    if not labels:
        return exc.message
    if len(labels) == 1:
        return (
            f"Seat {labels[0]} was just taken by someone else. "
            "Nothing was booked: choose another seat."
        )
    return (
        f"Seats {', '.join(labels[:-1])} and {labels[-1]} were just taken by someone else. "
        "Nothing was booked: choose other seats."
    )


@require_POST
@_login_then(_event_page_of_post)
def booking_new(request):
    form = ReserveForm(request.POST)
    if not form.is_valid():
        return _back_to_event(request, form)

    event_id = form.cleaned_data["event"]
    try:
        booking, _ = services.booking_reserve(
            user=request.user,
            event_id=event_id,
            items=form.cleaned_data["items"],
            quantity=form.cleaned_data["quantity"],
            seats=form.cleaned_data["seats"],
            promo_code=form.cleaned_data["promo_code"] or None,
        )
    except SeatTaken as exc:
        messages.error(request, _seats_taken_problem(exc, event_id))
        return redirect(_event_page_as_sent(event_id, form, taken=exc.details.get("seats") or ()))
    except QueueRequired as exc:
        # The sale goes through its waiting room: to it, saying why.
        messages.info(request, exc.message)
        return redirect("event-queue", event_id)
    except NuvioError as exc:
        if "event" in exc.details:  # no such event (or one this person cannot see)
            messages.error(request, exc.message)
            return redirect("home")
        problem = _reserve_problem(exc, form)
        if problem:
            messages.error(request, problem)
        return redirect(_event_page_as_sent(event_id, form))
    messages.success(
        request,
        f"{booking.quantity} ticket{'s' if booking.quantity != 1 else ''} held for you. "
        "Pay before the hold runs out to keep them.",
    )
    return redirect("bookings:detail", booking_id=booking.pk)


# --- my bookings -------------------------------------------------------------


@login_required
@require_safe
@never_cache
def booking_list(request):
    now = timezone.now()
    bookings = list(selectors.bookings_for_user(user=request.user, now=now))
    upcoming = sorted(
        (b for b in bookings if b.event.starts_at > now), key=lambda b: b.event.starts_at
    )
    past = sorted(
        (b for b in bookings if b.event.starts_at <= now),
        key=lambda b: b.event.starts_at,
        reverse=True,
    )
    for booking in bookings:
        booking.shown_status = booking.effective_status(now)
    entries = list(selectors.waitlist_for_user(user=request.user, active_only=True))
    for entry in entries:
        offer = entry.offered_booking
        entry.seconds_left = (
            max(int((offer.expires_at - now).total_seconds()), 0)
            if entry.status == WaitlistStatus.OFFERED
            else None
        )
    context = {"upcoming": upcoming, "past": past, "waitlist_entries": entries}
    return render(request, "bookings/list.html", context)


# --- one booking -------------------------------------------------------------


def _render_detail(
    request, booking: Booking, *, pay_form=None, page_error=None, attendee_form=None, status=200
):
    now = timezone.now()
    shown_status = booking.effective_status(now)
    payments = list(booking.payments.all())
    context = {
        "booking": booking,
        "event": booking.event,
        "shown_status": shown_status,
        "page_error": page_error,
        "payment": next((p for p in payments if p.status != PaymentStatus.DECLINED), None),
        "refund": next(iter(booking.refunds.all()), None),
        "event_started": booking.event.starts_at <= now,
    }
    if shown_status == BookingStatus.HELD:
        expires_at = booking.expires_at.astimezone(dt.UTC)
        context |= {
            "pay_form": pay_form or PayForm(),
            "expires_iso": expires_at.isoformat(timespec="seconds"),
            "seconds_left": max(int((expires_at - now).total_seconds()), 0),
        }
    elif shown_status == BookingStatus.CONFIRMED:
        # Each ticket the buyer still holds with its attendee form; those
        # sent to someone else only say to whom (their code is not the buyer's).
        tickets = tickets_with_forms(
            [t for t in booking.tickets.all() if t.voided_at is None],
            user=request.user,
            now=now,
            bound={attendee_form.ticket.pk: attendee_form} if attendee_form else None,
            transfers=False,
        )
        for ticket in tickets:
            ticket.sent_to = None if ticket.held else ticket.sent_by(request.user.pk)
        context["tickets"] = tickets
        context["held_tickets"] = [t for t in tickets if t.held]
        if not context["event_started"]:
            context["quote"] = services.booking_refund_quote(
                user=request.user, booking_id=booking.pk, now=now
            )
    return render(request, "bookings/detail.html", context, status=status)


@login_required
@require_safe
@never_cache
def booking_detail(request, booking_id):
    return _render_detail(request, _own_booking_or_404(request, booking_id))


@require_POST
@_login_then(_booking_page)
@never_cache
def booking_pay(request, booking_id):
    booking = _own_booking_or_404(request, booking_id)
    free = booking.total_price == 0
    form = PayForm(request.POST)
    if not free and not form.is_valid():
        return _render_detail(request, booking, pay_form=form)
    try:
        services.booking_pay(
            user=request.user,
            booking_id=booking.pk,
            # A free booking is confirmed with no card (its form has no field).
            card_number=None if free else form.cleaned_data["card_number"],
        )
    except CARD_ERRORS as exc:
        problems = exc.details.get("card_number") or [exc.message]
        for problem in problems:
            form.add_error("card_number", problem)
        return _render_detail(request, booking, pay_form=form)
    except NuvioError as exc:
        # Expired (any charge already refunded: the message says so), or paid
        # or cancelled meanwhile: the page as it is now, with what happened on top.
        booking = _own_booking_or_404(request, booking_id)
        return _render_detail(request, booking, page_error=exc.message)
    if free:
        messages.success(request, "Your booking is confirmed. Your tickets are below.")
    else:
        messages.success(request, "Payment received. Your tickets are below.")
    return redirect("bookings:detail", booking_id=booking.pk)


@require_POST
@_login_then(_booking_page)
@never_cache
def booking_ticket_attendee(request, booking_id, ticket_id):
    """Save who comes on a ticket of the booking that the buyer still holds;
    back to the booking (PRG), or the page again with the reasons next to
    the fields and what was typed."""
    booking = _own_booking_or_404(request, booking_id)
    ticket = next(
        (
            t
            for t in booking.tickets.all()
            if t.pk == ticket_id and t.voided_at is None and t.holder_id == request.user.pk
        ),
        None,
    )
    if ticket is None:
        messages.error(request, "That ticket is not in your account (any more).")
        return redirect("bookings:detail", booking_id=booking.pk)
    form = AttendeeForm(request.POST, ticket=ticket, questions=event_questions(booking.event_id))
    if form.is_valid():
        saved = form.save(user=request.user)
        if saved is not None:
            messages.success(request, form.saved_message(saved))
            return redirect(f"{_booking_page(request, booking.pk)}#ticket-{ticket.pk}")
    return _render_detail(request, booking, attendee_form=form, status=form.status)


@require_POST
@_login_then(_booking_page)
def booking_cancel(request, booking_id):
    booking = _own_booking_or_404(request, booking_id)
    was_held = booking.effective_status() == BookingStatus.HELD
    try:
        booking = services.booking_cancel(user=request.user, booking_id=booking.pk)
    except NuvioError as exc:
        messages.error(request, exc.message)
        return redirect("bookings:detail", booking_id=booking.pk)
    refund = booking.refunds.order_by("-created_at").first()
    if was_held or refund is None:
        messages.success(request, "Your tickets were released. Nothing was charged.")
    elif refund.amount > 0:
        messages.success(
            request,
            f"Your booking was cancelled. {_money(refund.amount, refund.currency)} "
            f"({refund.percent} %) is being refunded to your card.",
        )
    else:
        messages.success(
            request,
            "Your booking was cancelled. No refund is due this close to the event (0 %).",
        )
    return redirect("bookings:detail", booking_id=booking.pk)


# --- calendar ----------------------------------------------------------------


@session_or_token_required
@require_safe
def booking_calendar(request, booking_id):
    """The owner's confirmed booking as an iCalendar file, with a session or
    an API token."""
    booking = _own_booking_or_404(request, booking_id)
    if booking.status != BookingStatus.CONFIRMED:
        raise Http404("Only a confirmed booking has a calendar entry.")
    # Only the codes the buyer still holds: a ticket sent on has a code of its own.
    codes = [
        t.code
        for t in booking.tickets.all()
        if t.voided_at is None and t.holder_id == request.user.pk
    ]
    ics = booking_ics(
        booking,
        booking_url=request.build_absolute_uri(_booking_page(request, booking.pk)),
        codes=codes,
    )
    response = HttpResponse(ics, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, ics_filename(booking))
    response["Cache-Control"] = "private, no-store"
    return response


# --- waiting list ------------------------------------------------------------


@require_POST
@_login_then(_event_page_of_post)
def waitlist_join(request):
    form = WaitlistJoinForm(request.POST)
    if not form.is_valid():
        return _back_to_event(request, form)
    event_id = form.cleaned_data["event"]
    try:
        entry = services.waitlist_join(
            user=request.user,
            event_id=event_id,
            quantity=form.cleaned_data["quantity"],
            ticket_type_id=form.cleaned_data["ticket_type"],
        )
    except NuvioError as exc:
        if exc.status == 404:
            messages.error(request, "That event could not be found.")
            return redirect("home")
        messages.error(request, exc.message)
        return redirect("event-detail", event_id=event_id)
    messages.success(
        request,
        f"You are on the waiting list, number {entry.position} in line. As soon as "
        f"{entry.quantity} ticket{'s' if entry.quantity != 1 else ''} come back they are "
        "held for you and we let you know.",
    )
    return redirect("event-detail", event_id=event_id)


@require_POST
@_login_then(lambda request, **kwargs: reverse("bookings:list"))
def waitlist_leave(request, entry_id):
    try:
        entry = services.waitlist_leave(user=request.user, entry_id=entry_id)
    except NuvioError as exc:
        if exc.status == 404:
            raise Http404("No such waiting list entry.") from exc
        messages.error(request, exc.message)
        return redirect("bookings:list")
    if entry.offered_booking_id:
        messages.success(
            request, "You left the waiting list; the tickets held for you were released."
        )
    else:
        messages.success(request, "You left the waiting list.")
    return redirect("bookings:list")


# --- notifications -----------------------------------------------------------

NOTIFICATIONS_PER_PAGE = 20


@login_required
@require_safe
@never_cache
def notification_list(request):
    paginator = Paginator(
        notifications.notifications_for_user(user=request.user).select_related("event"),
        NOTIFICATIONS_PER_PAGE,
    )
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "bookings/notifications.html", {"page": page})


def _back_to_notifications(request) -> str:
    page = request.POST.get("page", "")
    url = reverse("notifications:list")
    return f"{url}?page={page}" if page.isdigit() else url


@require_POST
@_login_then(lambda request, **kwargs: reverse("notifications:list"))
def notification_read(request, notification_id):
    try:
        notifications.notification_mark_read(user=request.user, notification_id=notification_id)
    except NuvioError as exc:
        raise Http404("No such notification.") from exc
    return redirect(_back_to_notifications(request))


@require_POST
@_login_then(lambda request, **kwargs: reverse("notifications:list"))
def notification_read_all(request):
    count = notifications.notifications_mark_all_read(user=request.user)
    if count:
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect(_back_to_notifications(request))
