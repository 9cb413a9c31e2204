"""``nuvio.redis_raw``: commands on a connection of each thread's own, as the
rate-limit count and the waiting room's poll send them."""

import threading
import uuid

import pytest
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from nuvio import redis_raw
from nuvio.testing import requires_redis

pytestmark = requires_redis


@pytest.fixture
def pool():
    return cache.client.get_client(write=True).connection_pool


@pytest.fixture
def key():
    name = cache.make_key(f"raw-test:{uuid.uuid4()}")
    yield name
    cache.client.get_client(write=True).delete(name)


def test_replies_come_back_in_order(pool, key):
    replies = redis_raw.run(pool, [("INCR", key), ("EXPIRE", key, 60, "NX"), ("MGET", key, "no")])
    assert replies == [1, 1, [b"1", None]]
    assert redis_raw.run(pool, [("INCR", key), ("EXPIRE", key, 60, "NX")]) == [2, 0]


def test_an_error_reply_raises_after_every_reply_is_read(pool, key):
    commands = [("SET", key, "1"), ("INCRBY", key, "many"), ("INCR", key)]
    with pytest.raises(ResponseError):
        redis_raw.run(pool, commands)
    # The commands after the error ran, and the connection is still in step.
    assert redis_raw.run(pool, [("GET", key)]) == [b"2"]


def test_a_connection_closed_by_the_server_is_made_anew(pool, key):
    connection = redis_raw.thread_connection(pool)
    connection.send_command("CLIENT", "ID")
    cache.client.get_client(write=True).client_kill_filter(_id=connection.read_response())

    with pytest.raises(RedisConnectionError):
        redis_raw.run(pool, [("INCR", key)])
    assert redis_raw.run(pool, [("INCR", key)]) == [1]


def test_each_thread_has_its_own_connection(pool):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(redis_raw.thread_connection(pool)))
    thread.start()
    thread.join()
    assert seen[0] is not redis_raw.thread_connection(pool)
    assert redis_raw.thread_connection(pool) is redis_raw.thread_connection(pool)


class _CountingSocket:
    """A socket that counts its writes."""

    def __init__(self, sock):
        self._sock, self.writes = sock, []

    def sendall(self, data):
        self.writes.append(bytes(data))
        return self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_the_commands_go_out_in_one_write(pool, key):
    connection = redis_raw.thread_connection(pool)
    redis_raw.run(pool, [("PING",)])  # connected
    counting = _CountingSocket(connection._sock)
    connection._sock = counting
    try:
        replies = redis_raw.run(pool, [("INCR", key), ("EXPIRE", key, 60, "NX"), ("GET", key)])
    finally:
        connection._sock = counting._sock
    assert replies == [1, 1, b"1"]
    assert len(counting.writes) == 1  # one packet with TCP_NODELAY, not one a command
    assert counting.writes[0].count(b"*") == 3
