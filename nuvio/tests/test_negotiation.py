import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from nuvio.negotiation import ContentNegotiation


def _answer(negotiation, accept, query, format_suffix=None):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/events/{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(
            request, [JSONRenderer(), BrowsableAPIRenderer()], format_suffix
        )
    except (NotAcceptable, Http404) as exc:
        return type(exc)
    return type(renderer), media_type


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "",
        "text/html",
        "application/json; indent=4",
        "*/*;q=0.8",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "application/json, text/html",
        "application/*",
        "image/png",
    ],
)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml", "?page=2"])
def test_negotiation_answers_as_drf_does(accept, query):
    expected = _answer(DefaultContentNegotiation(), accept, query)
    assert _answer(ContentNegotiation(), accept, query) == expected
    assert _answer(ContentNegotiation(), accept, query, "api") == _answer(
        DefaultContentNegotiation(), accept, query, "api"
    )


def test_the_usual_request_is_negotiated_without_parsing_accept_or_the_query():
    assert APIView.content_negotiation_class is ContentNegotiation
    django_request = APIRequestFactory().post("/api/bookings/", {}, format="json")
    renderer, media_type = ContentNegotiation().select_renderer(
        Request(django_request), [JSONRenderer(), BrowsableAPIRenderer()]
    )
    assert (type(renderer), media_type) == (JSONRenderer, "application/json")
    assert "GET" not in django_request.__dict__  # the query string was never parsed
