"""A small asyncio HTTP/1.1 load generator for runs of an exact number of
requests (wrk runs for a duration). One coroutine per concurrent client, a
new connection per request (gunicorn's sync workers close each one anyway);
returns the status counts, a latency percentile and the elapsed time."""

import asyncio
import time
from collections import Counter
from collections.abc import Callable


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _run(host, port, make_request, total, concurrency):
    statuses: Counter = Counter()
    latencies: list[float] = []
    next_index = 0

    async def worker():
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            method, path, headers, body = make_request(index)
            payload = body.encode() if body else b""
            head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            head.append(f"Content-Length: {len(payload)}")
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                status = await _read_response(reader)
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                statuses["connection_error"] += 1
                continue
            latencies.append(time.perf_counter() - started)
            statuses[str(status)] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "statuses": dict(statuses),
        "requests": sum(statuses.values()),
        "elapsed_s": time.perf_counter() - started,
        "p95_ms": sorted(latencies)[int(len(latencies) * 0.95)] * 1000 if latencies else None,
    }


def run(
    host: str,
    port: int,
    make_request: Callable[[int], tuple[str, str, dict, str | None]],
    total: int,
    concurrency: int,
) -> dict:
    """Send exactly ``total`` requests from ``concurrency`` connections."""
    return asyncio.run(_run(host, port, make_request, total, concurrency))
