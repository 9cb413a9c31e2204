"""Deferred Redis writes (nuvio.redis_batch) against the real Redis."""

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from nuvio import redis_batch
from nuvio.testing import requires_redis

pytestmark = requires_redis


@pytest.fixture
def redis():
    conn = get_redis_connection("default")
    keys = [cache.make_key(k) for k in ("batch:a", "batch:b", "batch:text")]
    conn.delete(*keys)
    yield conn
    conn.delete(*keys)


def test_writes_wait_for_the_end_of_the_block_then_all_land(redis):
    key_a, key_b = cache.make_key("batch:a"), cache.make_key("batch:b")
    with redis_batch.deferred_writes() as batch:
        batch.add(lambda pipe: pipe.set(key_a, "1"))
        with redis_batch.deferred_writes() as inner:  # nested: the same batch
            assert inner is batch
            redis_batch.current().add(lambda pipe: pipe.sadd(key_b, "x", "y"))
        assert redis.get(key_a) is None and redis.scard(key_b) == 0
    assert redis_batch.current() is None
    assert redis.get(key_a) == b"1"
    assert redis.smembers(key_b) == {b"x", b"y"}


def test_a_failed_pipeline_runs_every_fallback(redis):
    key_text, key_a = cache.make_key("batch:text"), cache.make_key("batch:a")
    redis.set(key_text, "not a number")
    fell_back = []
    with redis_batch.deferred_writes() as batch:
        batch.add(lambda pipe: pipe.set(key_a, "1"), on_error=lambda: fell_back.append("a"))
        batch.add(lambda pipe: pipe.incr(key_text), on_error=lambda: fell_back.append("incr"))
    assert fell_back == ["a", "incr"]


def test_the_block_flushes_when_it_raises(redis):
    key_a = cache.make_key("batch:a")
    with pytest.raises(RuntimeError), redis_batch.deferred_writes() as batch:
        batch.add(lambda pipe: pipe.set(key_a, "1"))
        raise RuntimeError("boom")
    assert redis.get(key_a) == b"1"


def test_nothing_is_deferred_outside_a_block():
    assert redis_batch.current() is None
