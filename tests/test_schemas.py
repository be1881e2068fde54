"""The project's CDS Hooks 2.0 JSON Schemas against the spec's own examples and one broken
document per rule."""

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, ValidationError

from cds_service.protocol.schemas import SCHEMA_DIR, SCHEMA_NAMES, load_schema
from tests.conftest import SHARED_DATA, require_shared_data

SPEC_EXAMPLES = SHARED_DATA / "cds-hooks" / "examples" / "spec-2.0"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


VALIDATORS = {name: validator(name) for name in SCHEMA_NAMES}


# --- minimal valid envelopes for fragments -----------------------------------------------------


def card(**fields) -> dict:
    return {"summary": "Check INR", "indicator": "info", "source": {"label": "DDI"}, **fields}


def response(*cards: dict, **fields) -> dict:
    return {"cards": list(cards), **fields}


def action(**fields) -> dict:
    return {
        "type": "create",
        "description": "Order an INR",
        "resource": {"resourceType": "ServiceRequest"},
        **fields,
    }


def suggestion_card(*actions: dict, **fields) -> dict:
    return card(
        suggestions=[{"label": "Do it", "actions": list(actions) or [action()]}],
        selectionBehavior="at-most-one",
        **fields,
    )


def service(**fields) -> dict:
    return {"hook": "order-sign", "id": "ddi", "description": "Drug interactions", **fields}


def feedback(**fields) -> dict:
    entry = {
        "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
        "outcome": "overridden",
        "outcomeTimestamp": "2021-12-11T10:05:31Z",
        **fields,
    }
    return {"feedback": [entry]}


def as_is(doc: dict) -> dict:
    return doc


def in_card(fragment: dict) -> dict:
    return response(card(**fragment))


def as_suggestion_action(fragment: dict) -> dict:
    return response(suggestion_card(fragment))


def in_service(fragment: dict) -> dict:
    return {"services": [service(**fragment)]}


SYSTEM_ACTION_NO_DESCRIPTION = (
    "CDS Hooks 2.0 example violates the 2.0 text: a systemAction 'is the same Action' and "
    "Action.description is REQUIRED (the 3.0 ballot only requires it for suggestion actions, "
    "cds-resp-5)"
)

# (file, schema, wrapper); every other spec-2.0 example is a request or a request fragment.
SPEC_CASES: list = [
    ("spec-01-discovery-example.json", "discovery", as_is),
    ("spec-03-prefetch-template.json", "discovery", in_service),
    ("spec-04-prefetch-tokens-identifying-the-user.json", "discovery", in_service),
    ("spec-05-prefetch-tokens-identifying-the-user.json", "discovery", in_service),
    ("spec-09-example-prefetch-templates.json", "discovery", in_service),
    ("spec-12-http-response.json", "response", as_is),
    ("spec-13-source.json", "response", in_card),
    ("spec-14-action.json", "response", as_suggestion_action),
    ("spec-15-action.json", "response", as_suggestion_action),
    ("spec-16-action.json", "response", as_suggestion_action),
    ("spec-17-reasons-for-rejecting-a-card.json", "response", in_card),
    pytest.param(
        "spec-18-system-action.json",
        "response",
        as_is,
        marks=pytest.mark.xfail(
            reason=SYSTEM_ACTION_NO_DESCRIPTION, raises=ValidationError, strict=True
        ),
    ),
    ("spec-19-response-example.json", "response", as_is),
    ("spec-20-example-suggestion-accepted.json", "feedback", as_is),
    ("spec-21-example-overridden-guidance-without-overridereason.json", "feedback", as_is),
    ("spec-22-example-overridden-guidance-with-overridereason.json", "feedback", as_is),
    ("spec-24-extensions.json", "discovery", as_is),
]
NOT_SERVICE_BODIES = {
    "spec-02-request-patient-view.json",  # hook request
    "spec-06-example-prefetch-token.json",  # request context
    "spec-07-example-prefetch-token.json",  # request context
    "spec-08-example-prefetch-token.json",  # request context
    "spec-10-example-prefetch-data.json",  # request prefetch data
    "spec-11-passing-the-access-token-to-the-cds-service.json",  # request fhirAuthorization
    "spec-23-extensions.json",  # hook request with an extension
}


def case_file(case: object) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]  # type: ignore[index]


@pytest.fixture(scope="module")
def spec_examples() -> Path:
    require_shared_data()
    return SPEC_EXAMPLES


def test_every_spec_example_is_classified(spec_examples: Path) -> None:
    on_disk = {p.name for p in spec_examples.glob("*.json")}
    listed = {case_file(c) for c in SPEC_CASES}
    assert not listed & NOT_SERVICE_BODIES
    assert on_disk == listed | NOT_SERVICE_BODIES


@pytest.mark.parametrize(("filename", "schema", "wrap"), SPEC_CASES)
def test_spec_example_validates(
    spec_examples: Path, filename: str, schema: str, wrap: Callable[[dict], dict]
) -> None:
    doc = wrap(json.loads((spec_examples / filename).read_text(encoding="utf-8")))
    VALIDATORS[schema].validate(doc)


# --- the schemas themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMA_NAMES))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert (SCHEMA_DIR / f"{name}.json").is_file()


def test_load_schema_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("request")


def test_load_schema_returns_a_fresh_copy() -> None:
    load_schema("response")["required"].append("bogus")
    assert load_schema("response")["required"] == ["cards"]


# --- documents that must validate (edges of the rules) -----------------------------------------

VALID = [
    ("response", response(), "no guidance: empty cards"),
    ("response", response(card(summary="x" * 140)), "summary of 140 characters"),
    ("response", response(suggestion_card()), "suggestion with selectionBehavior"),
    (
        "response",
        response(
            card(
                suggestions=[
                    {"label": "A", "isRecommended": True},
                    {"label": "B", "isRecommended": False},
                ],
                selectionBehavior="at-most-one",
            )
        ),
        "cds-resp-1: one recommended suggestion with at-most-one",
    ),
    (
        "response",
        response(
            card(
                suggestions=[
                    {"label": "A", "isRecommended": True},
                    {"label": "B", "isRecommended": True},
                ],
                selectionBehavior="any",
            )
        ),
        "cds-resp-1: several recommended suggestions with any",
    ),
    (
        "response",
        response(card(selectionBehavior="any")),
        "selectionBehavior without suggestions",
    ),
    (
        "response",
        response(
            card(
                links=[
                    {
                        "label": "app",
                        "url": "https://app.example.org/launch",
                        "type": "smart",
                        "appContext": "x",
                        "autolaunchable": False,
                    }
                ]
            )
        ),
        "cds-resp-3: smart link with appContext",
    ),
    (
        "response",
        response(card(source={"label": "DDI", "topic": {"system": "urn:x", "code": "t"}})),
        "topic Coding without display",
    ),
    (
        "response",
        response(
            suggestion_card(
                {"type": "delete", "description": "Stop it", "resourceId": "MedicationRequest/1"}
            )
        ),
        "delete with resourceId only",
    ),
    (
        "response",
        response(
            systemActions=[action(type="update", resource={"resourceType": "MedicationRequest"})]
        ),
        "systemActions with a described action",
    ),
    (
        "response",
        response(
            card(
                suggestions=[
                    {
                        "label": "Both",
                        "actions": [action(), action(type="update")],
                        "actionSelectionBehavior": "any",
                    }
                ],
                selectionBehavior="any",
            )
        ),
        "3.0-ballot actionSelectionBehavior",
    ),
    (
        "response",
        response(card(extension={"org.example.score": 3}), extension={"org.example.x": True}),
        "extensions",
    ),
    ("feedback", feedback(), "overridden without overrideReason"),
    (
        "feedback",
        feedback(overrideReason={"userComment": "Patient already monitored"}),
        "cds-fb-3: userComment only",
    ),
    (
        "feedback",
        feedback(overrideReason={"reason": {"system": "urn:x", "code": "r"}}),
        "cds-fb-3: reason only, without display",
    ),
    (
        "feedback",
        feedback(
            outcome="accepted",
            acceptedSuggestions=[{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            outcomeTimestamp="1985-04-12T23:20:50.52+00:00",
        ),
        "accepted with acceptedSuggestions, fractional seconds",
    ),
    ("discovery", {"services": []}, "no services"),
    ("discovery", {"services": [service(title="DDI", version="2.0")]}, "3.0-ballot version"),
]


@pytest.mark.parametrize(("schema", "doc"), [v[:2] for v in VALID], ids=[v[2] for v in VALID])
def test_valid_document(schema: str, doc: dict) -> None:
    VALIDATORS[schema].validate(doc)


# --- one broken document per rule ---------------------------------------------------------------


def without(doc: dict, path: str) -> dict:
    """A copy of doc without the member at the dotted path (list indices as digits)."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[last]
    return doc


INVALID = [
    # (schema, document, the keyword of its single error, id)
    ("response", response(card(summary="x" * 141)), "maxLength", "summary of 141 characters"),
    ("response", response(card(summary="")), "minLength", "empty summary"),
    ("response", response(card(indicator="error")), "enum", "indicator 'error' (tools IG code)"),
    ("response", response(card(indicator="hard-stop")), "enum", "unknown indicator"),
    (
        "response",
        response(without(suggestion_card(), "selectionBehavior")),
        "dependentRequired",
        "cds-resp-6: suggestions without selectionBehavior",
    ),
    (
        "response",
        response(suggestion_card() | {"selectionBehavior": "all"}),
        "enum",
        "card selectionBehavior 'all'",
    ),
    (
        "response",
        response(
            card(
                suggestions=[
                    {"label": "A", "isRecommended": True},
                    {"label": "B", "isRecommended": True},
                ],
                selectionBehavior="at-most-one",
            )
        ),
        "maxContains",
        "cds-resp-1: two recommended suggestions with at-most-one",
    ),
    (
        "response",
        response(suggestion_card({"type": "delete", "description": "Stop it"})),
        "required",
        "cds-resp-2: delete without resourceId",
    ),
    (
        "response",
        response(
            suggestion_card(
                {
                    "type": "delete",
                    "description": "Stop it",
                    "resourceId": "MedicationRequest/1",
                    "resource": {"resourceType": "MedicationRequest"},
                }
            )
        ),
        "not",
        "cds-resp-2: delete with a resource",
    ),
    (
        "response",
        response(suggestion_card(without(action(), "description"))),
        "required",
        "cds-resp-5: suggestion action without description",
    ),
    (
        "response",
        response(systemActions=[without(action(), "description")]),
        "required",
        "systemAction without description",
    ),
    (
        "response",
        response(suggestion_card(without(action(), "resource"))),
        "required",
        "create action without resource",
    ),
    (
        "response",
        response(suggestion_card(action(type="replace"))),
        "enum",
        "unknown action type",
    ),
    (
        "response",
        response(
            suggestion_card(
                {"type": "delete", "description": "Stop it", "resourceId": "not a reference"}
            )
        ),
        "pattern",
        "resourceId that is not a relative reference",
    ),
    (
        "response",
        response(
            card(
                suggestions=[{"label": "A", "actionSelectionBehavior": "some"}],
                selectionBehavior="any",
            )
        ),
        "enum",
        "cds-resp-7: bad actionSelectionBehavior",
    ),
    (
        "response",
        response(card(overrideReasons=[{"system": "urn:x", "code": "r"}])),
        "required",
        "cds-resp-4: override reason without display",
    ),
    (
        "response",
        response(card(overrideReasons=[{"code": "r", "display": "Refused"}])),
        "required",
        "Coding without system",
    ),
    (
        "response",
        response(
            card(
                links=[
                    {
                        "label": "doc",
                        "url": "https://example.org",
                        "type": "absolute",
                        "appContext": "x",
                    }
                ]
            )
        ),
        "not",
        "cds-resp-3: appContext on an absolute link",
    ),
    (
        "response",
        response(card(links=[{"label": "doc", "url": "https://example.org", "type": "relative"}])),
        "enum",
        "unknown link type",
    ),
    (
        "response",
        response(card(links=[{"label": "doc", "url": "https://example.org"}])),
        "required",
        "link without type",
    ),
    ("response", response(card(detail=None)), "type", "null detail"),
    ("response", response(card(uuid=None)), "type", "null uuid"),
    ("response", response(card(source={"label": "DDI", "url": None})), "type", "null source url"),
    ("response", response(systemActions=None), "type", "null systemActions"),
    ("response", {"cards": None}, "type", "null cards"),
    ("response", response(card(links=[])), "minItems", "empty links array"),
    (
        "response",
        response(card(suggestions=[], selectionBehavior="any")),
        "minItems",
        "empty suggestions",
    ),
    ("response", response(card(overrideReasons=[])), "minItems", "empty overrideReasons"),
    ("response", response(systemActions=[]), "minItems", "empty systemActions"),
    ("response", response(card(extension={})), "minProperties", "empty extension"),
    ("response", response(card(extension="x")), "type", "extension not an object"),
    ("response", {}, "required", "missing cards"),
    ("response", response(without(card(), "source")), "required", "card without source"),
    ("response", response(card(source={})), "required", "source without label"),
    ("response", response(card(uuid="card-1")), "format", "card uuid that is not a UUID"),
    (
        "response",
        response(card(selectionBehaviour="any")),
        "additionalProperties",
        "misspelt member",
    ),
    ("feedback", feedback(outcome="maybe"), "enum", "cds-fb-1: outcome 'maybe'"),
    (
        "feedback",
        feedback(outcome="accepted"),
        "required",
        "cds-fb-2: accepted without acceptedSuggestions",
    ),
    ("feedback", feedback(overrideReason={}), "anyOf", "cds-fb-3: empty overrideReason"),
    (
        "feedback",
        feedback(overrideReason={"extension": {"org.example.x": 1}}),
        "anyOf",
        "cds-fb-3: overrideReason with neither reason nor userComment",
    ),
    ("feedback", feedback(acceptedSuggestions=[]), "minItems", "empty acceptedSuggestions"),
    ("feedback", feedback(acceptedSuggestions=[{}]), "required", "acceptedSuggestion without id"),
    ("feedback", without(feedback(), "feedback.0.card"), "required", "feedback without card"),
    (
        "feedback",
        without(feedback(), "feedback.0.outcomeTimestamp"),
        "required",
        "feedback without outcomeTimestamp",
    ),
    (
        "feedback",
        feedback(outcomeTimestamp="2021-12-11 10:05"),
        "pattern",
        "outcomeTimestamp not an RFC 3339 date-time",
    ),
    (
        "feedback",
        feedback(outcomeTimestamp="2021-12-11T10:05:31+02:00"),
        "pattern",
        "outcomeTimestamp not in UTC",
    ),
    (
        "feedback",
        feedback(userComment="x"),
        "additionalProperties",
        "userComment outside overrideReason",
    ),
    ("feedback", {"feedback": []}, "minItems", "empty feedback array"),
    ("discovery", {"services": [without(service(), "id")]}, "required", "service without id"),
    (
        "discovery",
        {"services": [without(service(), "description")]},
        "required",
        "service without description",
    ),
    ("discovery", {"services": [without(service(), "hook")]}, "required", "service without hook"),
    ("discovery", {"services": [service(prefetch={})]}, "minProperties", "empty prefetch"),
    (
        "discovery",
        {"services": [service(prefetch={"patient": {"resourceType": "Patient"}})]},
        "type",
        "prefetch value that is not a template",
    ),
    ("discovery", {"services": [service(title=None)]}, "type", "null title"),
    ("discovery", {}, "required", "missing services"),
]


@pytest.mark.parametrize(
    ("schema", "doc", "keyword"), [i[:3] for i in INVALID], ids=[i[3] for i in INVALID]
)
def test_invalid_document(schema: str, doc: dict, keyword: str) -> None:
    """Each document breaks exactly one rule, and fails for that rule only."""
    errors = list(VALIDATORS[schema].iter_errors(doc))
    # jsonschema checks the date-time format only when rfc3339-validator is installed
    # (schemathesis brings it): it then flags the very value a pattern rejects, which is one rule
    by_pattern = {tuple(e.absolute_path) for e in errors if e.validator == "pattern"}
    found = [
        e.validator
        for e in errors
        if not (e.validator == "format" and tuple(e.absolute_path) in by_pattern)
    ]
    assert found == [keyword], [e.message for e in errors]
