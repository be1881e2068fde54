"""Fuzz the HTTP API of a real `ddi-cds serve` process with schemathesis, from its own OpenAPI
description (`GET /openapi.json`): no 5xx, no hang, bounded memory.

    .venv/bin/python bench/fuzz_api.py [--examples 2000] [--seconds 240] [--auth] [--out DIR]

A server is started on a free loopback port with `--no-auth` (the bodies reach the parsers and
the engine) or, with `--auth`, with a trusted-issuers file and no valid token ever sent (every
fuzzed POST must be refused with 401 before its body is read). Each operation gets the
description's own examples, then schemathesis's positive (schema-valid) and negative
(schema-violating) data; each case is answered within a client timeout or counts as a hang, and
is checked with `not_a_server_error`, `status_code_conformance`, `content_type_conformance`,
`response_headers_conformance` and `response_schema_conformance`.

Printed: per operation and mode the requests sent, their statuses, the slowest answer and the
failures; the server's resident memory (VmRSS) after warm-up, its peak during the run and at the
end. Each failure's request is saved as JSON (with a curl command) under `--out`.

`tests/test_fuzz.py` runs the same `fuzz` with a CI-sized budget.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.testing.hook_requests import (
    hook_request,
    medication_request,
    null_prefetch,
)
from cds_service.testing.rxcui import IBUPROFEN, IBUPROFEN_200MG, WARFARIN, WARFARIN_1MG
from cds_service.testing.served_process import ServerProcess, start_server

EXAMPLE_CASES = 10  # the examples vary only in their optional fields
REQUEST_TIMEOUT_S = 10.0  # the service's own deadline is 2 s: anything near this is a hang
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
HOOKS = {
    "order-select": "ddi-order-select",
    "order-sign": "ddi-order-sign",
    "medication-prescribe": "ddi-medication-prescribe",
}

Headers = Callable[[schemathesis.Case], dict[str, str]]
Expectation = Callable[[schemathesis.Case, int], str | None]


# --- the server process ------------------------------------------------------------------------


def closed_port_url() -> str:
    """A loopback URL nothing listens on: fuzzed `fhirServer` values are pointed here, so that a
    fuzz run never sends a request (and a token) to whatever host the generator made up, and the
    service's fetch fails at once (connection refused) rather than waiting on DNS."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/fhir"


def warm_up(root: str, headers: Mapping[str, str] | None = None) -> None:
    """What any first real call loads lazily (model states, FHIR models, the explanation path),
    so that the memory measured after it is the service's steady state."""
    drafts = [
        medication_request(WARFARIN_1MG, rid="a"),
        medication_request(IBUPROFEN_200MG, rid="b"),
    ]
    body = hook_request("order-sign", drafts, prefetch=null_prefetch())
    for _ in range(3):
        requests.post(
            f"{root}/cds-services/ddi-order-sign",
            json=body,
            headers=dict(headers or {}),
            timeout=REQUEST_TIMEOUT_S,
        )
        requests.get(f"{root}/explain?a={WARFARIN}&b={IBUPROFEN}", timeout=REQUEST_TIMEOUT_S)
        requests.get(f"{root}/readyz", timeout=REQUEST_TIMEOUT_S)


# --- the fuzz run ------------------------------------------------------------------------------


@dataclass
class Failure:
    operation: str
    mode: str
    kind: str  # "5xx", "timeout", "connection", "check", "expectation"
    message: str
    request: dict[str, Any]
    saved_to: Path | None = None

    def cause(self) -> str:
        """One line: the exception the server logged for a 5xx, else the first message line."""
        logged = [
            line
            for line in str(self.request.get("server_log", "")).splitlines()
            if line and not line.startswith(" ") and ("Error" in line or "Exception" in line)
        ]
        return logged[-1] if logged else self.message.splitlines()[0]


@dataclass
class OperationStats:
    operation: str
    mode: str
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    max_latency_s: float = 0.0
    failures: int = 0


@dataclass
class FuzzReport:
    stats: list[OperationStats]
    failures: list[Failure]
    elapsed_s: float
    rss_start_kib: int
    rss_peak_kib: int
    rss_end_kib: int

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.stats)

    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for s in self.stats:
            total.update(s.statuses)
        return total

    def table(self) -> str:
        rows = [("operation", "mode", "sent", "statuses", "max ms", "failures")]
        for s in self.stats:
            if s.sent:
                statuses = " ".join(f"{code}:{n}" for code, n in sorted(s.statuses.items()))
                rows.append(
                    (s.operation, s.mode, str(s.sent), statuses,
                     f"{s.max_latency_s * 1000:.0f}", str(s.failures))
                )  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        mib = 1024
        kinds = Counter(f.kind for f in self.failures)
        lines += [
            "",
            f"requests: {self.sent} in {self.elapsed_s:.0f} s; statuses: "
            + " ".join(f"{code}:{n}" for code, n in sorted(self.statuses().items())),
            "failures: "
            + (", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"),
            f"server RSS (MiB): start {self.rss_start_kib / mib:.1f}, peak "
            f"{self.rss_peak_kib / mib:.1f}, end {self.rss_end_kib / mib:.1f} (growth "
            f"{(self.rss_end_kib - self.rss_start_kib) / mib:+.1f})",
        ]
        # One line per kind of failure (the exception's type, not its message: a KeyError names
        # whatever the fuzzer made up), with how often it came and the first request saved.
        groups: dict[tuple[str, str, str], list[Failure]] = {}
        for f in self.failures:
            groups.setdefault((f.kind, f.operation, f.cause().split(":")[0]), []).append(f)
        for (kind, operation, _), found in groups.items():
            first = found[0]
            lines.append(
                f"  {kind} x{len(found)} {operation}: {first.cause()[:120]}"
                + (f" -> {first.saved_to}" if first.saved_to else "")
            )
        return "\n".join(lines)


class _OutOfTime(Exception):
    pass


def load_schema(root: str) -> schemathesis.BaseSchema:
    """The description as the service serves it, so the endpoint itself is exercised."""
    return schemathesis.openapi.from_url(f"{root}/openapi.json", timeout=REQUEST_TIMEOUT_S)


def fuzz(
    server: ServerProcess,
    *,
    examples: int,
    seconds: float | None = None,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    methods: Iterable[str] = ("GET", "POST"),
    secured_only: bool = False,
    headers: Headers | None = None,
    expect: Expectation | None = None,
    failures_dir: Path | None = None,
) -> FuzzReport:
    """Up to `examples` cases per operation and mode (and within `seconds` in all, when given),
    each sent to `server` and checked; never raises for what the server answers: everything is
    in the report. `headers(case)` adds headers to a request; `expect(case, status)` returns a
    message when the status breaks a rule of the caller's. `secured_only`: only the operations
    the description says need the EHR's token (`security`), not the open ones (the try-it page)."""
    schema = load_schema(server.root)
    wanted = {m.upper() for m in methods}
    operations = [
        r.ok()
        for r in schema.get_all_operations()
        if r.ok().method.upper() in wanted
        and (not secured_only or r.ok().definition.raw.get("security"))
    ]
    # The description's own examples first (a realistic order-sign, explain for a known pair):
    # they reach the cards and the model, where random data mostly gets 400 and 404.
    labels = ["examples", *(GenerationMode(mode).value for mode in modes)]
    run = _Run(server, headers, expect, failures_dir)
    pending: list[tuple[OperationStats, st.SearchStrategy[schemathesis.Case], int]] = []
    for operation in operations:
        for label in labels:
            if label == "examples":
                found = operation.get_strategies_from_examples()
                if not found:
                    continue
                strategy, count = st.one_of(found), min(examples, EXAMPLE_CASES)
            else:
                strategy = operation.as_strategy(generation_mode=GenerationMode(label))
                count = examples
            row = OperationStats(operation.label, label)
            run.stats.append(row)
            pending.append((row, strategy, count))
    started = time.monotonic()
    # Rounds: each entry gets an equal share of the time left; those that ran out of it before
    # their `examples` go round again with what the quicker ones left unused.
    while pending:
        unfinished = []
        for position, (row, strategy, count) in enumerate(pending):
            if row.sent >= count:
                continue
            stop_at = float("inf")
            if seconds is not None:
                left = seconds - (time.monotonic() - started)
                stop_at = time.monotonic() + left / (len(pending) - position)
            try:
                run.operation(row, strategy, count - row.sent, stop_at)
            except _OutOfTime:
                unfinished.append((row, strategy, count))
            except Unsatisfiable:  # nothing to vary: negative data for a parameterless GET
                pass
        if seconds is None or time.monotonic() - started > seconds - 1:
            break
        pending = unfinished
    run.session.close()
    return FuzzReport(
        run.stats,
        run.failures,
        time.monotonic() - started,
        run.rss_start_kib,
        run.rss_peak_kib,
        server.memory_kib(),
    )


class _Run:
    def __init__(
        self,
        server: ServerProcess,
        headers: Headers | None,
        expect: Expectation | None,
        failures_dir: Path | None,
    ) -> None:
        self.server = server
        self.headers = headers
        self.expect = expect
        self.failures_dir = failures_dir
        self.fhir_url = closed_port_url()
        self.session = requests.Session()
        self.stats: list[OperationStats] = []
        self.failures: list[Failure] = []
        self.rss_start_kib = self.rss_peak_kib = server.memory_kib()

    def operation(
        self,
        row: OperationStats,
        strategy: st.SearchStrategy[schemathesis.Case],
        examples: int,
        stop: float,
    ) -> None:
        """Send up to `examples` cases of `strategy`; `_OutOfTime` when `stop` comes first."""
        align = row.mode != GenerationMode.NEGATIVE.value

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: nothing is raised to shrink
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,  # its "reproduce with @seed" notes are about our stop
        )
        @given(case=strategy)
        def send(case: schemathesis.Case) -> None:
            if time.monotonic() > stop:
                raise _OutOfTime
            self.send(case, row, align=align)

        send()

    def send(self, case: schemathesis.Case, row: OperationStats, *, align: bool) -> None:
        _confine(case, self.fhir_url, align=align)
        extra = self.headers(case) if self.headers else {}
        request = _request_record(case, self.server.root, extra)
        row.sent += 1
        log_offset = self.server.log.stat().st_size
        sent_at = time.perf_counter()
        try:
            response = case.call(
                base_url=self.server.root,
                session=self.session,
                headers=extra,
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.Timeout as error:
            self.fail(row, "timeout", str(error), request)
            return
        except requests.ConnectionError as error:
            state = "alive" if self.server.alive() else f"exited {self.server.process.returncode}"
            self.fail(row, "connection", f"{error} (server {state})", request)
            return
        row.max_latency_s = max(row.max_latency_s, time.perf_counter() - sent_at)
        row.statuses[response.status_code] += 1
        self.rss_peak_kib = max(self.rss_peak_kib, self.server.memory_kib())
        request["response"] = {
            "status": response.status_code,
            "body": response.content[:2000].decode("utf-8", "replace"),
        }
        problems: list[tuple[str, str]] = []
        if response.status_code >= 500:
            problems.append(("5xx", f"HTTP {response.status_code}"))
            request["server_log"] = self.server.log_since(log_offset)
        try:
            case.validate_response(response, checks=list(CHECKS), headers=extra)
        except (AssertionError, FailureGroup) as error:
            problems.append(("check", str(error)))
        unmet = self.expect(case, response.status_code) if self.expect else None
        if unmet:
            problems.append(("expectation", unmet))
        if problems:
            self.fail(row, problems[0][0], "\n".join(p[1] for p in problems), request)

    def fail(self, row: OperationStats, kind: str, message: str, request: dict[str, Any]) -> None:
        row.failures += 1
        failure = Failure(row.operation, row.mode, kind, message, request)
        if self.failures_dir is not None:
            self.failures_dir.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^A-Za-z0-9]+", "-", row.operation).strip("-")
            failure.saved_to = self.failures_dir / f"{len(self.failures):04d}-{slug}-{kind}.json"
            failure.saved_to.write_text(
                json.dumps({**request, "failure": message}, indent=2) + "\n"
            )
        self.failures.append(failure)


def _confine(case: schemathesis.Case, fhir_url: str, *, align: bool) -> None:
    """Keep a fuzz run on this machine, and let valid bodies reach the engine: an http(s)
    `fhirServer` is pointed at `fhir_url`; with `align`, a hook request is sent to the service
    of its `hook` (a schema-valid body sent to the wrong service only tests the 400)."""
    body = case.body
    if not isinstance(body, dict):
        return
    server = body.get("fhirServer")
    if isinstance(server, str) and server.lower().startswith(("http://", "https://")):
        body["fhirServer"] = fhir_url
    hook = body.get("hook")
    service = HOOKS.get(hook) if isinstance(hook, str) else None
    if align and service and not case.operation.path.endswith("/feedback"):
        case.path_parameters["service_id"] = service


def _request_record(case: schemathesis.Case, root: str, headers: Mapping[str, str]) -> dict:
    """The request, enough to send it again: method, URL, headers, body (and a curl line)."""
    sent = case.as_transport_kwargs(base_url=root, headers=dict(headers))
    body = sent.get("json", sent.get("data"))
    if isinstance(body, bytes):
        body = body.decode("utf-8", "backslashreplace")
    return {
        "operation": case.operation.label,
        "method": sent.get("method"),
        "url": sent.get("url"),
        "params": sent.get("params"),
        "headers": {k: str(v) for k, v in (sent.get("headers") or {}).items()},
        "body": body if isinstance(body, dict | list | str | int | float | bool) else repr(body),
        "curl": case.as_curl_command(headers=dict(headers), base_url=root),
    }


# --- the command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="cases per operation and mode")
    parser.add_argument("--seconds", type=float, default=240.0, help="time for the whole run")
    parser.add_argument("--auth", action="store_true", help="tokens required: expect 401s")
    parser.add_argument("--out", type=Path, help="where failing requests are saved")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ddi-fuzz-") as scratch:
        folder = Path(scratch)
        # the open endpoints' rate limit is tested on its own (tests/test_open_endpoints.py):
        # here every request must reach the code it fuzzes
        env = {"DDI_CDS_OPEN_REQUESTS_PER_S": "1000000", "DDI_CDS_OPEN_BURST": "1000000"}
        if args.auth:  # no issuer is trusted: every token is refused, as is no token
            trust = folder / "trusted-issuers.json"
            trust.write_text("[]")
            env["DDI_CDS_TRUSTED_ISSUERS_FILE"] = str(trust)
        server = start_server(folder / "data", no_auth=not args.auth, env=env)
        try:
            warm_up(server.root)
            out = args.out or Path(tempfile.mkdtemp(prefix="ddi-fuzz-failures-"))
            report = fuzz(
                server,
                examples=args.examples,
                seconds=args.seconds,
                methods=("POST",) if args.auth else ("GET", "POST"),
                secured_only=args.auth,
                expect=refused_unless_unrouted if args.auth else None,
                failures_dir=out,
            )
        finally:
            server.stop()
    print(
        f"fuzz_api: schemathesis {schemathesis.__version__}, auth {'on' if args.auth else 'off'}"
        f", --examples {args.examples} --seconds {args.seconds:g}"
    )
    print(report.table())
    if report.failures:
        print(f"failing requests saved under {out}")
    return 1 if report.failures else 0


def refused_unless_unrouted(case: schemathesis.Case, status: int) -> str | None:
    """With tokens required, a POST without a valid one is 401 before anything else is looked
    at; 404 only where the fuzzed path does not reach a hook endpoint at all (a service id
    with a '/' in it, say)."""
    service_id = str((case.path_parameters or {}).get("service_id", ""))
    routed = service_id not in {"", ".", ".."} and "/" not in service_id
    if status == 401 or (status == 404 and not routed):
        return None
    return f"expected 401 for an unauthenticated POST, got {status}"


if __name__ == "__main__":
    raise SystemExit(main())
