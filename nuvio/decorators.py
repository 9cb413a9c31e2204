"""View decorators shared by the apps' HTML views."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import AuthenticationFailed

from nuvio.authentication import CachedTokenAuthentication
from nuvio.errors import NotAuthenticated, json_error


def session_or_token_required(view):
    """``login_required`` for a page that the API's clients fetch too (a
    ticket's QR code, a booking's calendar file).

    A request with ``Authorization: Token <key>`` is authenticated as the API
    authenticates it (``CachedTokenAuthentication``: the same cache, the same
    rules); a bad token, or one of an inactive user, is a 401 in the error
    envelope, not a redirect to a login form that a program cannot fill.
    Without that header the session decides, and an anonymous visitor is sent
    to log in.
    """
    session_view = login_required(view)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            authenticated = CachedTokenAuthentication().authenticate(request)
        except AuthenticationFailed as exc:
            response = json_error(NotAuthenticated(str(exc.detail)))
            # RFC 7235: a 401 names the scheme that would succeed.
            response["WWW-Authenticate"] = "Token"
            return response
        if authenticated is None:
            response = session_view(request, *args, **kwargs)
        else:
            request.user = authenticated[0]
            response = view(request, *args, **kwargs)
        patch_vary_headers(response, ["Authorization"])
        return response

    return wrapped
