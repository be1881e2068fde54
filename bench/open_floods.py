"""Benchmark: what a client without a valid EHR token does to the hook calls a prescriber waits
on. A real `ddi-cds serve` on loopback, a prescriber's order-sign calls timed while other
clients flood what anyone can reach: the try-it page's check and the hook endpoint itself.

    .venv/bin/python -m bench.open_floods [--phase-seconds 15] [--flood-clients 16]
        [--production] [--code-root PATH] [--try-it-medications 40] [--fixed-medications]
        [--save PATH.json]

    # the code in this tree, development server then gunicorn (2 workers):
    .venv/bin/python -m bench.open_floods --save /tmp/floods_after_dev.json
    .venv/bin/python -m bench.open_floods --production --save /tmp/floods_after_prod.json
    # another copy of the code, e.g. the commit before a change, exported to /tmp/before:
    .venv/bin/python -m bench.open_floods --code-root /tmp/before --save /tmp/floods_before_dev.json
    .venv/bin/python -m bench.open_floods --code-root /tmp/before --production \\
        --save /tmp/floods_before_prod.json

(from the repository root, as a module: it imports bench/load_faults.py)

What runs (all real processes on this machine):
- a Redis of its own (a free port, nothing on disk), the service's shared cache, so that no run
  finds pairs a previous run scored;
- `ddi-cds serve` (cds_service/testing/served_process.py), EHR tokens required (a test EHR key
  in a trusted-issuers file, cds_service/testing/ehr_tokens.py), the pseudonym and audit keys
  given (random, as a secret would); with `--production` under gunicorn, 2 workers
  (DDI_CDS_WORKERS), and the try-it page switched on (DDI_CDS_TRY_IT_PAGE=true), as a
  demonstration deployment would.
  `--code-root PATH` runs the code under PATH instead of this tree's:
  `python -m cds_service serve ...` with PYTHONPATH=PATH, in PATH (the console script would
  import the package installed in this venv); the start checks that PATH's package is the one
  imported;
- the prescriber: one order-sign call at a time, one started every `--interval` s (0.25),
  warfarin (RxNorm 11289) as the draft and ibuprofen (5640) current in the prefetch, a fresh
  signed token each call (signed before the clock starts), for `--phase-seconds`;
- the flood: `--flood-clients` threads in a process of their own (not sharing this process's
  interpreter lock with the prescriber's timing), each with its own connection, as fast as
  answers come, started a second before the prescriber's calls and stopped after them.

Phases: `quiet` (no flood); `try-it flood` (POST / with `--try-it-medications` medications,
RxNorm ingredient codes the model knows, alternately new and current: 40 random ones each post
from about 600, so that the pair cache does not make them cheap, or the same first 40 with
`--fixed-medications`); `401 flood` (POST /cds-services/ddi-order-sign with the prescriber's
body and no token, or a garbage bearer token, half the clients each).

Reported per phase (a markdown table; `--save` writes it all as JSON, latencies included): the
prescriber's calls, p50 / p90 / max milliseconds, calls over 5 s (where an EHR gives up), and
failures (not 200, or no answer within 30 s); flood requests sent and their answers by status;
rows the audit trail gained (`hook_call` in <data dir>/audit.sqlite, read-only), and those with
status 401; and how much `ddi_cds_unauthorized_total` rose on /metrics where the service has it
(--production serves /metrics on a port of its own in the newer code). The machine's core count
is printed: the flood clients run on the same cores as the service.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import requests

from bench.load_faults import RedisServer, percentile
from cds_service.core.drug_index import DEFAULT_INDEX_PATH
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN
from cds_service.testing.served_process import ServerProcess, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("quiet", "try-it flood", "401 flood")
SIGN = "/cds-services/ddi-order-sign"
TIMEOUT_S = 30.0  # the prescriber's calls and the flood's alike
GIVES_UP_S = 5.0  # about where an EHR stops waiting for the hook
RAMP_S = 1.0  # the flood runs this long before the prescriber's calls are timed
SETTLE_S = 2.0  # after a flood stops, before the audit trail and /metrics are read
# a JWT in shape only: no key has that kid, no signature is that
GARBAGE_TOKEN = "Bearer eyJhbGciOiJFUzM4NCIsImtpZCI6Im5vbmUifQ.e30.bm90LWEtc2lnbmF0dXJl"  # noqa: S105
METRIC = "ddi_cds_unauthorized_total"


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)  # status (or error) -> count
    flood: dict = field(default_factory=dict)
    audit_rows_added: int | None = None
    audit_401_rows_added: int | None = None
    unauthorized_counted: float | None = None

    def row(self) -> dict:
        times = self.latencies_ms
        return {
            "phase": self.name,
            "calls": len(times),
            "p50_ms": round(statistics.median(times), 1) if times else None,
            "p90_ms": round(percentile(times, 0.90), 1) if times else None,
            "max_ms": round(max(times), 1) if times else None,
            "over_5s": sum(t > GIVES_UP_S * 1000 for t in times),
            "failures": sum(self.failures.values()),
            "failure_kinds": dict(self.failures),
            "flood_sent": self.flood.get("sent", 0),
            "flood_statuses": self.flood.get("statuses", {}),
            "flood_per_s": self.flood.get("per_s", 0.0),
            "flood_p50_ms": self.flood.get("p50_ms"),
            "audit_rows_added": self.audit_rows_added,
            "audit_401_rows_added": self.audit_401_rows_added,
            "unauthorized_total_added": self.unauthorized_counted,
        }


def medication_pool() -> list[str]:
    """Ingredients (with a DrugBank id) that the model was trained on, so that each new pair is
    scored by the model: the try-it page's costly case."""
    db = sqlite3.connect(f"file:{DEFAULT_INDEX_PATH}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT DISTINCT i.rxcui FROM ingredient i JOIN model_drug m"
            " ON m.ingredient_rxcui = i.rxcui WHERE i.drugbank_id IS NOT NULL ORDER BY i.rxcui"
        ).fetchall()
    finally:
        db.close()
    return [r for (r,) in rows]


def try_it_form(codes: list[str]) -> list[tuple[str, str]]:
    form = []
    for i, code in enumerate(codes):
        form += [("medication", code), ("role", "new" if i % 2 == 0 else "current")]
    return form


def flood_thread(n: int, kind: str, root: str, config: dict, stop: Event, tally: dict) -> None:
    session = requests.Session()
    rng = random.Random(n)  # noqa: S311 - workload, not security
    pool, count = config["pool"], config["medications"]
    body = json.dumps(order_sign_by_codes([WARFARIN], [IBUPROFEN])).encode()
    headers = {"Content-Type": "application/json"}
    if n % 2:
        headers["Authorization"] = GARBAGE_TOKEN
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if kind == "try-it flood":
                codes = pool[:count] if config["fixed"] else rng.sample(pool, count)
                response = session.post(root + "/", data=try_it_form(codes), timeout=TIMEOUT_S)
            else:
                response = session.post(root + SIGN, data=body, headers=headers, timeout=TIMEOUT_S)
            outcome = str(response.status_code)
        except requests.RequestException as error:
            outcome = type(error).__name__
        with tally["lock"]:
            tally["statuses"][outcome] += 1
            tally["times_ms"].append((time.perf_counter() - started) * 1000)


def flood_process(
    kind: str, root: str, clients: int, config: dict, stop: Event, ready: Event, out: Queue
) -> None:
    """The flood's own process: `clients` threads until `stop`; puts what they sent on `out`."""
    tally = {"lock": threading.Lock(), "statuses": Counter(), "times_ms": []}
    threads = [
        threading.Thread(target=flood_thread, args=(n, kind, root, config, stop, tally))
        for n in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    ready.set()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    times = tally["times_ms"]
    out.put({
        "sent": len(times), "seconds": round(seconds, 1),
        "per_s": round(len(times) / seconds, 1) if seconds else 0.0,
        "statuses": dict(sorted(tally["statuses"].items())),
        "p50_ms": round(statistics.median(times), 1) if times else None,
    })  # fmt: skip


class Flood:
    def __init__(self, kind: str, root: str, clients: int, config: dict) -> None:
        context = multiprocessing.get_context("fork")  # before the prescriber's thread starts
        self.stop, ready, self.out = context.Event(), context.Event(), context.Queue()
        self.process = context.Process(
            target=flood_process,
            args=(kind, root, clients, config, self.stop, ready, self.out),
            daemon=True,
        )
        self.process.start()
        ready.wait(timeout=30)

    def finish(self) -> dict:
        self.stop.set()
        result = self.out.get(timeout=TIMEOUT_S + 30)  # before join: the queue must drain
        self.process.join(timeout=10)
        return result


def prescriber(
    root: str, seconds: float, interval: float, phase: Phase, reuse_connection: bool = True
) -> None:
    """Order-sign calls one after another, one started every `interval` s (or at once when the
    previous took longer), for `seconds`, on one kept-alive connection as an EHR would (or each
    on a new one: the warm-up, so that every gunicorn worker gets some)."""
    session = requests.Session()
    url = root + SIGN
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = json.dumps(order_sign_by_codes([WARFARIN], [IBUPROFEN])).encode()
        headers = {"Content-Type": "application/json", **authorization(url)}
        started = time.perf_counter()
        try:
            response = session.post(url, data=data, headers=headers, timeout=TIMEOUT_S)
            outcome: int | str = response.status_code
            if not reuse_connection:
                session.close()
        except requests.RequestException as error:
            outcome = type(error).__name__
        elapsed_s = time.perf_counter() - started
        phase.latencies_ms.append(elapsed_s * 1000)
        if outcome != 200:
            phase.failures[str(outcome)] += 1
        time.sleep(max(0.0, interval - elapsed_s))


def audit_rows(data_dir: Path) -> tuple[int, int] | None:
    """Rows in the audit trail's `hook_call` table, all and those with status 401."""
    path = data_dir / "audit.sqlite"
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(
            "SELECT count(*), count(CASE WHEN status = 401 THEN 1 END) FROM hook_call"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()


def unauthorized_total(server: ServerProcess) -> float | None:
    """The sum of `ddi_cds_unauthorized_total` over its labels, from /metrics on its own port or
    the service's (older code serves it there even in production); None where there is none."""
    for url in dict.fromkeys([server.metrics_url, f"{server.root}/metrics"]):
        try:
            response = requests.get(url, timeout=10)
        except requests.RequestException:
            continue
        if response.status_code != 200:
            continue
        samples = [
            float(line.rsplit(" ", 1)[1])
            for line in response.text.splitlines()
            if line.startswith((METRIC + " ", METRIC + "{"))
        ]
        declared = f"# TYPE {METRIC.removesuffix('_total')} counter" in response.text
        return sum(samples) if samples or declared else None
    return None


def code_of(code_root: Path | None, env: dict[str, str]) -> str:
    """Where the served process imports `cds_service` from (checked, with --code-root)."""
    if code_root is None:
        return str(ROOT / "cds_service")
    if not (code_root / "cds_service" / "__main__.py").exists():
        raise SystemExit(f"no cds_service/__main__.py under {code_root}")
    found = subprocess.run(
        [sys.executable, "-c", "import cds_service; print(cds_service.__file__)"],
        env={**os.environ, **env}, cwd=code_root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    package = Path(found).resolve().parent
    if package != (code_root / "cds_service").resolve():
        raise SystemExit(f"with PYTHONPATH={code_root}, cds_service comes from {package}")
    return str(package)


def trust_for(code_root: Path | None, folder: Path) -> Path:
    """The test EHR's trusted-issuers file, less the `fhir_servers` key (empty here) for code
    that predates it (its start refuses unknown keys)."""
    issuers = write_trust(folder)
    auth = (code_root or ROOT) / "cds_service" / "auth.py"
    if "fhir_servers" not in auth.read_text():
        entries = json.loads(issuers.read_text())
        issuers.write_text(json.dumps([{k: v for k, v in e.items() if k != "fhir_servers"}
                                       for e in entries]))  # fmt: skip
    return issuers


def run_phase(name: str, server: ServerProcess, args: argparse.Namespace, config: dict) -> Phase:
    phase = Phase(name)
    rows_before, counted_before = audit_rows(server.data_dir), unauthorized_total(server)
    flood = None
    if name != "quiet":
        flood = Flood(name, server.root, args.flood_clients, config)
        time.sleep(RAMP_S)
    print(f"phase: {name} ({args.phase_seconds:.0f} s)", file=sys.stderr, flush=True)
    prescriber(server.root, args.phase_seconds, args.interval, phase)
    if flood is not None:
        phase.flood = flood.finish()
        time.sleep(SETTLE_S)
    rows_after, counted_after = audit_rows(server.data_dir), unauthorized_total(server)
    if rows_before is not None and rows_after is not None:
        phase.audit_rows_added = rows_after[0] - rows_before[0]
        phase.audit_401_rows_added = rows_after[1] - rows_before[1]
    if counted_after is not None:
        phase.unauthorized_counted = counted_after - (counted_before or 0.0)
    return phase


def table(rows: list[dict]) -> str:
    header = ("phase", "calls", "p50 ms", "p90 ms", "max ms", "> 5 s", "failures",
              "flood sent", "flood /s", "flood answers", "audit rows +", "of which 401",
              "unauthorized_total +")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        failures = f"{r['failures']}" + (f" {r['failure_kinds']}" if r["failures"] else "")
        answers = ", ".join(f"{k}: {v}" for k, v in r["flood_statuses"].items()) or "-"
        cells = (r["phase"], r["calls"], r["p50_ms"], r["p90_ms"], r["max_ms"], r["over_5s"],
                 failures, r["flood_sent"], r["flood_per_s"], answers, r["audit_rows_added"],
                 r["audit_401_rows_added"], r["unauthorized_total_added"])  # fmt: skip
        lines.append("| " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-seconds", type=float, default=15.0)
    parser.add_argument("--flood-clients", type=int, default=16)
    parser.add_argument("--interval", type=float, default=0.25, help="s between real calls")
    parser.add_argument("--production", action="store_true", help="gunicorn, 2 workers")
    parser.add_argument("--code-root", type=Path, help="serve the code under this folder")
    parser.add_argument("--try-it-medications", type=int, default=40)
    parser.add_argument("--fixed-medications", action="store_true",
                        help="the same first medications each post, not random ones")  # fmt: skip
    parser.add_argument("--save", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    code_root = args.code_root.resolve() if args.code_root else None

    work = Path(tempfile.mkdtemp(prefix="ddi-open-floods-"))
    redis_server = RedisServer(free_port())
    redis_server.start()
    env = {
        "DDI_CDS_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "DDI_CDS_TRUSTED_ISSUERS_FILE": str(trust_for(code_root, work / "trust")),
        "DDI_CDS_PSEUDONYM_KEY": secrets.token_hex(32),
        "DDI_CDS_AUDIT_KEY": secrets.token_hex(32),
        **({"DDI_CDS_WORKERS": "2", "DDI_CDS_TRY_IT_PAGE": "true"} if args.production else {}),
        **({"PYTHONPATH": str(code_root)} if code_root else {}),
    }
    code = code_of(code_root, env)
    pool = medication_pool()
    config = {"pool": pool, "medications": args.try_it_medications, "fixed": args.fixed_medications}
    started = time.monotonic()
    server = start_server(
        work / "data", no_auth=False, env=env, production=args.production,
        program=[sys.executable, "-m", "cds_service"] if code_root else None, cwd=code_root,
    )  # fmt: skip
    ready_s = time.monotonic() - started
    try:
        warm = Phase("warm-up")
        # the first calls load per-drug model state, in each worker
        prescriber(server.root, 3.0, 0.05, warm, reuse_connection=False)
        requests.post(server.root + "/", data=try_it_form(pool[:2]), timeout=TIMEOUT_S)
        phases = [run_phase(name, server, args, config) for name in PHASES]
        alive = server.alive()
    finally:
        server.stop()
        redis_server.kill()

    rows = [phase.row() for phase in phases]
    mode = "gunicorn, 2 workers (--production)" if args.production else "development server"
    drawn = "fixed" if args.fixed_medications else f"random, from {len(pool)}"
    what = (f"open-endpoint floods: {os.cpu_count()} cores; code {code}; {mode}; ready in "
            f"{ready_s:.1f} s; {args.flood_clients} flood clients; one order-sign call every "
            f"{args.interval} s, {args.phase_seconds:.0f} s a phase; try-it posts of "
            f"{args.try_it_medications} medications ({drawn})")  # fmt: skip
    print(f"\n{what}\n")
    print(table(rows))
    if not alive:
        print("\nthe server was no longer running at the end", file=sys.stderr)
    print(f"\nwork folder (server log, data): {work}")
    if args.save:
        args.save.write_text(json.dumps({
            "description": what, "cores": os.cpu_count(), "processor": platform.processor(),
            "code": code, "production": args.production, "ready_s": round(ready_s, 1),
            "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "warm_up": warm.row(), "phases": rows, "server_alive_at_end": alive,
            "latencies_ms": {p.name: [round(t, 1) for t in p.latencies_ms] for p in phases},
        }, indent=1))  # fmt: skip
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
