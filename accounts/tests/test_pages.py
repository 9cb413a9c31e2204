from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts.management.commands import seed_demo
from bookings.inventory import inventory_problems
from bookings.models import Booking, Notification, SeatHold
from conftest import PASSWORD
from events.models import Event

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_signup_creates_account_and_logs_in(client):
    response = client.post(
        "/accounts/signup/",
        {"name": "Priya", "email": "Priya@Example.com", "password": "a-long-enough-secret"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="priya@example.com")
    assert client.get("/accounts/profile/").context["user"] == user


def test_signup_errors_next_to_field_and_keeps_input(client, customer):
    response = client.post(
        "/accounts/signup/",
        {"name": "Someone", "email": customer.email, "password": "123"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "already exists" in html
    assert "too short" in html
    assert 'value="Someone"' in html
    assert 'aria-invalid="true"' in html
    assert User.objects.count() == 1


def test_login_with_email(client, customer):
    response = client.post(
        "/accounts/login/", {"username": "CUSTOMER@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/accounts/profile/").status_code == 200


def test_login_failure_is_plain_and_keeps_email(client, customer):
    response = client.post("/accounts/login/", {"username": customer.email, "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "do not match an account" in html
    assert f'value="{customer.email}"' in html


def test_logout_is_a_post(client, customer):
    client.force_login(customer)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/profile/").status_code == 302


def test_profile_requires_login(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_profile_changes_name(client, customer):
    client.force_login(customer)
    response = client.post("/accounts/profile/", {"action": "profile", "name": "Cara Q"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Cara Q"


def test_profile_changes_password_and_keeps_session(client, customer):
    client.force_login(customer)
    response = client.post(
        "/accounts/profile/",
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": "brand-new-long-secret",
            "new_password2": "brand-new-long-secret",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password("brand-new-long-secret")
    assert client.get("/accounts/profile/").status_code == 200


def test_forms_carry_csrf_and_are_enforced(customer):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/signup/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    response = client.post(
        "/accounts/signup/",
        {"name": "X", "email": "x@example.com", "password": "a-long-enough-secret"},
    )
    assert response.status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()


def test_security_headers(client):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_home_page_uses_vendored_css(client):
    html = client.get("/").content.decode()
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html
    assert "cdn" not in html.lower()


def test_createsuperuser_noinput_from_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Boss@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "boss-long-password")
    monkeypatch.setenv("DJANGO_SUPERUSER_NAME", "The Boss")
    call_command("createsuperuser", "--noinput", verbosity=0)
    boss = User.objects.get(email="boss@example.com")
    assert boss.is_staff and boss.is_superuser
    assert boss.name == "The Boss"
    assert boss.check_password("boss-long-password")


def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert User.objects.filter(email__endswith="@nuvio.test").count() == 4
    staff = User.objects.get(email="staff@nuvio.test")
    assert staff.is_staff
    assert "staff@nuvio.test" in out and "staff-demo-pass" in out
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "staff@nuvio.test", "password": "staff-demo-pass"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_seed_demo_emails_nobody_and_ends_with_the_logins(
    settings, django_capture_on_commit_callbacks
):
    settings.NUVIO_SITE_URL = "http://demo.example"
    out = StringIO()
    # Every after-commit hook runs, as when the command commits for real.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)

    assert mail.outbox == []
    # Nor will the sweeper of unsent e-mails find any to send later.
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    # The customers see theirs in the app; the demo fans, who cannot log in, have none.
    assert Notification.objects.filter(user__email="alice@nuvio.test").exists()
    assert not Notification.objects.filter(user__email__endswith=seed_demo.FAN_DOMAIN).exists()

    lines = out.getvalue().splitlines()
    assert len(lines) <= 20, out.getvalue()
    # It ends with the logins, then the address: what a newcomer needs, last.
    accounts = [seed_demo.STAFF, *seed_demo.CUSTOMERS]
    logins = lines[-2 - len(accounts) : -2]
    assert lines[-3 - len(accounts)].startswith("Demo logins")
    for line, (email, _, password) in zip(logins, accounts, strict=True):
        assert email in line and password in line
    assert lines[-1].startswith("Nuvio is at http://demo.example/")


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [("/accounts/profile/", "/accounts/profile/"), ("https://evil.example/", "/")],
)
def test_signup_follows_only_local_next(client, next_url, landing):
    response = client.post(
        f"/accounts/signup/?next={next_url}",
        {"name": "N", "email": "n@example.com", "password": "a-long-enough-secret"},
    )
    assert response.status_code == 302
    assert response["Location"] == landing


def test_seed_demo_has_a_seated_concert_with_seats_sold_side_by_side():
    call_command("seed_demo")
    event = Event.objects.get(name=seed_demo.SEATED_EVENT)
    assert event.seated and event.capacity == 8 * 16 + 3 * 12
    held = SeatHold.objects.filter(seat__event=event, released_at__isnull=True)
    assert held.count() == event.tickets_taken == 5 * (2 + 4 + 2)
    for booking in Booking.objects.filter(event=event):
        positions = sorted(held.filter(booking=booking).values_list("seat__position", flat=True))
        assert positions == list(range(positions[0], positions[0] + booking.quantity))
    assert inventory_problems([event.pk]) == []
