"""Ticket pages: my tickets (who comes, handing a ticket on), the QR code
of a ticket, a printable page per booking, and the staff check-in screen at
the door."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from bookings import checkin
from bookings.forms import AttendeeForm, CheckInForm, TransferForm, tickets_with_forms
from bookings.models import TICKET_ORDER, Booking, BookingStatus, Ticket
from bookings.services.tickets import event_questions, missing_answers
from bookings.views import _login_then
from events.models import Event, EventStatus
from nuvio.decorators import session_or_token_required
from nuvio.errors import NotFound, NuvioError
from nuvio.timezones import human

# --- my tickets ------------------------------------------------------------------


def _my_tickets_page(request, **kwargs) -> str:
    return reverse("my-tickets")


def _held_tickets(user):
    """The valid tickets ``user`` holds, by their event's start, then as
    their booking lists them."""
    return (
        Ticket.objects.filter(
            holder=user, voided_at__isnull=True, booking__status=BookingStatus.CONFIRMED
        )
        .select_related("booking__event", "booking__user", "ticket_type", "seat")
        .order_by("booking__event__starts_at", "booking__event_id", *TICKET_ORDER)
    )


def _held_ticket_or_none(user, ticket_id) -> Ticket | None:
    return _held_tickets(user).filter(pk=ticket_id).first()


def _render_my_tickets(request, *, bound=None, status=200):
    now = timezone.now()
    tickets = tickets_with_forms(
        list(_held_tickets(request.user)), user=request.user, now=now, bound=bound
    )
    upcoming = [t for t in tickets if t.booking.event.starts_at > now]
    # The latest past event first; a stable sort keeps each event's tickets in order.
    past = sorted(
        (t for t in tickets if t.booking.event.starts_at <= now),
        key=lambda t: t.booking.event.starts_at,
        reverse=True,
    )
    context = {"upcoming": upcoming, "past": past}
    return render(request, "bookings/tickets.html", context, status=status)


def _gone(request):
    messages.error(request, "That ticket is not in your account (any more).")
    return redirect("my-tickets")


def _ticket_anchor(ticket) -> str:
    return f"{reverse('my-tickets')}#ticket-{ticket.pk}"


@login_required
@require_safe
@never_cache
def my_tickets(request):
    """`/tickets/`: the tickets the user holds (own and transferred to them),
    upcoming first, each with the attendee details form and the transfer form."""
    return _render_my_tickets(request)


@require_POST
@_login_then(_my_tickets_page)
@never_cache
def ticket_attendee(request, ticket_id):
    """Save who comes on one of my tickets; back to my tickets (PRG), or the
    page again with the reasons next to the fields and what was typed."""
    ticket = _held_ticket_or_none(request.user, ticket_id)
    if ticket is None:
        return _gone(request)
    form = AttendeeForm(
        request.POST, ticket=ticket, questions=event_questions(ticket.booking.event_id)
    )
    if form.is_valid():
        saved = form.save(user=request.user)
        if saved is not None:
            messages.success(request, form.saved_message(saved))
            return redirect(_ticket_anchor(ticket))
    return _render_my_tickets(request, bound={ticket.pk: form}, status=form.status)


@require_POST
@_login_then(_my_tickets_page)
@never_cache
def ticket_transfer(request, ticket_id):
    """Send one of my tickets to another account; back to my tickets (PRG),
    or the page again with the reasons next to the fields."""
    ticket = _held_ticket_or_none(request.user, ticket_id)
    if ticket is None:
        return _gone(request)
    form = TransferForm(request.POST, ticket=ticket)
    if form.is_valid():
        transfer = form.save(user=request.user)
        if transfer is not None:
            messages.success(
                request,
                f"Your ticket for {ticket.booking.event.name} was sent to "
                f"{transfer.recipient.email}. Its old code no longer works; "
                "they find the ticket under My tickets.",
            )
            return redirect("my-tickets")
    return _render_my_tickets(request, bound={ticket.pk: form}, status=form.status)


@session_or_token_required
@require_safe
def ticket_qr(request, code):
    """`/tickets/{code}.svg`: the holder's or staff's, with a session or an API
    token; anyone else gets a 404."""
    try:
        ticket = checkin.visible_ticket(user=request.user, code=code)
    except NotFound:
        raise Http404("No such ticket.") from None
    response = HttpResponse(checkin.ticket_qr_svg(ticket.code), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_safe
def ticket_print(request, booking_id):
    booking = get_object_or_404(
        Booking.objects.select_related("event").filter(
            user=request.user, status=BookingStatus.CONFIRMED
        ),
        pk=booking_id,
    )
    tickets = list(
        booking.tickets.filter(voided_at__isnull=True)
        .select_related("seat", "ticket_type", "holder")
        .order_by(*TICKET_ORDER)
    )
    # Tickets the buyer sent to someone else are theirs now: no code here.
    context = {
        "booking": booking,
        "event": booking.event,
        "tickets": [t for t in tickets if t.holder_id == request.user.pk],
        "sent": [t for t in tickets if t.holder_id != request.user.pk],
    }
    return render(request, "bookings/print.html", context)


def _admitted(done: checkin.CheckIn) -> dict:
    """What the door sees of an admitted ticket: who, which ticket, and what
    its attendee details still lack (admitted all the same)."""
    ticket, event = done.ticket, done.event
    missing = missing_answers(event_questions(event.pk), ticket.answers)
    name = ticket.attendee_name.strip()
    return {
        "ok": True,
        "message": (
            f"Ticket {ticket.code} admitted to {event.name} "
            f"({human(event.starts_at, event.timezone)})."
        ),
        "seat": ticket.seat.label if ticket.seat else None,
        "attendee": name,
        "ticket_type": ticket.ticket_type.name if ticket.ticket_type else None,
        "incomplete": not name or bool(missing),
        "name_missing": not name,
        "missing": [question.label for question in missing],
    }


def _door_events():
    """Events worth checking in: published or cancelled, from yesterday on."""
    since = timezone.now() - timezone.timedelta(days=1)
    return Event.objects.filter(
        status__in=[EventStatus.PUBLISHED, EventStatus.CANCELLED], ends_at__gte=since
    ).order_by("starts_at", "id")


@staff_member_required(login_url="accounts:login")
@require_http_methods(["GET", "POST"])
def checkin_page(request):
    """Choose the event, then type or scan codes; each scan answers green or red."""
    events = _door_events()
    form = CheckInForm(request.POST if request.method == "POST" else request.GET, events=events)
    result, event, status = None, None, 200
    if form.is_valid():
        event = form.cleaned_data["event"]
        code = form.cleaned_data["code"]
        if request.method == "POST" and code:
            try:
                done = checkin.ticket_check_in(
                    staff=request.user, code=code, event_id=event.pk if event else None
                )
            except NuvioError as exc:
                result, status = {"ok": False, "code": exc.code, "message": exc.message}, exc.status
            else:
                result = _admitted(done)
            # A fresh, empty code box for the next person in line.
            form = CheckInForm(initial={"event": event}, events=events)
        elif request.method == "POST":
            form.add_error("code", "Type or scan a ticket code.")
    counts = checkin.checkin_counts(event_id=event.pk) if event else None
    context = {"form": form, "result": result, "event": event, "counts": counts}
    return render(request, "bookings/checkin.html", context, status=status)
