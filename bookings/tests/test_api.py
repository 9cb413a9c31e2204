"""The bookings part of the HTTP contract: codes, envelopes, scoping, idempotency."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers

from bookings import services
from bookings.api.serializers import BookingDetailSerializer, BookingSerializer
from bookings.idempotency import fingerprint, idempotency_begin, idempotency_cleanup
from bookings.models import Booking, BookingStatus, IdempotencyRecord, Payment
from bookings.tests.helpers import GOOD_CARD, confirmed, hold
from events.models import Event, EventStatus
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db
URL = "/api/bookings/"


def _error(response, status, code):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


def _reserve(api, event, quantity=1, **headers):
    return api.post(URL, {"event": str(event.pk), "quantity": quantity}, format="json", **headers)


def test_reserve_returns_held_booking(customer_api):
    event = make_event(capacity=10, price=Decimal("499.00"), name="Gig")
    response = _reserve(customer_api, event, 2)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "event", "quantity", "items", "unit_price", "subtotal", "discount",
        "total_price", "promo_code", "currency", "status", "expires_at", "created_at",
        "confirmed_at", "cancelled_at", "refund",
    }  # fmt: skip
    assert body["status"] == "held"
    assert body["total_price"] == body["subtotal"] == "998.00"
    assert body["unit_price"] == "499.00"
    assert (body["discount"], body["promo_code"]) == ("0.00", None)
    general = event.ticket_types.get()
    assert body["items"] == [
        {
            "ticket_type": {"id": str(general.pk), "name": "General admission"},
            "quantity": 2, "unit_price": "499.00", "discount": "0.00", "total": "998.00",
            "seats": [],
        }
    ]  # fmt: skip
    assert body["refund"] is None
    assert body["event"] == {
        "id": str(event.pk),
        "name": "Gig",
        "starts_at": body["event"]["starts_at"],
        "venue_name": event.venue_name,
        "city": event.city,
    }
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(seconds=890) < expires - timezone.now() <= dt.timedelta(seconds=900)
    assert Event.objects.get(pk=event.pk).tickets_taken == 2


def test_reserve_errors_in_the_contract(customer_api, outsider):
    small = make_event(capacity=2, max_tickets_per_user=2)
    hold(outsider, small, 1)
    assert _error(_reserve(customer_api, small, 2), 409, "sold_out")["details"] == {"available": 1}
    limited = make_event(capacity=50, max_tickets_per_user=2)
    assert _error(_reserve(customer_api, limited, 3), 409, "limit_exceeded")["details"] == {
        "limit": 2,
        "already_held": 0,
    }
    closed = make_event(status=EventStatus.CANCELLED)
    _error(_reserve(customer_api, closed), 409, "booking_closed")
    disabled = make_event(booking_enabled=False)
    _error(_reserve(customer_api, disabled), 409, "booking_closed")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event": "not-a-uuid", "quantity": 1},
        {"event": str(uuid.UUID(int=0)), "quantity": 1},
        {"quantity": 1},
        {"event": "EVENT", "quantity": 0},
        {"event": "EVENT", "quantity": 101},
        {"event": "EVENT", "quantity": "two"},
        {"event": "EVENT", "quantity": 1.5},
    ],
)
def test_reserve_invalid_bodies(customer_api, body):
    event = make_event()
    body = {k: (str(event.pk) if v == "EVENT" else v) for k, v in body.items()}
    error = _error(customer_api.post(URL, body, format="json"), 400, "invalid")
    assert error["details"]
    assert not Booking.objects.exists()


def test_reserve_requires_login(anon_api):
    _error(_reserve(anon_api, make_event()), 401, "not_authenticated")


def test_list_is_own_newest_first_with_filters(customer_api, customer, outsider, time_machine):
    now = timezone.now()
    soon, later, past = make_event(name="Soon"), make_event(name="Later"), make_event(name="Past")
    first = hold(customer, soon, 1, now=now - dt.timedelta(hours=2))  # lapsed
    time_machine.move_to(now + dt.timedelta(seconds=1))
    second = confirmed(customer, later, 1)
    hold(outsider, soon, 1)
    time_machine.move_to(now + dt.timedelta(seconds=2))
    third = confirmed(customer, past)
    Event.objects.filter(pk=past.pk).update(
        starts_at=now - dt.timedelta(days=1), ends_at=now - dt.timedelta(hours=20)
    )

    body = customer_api.get(URL).json()
    assert body["count"] == 3
    ids = [b["id"] for b in body["results"]]
    assert ids == [str(third.pk), str(second.pk), str(first.pk)]
    statuses = {b["id"]: b["status"] for b in body["results"]}
    assert statuses[str(first.pk)] == "expired"

    def ids_for(query):
        return [b["id"] for b in customer_api.get(URL + query).json()["results"]]

    assert ids_for("?status=expired") == [str(first.pk)]
    assert ids_for("?status=held") == []
    assert ids_for("?status=confirmed") == [str(third.pk), str(second.pk)]
    assert ids_for("?when=past") == [str(third.pk)]
    assert ids_for("?when=upcoming&status=confirmed") == [str(second.pk)]


@pytest.mark.parametrize("query", ["status=paid", "when=soon"])
def test_list_rejects_bad_filters(customer_api, query):
    error = _error(customer_api.get(f"{URL}?{query}"), 400, "invalid")
    assert query.split("=")[0] in error["details"]


def test_list_query_count_is_constant(customer_api, customer, django_assert_max_num_queries):
    events = [make_event(capacity=100) for _ in range(3)]
    for event in events:
        confirmed(customer, event)
    # The user, the count, the page (with its events and codes), its refunds,
    # its items, their seats.
    with django_assert_max_num_queries(6):
        customer_api.get(URL)
    for event in events:
        for _ in range(3):
            hold(customer, event)
    with django_assert_max_num_queries(6):
        assert customer_api.get(URL).json()["count"] == 12


def test_others_bookings_are_404_everywhere(outsider_api, customer):
    booking = hold(customer, make_event())
    base = f"{URL}{booking.pk}/"
    for response in (
        outsider_api.get(base),
        outsider_api.post(base + "pay/", {"card_number": GOOD_CARD}, format="json"),
        outsider_api.post(base + "cancel/"),
        outsider_api.get(base + "refund-quote/"),
    ):
        _error(response, 404, "not_found")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.HELD


def test_staff_cannot_see_customers_bookings_through_the_api(staff_api, customer):
    booking = hold(customer, make_event())
    _error(staff_api.get(f"{URL}{booking.pk}/"), 404, "not_found")


def test_pay_returns_confirmed_booking_with_payment_and_tickets(customer_api, customer):
    booking = hold(customer, make_event(price=Decimal("250.00")), 2)
    response = customer_api.post(
        f"{URL}{booking.pk}/pay/", {"card_number": GOOD_CARD}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["confirmed_at"]
    payment = Payment.objects.get(booking=booking)
    assert body["payment"] == {"id": str(payment.pk), "amount": "500.00", "status": "succeeded"}
    assert len(body["tickets"]) == 2
    assert set(body["tickets"][0]) == {
        "id", "code", "event", "ticket_type", "seat", "attendee_name", "attendee_email",
        "answers", "complete", "transferred_to", "checked_in_at",
    }  # fmt: skip


def test_pay_errors_in_the_contract(customer_api, customer, time_machine):
    booking = hold(customer, make_event())
    pay = f"{URL}{booking.pk}/pay/"
    _error(customer_api.post(pay, {"card_number": "4000000000000002"}), 402, "payment_declined")
    _error(customer_api.post(pay, {"card_number": "1234567812345678"}), 400, "invalid")
    _error(customer_api.post(pay, {}), 400, "invalid")
    assert customer_api.post(pay, {"card_number": GOOD_CARD}).status_code == 200
    _error(customer_api.post(pay, {"card_number": GOOD_CARD}), 409, "invalid_state")

    late = hold(customer, make_event())
    time_machine.move_to(late.expires_at + dt.timedelta(seconds=1))
    _error(
        customer_api.post(f"{URL}{late.pk}/pay/", {"card_number": GOOD_CARD}), 409, "hold_expired"
    )


def test_cancel_and_refund_quote(customer_api, customer):
    event = make_event(price=Decimal("800.00"), starts_at=timezone.now() + dt.timedelta(days=4))
    booking = confirmed(customer, event, 1)
    quote = customer_api.get(f"{URL}{booking.pk}/refund-quote/").json()
    assert quote == {"amount": "400.00", "percent": 50, "currency": "INR"}

    response = customer_api.post(f"{URL}{booking.pk}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["refund"] == {"amount": "400.00", "percent": 50, "status": "succeeded"}
    assert body["tickets"] == []
    _error(customer_api.post(f"{URL}{booking.pk}/cancel/"), 409, "invalid_state")


def test_cancel_after_start_is_booking_closed(customer_api, customer):
    event = make_event()
    booking = confirmed(customer, event)
    Event.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - dt.timedelta(minutes=5),
        ends_at=timezone.now() + dt.timedelta(hours=1),
    )
    _error(customer_api.post(f"{URL}{booking.pk}/cancel/"), 409, "booking_closed")


def test_me_stats(customer_api, customer, time_machine):
    now = timezone.now()
    a = make_event(price=Decimal("100.00"), starts_at=now + dt.timedelta(days=20))
    b = make_event(price=Decimal("50.00"), starts_at=now + dt.timedelta(days=20))
    confirmed(customer, a, 2)  # 200.00
    cancel_me = confirmed(customer, b, 1)  # 50.00, refunded in full (> 7 days)
    services.booking_cancel(user=customer, booking_id=cancel_me.pk)
    hold(customer, b, 1)
    hold(customer, b, 1, now=now - dt.timedelta(hours=1))  # lapsed: expired

    assert customer_api.get("/api/me/stats/").json() == {
        "bookings": {"held": 1, "confirmed": 1, "cancelled": 1, "expired": 1},
        "tickets_confirmed": 2,
        "upcoming_events": 1,
        "total_spent": "250.00",
        "total_refunded": "50.00",
        "currency": "INR",
    }


def test_writes_are_throttled_per_user(customer_api, outsider_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "write": "2/min"},
    }
    event = make_event(capacity=100, max_tickets_per_user=10)
    codes = [_reserve(customer_api, event).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert customer_api.get(URL).status_code == 200  # reads have their own allowance
    assert _reserve(outsider_api, event).status_code == 201


# --- Idempotency-Key --------------------------------------------------------------


def test_same_key_and_body_returns_the_first_answer(customer_api):
    event = make_event(capacity=10)
    first = _reserve(customer_api, event, 2, HTTP_IDEMPOTENCY_KEY="abc")
    again = _reserve(customer_api, event, 2, HTTP_IDEMPOTENCY_KEY="abc")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1
    assert Event.objects.get(pk=event.pk).tickets_taken == 2


def test_same_key_other_body_is_a_conflict(customer_api):
    event = make_event(capacity=10)
    _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="k")
    _error(_reserve(customer_api, event, 2, HTTP_IDEMPOTENCY_KEY="k"), 409, "idempotency_conflict")
    assert Booking.objects.count() == 1


def test_keys_are_per_user(customer_api, outsider_api):
    event = make_event(capacity=10)
    assert _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert _reserve(outsider_api, event, 1, HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    assert Booking.objects.count() == 2


def test_error_answers_are_replayed_too(customer_api, outsider):
    event = make_event(capacity=1)
    taken = hold(outsider, event)
    _error(_reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="x"), 409, "sold_out")
    services.booking_cancel(user=outsider, booking_id=taken.pk)
    _error(_reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="x"), 409, "sold_out")
    assert _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="y").status_code == 201


def _body_hash(event, quantity=1):
    return fingerprint("POST", URL, {"event": str(event.pk), "quantity": quantity})


def test_key_still_running_is_a_conflict(customer_api, customer):
    event = make_event(capacity=10)
    idempotency_begin(user=customer, key="busy", request_hash=_body_hash(event))
    _error(
        _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="busy"), 409, "idempotency_conflict"
    )
    assert not Booking.objects.exists()


def test_hold_whose_answer_was_lost_is_replayed_not_repeated(customer_api, customer):
    """The process died after committing the hold but before storing the
    answer (or Redis lost it): the key's row in the database still knows."""
    event = make_event(capacity=10)
    booking, _ = services.booking_reserve(
        user=customer, event_id=event.pk, quantity=1,
        idempotency_key="crash", request_hash=_body_hash(event),
    )  # fmt: skip

    response = _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="crash")

    assert response.status_code == 201
    assert response.json()["id"] == str(booking.pk)
    assert response["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1
    assert Event.objects.get(pk=event.pk).tickets_taken == 1


def test_lost_answer_with_another_body_is_a_conflict(customer_api, customer):
    event = make_event(capacity=10)
    services.booking_reserve(
        user=customer, event_id=event.pk, quantity=1,
        idempotency_key="k2", request_hash=_body_hash(event),
    )  # fmt: skip
    _error(_reserve(customer_api, event, 2, HTTP_IDEMPOTENCY_KEY="k2"), 409, "idempotency_conflict")
    assert Booking.objects.count() == 1


def test_request_that_died_before_creating_is_taken_over(customer_api, customer, time_machine):
    event = make_event(capacity=10)
    idempotency_begin(user=customer, key="died", request_hash=_body_hash(event))
    time_machine.move_to(timezone.now() + dt.timedelta(minutes=2))
    assert _reserve(customer_api, event, 1, HTTP_IDEMPOTENCY_KEY="died").status_code == 201
    assert Booking.objects.count() == 1


def test_a_key_older_than_a_day_may_be_used_afresh(customer, time_machine):
    event = make_event(capacity=10)
    first, _ = services.booking_reserve(
        user=customer, event_id=event.pk, quantity=1, idempotency_key="old", request_hash="h"
    )
    time_machine.move_to(timezone.now() + dt.timedelta(hours=25))
    second, _ = services.booking_reserve(
        user=customer, event_id=event.pk, quantity=1, idempotency_key="old", request_hash="h"
    )
    assert second.pk != first.pk
    assert IdempotencyRecord.objects.get(key="old").resource_id == second.pk


def test_pay_is_idempotent(customer_api, customer):
    booking = hold(customer, make_event())
    pay = f"{URL}{booking.pk}/pay/"
    first = customer_api.post(pay, {"card_number": GOOD_CARD}, HTTP_IDEMPOTENCY_KEY="p1")
    again = customer_api.post(pay, {"card_number": GOOD_CARD}, HTTP_IDEMPOTENCY_KEY="p1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Payment.objects.count() == 1


def test_overlong_key_is_invalid(customer_api):
    _error(_reserve(customer_api, make_event(), 1, HTTP_IDEMPOTENCY_KEY="k" * 256), 400, "invalid")


def test_keys_are_kept_24_hours(customer, time_machine):
    IdempotencyRecord.objects.create(
        user=customer, key="old", scope="reserve", request_hash="h", resource_id=uuid.uuid4()
    )
    time_machine.move_to(timezone.now() + dt.timedelta(hours=23))
    assert idempotency_cleanup() == 0
    time_machine.move_to(timezone.now() + dt.timedelta(hours=2))
    assert idempotency_cleanup() == 1


@pytest.mark.parametrize("serializer_class", [BookingSerializer, BookingDetailSerializer])
def test_hand_written_representation_matches_the_declared_fields(customer, serializer_class):
    event = make_event(price=Decimal("333.33"))
    held = hold(customer, event, 2)
    paid = confirmed(customer, event, 1)
    cancelled = services.booking_cancel(user=customer, booking_id=confirmed(customer, event).pk)
    for booking in (held, paid, cancelled):
        booking = Booking.objects.get(pk=booking.pk)
        serializer = serializer_class(booking)
        generic = serializers.ModelSerializer.to_representation(serializer, booking)
        assert serializer.to_representation(booking) == dict(generic)


EVENT_ID = "0e7e0000-0000-4000-8000-00000000c0de"


@pytest.mark.parametrize(
    "body",
    [
        {"event": EVENT_ID, "quantity": 1},
        {"event": EVENT_ID, "quantity": 100},
        {"event": EVENT_ID.upper(), "quantity": 7},
        {"event": EVENT_ID.replace("-", ""), "quantity": 1},
        {"event": "{" + EVENT_ID + "}", "quantity": 1},
        {"event": "urn:uuid:" + EVENT_ID, "quantity": 1},
        {"quantity": 1, "event": EVENT_ID},
        {"event": EVENT_ID, "quantity": 0},
        {"event": EVENT_ID, "quantity": 101},
        {"event": EVENT_ID, "quantity": -1},
        {"event": EVENT_ID, "quantity": True},
        {"event": EVENT_ID, "quantity": 1.0},
        {"event": EVENT_ID, "quantity": "1"},
        {"event": EVENT_ID, "quantity": None},
        {"event": "not-a-uuid", "quantity": 1},
        {"event": "", "quantity": 1},
        {"event": 12345, "quantity": 1},
        {"event": None, "quantity": 1},
        {"event": EVENT_ID},
        {"event": EVENT_ID, "quantity": 1, "promo_code": "SAVE10"},
        {"event": EVENT_ID, "quantity": 1, "items": []},
        {"event": EVENT_ID, "quantity": 1, "extra": 1},
    ],
)
def test_reserve_body_shortcut_validates_as_the_fields_do(body):
    """``ReserveSerializer`` checks the usual body without building its
    fields; whatever the body, its answer is the fields' answer."""
    from bookings.api.serializers import ReserveSerializer

    shortcut = ReserveSerializer(data=body)
    shortcut_valid = shortcut.is_valid()
    generic = ReserveSerializer(data=body)
    try:
        expected = serializers.Serializer.run_validation(generic, body)
    except serializers.ValidationError as exc:
        assert not shortcut_valid
        assert shortcut.errors == exc.detail
    else:
        assert shortcut_valid, shortcut.errors
        assert shortcut.validated_data == expected
        generic._validated_data, generic._errors = expected, {}
        assert shortcut.service_arguments() == generic.service_arguments()


def test_the_usual_reserve_body_is_checked_without_building_fields():
    from bookings.api.serializers import ReserveSerializer

    data = ReserveSerializer(data={"event": EVENT_ID, "quantity": 2})
    assert data.is_valid()
    assert "fields" not in data.__dict__  # DRF's cached_property was never built
    assert data.validated_data == {"event": uuid.UUID(EVENT_ID), "quantity": 2}
