"""Ticket pages: the QR code of a ticket, a printable page per booking, and
the staff check-in screen at the door."""

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from bookings import checkin
from bookings.forms import CheckInForm
from bookings.models import TICKET_ORDER, Booking, BookingStatus
from events.models import Event, EventStatus
from nuvio.decorators import session_or_token_required
from nuvio.errors import NotFound, NuvioError


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
    tickets = (
        booking.tickets.filter(voided_at__isnull=True)
        .select_related("seat")
        .order_by(*TICKET_ORDER)
    )
    return render(request, "bookings/print.html", {"booking": booking, "tickets": tickets})


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
                seat = done.ticket.seat
                result = {
                    "ok": True,
                    "message": f"Ticket {done.ticket.code} admitted to {done.event.name}.",
                    "seat": seat.label if seat else None,
                }
            # A fresh, empty code box for the next person in line.
            form = CheckInForm(initial={"event": event}, events=events)
        elif request.method == "POST":
            form.add_error("code", "Type or scan a ticket code.")
    counts = checkin.checkin_counts(event_id=event.pk) if event else None
    context = {"form": form, "result": result, "event": event, "counts": counts}
    return render(request, "bookings/checkin.html", context, status=status)
