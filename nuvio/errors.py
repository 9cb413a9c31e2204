"""Nuvio's errors and the one place that renders them.

Services raise :class:`NuvioError` subclasses; ``api_exception_handler`` turns
every failure an API view can meet (domain errors, DRF and Django validation,
authentication, permissions, 404, throttling, a body over the size limit, a
lost database, a bug) into the envelope of API.md::

    {"error": {"code": "sold_out", "message": "Only 2 tickets left.", "details": {}}}

and marks the transaction for rollback.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("nuvio.errors")


class NuvioError(Exception):
    """A failure with a stable ``code``, an HTTP ``status`` and facts in ``details``."""

    status: int = 400
    code: str = "invalid"
    default_message: str = "The request is not valid."
    retry_after: int | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ):
        self.message = message or self.default_message
        self.details = details or {}
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.message)


class Invalid(NuvioError):
    status, code = 400, "invalid"


class NotAuthenticated(NuvioError):
    status, code = 401, "not_authenticated"
    default_message = "Authentication credentials were not provided or are not valid."


class PaymentDeclined(NuvioError):
    status, code = 402, "payment_declined"
    default_message = "The card was declined. Your hold stays until it expires."


class PermissionDenied(NuvioError):
    status, code = 403, "permission_denied"
    default_message = "You do not have permission to do this."


class NotFound(NuvioError):
    status, code = 404, "not_found"
    default_message = "Not found."


class MethodNotAllowed(NuvioError):
    status, code = 405, "method_not_allowed"
    default_message = "This method is not allowed here."


class TooLarge(NuvioError):
    status, code = 413, "too_large"
    default_message = "The request body is too large."


class Conflict(NuvioError):
    status = 409


class SoldOut(Conflict):
    code = "sold_out"
    default_message = "Not enough tickets left."


class LimitExceeded(Conflict):
    code = "limit_exceeded"
    default_message = "That is more tickets than one person may hold for this event."


class BookingClosed(Conflict):
    code = "booking_closed"
    default_message = "Booking is closed for this event."


class HoldExpired(Conflict):
    code = "hold_expired"
    default_message = "This hold has expired."


class InvalidState(Conflict):
    code = "invalid_state"
    default_message = "That is not allowed in the current state."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was used for a different or unfinished request."


class PromoInvalid(Conflict):
    code = "promo_invalid"
    default_message = "This promo code cannot be used."


class SeatTaken(Conflict):
    code = "seat_taken"
    default_message = "A chosen seat is no longer free."


class QueueRequired(Conflict):
    code = "queue_required"
    default_message = "This sale goes through its waiting room: join the queue first."


class Throttled(NuvioError):
    status, code = 429, "throttled"
    default_message = "Too many requests. Try again later."


class Busy(NuvioError):
    status, code = 503, "busy"
    default_message = "The system is busy. Nothing was changed; try again shortly."
    retry_after = 1


class Unavailable(NuvioError):
    status, code = 503, "unavailable"
    default_message = "The service is temporarily unavailable. Try again shortly."
    retry_after = 5


# DRF's own exceptions, by class, to our codes (most specific first).
_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "not_authenticated"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "throttled"),
    (drf.ValidationError, "invalid"),
    (drf.ParseError, "invalid"),
]


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _flatten_message(detail: Any) -> str:
    """The first human sentence of a DRF error detail, for ``message``."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _flatten_message(value)
            if key in ("non_field_errors", "detail"):
                return text
            return f"{key}: {text}"
        return "The request is not valid."
    if isinstance(detail, list):
        # A list body's errors hold {} for its good entries: name the first bad one.
        bad = [item for item in detail if item != {}]
        return _flatten_message(bad[0]) if bad else "The request is not valid."
    return str(detail)


def _validation_details(detail: Any) -> dict:
    """Field errors as ``{"field": ["message", ...]}``."""
    if isinstance(detail, dict):
        return {key: _as_list(value) for key, value in detail.items()}
    return {"non_field_errors": _as_list(detail)}


def _as_list(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_list(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return [_as_list(item) for item in value]
        return [str(item) for item in value]
    return [str(value)]


def _lock_not_available(exc: BaseException) -> bool:
    """True when PostgreSQL gave up waiting for a row lock (``lock_timeout``)."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    # 55P03 lock_not_available, 57014 query_canceled (statement timeout).
    return sqlstate in ("55P03", "57014")


def database_error(exc: DatabaseError) -> NuvioError | None:
    """Map a database failure to ``busy`` or ``unavailable``; None if it is a bug."""
    if _lock_not_available(exc):
        return Busy()
    if isinstance(exc, (OperationalError, InterfaceError)):
        return Unavailable()
    return None


def to_nuvio_error(exc: BaseException) -> NuvioError | None:
    """Translate any known failure into a NuvioError; None for an unexpected one."""
    if isinstance(exc, NuvioError):
        return exc
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return TooLarge(
            f"The request body is larger than {limit} bytes.", details={"max_bytes": limit}
        )
    if isinstance(exc, SuspiciousOperation):
        # Django answers these 400 itself (too many fields, a bad Host ...).
        return Invalid("The request could not be understood.")
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            details = {field: list(msgs) for field, msgs in exc.message_dict.items()}
        else:
            details = {"non_field_errors": list(exc.messages)}
        return Invalid(_flatten_message(details), details=details)
    if isinstance(exc, DatabaseError):
        return database_error(exc)
    if isinstance(exc, drf.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
        if code == "invalid" and isinstance(exc, drf.ValidationError):
            details = _validation_details(exc.detail)
            error = NuvioError(_flatten_message(details), details=details)
        else:
            error = NuvioError(_flatten_message(exc.detail))
        error.status, error.code = exc.status_code, code
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            error.retry_after = max(1, int(exc.wait + 0.999))
        return error
    return None


def render_error(error: NuvioError) -> dict[str, Any]:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return {
        "data": error_body(error.code, error.message, error.details),
        "status": error.status,
        "headers": headers,
    }


def api_exception_handler(exc: BaseException, context: dict) -> Response:
    """DRF ``EXCEPTION_HANDLER``: every API failure in the one envelope."""
    error = to_nuvio_error(exc)
    set_rollback()
    if error is None:
        logger.exception("Unhandled error in %s", context.get("view"), exc_info=exc)
        error = NuvioError("Something went wrong on our side. It has been logged.")
        error.status, error.code = 500, "server_error"
    response = Response(**render_error(error))
    if error.status == 401:
        # RFC 7235: a 401 names the scheme that would succeed.
        response["WWW-Authenticate"] = "Token"
    return response


def json_error(error: NuvioError) -> JsonResponse:
    """The same envelope for responses made outside DRF (404/500 handlers, middleware)."""
    rendered = render_error(error)
    response = JsonResponse(rendered["data"], status=rendered["status"])
    for name, value in rendered["headers"].items():
        response[name] = value
    return response
