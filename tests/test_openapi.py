"""The OpenAPI description (cds_service/protocol/schemas/openapi.json, served at GET
/openapi.json): valid
OpenAPI 3.1, complete (every route of the app, nothing more), and true (real answers of the app,
errors included, match the status, media type, headers and body schema it describes)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cds_service.app import create_app
from cds_service.config import NoMedicationDataPolicy, Settings
from cds_service.protocol.services import SERVICES
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN_200MG, WARFARIN_1MG
from cds_service.web.openapi import SOURCE, openapi_document

DOCUMENT_URI = "urn:ddi-cds:openapi"
FLASK_ONLY = {"HEAD", "OPTIONS"}  # answered by Flask on every GET route / as CORS preflight


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi_document()


class Description:
    """Looks up what the description says about an answer, and checks an answer against it."""

    def __init__(self, document: dict) -> None:
        self.document = document
        resource = Resource(contents=document, specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    def check(self, response, path: str, method: str) -> None:
        """`response` (a Flask test response) is one the description allows for `method path`."""
        operation = self.document["paths"][path][method.lower()]
        described = operation["responses"]
        status = str(response.status_code)
        assert status in described, f"{method} {path} answered {status}; described: {described}"
        pointer = f"/paths/{_escape(path)}/{method.lower()}/responses/{status}"
        self.matches(response, *self._resolve(described[status], pointer))

    def matches(self, response, answer: dict, pointer: str) -> None:
        content = answer.get("content", {})
        assert response.mimetype in content, (response.mimetype, list(content))
        schema_pointer = f"{pointer}/content/{_escape(response.mimetype)}/schema"
        body = response.get_json() if response.is_json else response.get_data(as_text=True)
        self.validate(body, schema_pointer)
        for name, header in answer.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, f"header {name} missing"
            if name in response.headers:
                self.validate(response.headers[name], f"{pointer}/headers/{name}/schema")

    def component_response(self, name: str) -> tuple[dict, str]:
        return self.document["components"]["responses"][name], f"/components/responses/{name}"

    def _resolve(self, answer: dict, pointer: str) -> tuple[dict, str]:
        target = answer.get("$ref")
        if target is None:
            return answer, pointer
        return self.component_response(target.removeprefix("#/components/responses/"))

    def validate(self, instance: Any, pointer: str) -> None:
        validator = Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#{pointer}"},
            registry=self.registry,
            format_checker=FormatChecker(),
        )
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
        assert not errors, errors


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@pytest.fixture(scope="module")
def description(document) -> Description:
    return Description(document)


# --- the description itself --------------------------------------------------------------------


def test_the_served_description_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_source_file_is_valid_with_the_schema_files_beside_it():
    """As kept in the repository, with `$ref`s to response.json, discovery.json, feedback.json."""
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    external = sorted(
        s["$ref"] for s in source["components"]["schemas"].values() if "$ref" in s and len(s) == 1
    )
    assert external == ["discovery.json", "feedback.json", "response.json"]
    validate(source, base_uri=SOURCE.as_uri(), cls=OpenAPIV31SpecValidator)


def test_every_reference_of_the_served_description_resolves_inside_it(document):
    def references(value: Any):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref" and isinstance(item, str):
                    yield item
                else:
                    yield from references(item)
        elif isinstance(value, list):
            for item in value:
                yield from references(item)

    found = set(references(document))
    assert found
    for reference in found:
        assert reference.startswith("#/"), reference
        node: Any = document
        for token in reference[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        assert isinstance(node, dict), reference


@pytest.mark.parametrize(
    ("name", "component", "instance"),
    [
        ("response", "CdsResponse", {"cards": []}),
        ("response", "CdsResponse", {"cards": [], "more": 1}),
        ("response", "CdsResponse", {"cards": [{"summary": "no indicator, no source"}]}),
        ("discovery", "CdsDiscovery", {"services": []}),
        ("discovery", "CdsDiscovery", {"services": [{"id": "x"}]}),
        ("feedback", "CdsFeedback", {"feedback": []}),
        ("feedback", "CdsFeedback", {"feedback": [{"card": "x", "outcome": "maybe"}]}),
    ],
)
def test_the_bundled_cds_hooks_schemas_judge_as_the_project_schemas(
    description, schema_validator, name, component, instance
):
    def verdict(check) -> bool:
        try:
            check()
        except AssertionError:
            return False
        return True

    project = verdict(lambda: schema_validator(name, instance))
    bundled = verdict(lambda: description.validate(instance, f"/components/schemas/{component}"))
    assert project == bundled


def test_real_cds_hooks_bodies_pass_both_schemas(client, description, schema_validator):
    bodies = {
        "CdsDiscovery": client.get("/cds-services").get_json(),
        "CdsResponse": client.post(
            "/cds-services/ddi-order-sign", json=interacting_order_sign()
        ).get_json(),
        "CdsFeedback": feedback_body(),
    }
    assert bodies["CdsResponse"]["cards"]
    for component, body in bodies.items():
        description.validate(body, f"/components/schemas/{component}")


def test_every_route_of_the_app_is_described_and_nothing_else(app, document):
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":  # the pages' stylesheet, script and icon: files, not an API
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method) for method in rule.methods - FLASK_ONLY}
    described = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert routes == described


def test_the_service_ids_and_hooks_are_those_the_service_declares(document):
    ids = document["components"]["parameters"]["ServiceId"]["schema"]["enum"]
    assert ids == [s.id for s in SERVICES]
    hooks = document["components"]["schemas"]["HookRequest"]["discriminator"]["mapping"]
    assert set(hooks) == {s.hook for s in SERVICES}


def test_the_request_schemas_accept_what_the_tests_send(description):
    order = [
        medication_request(WARFARIN_1MG, rid="a"),
        medication_request(IBUPROFEN_200MG, rid="b"),
    ]
    for hook in ("order-select", "order-sign"):
        description.validate(
            hook_request(hook, order, current=[]), "/components/schemas/HookRequest"
        )
    prescribe = {
        "hook": "medication-prescribe",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": "p1", "medications": {"resourceType": "Bundle", "entry": []}},
    }
    description.validate(prescribe, "/components/schemas/HookRequest")
    with pytest.raises(AssertionError):  # the hook decides which context fields are required
        description.validate(prescribe | {"hook": "order-sign"}, "/components/schemas/HookRequest")
    description.validate(feedback_body(), "/components/schemas/CdsFeedback")


# --- real answers ------------------------------------------------------------------------------


def feedback_body() -> dict:
    return {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "overrideReason": {"userComment": "benefit outweighs the risk"},
                "outcomeTimestamp": "2024-05-01T10:00:00Z",
            }
        ]
    }


def interacting_order_sign() -> dict:
    drafts = [
        medication_request(WARFARIN_1MG, rid="a"),
        medication_request(IBUPROFEN_200MG, rid="b"),
    ]
    return hook_request("order-sign", drafts, current=[])


HOOK = "/cds-services/{service_id}"
FEEDBACK = "/cds-services/{service_id}/feedback"


@pytest.mark.parametrize(
    ("method", "template", "url", "body", "status"),
    [
        ("GET", "/cds-services", "/cds-services", None, 200),
        ("GET", "/healthz", "/healthz", None, 200),
        ("GET", "/readyz", "/readyz", None, 200),
        ("GET", "/metrics", "/metrics", None, 200),
        ("GET", "/openapi.json", "/openapi.json", None, 200),
        ("GET", "/explain", "/explain?a=11289&b=5640", None, 200),
        ("GET", "/explain", "/explain?a=11289&b=5640&effect=Bleeding", None, 200),
        ("GET", "/explain", "/explain?a=warfarin&b=5640", None, 400),
        ("GET", "/explain", "/explain?b=5640", None, 400),
        ("GET", "/explain", "/explain?a=11289&b=5640&effect=" + "x" * 300, None, 400),
        ("GET", "/explain", "/explain?a=11289&b=999999999", None, 404),
        ("GET", "/explain", "/explain?a=11289&b=5640&effect=no-such-effect", None, 404),
        ("GET", "/medication-names", "/medication-names?q=warf", None, 200),
        ("POST", HOOK, "/cds-services/ddi-order-sign", interacting_order_sign(), 200),
        ("POST", HOOK, "/cds-services/ddi-order-sign", b"{not json", 400),
        ("POST", HOOK, "/cds-services/ddi-order-sign", {"hook": "order-sign"}, 400),
        ("POST", HOOK, "/cds-services/ddi-order-select", interacting_order_sign(), 400),
        ("POST", HOOK, "/cds-services/no-such-service", interacting_order_sign(), 404),
        ("POST", FEEDBACK, "/cds-services/ddi-order-sign/feedback", feedback_body(), 200),
        ("POST", FEEDBACK, "/cds-services/ddi-order-sign/feedback", {"feedback": []}, 400),
        ("POST", FEEDBACK, "/cds-services/no-such-service/feedback", feedback_body(), 404),
    ],
)
def test_answers_match_the_description(client, description, method, template, url, body, status):
    data = body if isinstance(body, bytes | None) else json.dumps(body)
    response = client.open(url, method=method, data=data, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    description.check(response, template, method)
    if template == HOOK and status == 200:
        assert response.get_json()["cards"], "the interacting pair should give a card"


def test_a_body_that_is_not_json_is_415_as_described(client, description):
    response = client.post("/cds-services/ddi-order-sign", data="hi", content_type="text/plain")
    assert response.status_code == 415
    description.check(response, HOOK, "POST")


def test_a_body_over_the_limit_is_413_as_described(tmp_path, description):
    client = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, max_body_bytes=1000)
    ).test_client()
    for url, template in (
        ("/cds-services/ddi-order-sign", HOOK),
        ("/cds-services/ddi-order-sign/feedback", FEEDBACK),
    ):
        response = client.post(url, data=b"[" + b" " * 2000 + b"]", content_type="application/json")
        assert response.status_code == 413
        description.check(response, template, "POST")


def test_unavailable_medications_are_412_as_described(tmp_path, description):
    settings = Settings(
        auth_disabled=True,
        data_dir=tmp_path,
        no_medication_data=NoMedicationDataPolicy.PRECONDITION_FAILED,
    )
    client = create_app(settings).test_client()
    body = hook_request("order-sign", [medication_request(WARFARIN_1MG, rid="a")])  # no prefetch
    response = client.post("/cds-services/ddi-order-sign", json=body)
    assert response.status_code == 412
    description.check(response, HOOK, "POST")


def test_calls_without_a_token_are_401_as_described(tmp_path, description):
    client = create_app(Settings(data_dir=tmp_path)).test_client()  # auth on, no issuer trusted
    for url, template, body in (
        ("/cds-services/ddi-order-sign", HOOK, interacting_order_sign()),
        ("/cds-services/ddi-order-sign/feedback", FEEDBACK, feedback_body()),
    ):
        response = client.post(url, json=body)
        assert response.status_code == 401
        description.check(response, template, "POST")
    assert client.get("/cds-services").status_code == 200  # discovery stays open, as described
    document = description.document
    assert "security" not in document["paths"]["/cds-services"]["get"]
    assert document["paths"][HOOK]["post"]["security"] == [{"ehrJwt": []}]


def test_feedback_that_cannot_be_stored_is_503_as_described(app, client, description, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(app.extensions["ddi_cds"].feedback, "append", broken)
    response = client.post("/cds-services/ddi-order-sign/feedback", json=feedback_body())
    assert response.status_code == 503
    description.check(response, FEEDBACK, "POST")


def test_a_method_an_endpoint_does_not_answer_is_405_as_described(client, description):
    for method, url in (("GET", "/cds-services/ddi-order-sign"), ("DELETE", "/cds-services")):
        response = client.open(url, method=method)
        assert response.status_code == 405
        description.matches(response, *description.component_response("MethodNotAllowed"))
