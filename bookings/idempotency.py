"""``Idempotency-Key`` for the booking writes (reserve and pay).

Per user and key, for NUVIO_IDEMPOTENCY_TTL_HOURS: a retry with the same key
and body gets the first answer back and creates nothing; the same key with
another body, or while the first request is still running, is 409
``idempotency_conflict``.

Two stores, each doing what it is good at:

- The **cache** (Redis) holds the claim ("running", with the request's
  fingerprint) and then the stored answer, so a request with a key costs two
  cache round trips (the second shared with the request's other Redis
  writes, ``nuvio.redis_batch``) and no database commit of its own. A claim older than
  NUVIO_IDEMPOTENCY_STALE_SECONDS belonged to a process that died and may be
  taken over.
- The **database** keeps, for every hold that was created, an
  ``IdempotencyRecord`` written in the very transaction that creates the hold
  (unique per user and key). If the cache lost the answer (a crash between
  commit and storing it, a Redis restart), the retry's own insert collides
  with that row and ``booking_reserve`` returns that booking with
  ``created`` False instead of creating a second one; the view answers it
  as a replay. Payment needs no such row: a paid booking refuses a second
  payment before any card is charged.

This module owns the claim, the replay and the stored answer; the services
only write their row and say what they did.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from rest_framework.response import Response

from bookings.models import IdempotencyRecord
from nuvio import redis_batch
from nuvio.errors import IdempotencyConflict, Invalid

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RUNNING = "running"


@dataclass(frozen=True)
class Claim:
    key: str
    request_hash: str
    cache_key: str


def fingerprint(method: str, path: str, body) -> str:
    canonical = json.dumps(
        {"method": method, "path": path, "body": body}, sort_keys=True, cls=DjangoJSONEncoder
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cache_key(user_id, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"idem:{user_id}:{digest}"


def idempotency_begin(*, user, key: str, request_hash: str) -> tuple[Claim, dict | None]:
    """Claim ``key``: returns the claim and, for a retry of a finished request,
    its stored answer ``{"status", "body"}``. Raises ``IdempotencyConflict``."""
    claim = Claim(key=key, request_hash=request_hash, cache_key=_cache_key(user.pk, key))
    marker = {"hash": request_hash, "state": RUNNING, "since": time.time()}
    ttl = settings.NUVIO_IDEMPOTENCY_TTL_HOURS * 3600
    if cache.add(claim.cache_key, marker, ttl):
        return claim, None
    existing = cache.get(claim.cache_key)
    if existing is None:
        # Gone in between, or the cache is unreachable: go ahead; a hold
        # created for this key already is still caught by the database.
        return claim, None
    if existing["hash"] != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.",
            details={"key": key},
        )
    if existing["state"] != RUNNING:
        return claim, {"status": existing["status"], "body": existing["body"]}
    if time.time() - existing["since"] < settings.NUVIO_IDEMPOTENCY_STALE_SECONDS:
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still being processed.",
            details={"key": key},
        )
    cache.set(claim.cache_key, marker, ttl)  # the first request died: take over
    return claim, None


def idempotency_finish(claim: Claim, response: Response) -> None:
    """Store the answer (or, after a passing failure, drop the claim so the
    client can retry for real); inside ``redis_batch.deferred_writes()`` the
    write joins the request's other Redis writes."""
    ttl = settings.NUVIO_IDEMPOTENCY_TTL_HOURS * 3600
    batch = redis_batch.current()
    if response.status_code >= 500:
        if batch is None:
            cache.delete(claim.cache_key)
        else:
            batch.add(lambda pipe: pipe.delete(cache.make_key(claim.cache_key)))
        return
    body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
    stored = {"hash": claim.request_hash, "state": "done", "status": response.status_code}
    stored["body"] = body
    if batch is None:
        cache.set(claim.cache_key, stored, ttl)
    else:
        value = cache.client.encode(stored)
        batch.add(lambda pipe: pipe.set(cache.make_key(claim.cache_key), value, ex=ttl))


def idempotency_cleanup(*, now=None) -> int:
    """Delete database records older than the retention time; returns how many."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def idempotent(method):
    """Decorate a viewset action: the claim is ``view.idempotency`` (or None)."""

    @wraps(method)
    def wrapper(view, request, *args, **kwargs):
        view.idempotency = None
        key = request.headers.get(HEADER)
        if key is None:
            return method(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise Invalid(
                "Idempotency-Key must be 1 to 255 characters.",
                details={HEADER: ["Must be 1 to 255 characters."]},
            )
        request_hash = fingerprint(request.method, request.path, request.data)
        claim, stored = idempotency_begin(user=request.user, key=key, request_hash=request_hash)
        if stored is not None:
            response = Response(stored["body"], status=stored["status"])
            response[REPLAYED_HEADER] = "true"
            return response
        view.idempotency = claim
        with redis_batch.deferred_writes():
            try:
                response = method(view, request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)
            idempotency_finish(claim, response)
        return response

    return wrapper
