"""The audit trail: every hook call and card, traceable, pseudonymised, append-only, chained."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading

import pytest

from cds_service.audit import AuditTrail, HookCallRecord, Pseudonyms, pseudonym_key
from cds_service.cli import main
from cds_service.config import Settings
from cds_service.web import create_app, runtime
from tests.conftest import hook_request, medication_request
from tests.ehr_tokens import authorization, write_trust

WARFARIN, IBUPROFEN = "11289", "5640"
PATIENT = "MRN-0042-smith"
KEY = bytes(range(32))


def record(n: int = 0, cards: tuple = ()) -> HookCallRecord:
    return HookCallRecord(
        service_id="ddi-order-sign",
        status=200,
        versions={"service": "0.1.0", "model": "m1"},
        hook_instance=f"instance-{n}",
        patient_id=PATIENT,
        user_id="Practitioner/7",
        cards=cards,
    )


def card(uuid: str) -> dict:
    return {"uuid": uuid, "indicator": "warning", "summary": "A + b", "source": {"label": "ANSM"}}


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    return AuditTrail(tmp_path / "audit.sqlite", Pseudonyms(KEY))


def test_a_card_is_traced_to_its_call_and_a_patient_to_their_calls(trail):
    trail.append(record(1, (card("c-1"), card("c-2"))))
    trail.append(record(2))

    found = trail.card("c-2")
    assert found["card"] == card("c-2")
    assert found["hookInstance"] == "instance-1"
    assert found["versions"] == {"service": "0.1.0", "model": "m1"}
    assert found["patient"] == Pseudonyms(KEY).of(PATIENT) != PATIENT
    assert [c["hookInstance"] for c in trail.calls_for_patient(PATIENT)] == [
        "instance-1",
        "instance-2",
    ]
    assert trail.calls_for_patient("someone-else") == []
    assert trail.card("no-such-card") is None


def test_identifiers_never_reach_the_file(trail):
    trail.append(record(1, (card("c-1"),)))
    raw = b"".join(p.read_bytes() for p in trail.path.parent.iterdir() if p.is_file())
    assert PATIENT.encode() not in raw and b"Practitioner/7" not in raw


def test_pseudonyms_are_keyed_and_the_key_is_made_once(tmp_path):
    assert Pseudonyms(KEY).of(PATIENT) == Pseudonyms(KEY).of(PATIENT)
    assert Pseudonyms(KEY).of(PATIENT) != Pseudonyms(bytes(32)).of(PATIENT)
    key_file = tmp_path / "pseudonym.key"
    made = pseudonym_key("", key_file)
    assert len(made) == 32 and pseudonym_key("", key_file) == made
    assert os.stat(key_file).st_mode & 0o077 == 0  # readable by the service's user only
    assert pseudonym_key(KEY.hex(), key_file) == KEY  # a configured key wins
    with pytest.raises(ValueError, match="hexadecimal"):
        pseudonym_key("not hex", key_file)


def test_rows_cannot_be_changed_or_removed_through_sql(trail):
    trail.append(record(1, (card("c-1"),)))
    db = sqlite3.connect(trail.path)
    try:
        for statement in (
            "UPDATE hook_call SET status = 500",
            "DELETE FROM hook_call",
            "UPDATE card_served SET indicator = 'info'",
            "DELETE FROM card_served",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("UPDATE hook_call SET status = 204 WHERE id = 2", "does not match its hash"),
        ("DELETE FROM hook_call WHERE id = 2", "missing"),
        ("DELETE FROM card_served WHERE call_id = 3", "index rows do not match"),
    ],
    ids=["changed", "removed", "card-index-removed"],
)
def test_the_chain_finds_rows_changed_behind_the_triggers(trail, tamper, reason):
    for n in range(1, 5):
        trail.append(record(n, (card(f"c-{n}"),)))
    assert trail.verify().intact and trail.verify().rows == 4
    db = sqlite3.connect(trail.path)
    try:  # what someone with the file could do: drop the triggers, then edit
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f"DROP TRIGGER {name}")
        db.execute(tamper)
        db.commit()
    finally:
        db.close()

    check = trail.verify()
    assert not check.intact and reason in check.reason
    assert check.broken_at in {2, 3}


def test_writers_in_parallel_keep_one_unbroken_chain(trail):
    def write(worker: int) -> None:
        for n in range(25):
            trail.append(record(worker * 100 + n, (card(f"c-{worker}-{n}"),)))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    check = trail.verify()
    assert check.intact and check.rows == 100


# --- through the service ------------------------------------------------------------------


def sign_body(**extra) -> dict:
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN, rid="d1")],
        current=[medication_request(IBUPROFEN, rid="c1", status="active")],
        **extra,
    )
    body["context"]["patientId"] = PATIENT
    body["context"]["encounterId"] = "Encounter/visit-9"
    return body


def test_every_hook_call_is_audited_with_its_cards_or_its_error(tmp_path):
    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path, pseudonym_key=KEY.hex()))
    client = app.test_client()

    served = client.post("/cds-services/ddi-order-sign", json=sign_body())
    refused = client.post("/cds-services/ddi-order-sign", json={"hook": "order-sign"})
    unknown = client.post("/cds-services/nope", json=sign_body())
    client.post("/cds-services/ddi-order-sign/feedback", json={"feedback": []})  # not a hook call
    assert (served.status_code, refused.status_code, unknown.status_code) == (200, 400, 404)

    trail = runtime_of(app).audit
    (first,) = trail.calls_for_patient(PATIENT)  # the others were refused before the body was read
    assert first["record"]["cards"] == served.json["cards"]
    assert first["versions"]["model"] == runtime_of(app).model_version
    assert first["versions"]["drugIndex"] and first["versions"]["knowledge"]
    assert first["record"]["encounter"] == Pseudonyms(KEY).of("Encounter/visit-9")
    db = sqlite3.connect(trail.path)
    try:
        rows = db.execute("SELECT service_id, status, record FROM hook_call ORDER BY id").fetchall()
    finally:
        db.close()
    assert [(service, status) for service, status, _ in rows] == [
        ("ddi-order-sign", 200),
        ("ddi-order-sign", 400),
        ("nope", 404),
    ]
    assert "hookInstance" in json.loads(rows[1][2])["error"]
    assert "no CDS service 'nope'" in json.loads(rows[2][2])["error"]
    assert trail.verify().intact
    (uuid,) = [c["uuid"] for c in served.json["cards"]]
    assert trail.card(uuid)["card"] == served.json["cards"][0]


def test_a_refused_token_is_audited_without_reading_the_body(tmp_path):
    trust = write_trust(tmp_path / "trust")
    app = create_app(Settings(data_dir=tmp_path, trusted_issuers_file=trust))
    client = app.test_client()

    refused = client.post("/cds-services/ddi-order-sign", json=sign_body())
    accepted = client.post(
        "/cds-services/ddi-order-sign",
        json=sign_body(),
        headers=authorization("http://localhost/cds-services/ddi-order-sign"),
    )

    assert (refused.status_code, accepted.status_code) == (401, 200)
    trail = runtime_of(app).audit
    assert trail.count() == 2
    assert [c["status"] for c in trail.calls_for_patient(PATIENT)] == [200]


def test_the_command_line_traces_a_card_and_checks_the_chain(tmp_path, capsys):
    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path, pseudonym_key=KEY.hex()))
    response = app.test_client().post("/cds-services/ddi-order-sign", json=sign_body())
    uuid = response.json["cards"][0]["uuid"]
    capsys.readouterr()

    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 0
    assert "1 hook calls; the chain is intact" in capsys.readouterr().out
    assert main(["audit", "card", uuid, "--data-dir", str(tmp_path)]) == 0
    traced = json.loads(capsys.readouterr().out)
    assert traced["card"] == response.json["cards"][0] and traced["status"] == 200
    os.environ["DDI_CDS_PSEUDONYM_KEY"] = KEY.hex()
    try:
        assert main(["audit", "patient", PATIENT, "--data-dir", str(tmp_path)]) == 0
    finally:
        del os.environ["DDI_CDS_PSEUDONYM_KEY"]
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["audit", "card", "no-such", "--data-dir", str(tmp_path)]) == 1


def test_a_trail_that_cannot_be_written_costs_no_card_and_the_record_goes_to_the_log(
    tmp_path, caplog
):
    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path, pseudonym_key=KEY.hex()))
    trail = runtime_of(app).audit
    before = app.test_client().get("/metrics").get_data(as_text=True)
    for leftover in tmp_path.glob("audit.sqlite*"):
        leftover.unlink()
    (tmp_path / "audit.sqlite").mkdir()  # a real fault: the file cannot be opened as a database

    with caplog.at_level(logging.ERROR, logger="cds_service.audit"):
        response = app.test_client().post("/cds-services/ddi-order-sign", json=sign_body())

    assert response.status_code == 200 and response.json["cards"]
    assert trail.failed == 1 and trail.appended == 0
    (logged,) = [
        r.getMessage() for r in caplog.records if "audit record not stored" in r.getMessage()
    ]
    assert response.json["cards"][0]["uuid"] in logged
    assert PATIENT not in logged and Pseudonyms(KEY).of(PATIENT) in logged
    after = app.test_client().get("/metrics").get_data(as_text=True)
    assert failures(after) == failures(before) + 1


def failures(metrics_text: str) -> float:
    (line,) = [x for x in metrics_text.splitlines() if x.startswith("ddi_cds_audit_failures_total")]
    return float(line.split()[-1])


def runtime_of(app):
    with app.app_context():
        return runtime()
