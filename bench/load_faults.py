"""Benchmark: load with faults. The service under gunicorn on loopback, EHR clients calling it
with signed tokens, while Redis is killed and restarted and the FHIR server stalls.

    .venv/bin/python bench/load_faults.py [--phase-seconds 10] [--clients 6] [--workers 2]

What runs (all on this machine, all real processes):
- a Redis of its own (`redis-server` on a free port, nothing on disk), so killing it touches
  nothing else;
- the FHIR stand-in (cds_service/testing/fhir_standin.py) as the EHR's FHIR server, over https
  with a CA of the run's own (the service's FHIR CA bundle), listed as the test EHR's FHIR
  server;
- `gunicorn` (gthread workers, the app preloaded) serving `cds_service.app:create_app()`, EHR
  tokens required (a test EHR key in a trusted-issuers file);
- `--clients` threads, each an EHR sending, in turn: order-sign with prefetch (2 drafts + 15
  current medications drawn from 40 ingredients, so pairs vary and the caches matter), order-sign
  whose current medications must be fetched from the FHIR server, and feedback on a card it was
  served; and now and then a deliberate bad request (no token: 401; bad JSON: 400).

Phases, `--phase-seconds` each: baseline; Redis killed (SIGKILL); Redis restarted; the FHIR
stand-in stalls every request; FHIR back. Per phase it reports requests, deliberate 4xx, other
non-2xx (target 0), answers carrying a "Check incomplete" card, p50 / p95 / max latency of hook
calls, and feedback refused with 503 "replay check unavailable" (by design while Redis, the
workers' shared token replay store, is down: feedback fails closed, hook calls fall back; only
then is it expected). At the end gunicorn is killed with SIGKILL (no graceful shutdown), and
the feedback and audit files are read back: every feedback item acknowledged with 200 must be
on disk, every hook call past the token check must be in the audit trail (401s are counted, not
stored), whose chain must be intact. Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from cds_service.adapters.secret_keys import AUDIT_KEY_FILE, AUDIT_KEY_VARIABLE, load_key
from cds_service.core.drug_index import DEFAULT_INDEX_PATH
from cds_service.operations.audit import AuditTrail
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.fhir_standin import Fault, FhirStandIn
from cds_service.testing.hook_requests import medication_request, order_sign_by_codes
from cds_service.testing.served_process import free_port

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("baseline", "redis killed", "redis restarted", "FHIR stalls", "FHIR back")
SIGN = "/cds-services/ddi-order-sign"
CLIENT_TIMEOUT_S = 10.0  # an EHR gives up at about 5 s; anything near this is a failure
INCOMPLETE = "Check incomplete"
REPLAY_UNAVAILABLE = "replay check unavailable; resend later"
REDIS_DOWN_PHASES = ("redis killed", "redis restarted")  # a call may meet the restart's edge


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if check():
                return time.monotonic() - started
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not come up in {timeout_s:.0f} s")


class RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_for(pong, "redis-server")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def ingredient_pool(count: int) -> list[str]:
    """Ingredients the model was trained on: TWOSIDES' drugs, the commonly prescribed ones (an
    obscure compound would be featurised from its structure on first sight, 20 ms a drug)."""
    db = sqlite3.connect(f"file:{DEFAULT_INDEX_PATH}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT DISTINCT ingredient_rxcui FROM model_drug WHERE ingredient_rxcui IS NOT NULL"
            " ORDER BY ingredient_rxcui LIMIT ?",
            (count,),
        ).fetchall()
    finally:
        db.close()
    return [r for (r,) in rows]


def sign_body(drafts: list[str], current: list[str] | None, fhir_url: str | None) -> dict:
    """An EHR's order-sign call, a new hook instance for one of 1,000 patients: the `drafts`,
    the `current` medications in the prefetch (None: to be fetched from `fhir_url`)."""
    return order_sign_by_codes(
        drafts,
        current,
        fhir_server=fhir_url,
        fhir_token="bench-fhir-token" if fhir_url else None,
        hook_instance=str(uuid.uuid4()),
        patient_id=f"bench-{random.randrange(1000)}",  # noqa: S311 - not security
        user_id="Practitioner/bench",
    )


@dataclass
class PhaseStats:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    deliberate_4xx: int = 0
    unexpected: Counter = field(default_factory=Counter)  # status (or error) -> count
    incomplete: int = 0
    replay_refused: int = 0  # feedback 503: the replay store was down
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Totals:
    hook_calls_answered: int = 0  # reached the service's hook handler (any status but 401)
    hook_calls_refused: int = 0  # 401: counted on /metrics, not audited
    feedback_acknowledged: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Ehr(threading.Thread):
    """One EHR client: a keep-alive session, a rotation of request kinds."""

    def __init__(self, n: int, root: str, fhir_url: str, pool: list[str], state: dict) -> None:
        super().__init__(daemon=True)
        self.root, self.fhir_url, self.pool, self.state = root, fhir_url, pool, state
        self.random = random.Random(n)  # noqa: S311 - workload, not security
        self.session = requests.Session()
        self.cards: list[str] = []
        self.step = n

    def run(self) -> None:
        while not self.state["stop"].is_set():
            self.step += 1
            self.one(self.state["phase"])

    def one(self, phase: PhaseStats) -> None:
        kind = self.step % 10
        if kind == 9:
            self.deliberate(phase)
        elif kind == 8 and self.cards:
            self.feedback(phase)
        else:
            drafts = self.random.sample(self.pool, 2)
            fetch = kind in (3, 7)
            current = None if fetch else self.random.sample(self.pool, 15)
            body = sign_body(drafts, current, self.fhir_url if fetch else None)
            self.hook(phase, body)

    def post(self, path: str, data: bytes, token: bool = True) -> requests.Response | str:
        url = self.root + path
        headers = {"Content-Type": "application/json"}
        if token:
            headers.update(authorization(url))
        try:
            return self.session.post(url, data=data, headers=headers, timeout=CLIENT_TIMEOUT_S)
        except requests.RequestException as error:
            return type(error).__name__

    def hook(self, phase: PhaseStats, body: dict) -> None:
        started = time.perf_counter()
        response = self.post(SIGN, json.dumps(body).encode())
        elapsed = (time.perf_counter() - started) * 1000
        with phase.lock:
            phase.requests += 1
            phase.latencies_ms.append(elapsed)
            if isinstance(response, str) or response.status_code != 200:
                phase.unexpected[
                    response if isinstance(response, str) else response.status_code
                ] += 1
            elif any(c["summary"].startswith(INCOMPLETE) for c in response.json()["cards"]):
                phase.incomplete += 1
        if not isinstance(response, str):
            totals: Totals = self.state["totals"]
            with totals.lock:
                totals.hook_calls_answered += 1
            if response.status_code == 200:
                self.cards = [c["uuid"] for c in response.json()["cards"]][-5:] or self.cards

    def feedback(self, phase: PhaseStats) -> None:
        card = self.random.choice(self.cards)
        item = {
            "card": card, "outcome": "overridden",
            "overrideReason": {"userComment": f"bench {uuid.uuid4()}"},
            "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        response = self.post(SIGN + "/feedback", json.dumps({"feedback": [item]}).encode())
        with phase.lock:
            phase.requests += 1
            if replay_refused(response):
                phase.replay_refused += 1
            elif isinstance(response, str) or response.status_code != 200:
                phase.unexpected[
                    response if isinstance(response, str) else response.status_code
                ] += 1
        if not isinstance(response, str) and response.status_code == 200:
            totals: Totals = self.state["totals"]
            with totals.lock:
                totals.feedback_acknowledged.add(item["overrideReason"]["userComment"])

    def deliberate(self, phase: PhaseStats) -> None:
        """A request that must be refused: no token (401), or a token and bad JSON (400)."""
        no_token = self.step % 20 == 9
        response = self.post(SIGN, b'{"hook": "order-sign", "hookInst', token=not no_token)
        expected = 401 if no_token else 400
        with phase.lock:
            phase.requests += 1
            if not isinstance(response, str) and response.status_code == expected:
                phase.deliberate_4xx += 1
            else:
                phase.unexpected[
                    response if isinstance(response, str) else response.status_code
                ] += 1
        if not isinstance(response, str):
            totals: Totals = self.state["totals"]
            with totals.lock:
                if response.status_code == 401:
                    totals.hook_calls_refused += 1
                else:
                    totals.hook_calls_answered += 1


def replay_refused(response: requests.Response | str) -> bool:
    if isinstance(response, str) or response.status_code != 503:
        return False
    issues = response.json().get("issue") or [{}]
    return issues[0].get("diagnostics") == REPLAY_UNAVAILABLE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ddi-load-faults-"))
    data_dir = work / "data"
    redis_server = RedisServer(free_port())
    redis_server.start()
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    fhir = FhirStandIn(stall_s=30, tls=True).start()  # before the service: its issuer lists it
    env = {
        **os.environ,
        "DDI_CDS_DATA_DIR": str(data_dir),
        "DDI_CDS_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "DDI_CDS_TRUSTED_ISSUERS_FILE": str(write_trust(work / "trust", [fhir.base_url])),
        "DDI_CDS_PUBLIC_BASE_URL": root,  # tokens' aud
        "DDI_CDS_FHIR_CA_BUNDLE_FILE": str(fhir.ca_file),
        "OMP_NUM_THREADS": "1",  # two workers on two cores: one torch thread each
    }
    log_path = work / "gunicorn.log"
    gunicorn = [
        str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers), "--worker-class", "gthread",
        "--threads", str(args.threads), "--preload", "--timeout", "30",
        "cds_service.app:create_app()",
    ]  # fmt: skip
    started = time.monotonic()
    with log_path.open("ab") as log:
        server = subprocess.Popen(gunicorn, stdout=log, stderr=log, env=env, cwd=ROOT)  # noqa: S603
    wait_for(lambda: requests.get(root + "/readyz", timeout=2).status_code == 200, "gunicorn", 120)
    ready_s = time.monotonic() - started
    pool = ingredient_pool(40)
    totals = Totals()
    phases = [PhaseStats(name) for name in PHASES]
    state = {"stop": threading.Event(), "phase": phases[0], "totals": totals}
    try:
        fhir.medication_requests = [
            medication_request(code, rid=f"f{i}", status="active")
            for i, code in enumerate(pool[:15])
        ]
        clients = [Ehr(n, root, fhir.base_url, pool, state) for n in range(args.clients)]
        for client in clients:
            client.start()
        for phase in phases:
            state["phase"] = phase  # before the fault: a request counts where it met the fault
            if phase.name == "redis killed":
                redis_server.kill()
            elif phase.name == "redis restarted":
                redis_server.start()
            elif phase.name == "FHIR stalls":
                fhir.fault = Fault.STALL
            elif phase.name == "FHIR back":
                fhir.fault = None
            print(f"phase: {phase.name} ({args.phase_seconds:.0f} s)", file=sys.stderr, flush=True)
            time.sleep(args.phase_seconds)
        state["stop"].set()
        for client in clients:
            client.join(timeout=CLIENT_TIMEOUT_S + 5)
    finally:
        fhir.stop()

    server.send_signal(signal.SIGKILL)  # no graceful shutdown: what was acknowledged must be kept
    server.wait(timeout=10)
    subprocess.run(["pkill", "-KILL", "-f", f"127.0.0.1:{port}"], check=False)  # noqa: S603, S607 - the workers
    redis_server.kill()
    return report(args, phases, totals, data_dir, log_path, ready_s)


def report(
    args: argparse.Namespace,
    phases: list[PhaseStats],
    totals: Totals,
    data_dir: Path,
    log_path: Path,
    ready_s: float,
) -> int:
    db = sqlite3.connect(data_dir / "feedback.sqlite")
    try:
        stored = {
            json.loads(record)["overrideReason"]["userComment"]
            for (record,) in db.execute("SELECT record FROM feedback")
        }
    finally:
        db.close()
    configured = os.environ.get(AUDIT_KEY_VARIABLE, "")  # else the one the service made
    chain_key = load_key(configured, AUDIT_KEY_VARIABLE, data_dir / AUDIT_KEY_FILE, create=False)
    trail = AuditTrail(data_dir / "audit.sqlite", None, chain_key, read_only=True)
    chain = trail.verify()
    log_text = log_path.read_text(errors="replace")
    tracebacks = log_text.count("Traceback")

    print(f"\nload with faults: {os.cpu_count()} cores, gunicorn {args.workers} workers x "
          f"{args.threads} threads, {args.clients} EHR clients, "
          f"{args.phase_seconds:.0f} s a phase; ready in {ready_s:.1f} s\n")  # fmt: skip
    header = ("phase", "requests", "deliberate 4xx", "other non-2xx", "incomplete-check answers",
              "hook p50 ms", "hook p95 ms", "hook max ms",
              "feedback 503, replay store down")  # fmt: skip
    rows = [header]
    for phase in phases:
        unexpected = sum(phase.unexpected.values())
        detail = f" {dict(phase.unexpected)}" if unexpected else ""
        rows.append((
            phase.name, str(phase.requests), str(phase.deliberate_4xx), f"{unexpected}{detail}",
            str(phase.incomplete), f"{statistics.median(phase.latencies_ms):.1f}",
            f"{percentile(phase.latencies_ms, 0.95):.1f}", f"{max(phase.latencies_ms):.1f}",
            str(phase.replay_refused),
        ))  # fmt: skip
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(header))
    for row in rows[1:]:
        print("| " + " | ".join(row) + " |")
    lost = totals.feedback_acknowledged - stored
    audited = trail.count()
    checks = {
        "no unexpected non-2xx": all(not p.unexpected for p in phases),
        "feedback refused (503) only while Redis was down": all(
            not p.replay_refused for p in phases if p.name not in REDIS_DOWN_PHASES
        ),
        f"feedback acknowledged {len(totals.feedback_acknowledged)}, on disk after SIGKILL "
        f"{len(stored & totals.feedback_acknowledged)}": not lost,
        f"hook calls that reached the service {totals.hook_calls_answered}, audited {audited}":
            audited == totals.hook_calls_answered,
        f"audit chain intact ({chain.rows} rows)": chain.intact,
        f"tracebacks in the server log: {tracebacks}": tracebacks == 0,
    }  # fmt: skip
    print()
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    print(f"\nwork folder (logs, data): {data_dir.parent}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
