import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from conftest import PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()

REGISTER = "/api/auth/register/"
TOKEN = "/api/auth/token/"
ME = "/api/me/"
PASSWORD_URL = "/api/me/password/"


def _register(client, **overrides):
    body = {"email": "new@example.com", "password": "a-long-enough-secret", "name": "New Person"}
    body.update(overrides)
    return client.post(REGISTER, body, format="json")


def test_register_creates_user_and_returns_token(anon_api):
    response = _register(anon_api, email="New@Example.COM ")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "name", "token"}
    assert body["email"] == "new@example.com"
    user = User.objects.get(email="new@example.com")
    assert str(user.id) == body["id"]
    assert Token.objects.get(user=user).key == body["token"]
    assert not user.is_staff


def test_register_token_authenticates(anon_api):
    token = _register(anon_api).json()["token"]
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon_api.get(ME).json()["email"] == "new@example.com"


def test_register_duplicate_email_any_case_is_invalid(anon_api, customer):
    response = _register(anon_api, email=customer.email.upper())

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "email" in error["details"]
    assert User.objects.filter(email=customer.email).count() == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "too short"), ("password123", "too common"), ("83749201736", "entirely numeric")],
)
def test_register_applies_password_validators(anon_api, password, reason):
    response = _register(anon_api, password=password)

    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]
    assert reason in " ".join(response.json()["error"]["details"]["password"])
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "not-an-email"), ("email", ""), ("name", ""), ("password", ""), ("name", "x" * 151)],
)
def test_register_rejects_bad_fields(anon_api, field, value):
    response = _register(anon_api, **{field: value})

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_register_rejects_missing_fields(anon_api):
    response = anon_api.post(REGISTER, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"email", "password", "name"}


def test_token_login_by_email_any_case(anon_api, customer):
    response = anon_api.post(TOKEN, {"email": "CUSTOMER@example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=customer).key}


def test_token_wrong_password_and_unknown_email_answer_alike(anon_api, customer):
    wrong = anon_api.post(TOKEN, {"email": customer.email, "password": "nope-nope-nope"})
    unknown = anon_api.post(TOKEN, {"email": "ghost@example.com", "password": PASSWORD})

    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid"


def test_token_refused_for_inactive_user(anon_api, customer):
    customer.is_active = False
    customer.save()
    response = anon_api.post(TOKEN, {"email": customer.email, "password": PASSWORD})
    assert response.status_code == 400


def test_me_shows_own_profile(customer_api, customer):
    body = customer_api.get(ME).json()

    assert body == {
        "id": str(customer.id),
        "email": customer.email,
        "name": customer.name,
        "is_staff": False,
        "date_joined": body["date_joined"],
    }
    assert body["date_joined"].endswith("Z") or body["date_joined"].endswith("+00:00")


def test_me_requires_authentication(anon_api):
    response = anon_api.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon_api.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_patch_changes_name_only(customer_api, customer):
    response = customer_api.patch(
        ME, {"name": "Cara C.", "email": "hijack@example.com", "is_staff": True}, format="json"
    )

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.name == "Cara C."
    assert customer.email == "customer@example.com"
    assert not customer.is_staff


def test_me_patch_rejects_blank_name(customer_api):
    response = customer_api.patch(ME, {"name": ""}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_password_change(customer_api, customer, anon_api):
    response = customer_api.post(
        PASSWORD_URL,
        {"old_password": PASSWORD, "new_password": "another-long-secret"},
        format="json",
    )

    assert response.status_code == 204
    customer.refresh_from_db()
    assert customer.check_password("another-long-secret")
    assert anon_api.post(TOKEN, {"email": customer.email, "password": PASSWORD}).status_code == 400


def test_password_change_checks_old_password(customer_api, customer):
    response = customer_api.post(
        PASSWORD_URL, {"old_password": "wrong", "new_password": "another-long-secret"}
    )

    assert response.status_code == 400
    assert "old_password" in response.json()["error"]["details"]
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


def test_password_change_applies_validators(customer_api, customer):
    response = customer_api.post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": "123"})

    assert response.status_code == 400
    assert "new_password" in response.json()["error"]["details"]
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)
