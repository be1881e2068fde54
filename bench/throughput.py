"""Benchmark: throughput and latency of `ddi-cds serve --production` over HTTP on loopback.

    .venv/bin/python -m bench.throughput [--seconds 30] [--connections 8] [--workers 2]

(from the repository root, as a module: it imports bench/load_faults.py)

Needs `wrk` (Debian: `apt-get install wrk`) as the load generator: it costs the machine far less
CPU per request than a Python client would, and the client shares the cores with the server.

Workloads, each an order-sign call: 1 draft + 5 current medications, 2 + 15, 5 + 40, drawn from
400 ingredients the model was trained on (TWOSIDES' drugs). For each:
- **cold**: every request a different draw from 400 ingredients, after Redis is emptied and the
  server restarted, so most pairs have never been scored;
- **warm**: 50 fixed requests, sent three times before the run over new connections (so that
  both workers see them), repeated for the run (every pair is in the worker's own cache, or in
  Redis).
Each is run twice: with 2 connections (a call in flight per worker: the latency a prescriber
sees at moderate load) and with 8 (saturation: the throughput). Reported per run: requests/s,
p50 / p95 / p99 latency (wrk's own histogram), non-2xx answers,
CPU seconds per request (the server's processes, from /proc), and per worker its resident memory
(RSS) and its proportional share (PSS: pages shared copy-on-write with the master counted once);
and the time from start to `/readyz` 200. EHR token checking is off (`--no-auth`: each request
would need a freshly signed token, which wrk cannot make); `bench/load_faults.py` runs with
tokens. Targets (issue 7): warm p95 < 30 ms at 1 + 5 and < 60 ms at 5 + 40; >= 300 requests/s at
2 + 15 warm; ready within 10 s; < 600 MB a worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.load_faults import RedisServer, ingredient_pool
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.served_process import free_port

WORKLOADS = ((1, 5), (2, 15), (5, 40))
WARM_BODIES = 50
COLD_BODIES = 4000
LUA = """
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local n = 0
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", "/cds-services/ddi-order-sign",
                    {["Content-Type"] = "application/json"}, bodies[n])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.duration))
end
"""


@dataclass
class Run:
    workload: str
    cache: str
    requests: int
    non_2xx: int
    socket_errors: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    rss_mb: list[float]
    pss_mb: list[float]


def bodies(drafts: int, current: int, pool: list[str], count: int, seed: int) -> list[str]:
    draw = random.Random(seed)  # noqa: S311 - a workload, not a secret
    out = []
    for _ in range(count):
        codes = draw.sample(pool, drafts + current)
        out.append(json.dumps(order_sign_by_codes(codes[:drafts], codes[drafts:])))
    return out


class Server:
    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.root = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script
                [str(Path(sys.executable).with_name("ddi-cds")), "serve", "--production",
                 "--no-auth", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out, stderr=out, env=env,
            )  # fmt: skip
        while True:
            try:
                if requests.get(self.root + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() - started > 120:
                raise SystemExit(f"the server did not come up; see {log}")
            time.sleep(0.05)
        self.ready_s = time.monotonic() - started

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()]

    def cpu_s(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self.process.pid, *self.pids()]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def memory_mb(self) -> tuple[list[float], list[float]]:
        rss, pss = [], []
        for pid in self.pids():
            status = Path(f"/proc/{pid}/status").read_text()
            rss.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss.append(int(re.search(r"Pss:\s+(\d+)", rollup).group(1)) / 1024)  # type: ignore[union-attr]
        return rss, pss

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wrk(root: str, body_file: Path, seconds: float, connections: int, lua: Path) -> list[int]:
    run = subprocess.run(  # noqa: S603 - wrk with our arguments
        [shutil.which("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s",
         "--timeout", "10s", "-s", str(lua), root],
        capture_output=True, text=True, env={**os.environ, "BODIES": str(body_file)},
        check=True,
    )  # fmt: skip
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT"))
    return [int(x) for x in line.split()[1:]]


def measure(
    server: Server, label: str, cache: str, body_file: Path, seconds: float, connections: int,
    lua: Path,
) -> Run:  # fmt: skip
    cpu_before = server.cpu_s()
    requests_, non_2xx, errors, p50, p95, p99, duration_us = wrk(
        server.root, body_file, seconds, connections, lua
    )
    cpu = server.cpu_s() - cpu_before
    rss, pss = server.memory_mb()
    return Run(
        label, f"{cache}, {connections} conn.", requests_, non_2xx, errors,
        requests_ / (duration_us / 1e6),
        p50 / 1000, p95 / 1000, p99 / 1000, 1000 * cpu / max(1, requests_), rss, pss,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--connections", type=int, default=8, help="for the throughput runs (saturating)"
    )
    parser.add_argument(
        "--latency-connections",
        type=int,
        default=2,
        help="for the latency runs (a call in flight per worker)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads a worker")
    parser.add_argument(
        "--workload", choices=[f"{d}+{c}" for d, c in WORKLOADS], action="append",
        help="only these workloads (repeatable; default all)",
    )  # fmt: skip
    parser.add_argument("--cache", choices=("cold", "warm"), action="append",
                        help="only these cache states (repeatable; default both)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server log)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="ddi-throughput-"))
    lua = work / "bodies.lua"
    lua.write_text(LUA)
    redis_server = RedisServer(free_port())
    redis_server.start()
    env = {
        **os.environ,
        "DDI_CDS_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "DDI_CDS_WORKERS": str(args.workers),
        "DDI_CDS_THREADS": str(args.threads),
        "OMP_NUM_THREADS": "1",
        # --production takes its keys from the environment only (a deployment's secret)
        "DDI_CDS_PSEUDONYM_KEY": secrets.token_hex(32),
        "DDI_CDS_AUDIT_KEY": secrets.token_hex(32),
    }
    pool = ingredient_pool(400)
    runs: list[Run] = []
    ready: list[float] = []
    try:
        for drafts, current in WORKLOADS:
            label = f"{drafts} + {current}"
            if args.workload and f"{drafts}+{current}" not in args.workload:
                continue
            for cache in args.cache or ("cold", "warm"):
                env["DDI_CDS_DATA_DIR"] = str(work / f"data-{drafts}-{current}-{cache}")
                if cache == "cold":  # a new Redis and a new server: nothing cached anywhere
                    redis_server.kill()
                    redis_server.start()
                server = Server(free_port(), env, work / "server.log")
                ready.append(server.ready_s)
                try:
                    count = COLD_BODIES if cache == "cold" else WARM_BODIES
                    texts = bodies(drafts, current, pool, count, seed=drafts * 100 + current)
                    body_file = work / f"bodies-{drafts}-{current}-{cache}.jsonl"
                    body_file.write_text("\n".join(texts) + "\n")
                    if cache == "warm":  # so that every pair is cached in both workers
                        for text in texts * 3:
                            requests.post(server.root + "/cds-services/ddi-order-sign",
                                          data=text, timeout=30,
                                          headers={"Content-Type": "application/json"})  # fmt: skip
                    for connections in (args.latency_connections, args.connections):
                        if cache == "cold":  # new draws: the run before cached its own
                            seed = drafts * 100 + current + connections * 10_000
                            texts = bodies(drafts, current, pool, count, seed=seed)
                            body_file.write_text("\n".join(texts) + "\n")
                        print(f"{label} {cache} x{connections}", file=sys.stderr, flush=True)
                        runs.append(
                            measure(server, label, cache, body_file, args.seconds, connections, lua)
                        )
                finally:
                    server.stop()
    finally:
        redis_server.kill()
    if not args.keep:  # kept when a run failed: its server log is there
        shutil.rmtree(work, ignore_errors=True)
    report(runs, ready, args)
    return 0


def report(runs: list[Run], ready: list[float], args: argparse.Namespace) -> None:
    print(
        f"\nthroughput: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"gunicorn {args.workers} workers x {args.threads} threads, wrk 1 thread x "
        f"{args.latency_connections} connections (latency) then x {args.connections} "
        f"(throughput), {args.seconds:.0f} s a "
        "run, token checking off\n"
    )
    print("| workload | cache | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | CPU ms/request "
          "| RSS MB per worker | PSS MB per worker |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        print(
            f"| {r.workload} | {r.cache} | {r.per_second:.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.non_2xx + r.socket_errors} | {r.cpu_ms_per_request:.1f} "
            f"| {' / '.join(f'{m:.0f}' for m in r.rss_mb)} "
            f"| {' / '.join(f'{m:.0f}' for m in r.pss_mb)} |"
        )
    ordered = sorted(ready)
    print(f"\nstart to ready: median {ordered[len(ordered) // 2]:.1f} s, max {ordered[-1]:.1f} s "
          f"over {len(ready)} starts")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
