import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from nuvio.authentication import token_cache_key

pytestmark = pytest.mark.django_db


def test_repeat_requests_authenticate_without_a_query(customer_api, django_assert_num_queries):
    assert customer_api.get("/api/me/").status_code == 200
    with django_assert_num_queries(0):
        assert customer_api.get("/api/me/").json()["email"] == "customer@example.com"


def test_cache_holds_no_password_hash(customer_api, customer):
    customer_api.get("/api/me/")
    cached = cache.get(token_cache_key(Token.objects.get(user=customer).key))
    assert cached is not None
    assert customer.password not in [str(value) for value in cached]


def test_deleted_token_stops_working_at_once(customer_api, customer):
    customer_api.get("/api/me/")
    Token.objects.filter(user=customer).delete()
    assert customer_api.get("/api/me/").status_code == 401


def test_deactivated_user_stops_working_at_once(customer_api, customer):
    customer_api.get("/api/me/")
    customer.is_active = False
    customer.save()
    assert customer_api.get("/api/me/").status_code == 401


def test_renamed_user_is_seen_at_once(customer_api, customer):
    customer_api.get("/api/me/")
    customer.name = "Renamed"
    customer.save()
    assert customer_api.get("/api/me/").json()["name"] == "Renamed"
