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


def test_a_change_in_the_request_that_first_cached_the_token_is_seen_at_once(
    customer_api, customer
):
    """The token's cache entry is written at the end of the request that
    looked it up; a change to the user in that same request must not be
    overwritten by it."""
    cache.delete(token_cache_key(Token.objects.get(user=customer).key))

    assert customer_api.patch("/api/me/", {"name": "Renamed"}, format="json").status_code == 200

    assert customer_api.get("/api/me/").json()["name"] == "Renamed"


def test_a_lookup_inside_a_batch_is_cached_when_the_batch_ends(customer):
    from rest_framework.test import APIRequestFactory

    from nuvio import redis_batch
    from nuvio.authentication import CachedTokenAuthentication

    key = Token.objects.get_or_create(user=customer)[0].key
    request = APIRequestFactory().get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}")
    with redis_batch.deferred_writes() as batch:
        user, _ = CachedTokenAuthentication().authenticate(request)
        assert user.pk == customer.pk
        if batch is not None:  # Redis: the write waits for the batch
            assert cache.get(token_cache_key(key)) is None
    assert customer.pk in cache.get(token_cache_key(key))


def test_an_unknown_token_is_401_in_the_envelope(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon_api.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_precompiled_lookup_reads_what_the_orm_reads(customer):
    """The token lookup runs SQL the ORM wrote once; the values it gives
    (UUIDs, booleans, aware datetimes on every backend) are the ORM's."""
    from django.contrib.auth import get_user_model

    from nuvio.authentication import _cached_fields, token_user_values

    key = Token.objects.get_or_create(user=customer)[0].key
    fields = _cached_fields(get_user_model())
    expected = Token.objects.filter(key=key).values_list(*[f"user__{f}" for f in fields]).get()

    assert token_user_values(key) == list(expected)
    assert [type(v) for v in token_user_values(key)] == [type(v) for v in expected]
    assert token_user_values("not-a-real-token") is None


def test_a_token_missing_from_the_cache_costs_one_query(
    customer_api, customer, django_assert_num_queries
):
    cache.delete(token_cache_key(Token.objects.get(user=customer).key))
    with django_assert_num_queries(1):
        assert customer_api.get("/api/me/").json()["email"] == "customer@example.com"
