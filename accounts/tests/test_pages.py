import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from conftest import PASSWORD

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
