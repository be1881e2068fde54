"""Feedback: validated like the spec says, stored durably and append-only before the 200."""

import json
import os
import sqlite3
import stat

import pytest

from cds_service.operations.feedback import FeedbackStore, parse_feedback
from cds_service.protocol.hook_request import RequestError
from tests.conftest import EXAMPLES

CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"


def item(**changes) -> dict:
    record = {
        "card": CARD,
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-22T10:00:00Z",
        "overrideReason": {"reason": {"system": "http://s", "code": "c"}},
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


@pytest.mark.shared
@pytest.mark.parametrize(
    "name", sorted(p.name for p in (EXAMPLES / "spec-2.0").glob("spec-2[012]-*"))
)
def test_spec_feedback_examples_are_accepted(client, schema_validator, name):
    body = json.loads((EXAMPLES / "spec-2.0" / name).read_text())
    schema_validator("feedback", body)
    response = client.post("/cds-services/ddi-order-sign/feedback", json=body)
    assert response.status_code == 200, response.json
    assert response.json == {}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (item(card="not-a-uuid"), "card must be the uuid"),
        (item(outcome="maybe"), "cds-fb-1"),
        (item(outcome="accepted", overrideReason=None), "cds-fb-2"),
        (item(overrideReason={}), "cds-fb-3"),
        (item(overrideReason={"reason": {"code": "c"}}), "Coding with system and code"),
        (item(overrideReason={"userComment": "x" * 5000}), "userComment"),
        (item(outcomeTimestamp="yesterday"), "outcomeTimestamp"),
        (item(outcomeTimestamp="2026-11-22T10:00:00"), "outcomeTimestamp"),
        (item(outcome="accepted", overrideReason=None, acceptedSuggestions=[{}]), "with an id"),
    ],
)
def test_invalid_feedback_is_refused_with_the_reason(record, message):
    with pytest.raises(RequestError, match=message):
        parse_feedback({"feedback": [record]})


@pytest.mark.parametrize("body", [None, [], {}, {"feedback": []}, {"feedback": [1]}])
def test_feedback_envelope_must_be_right(body):
    with pytest.raises(RequestError):
        parse_feedback(body)


def test_accepted_feedback_is_on_disk_before_the_answer(client, app, tmp_path):
    body = {
        "feedback": [
            item(),
            item(outcome="accepted", overrideReason=None, acceptedSuggestions=[{"id": "s1"}]),
        ]
    }
    assert client.post("/cds-services/ddi-order-sign/feedback", json=body).status_code == 200
    # a separate connection (as after a restart) sees both rows
    rows = (
        sqlite3.connect(tmp_path / "feedback.sqlite")
        .execute("SELECT service_id, card, outcome FROM feedback ORDER BY id")
        .fetchall()
    )
    assert rows == [("ddi-order-sign", CARD, "overridden"), ("ddi-order-sign", CARD, "accepted")]


def test_a_bad_item_stores_nothing_of_its_batch(client, tmp_path):
    body = {"feedback": [item(), item(outcome="maybe")]}
    response = client.post("/cds-services/ddi-order-sign/feedback", json=body)
    assert (
        response.status_code == 400
        and "feedback[1].outcome" in response.json["issue"][0]["diagnostics"]
    )
    assert FeedbackStore(tmp_path / "feedback.sqlite").count() == 0


def test_store_is_append_only(tmp_path):
    store = FeedbackStore(tmp_path / "f.sqlite")
    store.append("svc", parse_feedback({"feedback": [item()]}))
    db = sqlite3.connect(tmp_path / "f.sqlite")
    for statement in ("UPDATE feedback SET outcome = 'accepted'", "DELETE FROM feedback"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    assert store.records()[0]["overrideReason"]["reason"]["code"] == "c"


def test_storage_failure_is_503_and_acknowledges_nothing(client, app, tmp_path):
    (tmp_path / "feedback.sqlite").unlink()
    (tmp_path / "feedback.sqlite").mkdir()  # the database path is now unusable
    response = client.post("/cds-services/ddi-order-sign/feedback", json={"feedback": [item()]})
    assert response.status_code == 503
    assert response.json["issue"][0]["code"] == "transient"


def test_feedback_for_an_unknown_service_is_404(client):
    response = client.post("/cds-services/nope/feedback", json={"feedback": [item()]})
    assert response.status_code == 404


def test_the_store_is_private_to_the_services_user(tmp_path):
    folder = tmp_path / "data"
    store = FeedbackStore(folder / "feedback.sqlite")  # the folder is made too
    store.append("svc", parse_feedback({"feedback": [item()]}))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    os.chmod(store.path, 0o644)  # as versions before made it
    FeedbackStore(store.path)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
