import json

from django.db import transaction
from django.db.models import F
from django.http import JsonResponse
from shop.models import Booking, Event


def hello(request):
    return JsonResponse({"hello": "world"})


def book(request, event_id):
    """The minimal correct booking: lock the event row, check, decrement, insert."""
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    body = json.loads(request.body or b"{}")
    quantity = int(body.get("quantity", 1))
    with transaction.atomic():
        event = Event.objects.select_for_update().get(pk=event_id)
        if event.available < quantity:
            return JsonResponse({"error": "sold_out", "available": event.available}, status=409)
        Event.objects.filter(pk=event_id).update(available=F("available") - quantity)
        booking = Booking.objects.create(
            event_id=event_id, user_ref=int(body.get("user", 0)), quantity=quantity
        )
    return JsonResponse({"id": booking.pk, "event": event_id, "quantity": quantity}, status=201)


def events(request):
    rows = list(
        Event.objects.order_by("starts_at", "id").values(
            "id", "name", "starts_at", "capacity", "available", "price"
        )[:20]
    )
    for row in rows:
        row["price"] = str(row["price"])
        row["starts_at"] = row["starts_at"].isoformat()
    return JsonResponse({"count": len(rows), "results": rows})
