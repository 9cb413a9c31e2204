"""The authorization matrix: every endpoint and page x anonymous / customer /
other customer / staff, as API.md says.

Each row names a request and what each persona gets. "Other customer" is the
outsider acting on the customer's objects: someone else's booking, ticket,
waiting list entry or notification is a 404 everywhere (no 403 that would
confirm it exists). Staff-only endpoints are 403 for customers; staff pages
send anonymous visitors to log in and refuse customers. ``LOGIN`` is a 302 to
the login page.

``test_every_route_is_in_the_matrix`` walks the URL resolver and fails when a
route (or, for the API, a method of it) is missing from the table.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import PASSWORD
from events.models import Seat
from events.queue import WaitingRoom, queue_join
from events.seating import seating_replace
from events.tests.factories import make_event
from nuvio.tests.world import GOOD_CARD, World, build_world

pytestmark = pytest.mark.django_db

LOGIN = "login"  # 302 to /accounts/login/
ADMIN_LOGIN = "admin-login"  # 302 to /admin/login/
PERSONAS = ("anon", "outsider", "customer", "staff")  # the order they act in


@dataclass(frozen=True)
class Row:
    method: str
    path: Any  # str, or callable(world) -> str
    expect: tuple  # anon, customer, other customer (outsider), staff
    body: Any = None  # dict, or callable(world, persona) -> dict
    api: bool = True

    def url(self, w: World) -> str:
        return self.path(w) if callable(self.path) else self.path

    def data(self, w: World, persona: str):
        return self.body(w, persona) if callable(self.body) else self.body


def event_body(w: World, persona: str) -> dict:
    return {
        "name": f"Made by {persona}",
        "venue_name": "Hall",
        "city": "Pune",
        "starts_at": "2099-01-01T18:00:00Z",
        "ends_at": "2099-01-01T21:00:00Z",
        "capacity": 10,
        "price": "10.00",
        "status": "published",
    }


def _plan_of(event) -> dict:
    """A seating plan of two seats of the event's first ticket type."""
    type_id = str(event.ticket_types.order_by("position", "id").first().pk)
    seats = [{"number": str(n), "x": n, "y": 0, "ticket_type": type_id} for n in (1, 2)]
    return {"sections": [{"name": "Stalls", "rows": [{"name": "A", "seats": seats}]}]}


def _queued(w: World):
    """An event on sale through its waiting room, open since a minute
    (made once per world)."""
    event = getattr(w, "queued", None)
    if event is None:
        event = w.queued = make_event(
            name="Queued Sale",
            queue_enabled=True,
            queue_opens_at=timezone.now() - dt.timedelta(minutes=1),
            queue_admit_per_minute=1000,
            queue_pass_minutes=10,
        )
    return event


def _in_queue(w: World, persona: str) -> dict:
    """Puts ``persona`` in the waiting room of ``_queued(w)``, so that they
    have a place to ask about; no body."""
    if persona != "anon":
        user = Token.objects.get(key=w.tokens[persona]).user
        queue_join(room=WaitingRoom.of(_queued(w)), user=user)
    return {}


def _seat_of(event) -> Seat:
    """A seat of the event, given a plan first if it has none."""
    if not event.seats.exists():
        seating_replace(actor=None, event_id=event.pk, sections=_plan_of(event)["sections"])
    return event.seats.order_by("position").first()


ROWS: dict[str, Row] = {
    # --- accounts (API)
    "register": Row(
        "post",
        "/api/auth/register/",
        (201, 201, 201, 201),
        lambda w, p: {"email": f"new-{p}@example.com", "password": PASSWORD, "name": p},
    ),
    "token": Row(
        "post",
        "/api/auth/token/",
        (200, 200, 200, 200),
        {"email": "customer@example.com", "password": PASSWORD},
    ),
    "me": Row("get", "/api/me/", (401, 200, 200, 200)),
    "me patch": Row("patch", "/api/me/", (401, 200, 200, 200), {"name": "Renamed"}),
    "me password": Row(
        "post",
        "/api/me/password/",
        (401, 204, 204, 204),
        {"old_password": PASSWORD, "new_password": "a-new-long-passphrase-42"},
    ),
    "me stats": Row("get", "/api/me/stats/", (401, 200, 200, 200)),
    # --- events (API)
    "events": Row("get", "/api/events/", (200, 200, 200, 200)),
    "event create": Row("post", "/api/events/", (401, 403, 403, 201), event_body),
    "event": Row("get", lambda w: f"/api/events/{w.event.pk}/", (200, 200, 200, 200)),
    "draft event": Row("get", lambda w: f"/api/events/{w.draft.pk}/", (404, 404, 404, 200)),
    "event put": Row(
        "put", lambda w: f"/api/events/{w.fresh.pk}/", (401, 403, 403, 200), event_body
    ),
    "event patch": Row(
        "patch", lambda w: f"/api/events/{w.fresh.pk}/", (401, 403, 403, 200), {"name": "X"}
    ),
    "event delete": Row("delete", lambda w: f"/api/events/{w.fresh.pk}/", (401, 403, 403, 204)),
    "event cancel": Row(
        "post", lambda w: f"/api/events/{w.fresh.pk}/cancel/", (401, 403, 403, 202)
    ),
    # --- ticket types and promo codes (API)
    "ticket types": Row(
        "get", lambda w: f"/api/events/{w.tiers.pk}/ticket-types/", (200, 200, 200, 200)
    ),
    "draft ticket types": Row(
        "get", lambda w: f"/api/events/{w.draft.pk}/ticket-types/", (404, 404, 404, 200)
    ),
    "ticket type create": Row(
        "post",
        lambda w: f"/api/events/{w.tiers.pk}/ticket-types/",
        (401, 403, 403, 201),
        lambda w, p: {"name": f"Made by {p}", "price": "10.00"},
    ),
    "ticket type": Row(
        "get", lambda w: f"/api/ticket-types/{w.standard.pk}/", (200, 200, 200, 200)
    ),
    "hidden ticket type": Row(
        "get", lambda w: f"/api/ticket-types/{w.hidden_type.pk}/", (404, 404, 404, 200)
    ),
    "ticket type patch": Row(
        "patch",
        lambda w: f"/api/ticket-types/{w.standard.pk}/",
        (401, 403, 403, 200),
        {"price": "12.00"},
    ),
    "ticket type delete": Row(
        "delete", lambda w: f"/api/ticket-types/{w.vip.pk}/", (401, 403, 403, 204)
    ),
    "promo codes": Row(
        "get", lambda w: f"/api/events/{w.tiers.pk}/promo-codes/", (401, 403, 403, 200)
    ),
    "promo code create": Row(
        "post",
        lambda w: f"/api/events/{w.tiers.pk}/promo-codes/",
        (401, 403, 403, 201),
        lambda w, p: {"code": f"BY-{p}", "discount_percent": 5},
    ),
    "promo code": Row("get", lambda w: f"/api/promo-codes/{w.promo.pk}/", (401, 403, 403, 200)),
    "promo code patch": Row(
        "patch",
        lambda w: f"/api/promo-codes/{w.promo.pk}/",
        (401, 403, 403, 200),
        {"active": False},
    ),
    "promo code delete": Row(
        "delete", lambda w: f"/api/promo-codes/{w.promo.pk}/", (401, 403, 403, 204)
    ),
    # --- seating plans (API)
    "seating plan replace": Row(
        "put",
        lambda w: f"/api/events/{w.fresh.pk}/seating/",
        (401, 403, 403, 200),
        lambda w, p: _plan_of(w.fresh),
    ),
    "seats block": Row(
        "post",
        lambda w: f"/api/events/{w.fresh.pk}/seats/block/",
        (401, 403, 403, 200),
        lambda w, p: {"seats": [str(_seat_of(w.fresh).pk)], "blocked": True},
    ),
    "seats": Row("get", lambda w: f"/api/events/{w.event.pk}/seats/", (200, 200, 200, 200)),
    "draft seats": Row("get", lambda w: f"/api/events/{w.draft.pk}/seats/", (404, 404, 404, 200)),
    # --- waiting room (API)
    "queue join": Row(
        "post", lambda w: f"/api/events/{_queued(w).pk}/queue/", (401, 201, 201, 201)
    ),
    "queue place": Row(
        "get", lambda w: f"/api/events/{_queued(w).pk}/queue/", (401, 200, 200, 200), _in_queue
    ),
    "queue place of no one": Row(
        "get", lambda w: f"/api/events/{_queued(w).pk}/queue/", (401, 404, 404, 404)
    ),
    "queue leave": Row(
        "delete", lambda w: f"/api/events/{_queued(w).pk}/queue/", (401, 204, 204, 204), _in_queue
    ),
    "draft queue join": Row(
        "post", lambda w: f"/api/events/{w.draft.pk}/queue/", (401, 404, 404, 409)
    ),
    # --- waiting list (API)
    "waitlist join": Row(
        "post",
        lambda w: f"/api/events/{w.soldout2.pk}/waitlist/",
        (401, 201, 201, 201),
        {"quantity": 1},
    ),
    "waitlist": Row("get", "/api/waitlist/", (401, 200, 200, 200)),
    "waitlist entry": Row("get", lambda w: f"/api/waitlist/{w.entry.pk}/", (401, 200, 404, 404)),
    "waitlist leave": Row("delete", lambda w: f"/api/waitlist/{w.entry.pk}/", (401, 204, 404, 404)),
    # --- bookings (API)
    "bookings": Row("get", "/api/bookings/", (401, 200, 200, 200)),
    "reserve": Row(
        "post",
        "/api/bookings/",
        (401, 201, 201, 201),
        lambda w, p: {"event": str(w.event.pk), "quantity": 1},
    ),
    "quote": Row(
        "post",
        "/api/bookings/quote/",
        (401, 200, 200, 200),
        lambda w, p: {"event": str(w.event.pk), "quantity": 1},
    ),
    "booking": Row("get", lambda w: f"/api/bookings/{w.held.pk}/", (401, 200, 404, 404)),
    "pay": Row(
        "post",
        lambda w: f"/api/bookings/{w.held.pk}/pay/",
        (401, 200, 404, 404),
        {"card_number": GOOD_CARD},
    ),
    "cancel": Row("post", lambda w: f"/api/bookings/{w.held.pk}/cancel/", (401, 200, 404, 404)),
    "refund quote": Row(
        "get", lambda w: f"/api/bookings/{w.confirmed.pk}/refund-quote/", (401, 200, 404, 404)
    ),
    "tickets": Row(
        "get", lambda w: f"/api/bookings/{w.confirmed.pk}/tickets/", (401, 200, 404, 404)
    ),
    # --- tickets held (API): the holder's alone, staff included
    "my tickets": Row("get", "/api/tickets/", (401, 200, 200, 200)),
    "ticket": Row("get", lambda w: f"/api/tickets/{w.ticket.pk}/", (401, 200, 404, 404)),
    "ticket patch": Row(
        "patch",
        lambda w: f"/api/tickets/{w.ticket.pk}/",
        (401, 200, 404, 404),
        {"attendee_name": "Someone Else"},
    ),
    "ticket transfer": Row(
        "post",
        lambda w: f"/api/tickets/{w.ticket.pk}/transfer/",
        (401, 200, 404, 404),
        {"email": "outsider@example.com"},
    ),
    # --- notifications (API)
    "notifications": Row("get", "/api/notifications/", (401, 200, 200, 200)),
    "notification read": Row(
        "post", lambda w: f"/api/notifications/{w.notification.pk}/read/", (401, 200, 404, 404)
    ),
    # --- staff (API)
    "checkin": Row(
        "post", "/api/checkin/", (401, 403, 403, 200), lambda w, p: {"code": w.ticket.code}
    ),
    "attendees": Row("get", lambda w: f"/api/events/{w.event.pk}/attendees/", (401, 403, 403, 200)),
    "attendees csv": Row(
        "get", lambda w: f"/api/events/{w.event.pk}/attendees/?format=csv", (401, 403, 403, 200)
    ),
    "checkin summary": Row(
        "get", lambda w: f"/api/checkin/summary/?event={w.event.pk}", (401, 403, 403, 200)
    ),
    "analytics summary": Row("get", "/api/analytics/summary/", (401, 403, 403, 200)),
    "analytics event": Row(
        "get", lambda w: f"/api/analytics/events/{w.event.pk}/", (401, 403, 403, 200)
    ),
    # --- docs and operations
    "schema": Row("get", "/api/schema/", (200, 200, 200, 200)),
    "redoc": Row("get", "/api/redoc/", (200, 200, 200, 200)),
    "swagger": Row("get", "/api-docs/", (200, 200, 200, 200), api=False),
    "healthz": Row("get", "/healthz", (200, 200, 200, 200), api=False),
    # --- pages: catalog
    "home page": Row("get", "/", (200, 200, 200, 200), api=False),
    "event page": Row("get", lambda w: f"/events/{w.event.pk}/", (200, 200, 200, 200), api=False),
    "draft page": Row("get", lambda w: f"/events/{w.draft.pk}/", (404, 404, 404, 200), api=False),
    "waiting room page": Row(
        "get", lambda w: f"/events/{_queued(w).pk}/queue/", (LOGIN, 200, 200, 200), api=False
    ),
    "draft waiting room page": Row(
        "get", lambda w: f"/events/{w.draft.pk}/queue/", (LOGIN, 404, 404, 302), api=False
    ),
    "waiting room join page": Row(
        "post", lambda w: f"/events/{_queued(w).pk}/queue/", (LOGIN, 302, 302, 302), api=False
    ),
    "waiting room leave page": Row(
        "post",
        lambda w: f"/events/{_queued(w).pk}/queue/leave/",
        (LOGIN, 302, 302, 302),
        api=False,
    ),
    # --- pages: bookings
    "my bookings page": Row("get", "/bookings/", (LOGIN, 200, 200, 200), api=False),
    "book page": Row(
        "post",
        "/bookings/new/",
        (LOGIN, 302, 302, 302),
        lambda w, p: {"event": str(w.event.pk), "quantity": 1},
        api=False,
    ),
    "booking page": Row(
        "get", lambda w: f"/bookings/{w.held.pk}/", (LOGIN, 200, 404, 404), api=False
    ),
    "pay page": Row(
        "post",
        lambda w: f"/bookings/{w.held.pk}/pay/",
        (LOGIN, 302, 404, 404),
        {"card_number": GOOD_CARD},
        api=False,
    ),
    "cancel page": Row(
        "post", lambda w: f"/bookings/{w.held.pk}/cancel/", (LOGIN, 302, 404, 404), api=False
    ),
    "calendar": Row(
        "get",
        lambda w: f"/bookings/{w.confirmed.pk}/calendar.ics",
        (LOGIN, 200, 404, 404),
        api=False,
    ),
    "print page": Row(
        "get", lambda w: f"/bookings/{w.confirmed.pk}/print/", (LOGIN, 200, 404, 404), api=False
    ),
    "ticket qr": Row(
        "get", lambda w: f"/tickets/{w.ticket.code}.svg", (LOGIN, 200, 404, 200), api=False
    ),
    "my tickets page": Row("get", "/tickets/", (LOGIN, 200, 200, 200), api=False),
    # Someone else's ticket: back to one's own tickets, saying it is not there.
    "ticket attendee page": Row(
        "post",
        lambda w: f"/tickets/{w.ticket.pk}/attendee/",
        (LOGIN, 302, 302, 302),
        lambda w, p: {f"attendee-{w.ticket.pk.hex}-attendee_name": "Someone Else"},
        api=False,
    ),
    "ticket transfer page": Row(
        "post",
        lambda w: f"/tickets/{w.ticket.pk}/transfer/",
        (LOGIN, 302, 302, 302),
        lambda w, p: {
            f"transfer-{w.ticket.pk.hex}-email": "outsider@example.com",
            f"transfer-{w.ticket.pk.hex}-confirm": "on",
        },
        api=False,
    ),
    "booking ticket attendee page": Row(
        "post",
        lambda w: f"/bookings/{w.confirmed.pk}/tickets/{w.ticket.pk}/attendee/",
        (LOGIN, 302, 404, 404),
        lambda w, p: {f"attendee-{w.ticket.pk.hex}-attendee_name": "Someone Else"},
        api=False,
    ),
    "waitlist join page": Row(
        "post",
        "/bookings/waitlist/join/",
        (LOGIN, 302, 302, 302),
        lambda w, p: {"event": str(w.soldout2.pk), "quantity": 1},
        api=False,
    ),
    "waitlist leave page": Row(
        "post",
        lambda w: f"/bookings/waitlist/{w.entry.pk}/leave/",
        (LOGIN, 302, 404, 404),
        api=False,
    ),
    # --- pages: notifications
    "notifications page": Row("get", "/notifications/", (LOGIN, 200, 200, 200), api=False),
    "notification read page": Row(
        "post",
        lambda w: f"/notifications/{w.notification.pk}/read/",
        (LOGIN, 302, 404, 404),
        api=False,
    ),
    "read all page": Row("post", "/notifications/read-all/", (LOGIN, 302, 302, 302), api=False),
    # --- pages: staff (a signed-in customer is sent to log in with a staff
    # account at the door; the dashboard refuses them outright)
    "checkin page": Row("get", "/checkin/", (LOGIN, LOGIN, LOGIN, 200), api=False),
    "dashboard": Row("get", "/dashboard/", (LOGIN, 403, 403, 200), api=False),
    "daily csv": Row("get", "/dashboard/daily.csv", (LOGIN, 403, 403, 200), api=False),
    "events csv": Row("get", "/dashboard/events.csv", (LOGIN, 403, 403, 200), api=False),
    "event figures page": Row(
        "get", lambda w: f"/dashboard/events/{w.event.pk}/", (LOGIN, 403, 403, 200), api=False
    ),
    "event sales csv": Row(
        "get",
        lambda w: f"/dashboard/events/{w.event.pk}/sales.csv",
        (LOGIN, 403, 403, 200),
        api=False,
    ),
    "admin": Row("get", "/admin/", (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200), api=False),
    # --- pages: accounts
    "signup page": Row("get", "/accounts/signup/", (200, 302, 302, 302), api=False),
    "login page": Row("get", "/accounts/login/", (200, 302, 302, 302), api=False),
    "logout": Row("post", "/accounts/logout/", (302, 302, 302, 302), api=False),
    "profile page": Row("get", "/accounts/profile/", (LOGIN, 200, 200, 200), api=False),
}


def _client(row: Row, persona: str, w: World, users: dict):
    if row.api:
        client = APIClient()
        if persona != "anon":
            client.credentials(HTTP_AUTHORIZATION=f"Token {w.tokens[persona]}")
        return client
    client = Client()
    if persona != "anon":
        client.force_login(users[persona])
    return client


def _call(row: Row, persona: str, w: World, users: dict):
    client = _client(row, persona, w, users)
    data = row.data(w, persona)
    if row.api:
        return getattr(client, row.method)(row.url(w), data, format="json")
    return getattr(client, row.method)(row.url(w), data or {})


def _check(response, expected, where: str) -> None:
    if expected in (LOGIN, ADMIN_LOGIN):
        target = "/accounts/login/" if expected == LOGIN else "/admin/login/"
        assert response.status_code == 302, f"{where}: {response.status_code}, not 302"
        assert response["Location"].startswith(target), f"{where}: to {response['Location']}"
        return
    assert response.status_code == expected, (
        f"{where}: {response.status_code}, not {expected}: {response.content[:300]!r}"
    )
    if response.status_code >= 400 and where.split()[0].startswith("/api/"):
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("name", list(ROWS))
def test_matrix(name, staff, customer, outsider):
    row = ROWS[name]
    users = {"staff": staff, "customer": customer, "outsider": outsider}
    w = build_world(staff=staff, customer=customer, outsider=outsider)
    expected = dict(zip(("anon", "customer", "outsider", "staff"), row.expect, strict=True))
    for persona in PERSONAS:
        response = _call(row, persona, w, users)
        _check(response, expected[persona], f"{row.url(w)} {row.method.upper()} as {persona}")


def test_others_objects_are_404_not_403(outsider_api, staff, customer, outsider):
    """BOLA, from the other side: the outsider's own booking, ticket and
    notification are invisible to the customer, on the API and the pages."""
    w = build_world(staff=staff, customer=customer, outsider=outsider)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {w.tokens['customer']}")
    page = Client()
    page.force_login(customer)
    booking = w.other_booking.pk
    ticket = w.other_ticket.pk
    for path in (
        f"/api/bookings/{booking}/",
        f"/api/bookings/{booking}/tickets/",
        f"/api/tickets/{ticket}/",
    ):
        assert api.get(path).status_code == 404
    assert api.post(f"/api/bookings/{booking}/cancel/").status_code == 404
    assert api.patch(f"/api/tickets/{ticket}/", {"attendee_name": "X"}).status_code == 404
    transfer = api.post(f"/api/tickets/{ticket}/transfer/", {"email": "customer@example.com"})
    assert transfer.status_code == 404
    for path in (
        f"/bookings/{booking}/",
        f"/bookings/{booking}/print/",
        f"/bookings/{booking}/calendar.ics",
        f"/tickets/{w.other_ticket.code}.svg",
    ):
        assert page.get(path).status_code == 404, path
    assert page.post(f"/bookings/{booking}/cancel/").status_code == 404
    # ... and a list never shows them.
    listed = {b["id"] for b in api.get("/api/bookings/").json()["results"]}
    assert str(booking) not in listed
    held = {t["id"] for t in api.get("/api/tickets/").json()["results"]}
    assert held and str(ticket) not in held
    assert outsider_api.get(f"/api/bookings/{booking}/").status_code == 200


def test_customer_sent_to_login_from_a_staff_page_is_not_bounced_back(customer):
    """The door page sends a signed-in customer to log in as staff; the login
    page must offer that, not redirect back to the door (a redirect loop)."""
    client = Client()
    client.force_login(customer)
    first = client.get("/checkin/")
    assert first.status_code == 302
    login = client.get(first["Location"])
    assert login.status_code == 200
    assert "staff" in login.content.decode()


# --- every route is in the matrix ------------------------------------------------


def _routes(patterns=None, prefix=""):
    """``(route, callback)`` for every URL pattern, the route written as
    ``ResolverMatch.route`` writes it."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(
                pattern.url_patterns, URLResolver._join_route(prefix, str(pattern.pattern))
            )
        elif isinstance(pattern, URLPattern):
            yield URLResolver._join_route(prefix, str(pattern.pattern)), pattern.callback


def _api_methods(callback) -> set[str]:
    """The methods a DRF route answers (pages are checked by route only)."""
    if getattr(callback, "actions", None):  # a viewset route
        return set(callback.actions) - {"head", "options"}  # HEAD is GET without a body
    view_class = getattr(callback, "cls", None)  # a DRF APIView
    if view_class is None:
        return set()
    return {m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}


def test_every_route_is_in_the_matrix(staff, customer, outsider):
    w = build_world(staff=staff, customer=customer, outsider=outsider)
    covered: dict[str, set[str]] = {}
    for row in ROWS.values():
        match = resolve(row.url(w).split("?")[0])
        covered.setdefault(match.route, set()).add(row.method)
    missing = []
    for route, callback in _routes():
        if route.startswith("admin/") and route != "admin/":
            continue  # Django's admin: its own permissions; the index is in the table
        if route not in covered:
            missing.append(route)
            continue
        for method in sorted(_api_methods(callback) - covered[route]):
            missing.append(f"{method.upper()} {route}")
    assert not missing, f"routes missing from the authorization matrix: {missing}"
