"""Where a request's reads go when read replicas are configured (``nuvio.replicas``).

A GET or HEAD of a catalog or analytics page (``REPLICA_VIEWS``) opens a
replica scope, unless the requester's signed cookie says they wrote in the
last ``NUVIO_REPLICA_STICKY_SECONDS``. If a read fails on the replica, the
request is answered again, from the primary alone: it only read (the view's
exception is not logged as a server error: users never see it).

Any other method by a signed-in user (a write, whether it succeeded or not)
starts that user's sticky window: remembered in the cache under their id
(every process, every client, API tokens included) and in a signed cookie
(the browser's own copy, should the cache be unreachable).

Installed only when ``DATABASE_REPLICA_URLS`` names replicas, ahead of the
catalog's early answers (``events.middleware``), whose reads it routes too.
"""

import logging
import time

from django.conf import settings
from django.core.signing import BadSignature
from django.http import HttpResponse

from nuvio.outage import log_outage
from nuvio.replicas import (
    STICKY_COOKIE,
    STICKY_SALT,
    current_scope,
    replica_reads,
    replica_view,
    sticky_remember,
)

logger = logging.getLogger("nuvio.replicas")

READS = frozenset({"GET", "HEAD"})
NOT_WRITES = READS | {"OPTIONS", "TRACE"}


class ReplicaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.sticky_seconds = settings.NUVIO_REPLICA_STICKY_SECONDS

    def __call__(self, request):
        if request.method in READS:
            view_name = replica_view(request)
            if view_name and not self._sticky_cookie(request):
                return self._read(request, view_name)
            return self.get_response(request)
        response = self.get_response(request)
        if request.method not in NOT_WRITES:
            self._remember_write(request, response)
        return response

    def _read(self, request, view_name: str):
        with replica_reads(request, view_name) as scope:
            response = self.get_response(request)
        if scope.failed is None:
            return response
        log_outage(
            logger, "a read failed on a replica; answered again from the primary", scope.failed
        )
        response.close()
        return self.get_response(request)

    def process_exception(self, request, exception):
        scope = current_scope()
        if scope is not None and scope.failed is not None:
            # The request is answered again from the primary: a placeholder
            # spares the logs a traceback for what users never see.
            return HttpResponse(status=503)
        return None

    def _sticky_cookie(self, request) -> bool:
        if STICKY_COOKIE not in request.COOKIES:
            return False
        try:
            until = float(request.get_signed_cookie(STICKY_COOKIE, salt=STICKY_SALT))
        except (BadSignature, ValueError):
            return False
        return until > time.time()

    def _remember_write(self, request, response) -> None:
        user = getattr(request, "user", None)
        if not self.sticky_seconds or user is None or not user.is_authenticated:
            return
        until = time.time() + self.sticky_seconds
        sticky_remember(user.pk, until)
        response.set_signed_cookie(
            STICKY_COOKIE,
            f"{until:.3f}",
            salt=STICKY_SALT,
            max_age=self.sticky_seconds,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
