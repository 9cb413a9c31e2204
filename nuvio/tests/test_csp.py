"""The Content-Security-Policy of every page (django-csp, ``CONTENT_SECURITY_POLICY``).

Each page sends the policy, and its HTML fits it: every inline script or
style block carries the response's nonce, no element has an inline event
handler or a ``javascript:`` link, and a style attribute only has a value
whose hash the policy names. The browser half (nothing is blocked and the
pages still work, Swagger UI and ReDoc included) is ``e2e/test_csp.py``.
"""

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest
from csp.utils import build_policy
from django.test import Client

from bookings import services
from events.tests.factories import make_event

pytestmark = pytest.mark.django_db

GOOD_CARD = "4242424242424242"
SCRIPT_TYPES = {"", "text/javascript", "application/javascript", "module"}
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")

PAGES = [
    ("anonymous", "/"),
    ("anonymous", "/events/{event}/"),
    ("anonymous", "/accounts/login/"),
    ("anonymous", "/accounts/signup/"),
    ("anonymous", "/api-docs/"),
    ("anonymous", "/api/redoc/"),
    ("anonymous", "/no-such-page/"),
    ("customer", "/bookings/"),
    ("customer", "/bookings/{held}/"),
    ("customer", "/bookings/{paid}/"),
    ("customer", "/bookings/{paid}/print/"),
    ("customer", "/notifications/"),
    ("customer", "/accounts/profile/"),
    ("customer", "/api/bookings/"),  # the browsable API
    ("staff", "/dashboard/"),
    ("staff", "/dashboard/events/{event}/"),
    ("staff", "/checkin/"),
    ("admin", "/admin/"),
    ("admin", "/admin/events/event/"),
    ("admin", "/admin/events/event/{event}/change/"),
]


def parse_policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = sources
    return directives


def source_hash(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


class InlineCode(HTMLParser):
    """What a page runs or styles inline, as the browser would find it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str | None]] = []  # (tag, nonce) of inline blocks
        self.handlers: list[str] = []
        self.style_attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        script_type = (attributes.get("type") or "").lower()
        if tag == "script" and not attributes.get("src") and script_type in SCRIPT_TYPES:
            self.blocks.append((tag, attributes.get("nonce")))
        if tag == "style":
            self.blocks.append((tag, attributes.get("nonce")))
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.style_attributes.append(value or "")


def assert_page_fits_the_policy(response, *, inline_styles: bool = False) -> dict:
    assert "Content-Security-Policy" in response, "no Content-Security-Policy header"
    policy = parse_policy(response["Content-Security-Policy"])

    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["worker-src"] == ["'self'", "blob:"]
    nonces = set()
    for directive in ("script-src", "style-src"):
        sources = policy[directive]
        assert sources[0] == "'self'", policy
        for source in sources[1:]:
            if directive == "style-src" and inline_styles:
                assert source == "'unsafe-inline'", policy
            else:
                assert NONCE.fullmatch(source), f"{directive} allows {source}"
                nonces.add(NONCE.fullmatch(source).group(1))
    assert len(nonces) <= 1, "one nonce per response"
    nonce = nonces.pop() if nonces else None

    html = InlineCode()
    html.feed(response.content.decode())
    for tag, block_nonce in html.blocks:
        if tag == "style" and inline_styles:
            continue
        assert nonce is not None and block_nonce == nonce, f"an inline <{tag}> without the nonce"
    assert html.handlers == [], "inline event handlers"
    allowed_attributes = policy.get("style-src-attr", [])
    for value in html.style_attributes:
        assert source_hash(value) in allowed_attributes, f"style attribute {value!r} not allowed"
    return policy


@pytest.fixture
def site(staff, customer, django_user_model):
    event = make_event(name="Kathak Evening", city="Jaipur", capacity=30)
    held, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=1)
    paid, _ = services.booking_reserve(user=customer, event_id=event.pk, quantity=2)
    services.booking_pay(user=customer, booking_id=paid.pk, card_number=GOOD_CARD)
    admin = django_user_model.objects.create_superuser(
        email="admin@example.com", password="Tabla-Monsoon-2031!", name="Ada Admin"
    )
    clients = {"anonymous": Client()}
    for name, user in {"customer": customer, "staff": staff, "admin": admin}.items():
        clients[name] = Client()
        clients[name].force_login(user)
    ids = {"event": event.pk, "held": held.pk, "paid": paid.pk}
    return clients, ids


@pytest.mark.parametrize("persona, path", PAGES)
def test_every_page_sends_a_strict_policy_that_its_html_fits(site, persona, path):
    clients, ids = site
    response = clients[persona].get(path.format(**ids), HTTP_ACCEPT="text/html")

    assert response.status_code == (404 if path == "/no-such-page/" else 200)
    assert response["Content-Type"].startswith("text/html")
    # ReDoc's page alone allows inline styles: its bundle writes a style sheet
    # before it can be given the nonce. Scripts are strict everywhere.
    policy = assert_page_fits_the_policy(response, inline_styles=path == "/api/redoc/")
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]


def test_swagger_ui_starts_from_a_script_file_not_an_inline_script(client):
    html = client.get("/api-docs/").content.decode()
    assert 'src="/api-docs/?script="' in html

    script = client.get("/api-docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content


def test_each_response_has_its_own_nonce(client):
    first = parse_policy(client.get("/api/redoc/")["Content-Security-Policy"])
    second = parse_policy(client.get("/api/redoc/")["Content-Security-Policy"])
    assert NONCE.fullmatch(first["script-src"][1])
    assert first["script-src"] != second["script-src"]


@pytest.mark.urls("nuvio.tests.failing_urls")
@pytest.mark.parametrize("path, status", [("/bug/", 500), ("/lost-database/", 503)])
def test_the_server_error_page_fits_the_policy(path, status):
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == status
    policy = assert_page_fits_the_policy(response)
    assert any(NONCE.fullmatch(source) for source in policy["style-src"])


def test_api_answers_carry_the_policy_too(customer_api):
    response = customer_api.get("/api/bookings/")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == build_policy()
    assert "nonce-" not in response["Content-Security-Policy"]
