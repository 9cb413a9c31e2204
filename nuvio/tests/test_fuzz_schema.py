"""Schema fuzzing with schemathesis: every operation of ``/api/schema/``, as
an anonymous client, a customer and a staff member, with inputs the schema
allows and inputs it forbids, against the live WSGI application.

Checked for every response: no 5xx; the status code is documented for the
operation; the content type and the body match the schema; and every error
is the envelope of API.md with a documented code. Path ids and a few body
fields are, half of the time, those of real objects (the customer's own
booking, a real event, ticket, notification ...), so the fuzzing reaches the
code behind the 404s.

Bounded for CI (``NUVIO_FUZZ_EXAMPLES`` examples per operation, persona and
mode, deterministic); ``make fuzz`` runs it longer with random seeds. Every
finding is collected, not just the first, and printed with a curl line.
"""

import contextlib
import os
import random

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nuvio.tests.world import World, build_world

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("NUVIO_FUZZ_EXAMPLES", "6"))
RANDOM = os.environ.get("NUVIO_FUZZ_RANDOM") == "1"  # make fuzz: new inputs each run
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
DOCUMENTED_CODES = {
    "invalid",
    "not_authenticated",
    "payment_declined",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "too_large",
    "sold_out",
    "limit_exceeded",
    "booking_closed",
    "hold_expired",
    "invalid_state",
    "idempotency_conflict",
    "promo_invalid",
    "seat_taken",
    "queue_required",
    "throttled",
    "busy",
    "unavailable",
}


@contextlib.contextmanager
def connections_kept():
    """Django's WSGI handler without the connection closing around each
    request: the test's transaction (and its data) must survive the requests,
    as Django's own test client arranges (which reconnects the receivers after
    each of its requests: so no test client inside this block)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def no_throttles(settings):
    rates = dict.fromkeys(settings.NUVIO_THROTTLE_RATES, "1000000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _real_ids(w: World, persona: str) -> dict[str, list[str]]:
    """Ids worth putting in the path of each operation, by path template."""
    own_booking = [str(w.held.pk), str(w.confirmed.pk)] if persona == "customer" else []
    return {
        "/api/events/{id}/": [str(w.event.pk), str(w.draft.pk), str(w.fresh.pk)],
        "/api/events/{id}/cancel/": [str(w.fresh.pk)],
        "/api/events/{event_id}/waitlist/": [str(w.soldout2.pk), str(w.event.pk)],
        "/api/events/{event_id}/ticket-types/": [str(w.tiers.pk), str(w.draft.pk)],
        "/api/events/{event_id}/promo-codes/": [str(w.tiers.pk)],
        "/api/ticket-types/{id}/": [str(w.standard.pk), str(w.hidden_type.pk), str(w.vip.pk)],
        "/api/promo-codes/{id}/": [str(w.promo.pk)],
        "/api/analytics/events/{id}/": [str(w.event.pk)],
        "/api/bookings/{id}/": [*own_booking, str(w.other_booking.pk)],
        "/api/bookings/{id}/pay/": [*own_booking, str(w.other_booking.pk)],
        "/api/bookings/{id}/cancel/": [*own_booking, str(w.other_booking.pk)],
        "/api/bookings/{id}/refund-quote/": [*own_booking, str(w.other_booking.pk)],
        "/api/bookings/{id}/tickets/": [*own_booking, str(w.other_booking.pk)],
        "/api/waitlist/{id}/": [str(w.entry.pk)],
        "/api/notifications/{id}/read/": [str(w.notification.pk)],
    }


def _with_real_objects(case, w: World, persona: str, rng: random.Random) -> None:
    """Half of the time, real ids in the path and real values in the body."""
    if rng.random() < 0.5:
        return
    ids = _real_ids(w, persona).get(case.operation.path)
    if ids and case.path_parameters:
        name = next(iter(case.path_parameters))
        case.path_parameters = {**case.path_parameters, name: rng.choice(ids)}
    if isinstance(case.body, dict):
        body = dict(case.body)
        if "event" in body:
            body["event"] = str(rng.choice([w.event.pk, w.soldout.pk, w.draft.pk, w.tiers.pk]))
        if isinstance(body.get("items"), list):
            types = [w.standard.pk, w.vip.pk, w.hidden_type.pk]
            body["items"] = [
                {**item, "ticket_type": str(rng.choice(types))} if isinstance(item, dict) else item
                for item in body["items"]
            ]
        if "promo_code" in body:
            body["promo_code"] = rng.choice([w.promo.code, body["promo_code"]])
        if "code" in body:
            body["code"] = w.ticket.code
        if "card_number" in body:
            body["card_number"] = rng.choice(["4242424242424242", "4000000000000002"])
        case.body = body


def _envelope_problem(response) -> str | None:
    """Why an error response is not API.md's envelope (None if it is)."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return "error body is not JSON"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return f"error body is not {{'error': ...}}: {str(body)[:120]}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return f"error is not {{code, message, details}}: {str(error)[:120]}"
    if error["code"] not in DOCUMENTED_CODES:
        return f"undocumented error code {error['code']!r}"
    if not isinstance(error["message"], str) or not isinstance(error["details"], dict):
        return "message must be a string and details an object"
    if "Traceback" in response.text:
        return "a traceback leaked"
    return None


def _fuzz_operation(operation, mode, w: World, persona: str, rng, findings: dict) -> None:
    headers = {"Authorization": f"Token {w.tokens[persona]}"} if persona != "anon" else {}
    where = f"{persona} {mode.value} {operation.label}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        _with_real_objects(case, w, persona, rng)
        try:
            response = case.call(headers=headers)
        except UnicodeError:
            return  # not valid HTTP (a lone surrogate in a header): no client can send it
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:
            findings.setdefault(
                f"{where}: {type(exc).__name__}",
                f"{str(exc)[:600]}\n    {case.as_curl_command(headers=headers)}",
            )
        problem = _envelope_problem(response)
        if problem:
            findings.setdefault(f"{where}: envelope", f"{problem}\n    {case.as_curl_command()}")

    # Unsatisfiable: nothing in this operation can be made invalid (no input).
    with contextlib.suppress(Unsatisfiable):
        run()


def _fuzz(schema, w: World, persona: str) -> dict[str, str]:
    findings: dict[str, str] = {}
    rng = random.Random(0 if not RANDOM else None)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, w, persona, rng, findings)
    return findings


def test_fuzz_every_operation_as_each_persona(client, no_throttles, staff, customer, outsider):
    w = build_world(staff=staff, customer=customer, outsider=outsider)
    raw = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = WSGIHandler()
    findings: dict[str, str] = {}
    with connections_kept():
        for persona in ("anon", "customer", "staff"):
            findings.update(_fuzz(schema, w, persona))
    report = "\n".join(f"- {name}\n    {detail}" for name, detail in sorted(findings.items()))
    assert not findings, f"{len(findings)} schema fuzzing findings:\n{report}"
