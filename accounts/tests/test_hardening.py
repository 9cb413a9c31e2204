"""Hardening: CSRF on every HTML form, throttled log-in and sign-up (per IP,
sharing the API's counters, X-Forwarded-For not trusted unless behind our
proxy), no user enumeration, secure cookies and secrets from the environment
in production."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from conftest import PASSWORD
from nuvio.tests.world import build_world

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)


@pytest.fixture
def auth_rate(settings):
    """`auth` and `register` at 3 a minute (the default `auth` is 10)."""

    def set_rates(auth="3/min", register="3/min"):
        rates = {**settings.NUVIO_THROTTLE_RATES, "auth": auth, "register": register}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    set_rates()
    return set_rates


# --- CSRF on every form -----------------------------------------------------------


def _pages(w):
    """(persona, page) for every page that carries a POST form."""
    return [
        ("anon", "/accounts/login/"),
        ("anon", "/accounts/signup/"),
        ("customer", "/accounts/profile/"),
        ("customer", f"/events/{w.event.pk}/"),  # book (and the header's log-out form)
        ("outsider", f"/events/{w.soldout2.pk}/"),  # join the waiting list
        ("customer", f"/bookings/{w.held.pk}/"),  # pay, cancel the hold
        ("customer", f"/bookings/{w.confirmed.pk}/"),  # cancel with refund
        ("customer", "/bookings/"),  # leave the waiting list
        ("customer", "/notifications/"),  # read one, read all
        ("staff", "/checkin/"),
    ]


def test_every_post_form_carries_a_csrf_token_and_is_refused_without_it(staff, customer, outsider):
    w = build_world(staff=staff, customer=customer, outsider=outsider)
    users = {"staff": staff, "customer": customer, "outsider": outsider}
    checked = set()
    for persona, path in _pages(w):
        client = Client(enforce_csrf_checks=True)
        if persona != "anon":
            client.force_login(users[persona])
        response = client.get(path)
        assert response.status_code == 200, path
        forms = [
            (attrs, body)
            for attrs, body in FORM.findall(response.content.decode())
            if re.search(r'method="post"', attrs, re.I)
        ]
        assert forms, f"{path} has no POST form"
        for attrs, body in forms:
            assert 'name="csrfmiddlewaretoken"' in body, f"a form on {path} lacks the token"
            action = re.search(r'action="([^"]*)"', attrs)
            target = action.group(1) if action and action.group(1) else path
            if target in checked:
                continue
            checked.add(target)
            # The same session, the form's fields but no token: refused.
            fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', body))
            fields.pop("csrfmiddlewaretoken", None)
            refused = client.post(target, fields)
            assert refused.status_code == 403, f"POST {target} without a token: {refused}"
    assert len(checked) >= 12, checked


# --- log-in throttled per IP --------------------------------------------------------


def _login(client, email, password, **extra):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def test_login_is_throttled_after_failed_attempts(client, customer, auth_rate):
    for _ in range(3):
        assert _login(client, customer.email, "wrong").status_code == 200
    refused = _login(client, customer.email, PASSWORD)  # even the right password now
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    page = refused.content.decode()
    assert "Too many failed log-in attempts" in page
    assert customer.email in page  # what was typed is kept
    assert "_auth_user_id" not in client.session


def test_successful_logins_do_not_count(client, customer, auth_rate):
    for _ in range(5):
        assert _login(client, customer.email, PASSWORD).status_code == 302
        client.post("/accounts/logout/")


def test_login_and_token_share_one_budget_per_ip(client, anon_api, customer, auth_rate):
    for _ in range(3):
        _login(client, customer.email, "wrong")
    response = anon_api.post("/api/auth/token/", {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"


def test_another_ip_is_not_throttled(client, customer, auth_rate):
    for _ in range(3):
        _login(client, customer.email, "wrong")
    assert _login(client, customer.email, PASSWORD, REMOTE_ADDR="10.9.8.7").status_code == 302


def test_forged_forwarded_for_does_not_reset_the_count(client, anon_api, customer, auth_rate):
    for i in range(3):
        _login(client, customer.email, "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert _login(
        client, customer.email, "wrong", HTTP_X_FORWARDED_FOR="10.0.0.99"
    ).status_code == (429)
    statuses = [
        anon_api.post(
            "/api/auth/token/",
            {"email": customer.email, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"10.1.0.{i}",
        ).status_code
        for i in range(2)
    ]
    assert statuses == [429, 429]


def test_signup_is_throttled_per_ip(client, auth_rate):
    for i in range(3):
        response = client.post(
            "/accounts/signup/",
            {"name": "N", "email": f"taken-{i}@example.com", "password": "short"},
        )
        assert response.status_code == 200
    refused = client.post(
        "/accounts/signup/",
        {"name": "Nina", "email": "nina@example.com", "password": "a-long-enough-secret-9"},
    )
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many sign-up attempts" in refused.content.decode()
    assert not User.objects.filter(email="nina@example.com").exists()


# --- no user enumeration ------------------------------------------------------------


def _login_errors(client, email, password) -> str:
    page = _login(client, email, password).content.decode()
    return " ".join(re.findall(r'class="alert alert-danger"[^>]*>(.*?)</div>', page, re.S))


def test_login_error_is_the_same_for_unknown_email_wrong_password_and_inactive(
    client, customer, django_user_model
):
    django_user_model.objects.create_user(
        email="gone@example.com", password=PASSWORD, name="Gone", is_active=False
    )
    unknown = _login_errors(client, "nobody@example.com", "whatever-password")
    wrong = _login_errors(client, customer.email, "whatever-password")
    inactive = _login_errors(client, "gone@example.com", PASSWORD)
    assert unknown and unknown == wrong == inactive


def test_token_error_is_the_same_for_unknown_email_and_wrong_password(anon_api, customer):
    unknown = anon_api.post("/api/auth/token/", {"email": "no@example.com", "password": "x"})
    wrong = anon_api.post("/api/auth/token/", {"email": customer.email, "password": "x"})
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()


# --- production settings --------------------------------------------------------------


def _settings_in_production(**env) -> str:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    base |= {
        "DATABASE_URL": "postgres://u@127.0.0.1:1/x",
        "DJANGO_SETTINGS_MODULE": "nuvio.settings",
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.REST_FRAMEWORK['NUM_PROXIES'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=base | env, cwd=ROOT, capture_output=True, text=True
    )
    return (done.stdout + done.stderr).strip()


def test_cookies_are_secure_when_configured_and_secret_comes_from_the_environment():
    secret = "env-secret-" + "x" * 40
    assert _settings_in_production(
        DJANGO_SECRET_KEY=secret, DJANGO_SECURE_COOKIES="true"
    ).splitlines()[-1] == ("True True True 0")
    assert _settings_in_production(
        DJANGO_SECRET_KEY=secret, DJANGO_BEHIND_PROXY="true"
    ).splitlines()[-1] == ("False False True 1")
    refused = _settings_in_production()  # no DJANGO_SECRET_KEY in production
    assert "ImproperlyConfigured" in refused and "DJANGO_SECRET_KEY" in refused


def test_no_secret_is_written_in_the_code():
    """Settings read secrets from the environment; none is committed."""
    text = (ROOT / "nuvio" / "settings.py").read_text()
    assert 'SECRET_KEY = env_str("DJANGO_SECRET_KEY"' in text
    assert not re.search(r"(PASSWORD|TOKEN|API_KEY)\s*=\s*['\"][^'\"]+['\"]", text)
