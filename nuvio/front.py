"""The early answers without Django's request handler.

``events.middleware.CatalogListMiddleware`` answers the busiest reads (an
anonymous catalog page, a waiting room's poll) from Redis before the rest
of the middleware runs. What is left of such a request's cost is mostly
Django's handler around it: the request signals, each middleware wrapped
to turn exceptions into responses, the WSGI plumbing; in-process, 75 of a
cached list answer's 197 microseconds of CPU.

``SharedPageFront`` wraps the WSGI application. A GET of a path the early
answers serve goes through the middleware that comes before
``CatalogListMiddleware`` in ``MIDDLEWARE`` (the same classes, so the same
headers, redirects and replica routing) and the early answer itself;
when there is no early answer (a signed-in client, a miss, a throttled
client, an error) the request goes to the application, which answers it
as it always did. The rate-limit verdict of the early attempt travels in
the WSGI environment, so the request is counted once.

A request answered here sends no ``request_started``/``request_finished``:
an answer from Redis touches no database connection, and the reads that do
(a room or an event page not in memory: a query or two) fall through to
the application when they fail, which checks its connections as usual.
"""

import logging

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

logger = logging.getLogger("nuvio.front")

EARLY = "events.middleware.CatalogListMiddleware"


class _Pass(Exception):
    """No early answer: the application answers."""


def _pass(request):
    raise _Pass


class SharedPageFront:
    def __init__(self, app):
        self.app = app
        self.chain = self.early = None
        self.tried = import_string("events.middleware.TRIED")
        if EARLY in settings.MIDDLEWARE:
            names = settings.MIDDLEWARE[: settings.MIDDLEWARE.index(EARLY)]
            self.early = chain = import_string(EARLY)(_pass)
            for name in reversed(names):
                chain = import_string(name)(chain)
            self.chain = chain

    def __call__(self, environ, start_response):
        if (
            self.chain is None
            or environ.get("REQUEST_METHOD") != "GET"
            or not self.early.may_answer(environ.get("PATH_INFO", ""))
        ):
            return self.app(environ, start_response)
        set_script_prefix(get_script_name(environ))
        try:
            response = self.chain(WSGIRequest(environ))
        except Exception as exc:
            if not isinstance(exc, _Pass):  # the application answers as usual
                logger.exception("early answer failed; the application answers")
            environ[self.tried] = True
            return self.app(environ, start_response)
        headers = [*response.items()]
        headers.extend(("Set-Cookie", c.output(header="")) for c in response.cookies.values())
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [response.content]
