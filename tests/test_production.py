"""`ddi-cds serve --production`: gunicorn with workers, metrics summed over them, JSON logs
carrying the request id, a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
import requests

from cds_service.operations.audit import AuditTrail
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN
from cds_service.testing.served_process import CONSOLE_SCRIPT, start_server

pytestmark = pytest.mark.slow  # gunicorn workers in real processes

PATIENT = "MRN-prod-0042"
# From a secret in a deployment (deploy/): --production refuses to start without them
KEYS = {"DDI_CDS_PSEUDONYM_KEY": "a1" * 32, "DDI_CDS_AUDIT_KEY": "b2" * 32}


def test_production_server_answers_across_workers_and_stops_gracefully(tmp_path):
    trust = write_trust(tmp_path / "trust")
    server = start_server(
        tmp_path / "data",
        no_auth=False,
        production=True,
        env={"DDI_CDS_TRUSTED_ISSUERS_FILE": str(trust), "DDI_CDS_WORKERS": "2", **KEYS},
    )
    try:
        body = hook_request(
            "order-sign",
            [medication_request(WARFARIN, rid="d1")],
            current=[medication_request(IBUPROFEN, rid="c1", status="active")],
        )
        body["context"]["patientId"] = PATIENT
        url = f"{server.url}/ddi-order-sign"
        answers = []
        for n in range(8):  # a new connection each: either worker may take it
            answers.append(
                requests.post(
                    url,
                    json=body,
                    headers={**authorization(url), "X-Request-Id": f"trace-{n}"},
                    timeout=30,
                )
            )
        assert [a.status_code for a in answers] == [200] * 8
        assert [a.headers["X-Request-Id"] for a in answers] == [f"trace-{n}" for n in range(8)]
        assert answers[0].headers["Server"].startswith("gunicorn")
        assert requests.post(url, json=body, timeout=30).status_code == 401  # no token

        assert requests.get(f"{server.root}/metrics", timeout=10).status_code == 404
        metrics = requests.get(server.metrics_url, timeout=10).text
        counted = [
            line
            for line in metrics.splitlines()
            if line.startswith('ddi_cds_hook_seconds_count{service="ddi-order-sign",status="200"}')
        ]
        assert counted and float(counted[0].split()[-1]) == 8.0  # summed over the workers
        assert 'ddi_cds_unauthorized_total{endpoint="hook"} 1.0' in metrics
        assert "ddi_cds_audit_chain_rows 8.0" in metrics  # the 401 made no row

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.kill()

    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    hook_lines = [
        line
        for line in lines
        if line["logger"] == "cds_service.hooks" and line["message"].startswith("hook ")
    ]
    assert {line["requestId"] for line in hook_lines} == {f"trace-{n}" for n in range(8)}
    assert PATIENT not in server.log_text()
    heads = [line for line in lines if line["message"].startswith("audit chain head")]
    assert heads and heads[0]["message"] == "audit chain head at start: empty"
    data = tmp_path / "data"
    assert sorted(p.name for p in data.glob("*.key")) == []  # keys only from the environment
    chain_key = bytes.fromhex(KEYS["DDI_CDS_AUDIT_KEY"])
    trail = AuditTrail(data / "audit.sqlite", None, chain_key, read_only=True)
    assert trail.verify().intact and trail.count() == 8
    workers = {
        line.split("pid: ")[1]
        for line in server.log_text().splitlines()
        if "Booting worker" in line
    }
    assert len(workers) == 2


def test_production_refuses_to_start_without_the_keys_and_writes_none(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in KEYS}
    run = subprocess.run(
        [str(CONSOLE_SCRIPT), "serve", "--production", "--port", "0"],
        env={**environment, "DDI_CDS_DATA_DIR": str(tmp_path), "DDI_CDS_AUDIT_KEY": "b2" * 32},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--production needs DDI_CDS_PSEUDONYM_KEY from a secret" in run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []
