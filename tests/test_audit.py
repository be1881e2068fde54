"""The audit trail: every hook call and card, traceable, pseudonymised, append-only, chained with
a key; 401s counted, not stored; cards kept as hashes; files private to the service's user."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading

import pytest
from prometheus_client import REGISTRY

from cds_service.adapters.secret_keys import AuditSetupError, Pseudonyms, pseudonym_key
from cds_service.app import create_app, open_audit_trail
from cds_service.cli import main
from cds_service.config import Settings
from cds_service.operations import audit, audit_record
from cds_service.operations.audit import AuditTrail
from cds_service.operations.audit_record import HookCallRecord, card_entry, card_hash
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN
from cds_service.web.runtime import runtime

PATIENT = "MRN-0042-smith"
KEY = bytes(range(32))
CHAIN_KEY = bytes(range(32, 64))
WRONG_KEY = bytes(range(64, 96))


def record(n: int = 0, cards: tuple = (), notes: tuple = ()) -> HookCallRecord:
    return HookCallRecord(
        service_id="ddi-order-sign",
        status=200,
        versions={"service": "0.1.0", "model": "m1"},
        hook_instance=f"instance-{n}",
        patient_id=PATIENT,
        user_id="Practitioner/7",
        cards=cards,
        notes=notes,
    )


def card(uuid: str, detail: str = "Warfarin (EHR text: Coumadin 5 mg as ordered)") -> dict:
    return {
        "uuid": uuid,
        "indicator": "warning",
        "summary": "A + b",
        "detail": detail,
        "source": {"label": "ANSM"},
    }


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    return AuditTrail(tmp_path / "audit.sqlite", Pseudonyms(KEY), CHAIN_KEY)


def keyed_settings(tmp_path, **changes) -> Settings:
    given = {"auth_disabled": True, "pseudonym_key": KEY.hex(), "audit_key": CHAIN_KEY.hex()}
    return Settings(data_dir=tmp_path, **{**given, **changes})


def test_a_card_is_traced_to_its_call_and_a_patient_to_their_calls(trail):
    trail.append(record(1, (card("c-1"), card("c-2"))))
    trail.append(record(2))

    found = trail.card("c-2")
    assert found["card"] == {
        "uuid": "c-2",
        "indicator": "warning",
        "source": "ANSM",
        "sha256": card_hash(card("c-2")),
    }
    assert found["hookInstance"] == "instance-1"
    assert found["versions"] == {"service": "0.1.0", "model": "m1"}
    assert found["patient"] == Pseudonyms(KEY).of(PATIENT) != PATIENT
    assert [c["hookInstance"] for c in trail.calls_for_patient(PATIENT)] == [
        "instance-1",
        "instance-2",
    ]
    assert trail.calls_for_patient("someone-else") == []
    assert trail.card("no-such-card") is None


def test_the_trail_keeps_a_cards_hash_not_its_text_and_knows_the_card_again(trail):
    served = card("c-1")
    trail.append(record(1, (served,)))

    raw = b"".join(p.read_bytes() for p in trail.path.parent.iterdir() if p.is_file())
    assert b"Coumadin" not in raw and b"A + b" not in raw
    canonical = json.dumps(served, sort_keys=True, separators=(",", ":")).encode()
    assert card_hash(served) == hashlib.sha256(canonical).hexdigest()
    reordered = json.loads(json.dumps(dict(reversed(served.items())), indent=4))
    assert trail.card_matches("c-1", reordered) is True  # key order and layout do not count
    assert trail.card_matches("c-1", {**served, "indicator": "info"}) is False
    assert trail.card_matches("c-2", served) is None


def test_pair_codes_are_kept_when_the_card_links_to_the_pairs_explanation():
    linked = {
        **card("c-1"),
        "links": [{"url": "https://cds.example/explain?a=11289&b=5640", "type": "absolute"}],
    }
    assert card_entry(linked)["pair"] == [WARFARIN, IBUPROFEN]
    assert "pair" not in card_entry(card("c-2"))
    odd = {**card("c-3"), "links": [{"url": "https://x/explain?a=MRN-1&b=5640"}]}
    assert "pair" not in card_entry(odd)  # only codes, never what looks like an identifier


def test_a_record_stays_small_whatever_the_call_carried(trail):
    big_cards = tuple(card(f"c-{n}", detail="x" * 20_000) for n in range(1000))
    notes = tuple(f"note {n}: " + "y" * 10_000 for n in range(500))
    call_id = trail.append(record(1, big_cards, notes))

    db = sqlite3.connect(trail.path)
    try:
        (stored,) = db.execute("SELECT record FROM hook_call WHERE id = ?", (call_id,)).fetchone()
    finally:
        db.close()
    kept = json.loads(stored)
    assert len(stored) < 200_000  # the cards' text was 20 MB, the notes' 5 MB
    assert len(kept["cards"]) == 1000 and trail.verify().intact
    assert len(kept["notes"]) == audit_record.MAX_NOTES + 1
    assert all(len(note) <= audit_record.MAX_NOTE_CHARS for note in kept["notes"])
    assert kept["notes"][-1] == f"… {500 - audit_record.MAX_NOTES} more notes not kept"


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
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonym_key("00ff", key_file)


def test_rows_cannot_be_changed_or_removed_through_sql(trail):
    trail.append(record(1, (card("c-1"),)))
    db = sqlite3.connect(trail.path)
    try:
        for statement in (
            "UPDATE hook_call SET status = 500",
            "DELETE FROM hook_call",
            "UPDATE card_served SET indicator = 'info'",
            "DELETE FROM card_served",
            "UPDATE audit_meta SET value = ''",
            "DELETE FROM audit_meta",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()


def tamper(path, *statements: str) -> None:
    """What someone with the file could do: drop the triggers, then edit."""
    db = sqlite3.connect(path)
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            db.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE hook_call SET status = 204 WHERE id = 2", "does not match its hash"),
        ("DELETE FROM hook_call WHERE id = 2", "missing"),
        ("DELETE FROM card_served WHERE call_id = 3", "index rows do not match"),
    ],
    ids=["changed", "removed", "card-index-removed"],
)
def test_the_chain_finds_rows_changed_behind_the_triggers(trail, statement, reason):
    for n in range(1, 5):
        trail.append(record(n, (card(f"c-{n}"),)))
    assert trail.verify().intact and trail.verify().rows == 4
    tamper(trail.path, statement)

    check = trail.verify()
    assert not check.intact and reason in check.reason
    assert check.broken_at in {2, 3}


def recompute_chain(path, row_hash) -> None:
    """Rewrite every row's `previous` and `hash` as the rows now read, with `row_hash`."""
    db = sqlite3.connect(path)
    try:
        previous = audit.GENESIS
        rows = db.execute(
            "SELECT id, at, service_id, hook_instance, patient, status, versions, record"
            " FROM hook_call ORDER BY id"
        ).fetchall()
        for call_id, *row in rows:
            digest = row_hash(previous, tuple(row))
            db.execute(
                "UPDATE hook_call SET previous = ?, hash = ? WHERE id = ?",
                (previous, digest, call_id),
            )
            previous = digest
        db.commit()
    finally:
        db.close()


def plain_sha256(previous: str, row: tuple) -> str:
    canonical = json.dumps(list(row), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((previous + canonical).encode()).hexdigest()


@pytest.mark.parametrize(
    "row_hash",
    [plain_sha256, audit._keyed_hash(WRONG_KEY)],
    ids=["plain-sha256", "wrong-key"],
)
def test_a_row_emptied_and_the_chain_recomputed_without_the_key_is_found(trail, row_hash):
    for n in range(1, 4):
        trail.append(record(n))
    blank = json.dumps({"cards": []})
    tamper(trail.path, f"UPDATE hook_call SET record = '{blank}' WHERE id = 2")
    recompute_chain(trail.path, row_hash)

    check = trail.verify()
    assert not check.intact and check.broken_at == 1
    assert "does not match its hash" in check.reason


def test_a_trail_rekeyed_with_another_key_is_found(trail):
    for n in range(1, 4):
        trail.append(record(n))
    tamper(trail.path, "DELETE FROM audit_meta")  # the key check replaced with the forger's
    forged = {"chain": audit.CHAIN_FORMAT, "key_check": audit._key_check(WRONG_KEY)}
    db = sqlite3.connect(trail.path)
    db.executemany("INSERT INTO audit_meta (name, value) VALUES (?, ?)", forged.items())
    db.commit()
    db.close()
    recompute_chain(trail.path, audit._keyed_hash(WRONG_KEY))

    assert AuditTrail(trail.path, None, WRONG_KEY, read_only=True).verify().intact
    check = trail.verify()  # with the service's key
    assert not check.intact and check.broken_at == 0 and "not the one" in check.reason


def test_the_wrong_key_verifies_nothing_and_cannot_append(trail):
    trail.append(record(1))
    check = AuditTrail(trail.path, None, WRONG_KEY, read_only=True).verify()
    assert not check.intact and "audit key given is not the one" in check.reason
    with pytest.raises(AuditSetupError, match="not the key"):
        AuditTrail(trail.path, Pseudonyms(KEY), WRONG_KEY)
    with pytest.raises(AuditSetupError, match="DDI_CDS_AUDIT_KEY"):
        AuditTrail(trail.path, None, None, read_only=True).verify()


def test_the_head_is_exported_and_a_trail_cut_short_is_found_against_it(tmp_path, caplog):
    path = tmp_path / "audit.sqlite"
    with caplog.at_level(logging.INFO, logger="cds_service.audit"):
        trail = AuditTrail(path, Pseudonyms(KEY), CHAIN_KEY, head_every=2)
        ids = [trail.append(record(n)) for n in range(1, 6)]
    lines = [r.getMessage() for r in caplog.records if "audit chain head" in r.getMessage()]
    assert lines[0] == "audit chain head at start: empty"
    heads = [line.split("row ")[1] for line in lines[1:]]  # "2, hash <hex>", "4, hash <hex>"
    assert [head.split(",")[0] for head in heads] == ["2", "4"]
    row, digest = 4, heads[1].split("hash ")[1]
    assert REGISTRY.get_sample_value("ddi_cds_audit_chain_head_row") == row
    assert REGISTRY.get_sample_value("ddi_cds_audit_chain_head_hash48") == int(digest[:12], 16)
    assert REGISTRY.get_sample_value("ddi_cds_audit_chain_rows") >= ids[-1] == 5

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cds_service.audit"):
        AuditTrail(path, Pseudonyms(KEY), CHAIN_KEY)  # a restart
    assert any(
        r.getMessage().startswith("audit chain head (at start): row 5, hash ")
        for r in caplog.records
    )
    assert trail.verify([(row, digest), (2, heads[0].split("hash ")[1][:12])]).intact
    tamper(path, "DELETE FROM hook_call WHERE id >= 4")  # cut short: what is left still chains
    assert trail.verify().intact
    check = trail.verify([(row, digest)])
    assert not check.intact and check.broken_at == 4 and "missing" in check.reason
    check = trail.verify([(2, "0" * 12)])
    assert not check.intact and "rewritten" in check.reason


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


def unkeyed_trail(path) -> None:
    """A trail as versions before the key wrote it: SHA-256 chain, no `audit_meta`."""
    db = sqlite3.connect(path)
    try:
        db.executescript(
            "CREATE TABLE hook_call (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
            " service_id TEXT NOT NULL, hook_instance TEXT NOT NULL, patient TEXT NOT NULL,"
            " status INTEGER NOT NULL, versions TEXT NOT NULL, record TEXT NOT NULL,"
            " previous TEXT NOT NULL, hash TEXT NOT NULL);"
            "CREATE TABLE card_served (card_uuid TEXT NOT NULL, call_id INTEGER NOT NULL,"
            " indicator TEXT NOT NULL, source TEXT NOT NULL);"
        )
        previous = audit.GENESIS
        for n in (1, 2):
            row = ("2026-01-01T00:00:00.000+00:00", "ddi-order-sign", f"i-{n}", "", 200, "{}")
            row = (*row, json.dumps({"cards": [card(f"old-{n}")]}))
            digest = plain_sha256(previous, row)
            db.execute(
                "INSERT INTO hook_call (at, service_id, hook_instance, patient, status, versions,"
                " record, previous, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                (*row, previous, digest),
            )
            db.execute("INSERT INTO card_served VALUES (?, ?, 'warning', 'ANSM')", (f"old-{n}", n))
            previous = digest
        db.commit()
    finally:
        db.close()


def test_a_trail_from_before_the_key_is_reported_not_appended_to(tmp_path, capsys):
    unkeyed_trail(tmp_path / "audit.sqlite")

    with pytest.raises(AuditSetupError, match=r"older version .* not keyed \(2 rows\)"):
        create_app(keyed_settings(tmp_path))
    check = AuditTrail(tmp_path / "audit.sqlite", None, None, read_only=True).verify()
    assert check.unkeyed and not check.intact and "SHA-256 chain is consistent" in check.reason
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 1
    assert "older version of ddi-cds whose chain is not keyed" in capsys.readouterr().err
    assert main(["audit", "card", "old-2", "--data-dir", str(tmp_path)]) == 0  # still readable
    assert json.loads(capsys.readouterr().out)["card"]["uuid"] == "old-2"


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
    app = create_app(keyed_settings(tmp_path, max_body_bytes=4096))
    client = app.test_client()

    served = client.post("/cds-services/ddi-order-sign", json=sign_body())
    refused = client.post("/cds-services/ddi-order-sign", json={"hook": "order-sign"})
    unknown = client.post("/cds-services/nope", json=sign_body())
    too_big = client.post("/cds-services/ddi-order-sign", json={"pad": "x" * 5000})
    client.post("/cds-services/ddi-order-sign/feedback", json={"feedback": []})  # not a hook call
    statuses = (served.status_code, refused.status_code, unknown.status_code, too_big.status_code)
    assert statuses == (200, 400, 404, 413)

    trail = runtime_of(app).audit
    (first,) = trail.calls_for_patient(PATIENT)  # the others were refused before the body was read
    assert first["record"]["cards"] == [card_entry(c) for c in served.json["cards"]]
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
        ("ddi-order-sign", 413),
    ]
    assert "hookInstance" in json.loads(rows[1][2])["error"]
    assert "no CDS service 'nope'" in json.loads(rows[2][2])["error"]
    assert served.json["cards"][0]["detail"][:40] not in "".join(r[2] for r in rows)
    assert trail.verify().intact
    (uuid,) = [c["uuid"] for c in served.json["cards"]]
    assert trail.card_matches(uuid, served.json["cards"][0])


def unauthorized(endpoint: str) -> float:
    labels = {"endpoint": endpoint}
    return REGISTRY.get_sample_value("ddi_cds_unauthorized_total", labels) or 0.0


def test_a_refused_token_is_counted_not_stored(tmp_path, caplog, monkeypatch):
    trust = write_trust(tmp_path / "trust")
    app = create_app(
        keyed_settings(
            tmp_path,
            auth_disabled=False,
            trusted_issuers_file=trust,
            public_base_url="http://localhost",
        )
    )
    client = app.test_client()
    trail = runtime_of(app).audit
    before = unauthorized("hook"), unauthorized("feedback")
    clock = [1000.0]
    monkeypatch.setattr(trail.unauthorized, "clock", lambda: clock[0])

    with caplog.at_level(logging.WARNING, logger="cds_service.audit"):
        refused = [client.post("/cds-services/ddi-order-sign", json=sign_body()) for _ in range(30)]
        fed_back = client.post("/cds-services/ddi-order-sign/feedback", json={"feedback": []})
        clock[0] += audit.UNAUTHORIZED_LOG_EVERY_S
        client.post("/cds-services/nope", json=sign_body())  # 401 too: the token comes first
    accepted = client.post(
        "/cds-services/ddi-order-sign",
        json=sign_body(),
        headers=authorization("http://localhost/cds-services/ddi-order-sign"),
    )

    assert {r.status_code for r in refused} == {401} and fed_back.status_code == 401
    assert accepted.status_code == 200
    assert trail.count() == 1  # the accepted call only
    assert [c["status"] for c in trail.calls_for_patient(PATIENT)] == [200]
    assert unauthorized("hook") == before[0] + 31 and unauthorized("feedback") == before[1] + 1
    sampled = [r.getMessage() for r in caplog.records if "refused with 401" in r.getMessage()]
    assert [line.split()[0] for line in sampled] == ["1", "31"]  # the first, then the count since


def test_the_command_line_traces_a_card_checks_a_copy_and_checks_the_chain(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("DDI_CDS_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("DDI_CDS_AUDIT_KEY", raising=False)
    app = create_app(keyed_settings(tmp_path))
    response = app.test_client().post("/cds-services/ddi-order-sign", json=sign_body())
    uuid = response.json["cards"][0]["uuid"]
    capsys.readouterr()
    data = ["--data-dir", str(tmp_path)]

    assert main(["audit", "verify", *data]) == 2  # the key is the service's: not on the volume
    assert "needs its key: DDI_CDS_AUDIT_KEY" in capsys.readouterr().err
    monkeypatch.setenv("DDI_CDS_AUDIT_KEY", CHAIN_KEY.hex())
    assert main(["audit", "verify", *data]) == 0
    out = capsys.readouterr().out
    assert "1 hook calls; the chain is intact; head: row 1, hash " in out
    head = out.split("hash ")[1].strip()
    assert main(["audit", "verify", "--head", f"1:{head[:12]}", *data]) == 0
    assert main(["audit", "verify", "--head", "2:" + head[:12], *data]) == 1
    assert main(["audit", "verify", "--head", "1:xyz", *data]) == 2
    monkeypatch.setenv("DDI_CDS_AUDIT_KEY", WRONG_KEY.hex())
    assert main(["audit", "verify", *data]) == 1
    assert "not the one the trail was written with" in capsys.readouterr().err

    assert main(["audit", "card", uuid, *data]) == 0
    traced = json.loads(capsys.readouterr().out)
    assert traced["status"] == 200 and traced["versions"]["knowledge"]
    assert traced["card"] == card_entry(response.json["cards"][0])
    held = tmp_path / "response.json"
    held.write_text(response.get_data(as_text=True))  # what the EHR got, whole
    assert main(["audit", "card", uuid, "--matches", str(held), *data]) == 0
    assert "is the card served" in capsys.readouterr().out
    held.write_text(json.dumps({**response.json["cards"][0], "indicator": "info"}))
    assert main(["audit", "card", uuid, "--matches", str(held), *data]) == 1
    assert "NOT the card served" in capsys.readouterr().err

    assert main(["audit", "patient", PATIENT, *data]) == 2
    assert "DDI_CDS_PSEUDONYM_KEY" in capsys.readouterr().err
    monkeypatch.setenv("DDI_CDS_PSEUDONYM_KEY", KEY.hex())
    assert main(["audit", "patient", PATIENT, *data]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["audit", "card", "no-such", *data]) == 1
    assert sorted(p.name for p in tmp_path.glob("*.key")) == []  # reading made no key


def test_a_trail_that_cannot_be_written_costs_no_card_and_the_record_goes_to_the_log(
    tmp_path, caplog
):
    app = create_app(keyed_settings(tmp_path))
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
    assert card_hash(response.json["cards"][0]) in logged
    assert response.json["cards"][0]["detail"][:40] not in logged
    assert PATIENT not in logged and Pseudonyms(KEY).of(PATIENT) in logged
    after = app.test_client().get("/metrics").get_data(as_text=True)
    assert failures(after) == failures(before) + 1


def failures(metrics_text: str) -> float:
    (line,) = [x for x in metrics_text.splitlines() if x.startswith("ddi_cds_audit_failures_total")]
    return float(line.split()[-1])


# --- files and keys -----------------------------------------------------------------------


def test_stores_and_keys_are_private_to_the_services_user(tmp_path):
    data = tmp_path / "data"
    app = create_app(Settings(auth_disabled=True, data_dir=data))  # development: keys made here
    client = app.test_client()
    assert client.post("/cds-services/ddi-order-sign", json=sign_body()).status_code == 200
    feedback = {
        "card": client.post("/cds-services/ddi-order-sign", json=sign_body()).json["cards"][0][
            "uuid"
        ],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-22T10:00:00Z",
        "overrideReason": {"userComment": "known, monitored"},
    }
    assert (
        client.post("/cds-services/ddi-order-sign/feedback", json={"feedback": [feedback]})
    ).status_code == 200

    names = {p.name for p in data.iterdir()}
    assert {"audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm", "feedback.sqlite"} <= names
    assert {"pseudonym.key", "audit.key"} <= names
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    loose = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in data.iterdir()}
    assert {name: mode for name, mode in loose.items() if mode != "0o600"} == {}


def test_a_trail_left_readable_by_an_older_version_is_tightened(trail):
    trail.append(record(1))
    stores = [trail.path.with_name("audit.sqlite" + suffix) for suffix in ("", "-wal", "-shm")]
    for path in stores:
        os.chmod(path, 0o644)
    AuditTrail(trail.path, Pseudonyms(KEY), CHAIN_KEY)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in stores} == {
        p.name: 0o600 for p in stores
    }


def test_production_takes_both_keys_from_the_environment_and_writes_none(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(AuditSetupError, match="DDI_CDS_PSEUDONYM_KEY is required"):
        open_audit_trail(Settings(data_dir=data, production=True))
    with pytest.raises(AuditSetupError, match="DDI_CDS_AUDIT_KEY is required"):
        open_audit_trail(Settings(data_dir=data, production=True, pseudonym_key=KEY.hex()))
    (data / "audit.key").parent.mkdir(exist_ok=True)
    (data / "audit.key").write_text(WRONG_KEY.hex())  # a development key left on the volume
    trail = open_audit_trail(
        Settings(data_dir=data, production=True, pseudonym_key=KEY.hex(), audit_key=CHAIN_KEY.hex())
    )
    trail.append(record(1))
    assert trail.verify().intact
    assert sorted(p.name for p in data.glob("*.key")) == ["audit.key"]  # not made, not used
    with pytest.raises(AuditSetupError, match="hexadecimal"):
        open_audit_trail(Settings(data_dir=data, pseudonym_key=KEY.hex(), audit_key="secret"))


def runtime_of(app):
    with app.app_context():
        return runtime()
