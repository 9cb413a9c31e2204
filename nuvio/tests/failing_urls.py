"""A URLconf with views that fail, to test the project's error handlers."""

from django.db import OperationalError
from django.urls import path

from nuvio.urls import handler400, handler403, handler404, handler500  # noqa: F401


def lost_database(request):
    raise OperationalError("could not connect to server")


def bug(request):
    raise RuntimeError("secret internals")


urlpatterns = [
    path("lost-database/", lost_database),
    path("bug/", bug),
    path("api/plain-bug/", bug),
]
