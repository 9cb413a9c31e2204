"""django-csp's middleware, with the policy of a plain response built once.

``csp.middleware.CSPMiddleware`` builds both headers from the settings on
every response. A response that used no nonce and carries no per-view
policy (``@csp_update`` and the like) gets the same two strings every time:
the API's JSON, the cached catalog pages, redirects. Building them cost
about a sixth of answering a cached catalog page (``bench/``: the cached
list and the event page), so for such a response this subclass sets the
strings built the first time, under the same conditions as the base class
(exemptions, excluded prefixes, the debug pages). Any other response goes
the base class's way. A settings change (tests) forgets what was built.
"""

import http.client

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# What a view sets on its response to change the policy for that response.
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)
# (header, the response attribute that exempts it, the setting, report only)
_HEADERS = (
    (HEADER, "_csp_exempt", "CONTENT_SECURITY_POLICY", False),
    (HEADER_REPORT_ONLY, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
)

_built: dict[bool, tuple[str, tuple[str, ...]]] = {}


@receiver(setting_changed)
def _forget(*, setting, **kwargs) -> None:
    if setting in {name for _, _, name, _ in _HEADERS} or setting == "DEBUG":
        _built.clear()


def _plain_policy(setting: str, report_only: bool) -> tuple[str, tuple[str, ...]]:
    """The policy without nonce or per-view parts, and its excluded prefixes."""
    try:
        return _built[report_only]
    except KeyError:
        prefixes = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
        _built[report_only] = build_policy(report_only=report_only), prefixes
        return _built[report_only]


class CSPMiddleware(BaseCSPMiddleware):
    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in _DEBUG_EXEMPT and settings.DEBUG:
            return response
        for header, exempt, setting, report_only in _HEADERS:
            policy, prefixes = _plain_policy(setting, report_only)
            if (
                policy
                and header not in response
                and not getattr(response, exempt, False)
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = policy
        # As the base class does: a nonce asked for after this is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
