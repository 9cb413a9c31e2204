"""``nuvio.csp.CSPMiddleware`` sets the headers django-csp's own middleware
would, building a plain response's policy once."""

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE, SELF
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from nuvio import csp as nuvio_csp

POLICY = {"DIRECTIVES": {"default-src": [SELF], "script-src": [SELF, NONCE]}}
REPORT_ONLY = {
    "EXCLUDE_URL_PREFIXES": ["/skip/"],
    "DIRECTIVES": {"default-src": ["'none'"], "report-uri": "/csp-report/"},
}


def answer(middleware_class, path="/x/", nonce=False, **attributes):
    def view(request):
        response = HttpResponse("ok")
        if nonce:
            response.content = str(request.csp_nonce).encode()
        for name, value in attributes.items():
            setattr(response, name, value)
        return response

    middleware = middleware_class(view)
    request = RequestFactory().get(path)
    middleware.process_request(request)
    response = middleware.process_response(request, view(request))
    return request, response


CASES = [
    {},
    {"path": "/skip/page/"},
    {"_csp_exempt": True},
    {"_csp_exempt_ro": True},
    {"_csp_update": {"img-src": ["data:"]}},
    {"_csp_replace_ro": {"default-src": ["'self'"]}},
]


@pytest.mark.parametrize("case", CASES)
@override_settings(CONTENT_SECURITY_POLICY=POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY=REPORT_ONLY)
def test_the_headers_are_those_of_django_csp(case):
    case = dict(case)
    path = case.pop("path", "/x/")
    for _ in range(2):  # the second answer is served from what the first built
        _, ours = answer(nuvio_csp.CSPMiddleware, path, **case)
        _, theirs = answer(BaseCSPMiddleware, path, **case)
        assert ours.get(HEADER) == theirs.get(HEADER)
        assert ours.get(HEADER_REPORT_ONLY) == theirs.get(HEADER_REPORT_ONLY)


@override_settings(CONTENT_SECURITY_POLICY=POLICY)
def test_a_response_that_used_a_nonce_names_it_and_a_later_one_does_not():
    answer(nuvio_csp.CSPMiddleware)  # builds the plain policy
    _, with_nonce = answer(nuvio_csp.CSPMiddleware, nonce=True)
    nonce = with_nonce.content.decode()
    assert f"'nonce-{nonce}'" in with_nonce[HEADER]
    _, plain = answer(nuvio_csp.CSPMiddleware)
    assert "nonce-" not in plain[HEADER]
    assert plain[HEADER] == build_policy()


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error():
    from csp.exceptions import CSPNonceError

    request, _ = answer(nuvio_csp.CSPMiddleware)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_a_settings_change_is_seen():
    with override_settings(CONTENT_SECURITY_POLICY=POLICY):
        _, before = answer(nuvio_csp.CSPMiddleware)
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'none'"]}}):
        _, after = answer(nuvio_csp.CSPMiddleware)
    assert "'self'" in before[HEADER]
    assert after[HEADER] == "default-src 'none'"
