import pytest
from django.core.cache import caches

from nuvio.celery import app as celery_app
from nuvio.testing import requires_redis

pytestmark = pytest.mark.django_db


def test_healthz_all_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@requires_redis
def test_healthz_names_cache_when_redis_is_unreachable(client, settings):
    dead = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    try:
        response = client.get("/healthz")
    finally:
        caches["default"].close()
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "cache": "unavailable", "broker": "ok"}


@requires_redis
def test_healthz_names_broker_when_it_is_unreachable(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
    assert response.json()["database"] == "ok"


@requires_redis
def test_pages_still_served_when_redis_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    assert client.get("/").status_code == 200
    assert client.get("/accounts/login/").status_code == 200


def test_openapi_schema_documents_error_envelope(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "Error" in schema["components"]["schemas"]
    register = schema["paths"]["/api/auth/register/"]["post"]["responses"]
    assert {"201", "400", "413", "429"} <= set(register)
    assert "413" not in schema["paths"]["/api/events/"]["get"]["responses"]
    assert register["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


@pytest.mark.parametrize("path", ["/api-docs/", "/api/redoc/"])
def test_api_docs_pages_served_offline(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html
