"""Every failure an API client can meet comes in the one envelope."""

import re
import uuid

import pytest
from django.db import OperationalError
from django.test import Client

from accounts.api import views as account_views
from conftest import PASSWORD
from nuvio.parsers import MAX_DEPTH, nesting_depth_exceeds
from nuvio.tests.test_authz_matrix import _routes

pytestmark = pytest.mark.django_db


def _error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_unknown_api_path_is_json_404(anon_api):
    _error(anon_api.get("/api/no-such-thing/"), 404, "not_found")


def test_unknown_api_path_without_slash_is_json_404(anon_api):
    _error(anon_api.get("/api/nope"), 404, "not_found")


def test_malformed_json_is_invalid(customer_api):
    response = customer_api.patch(
        "/api/me/", data='{"name": "oops', content_type="application/json"
    )
    _error(response, 400, "invalid")


def test_wrong_type_is_invalid_with_field_details(anon_api):
    response = anon_api.post(
        "/api/auth/register/",
        {"email": ["a@b.c"], "password": {"x": 1}, "name": "N"},
        format="json",
    )
    error = _error(response, 400, "invalid")
    assert {"email", "password"} <= set(error["details"])
    assert all(isinstance(v, list) for v in error["details"].values())


def test_method_not_allowed(customer_api):
    _error(customer_api.delete("/api/me/"), 405, "method_not_allowed")


def test_unsupported_media_type(customer_api):
    response = customer_api.patch("/api/me/", data="name=x", content_type="text/plain")
    _error(response, 415, "unsupported_media_type")


def test_session_write_without_csrf_is_403(customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    response = client.patch("/api/me/", data='{"name": "x"}', content_type="application/json")
    error = _error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]


def test_unexpected_exception_is_500_without_traceback(customer_api, monkeypatch):
    def boom(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(account_views.MeView, "get", boom)
    response = customer_api.get("/api/me/")
    error = _error(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == {}


def test_lost_database_is_503_unavailable(customer_api, monkeypatch):
    def lost(self, request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(account_views.MeView, "get", lost)
    response = customer_api.get("/api/me/")
    _error(response, 503, "unavailable")
    assert int(response["Retry-After"]) > 0


def test_lock_timeout_is_503_busy(customer_api, monkeypatch):
    class LockNotAvailable(Exception):
        sqlstate = "55P03"

    def contended(self, request):
        raise OperationalError("canceling statement due to lock timeout") from LockNotAvailable()

    monkeypatch.setattr(account_views.MeView, "get", contended)
    response = customer_api.get("/api/me/")
    _error(response, 503, "busy")
    assert int(response["Retry-After"]) > 0


def test_token_login_is_throttled_with_retry_after(anon_api, customer, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "auth": "3/min"},
    }
    statuses = [
        anon_api.post("/api/auth/token/", {"email": customer.email, "password": "bad"}).status_code
        for _ in range(3)
    ]
    assert statuses == [400, 400, 400]
    response = anon_api.post("/api/auth/token/", {"email": customer.email, "password": PASSWORD})
    _error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_default_auth_rate_stops_password_guessing_quickly(anon_api, customer):
    statuses = [
        anon_api.post(
            "/api/auth/token/", {"email": customer.email, "password": f"g{i}"}
        ).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429, 429]


def test_registration_throttled_per_ip(anon_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "register": "2/hour"},
    }
    bodies = [
        {"email": f"u{i}@example.com", "password": "a-long-enough-secret", "name": "U"}
        for i in range(3)
    ]
    codes = [anon_api.post("/api/auth/register/", body).status_code for body in bodies]
    assert codes == [201, 201, 429]


def test_read_scope_counts_per_user(customer_api, outsider_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.NUVIO_THROTTLE_RATES, "read": "2/min"},
    }
    assert [customer_api.get("/api/me/").status_code for _ in range(3)] == [200, 200, 429]
    # Another user (same IP) has their own allowance.
    assert outsider_api.get("/api/me/").status_code == 200


def test_html_404_is_a_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("nuvio.tests.failing_urls")
def test_html_page_with_lost_database_is_503_page():
    response = Client(raise_request_exception=False).get("/lost-database/")
    assert response.status_code == 503
    assert b"briefly unavailable" in response.content
    assert b"could not connect" not in response.content


@pytest.mark.urls("nuvio.tests.failing_urls")
def test_html_page_with_bug_is_500_page_without_traceback():
    response = Client(raise_request_exception=False).get("/bug/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"secret internals" not in response.content


@pytest.mark.urls("nuvio.tests.failing_urls")
def test_non_drf_failure_under_api_is_json():
    response = Client(raise_request_exception=False).get("/api/plain-bug/")
    _error(response, 500, "server_error")


# --- bad input that used to be a 500 ------------------------------------------------


def _json(api, body: str, **headers):
    return api.post("/api/bookings/", data=body, content_type="application/json", **headers)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 50000 + "]" * 50000,  # too deep for Python's JSON decoder
        '{"event": ' + "[" * 50000 + "]" * 50000 + "}",
        '{"event": ' + "[" * 500 + "]" * 500 + ', "quantity": 1}',  # parses, still too deep
    ],
    ids=["top-level", "in-a-field", "parseable"],
)
@pytest.mark.parametrize("key", [None, "deep-1"], ids=["plain", "idempotent"])
def test_deeply_nested_json_is_invalid(customer_api, body, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    error = _error(_json(customer_api, body, **headers), 400, "invalid")
    assert "nested deeper than" in error["message"]


def test_json_nested_to_the_limit_is_validated_as_usual(customer_api):
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    error = _error(_json(customer_api, f'{{"event": {nested}, "quantity": 1}}'), 400, "invalid")
    assert "event" in error["details"]


def test_nesting_depth_counts_lists_and_objects():
    assert not nesting_depth_exceeds("scalar", 0)
    assert not nesting_depth_exceeds({"a": [1, {"b": []}]}, 4)
    assert nesting_depth_exceeds({"a": [1, {"b": []}]}, 3)
    assert nesting_depth_exceeds([[], [[[]]]], 3)


def test_body_over_the_upload_limit_is_413_too_large(customer_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _json(customer_api, '{"event": "' + "x" * 1000 + '"}')
    error = _error(response, 413, "too_large")
    assert error["details"] == {"max_bytes": 1000}


def test_form_body_over_the_upload_limit_is_413_too_large(customer_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = customer_api.post(
        "/api/bookings/", data="a=" + "x" * 1000, content_type="application/x-www-form-urlencoded"
    )
    _error(response, 413, "too_large")


def test_page_post_over_the_upload_limit_is_a_413_page(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client().post(
        "/accounts/login/", data="a=" + "x" * 1000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert b"too large" in response.content


def test_too_many_form_fields_is_invalid(customer_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{i}=1" for i in range(11))
    response = customer_api.post(
        "/api/bookings/", data=body, content_type="application/x-www-form-urlencoded"
    )
    _error(response, 400, "invalid")


def _api_paths() -> list[str]:
    """A concrete path for every API route (ids made up)."""
    made_up = str(uuid.uuid4())
    paths = []
    for route, _ in _routes():
        if route.startswith("api/"):
            path = re.sub(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>", made_up, route)
            paths.append("/" + path.rstrip("$"))
    return paths


@pytest.mark.parametrize("persona", ["anon_api", "customer_api"])
def test_a_method_no_endpoint_has_is_405_before_authentication(request, persona):
    api = request.getfixturevalue(persona)
    paths = _api_paths()
    assert "/api/events/" in paths and len(paths) > 20
    for path in paths:
        response = api.generic("TRACE", path)
        assert response.status_code == 405, (path, response.content)
        assert response.json()["error"]["code"] == "method_not_allowed", path
        assert "TRACE" not in response["Allow"]


def test_a_method_this_endpoint_lacks_is_405_for_anyone(anon_api):
    response = anon_api.put("/api/bookings/")
    _error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"
    # The methods it has still ask for credentials first.
    _error(anon_api.get("/api/bookings/"), 401, "not_authenticated")
