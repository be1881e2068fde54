"""`ddi-cds serve --production`: gunicorn with workers, metrics summed over them, JSON logs
carrying the request id, a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import signal

import requests

from tests.conftest import hook_request, medication_request
from tests.ehr_tokens import authorization, write_trust
from tests.served_process import start_server

WARFARIN, IBUPROFEN = "11289", "5640"
PATIENT = "MRN-prod-0042"


def test_production_server_answers_across_workers_and_stops_gracefully(tmp_path):
    trust = write_trust(tmp_path / "trust")
    server = start_server(
        tmp_path / "data",
        no_auth=False,
        production=True,
        env={"DDI_CDS_TRUSTED_ISSUERS_FILE": str(trust), "DDI_CDS_WORKERS": "2"},
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

        metrics = requests.get(f"{server.root}/metrics", timeout=10).text
        counted = [
            line
            for line in metrics.splitlines()
            if line.startswith('ddi_cds_hook_seconds_count{service="ddi-order-sign",status="200"}')
        ]
        assert counted and float(counted[0].split()[-1]) == 8.0  # summed over the workers

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.kill()

    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    hook_lines = [line for line in lines if line["logger"] == "cds_service.hooks"]
    assert {line["requestId"] for line in hook_lines} == {f"trace-{n}" for n in range(8)}
    assert PATIENT not in server.log_text()
    workers = {
        line.split("pid: ")[1]
        for line in server.log_text().splitlines()
        if "Booting worker" in line
    }
    assert len(workers) == 2
