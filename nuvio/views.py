"""Project-wide views: error pages in both worlds (JSON under /api/, HTML
elsewhere) and the health check."""

import logging
import sys

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from nuvio import errors
from nuvio.outage import log_outage
from nuvio.replicas import replicas_report

logger = logging.getLogger("nuvio.health")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _html_error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message},
        status=status,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # read outside DRF, e.g. a form's POST
        error = errors.to_nuvio_error(exception)
        if _is_api(request):
            return errors.json_error(error)
        return _html_error(request, 413, "Too large", "What you sent is too large.")
    if _is_api(request):
        return errors.json_error(errors.Invalid("The request could not be understood."))
    return _html_error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return errors.json_error(errors.PermissionDenied())
    return _html_error(request, 403, "Not allowed", "You do not have permission to see this page.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return errors.json_error(errors.NotFound(f"No such endpoint or object: {request.path}"))
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block, so the failure is at hand:
    # a lost database is a 503 the client may retry, not a bug.
    exc = sys.exc_info()[1]
    error = errors.database_error(exc) if isinstance(exc, DatabaseError) else None
    if error is None:
        error = errors.NuvioError("Something went wrong on our side. It has been logged.")
        error.status, error.code = 500, "server_error"
    if _is_api(request):
        return errors.json_error(error)
    # No request context here: the failure may be in what the context needs.
    # The nonce lets the page's inline style past the Content-Security-Policy.
    context = {"status": error.status, "csp_nonce": str(getattr(request, "csp_nonce", ""))}
    response = render(None, "500.html", context, status=error.status)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    message = "The form's security token is missing or old. Reload the page and try again."
    if _is_api(request):
        return errors.json_error(errors.PermissionDenied(f"CSRF check failed: {reason}"))
    return _html_error(request, 403, "Form expired", message)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    if settings.REDIS_URL:
        # The cache swallows Redis errors on purpose (pages keep working), so ask
        # Redis itself.
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()
    else:
        cache.set("nuvio:healthz", "ok", 5)
        if cache.get("nuvio:healthz") != "ok":
            raise RuntimeError("cache read-back failed")


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # embedded mode: tasks run in-process, there is no broker
    from nuvio.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=1)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """`{"database": "ok", "cache": "ok", "broker": "ok"}`, 503 naming what failed.

    With read replicas, `"replicas": {"replica_1": "ok" | "lagging" | "down"}`
    too; a replica's trouble leaves the status 200: its reads go to the primary."""
    checks = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
    result, healthy = {}, True
    for name, check in checks.items():
        try:
            check()
            result[name] = "ok"
        except Exception as exc:  # any failure of a dependency is reported, never raised
            log_outage(logger, f"healthz: {name} failed", exc)
            result[name] = "unavailable"
            healthy = False
    if settings.DATABASE_REPLICAS:
        result["replicas"] = replicas_report()
    return JsonResponse(result, status=200 if healthy else 503)
