"""The waiting room's page, ``/events/{id}/queue/``: a person's place in an
event's queue, the people ahead of them and the estimated wait, and the
Book form once they are let in. Joining is a POST (the page's form, or the
event page's); a GET only looks. ``static/js/waiting-room.js`` keeps the
page up to date from ``GET /api/events/{id}/queue/``."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from events.models import Event
from events.queue_page import place_seen, queue_place_leave, queue_place_take
from events.views import offer_context
from nuvio.errors import NuvioError


def _event_or_404(request, event_id) -> Event:
    return get_object_or_404(Event.objects.visible_to(request.user).with_available(), pk=event_id)


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def event_queue(request, event_id):
    """GET: the person's place (or the Join button); POST: join, then the page.

    An event that sells without a waiting room sends the person to its page,
    where the Book form is."""
    event = _event_or_404(request, event_id)
    now = timezone.now()
    if request.method == "POST":
        try:
            queue_place_take(event=event, user=request.user, now=now)
        except NuvioError as exc:
            messages.error(request, exc.message)
            return redirect("event-detail", event_id=event.pk)
        return redirect("event-queue", event_id=event.pk)

    if not event.queue_enabled:
        return redirect("event-detail", event_id=event.pk)
    context = offer_context(request, event, now, seat_map=False)
    queue = context["queue"]
    place = queue.place if queue is not None else None
    # The progress bar runs from the people ahead when the place was first
    # seen: the session remembers them across visits.
    key = f"queue_seen_{event.pk}"
    place, seen = place_seen(place, request.session.get(key))
    if seen != request.session.get(key):
        request.session[key] = seen
    context |= {"now": now, "place": place}
    return render(request, "events/queue.html", context)


@require_POST
def event_queue_leave(request, event_id):
    """Give up one's place in the queue (or one's admission), back to the event page."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("event-queue", args=[event_id]))
    event = _event_or_404(request, event_id)
    queue_place_leave(event=event, user=request.user)
    messages.success(request, "You left the waiting room.")
    return redirect("event-detail", event_id=event.pk)
