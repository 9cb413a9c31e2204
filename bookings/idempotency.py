"""``Idempotency-Key`` for the booking writes (reserve and pay).

Per user and key, kept NUVIO_IDEMPOTENCY_TTL_HOURS: the first request leaves
a record ("running"), its answer is stored when it ends; a retry with the same
key and body gets that answer back and creates nothing; the same key with
another body, or while the first is still running, is 409
``idempotency_conflict``. A record left "running" by a process that died is
taken over after NUVIO_IDEMPOTENCY_STALE_SECONDS; if that process had already
created its booking (``resource_id``), the retry replays it.
"""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from bookings.models import IdempotencyRecord
from nuvio.errors import IdempotencyConflict, Invalid

HEADER = "Idempotency-Key"


@dataclass
class Replay:
    status: int
    body: dict | None
    resource_id: object | None


def fingerprint(method: str, path: str, body) -> str:
    canonical = json.dumps(
        {"method": method, "path": path, "body": body}, sort_keys=True, cls=DjangoJSONEncoder
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_begin(*, user, key: str, request_hash: str, scope: str, now=None):
    """Claim ``key`` for a request. Returns ``(record, None)`` to go ahead, or
    ``(None, Replay)`` to answer with the stored response. Raises
    ``IdempotencyConflict``."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user, key=key, scope=scope, request_hash=request_hash, created_at=now
            ), None
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if existing is None:  # deleted in between (cleanup): try once more
        return idempotency_begin(user=user, key=key, request_hash=request_hash, scope=scope)
    expired = existing.created_at <= now - dt.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS)
    if expired:
        return _take_over(existing, request_hash=request_hash, scope=scope, now=now, fresh=True)
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.",
            details={"key": key},
        )
    if existing.response_status is not None:
        return None, Replay(existing.response_status, existing.response_body, existing.resource_id)
    stale = existing.created_at <= now - dt.timedelta(
        seconds=settings.NUVIO_IDEMPOTENCY_STALE_SECONDS
    )
    if not stale:
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still being processed.",
            details={"key": key},
        )
    if existing.resource_id is not None:
        return None, Replay(201, None, existing.resource_id)
    return _take_over(existing, request_hash=request_hash, scope=scope, now=now, fresh=False)


def _take_over(record, *, request_hash, scope, now, fresh):
    changes = {"request_hash": request_hash, "scope": scope, "created_at": now}
    if fresh:
        changes.update(response_status=None, response_body=None, resource_id=None)
    # Conditional on the version we read: of two retries racing, one wins.
    won = IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).update(
        **changes
    )
    if not won:
        raise IdempotencyConflict("A request with this Idempotency-Key is still being processed.")
    record.refresh_from_db()
    return record, None


def idempotency_finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        # A passing failure (busy, unavailable): let the client retry for real.
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=response.status_code, response_body=body
    )


def idempotency_cleanup(*, now=None) -> int:
    """Delete records older than the retention time; returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.NUVIO_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def idempotent(scope: str, replay_resource=None):
    """Decorate a viewset action. ``replay_resource(view, resource_id)`` renders
    a resource created by a request whose answer was never stored."""

    def decorator(method):
        @wraps(method)
        def wrapper(view, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return method(view, request, *args, **kwargs)
            if not 1 <= len(key) <= 255:
                raise Invalid(
                    "Idempotency-Key must be 1 to 255 characters.",
                    details={HEADER: ["Must be 1 to 255 characters."]},
                )
            request_hash = fingerprint(request.method, request.path, request.data)
            record, replay = idempotency_begin(
                user=request.user, key=key, request_hash=request_hash, scope=scope
            )
            if replay is not None:
                if replay.body is None and replay_resource is not None:
                    response = replay_resource(view, replay.resource_id)
                else:
                    response = Response(replay.body, status=replay.status)
                response["Idempotent-Replayed"] = "true"
                return response
            view.idempotency_record = record
            try:
                response = method(view, request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)
            idempotency_finish(record, response)
            return response

        return wrapper

    return decorator
