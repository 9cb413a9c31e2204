"""Redis commands for the requests every client repeats (the rate-limit count
with a cached catalog page, a waiting room's poll), sent on a connection of
each thread's own: no pool to take it from and give it back to, nor redis-py's
command layer (a pipeline of three commands spent about as long in it as in
the round trip). The connection is made with the options of the cache's pool,
and made anew when that pool is another one or the process forked."""

import os
import threading

from redis.exceptions import ResponseError

try:  # hiredis writes a command in C (redis-py checks each argument first)
    from hiredis import pack_command
except ImportError:  # pragma: no cover
    pack_command = None

_own = threading.local()


def thread_connection(pool):
    """This thread's connection to ``pool``'s server."""
    own = _own.__dict__
    connection = own.get("connection")
    if connection is None or own["pool"] is not pool or own["pid"] != os.getpid():
        connection = pool.connection_class(**pool.connection_kwargs)
        own.update(connection=connection, pool=pool, pid=os.getpid())
    return connection


def run(pool, commands: list[tuple]) -> list:
    """Send ``commands`` in one write on this thread's connection and read
    their replies, in order. An error reply raises (``ResponseError``, its
    subclasses such as ``NoScriptError``) once every reply has been read, so
    the connection stays in step; a failure to send or read drops the
    connection, and the next call connects anew."""
    connection = thread_connection(pool)
    try:
        if pack_command is None:
            packed = connection.pack_commands(commands)
        else:
            packed = [pack_command(command) for command in commands]
        # One buffer: redis-py writes each item of a list with a call of its
        # own, and with TCP_NODELAY each call is a packet of its own.
        connection.send_packed_command([b"".join(packed)], check_health=False)
        replies, error = [], None
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # an error reply: the next ones follow
                error = error or exc
                replies.append(exc)
    except Exception:
        connection.disconnect()
        raise
    if error is not None:
        raise error
    return replies
