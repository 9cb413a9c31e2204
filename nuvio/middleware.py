"""Project-wide middleware."""

from rest_framework.views import APIView

from nuvio.errors import MethodNotAllowed, json_error


def allowed_methods(view_func) -> list[str] | None:
    """The HTTP methods the API view behind ``view_func`` answers, upper
    case, as DRF dispatches them; None if it is not an API view."""
    cls = getattr(view_func, "cls", None)
    if not (isinstance(cls, type) and issubclass(cls, APIView)):
        return None
    actions = getattr(view_func, "actions", None) or {}  # a viewset's method -> action
    methods = {m for m in cls.http_method_names if m in actions or hasattr(cls, m)}
    if "get" in methods:
        methods.add("head")  # as Django's View and DRF's viewsets do
    return [m.upper() for m in cls.http_method_names if m in methods]


class ApiMethodMiddleware:
    """A method an API endpoint does not have is 405 ``method_not_allowed``,
    whoever asks.

    DRF authenticates, checks permissions and counts the throttle before it
    looks for the method's handler, so ``TRACE /api/events/`` answered 401,
    403 or 429 depending on the client (and counted against its rate).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        methods = allowed_methods(view_func)
        if methods is None or request.method in methods:
            return None
        response = json_error(MethodNotAllowed(f'Method "{request.method}" not allowed.'))
        response["Allow"] = ", ".join(methods)
        return response
