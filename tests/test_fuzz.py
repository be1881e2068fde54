"""Fuzz the real HTTP API with schemathesis, from the service's own OpenAPI description: no 5xx,
no hang, bounded memory. CI-sized; `bench/fuzz_api.py` runs the same thing for longer.

Two `ddi-cds serve` processes on free loopback ports:

- `--no-auth`: every operation, schemathesis's positive and negative data, checked with
  not_a_server_error, status_code_conformance, content_type_conformance,
  response_headers_conformance and response_schema_conformance; each request has a 10 s client
  timeout (the service's deadline is 2 s), so a hang is a failure. The server's resident memory
  is read after a warm-up and after the run.
- tokens required (a trusted issuer configured): every fuzzed POST carries no token or a bad
  one (garbage, expired, wrong audience, untrusted issuer, another scheme) and must get 401,
  never 5xx, whatever its body.
"""

from __future__ import annotations

import itertools
import time

import pytest

from bench.fuzz_api import FuzzReport, fuzz, refused_unless_unrouted, warm_up
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.served_process import start_server

pytestmark = pytest.mark.slow  # schemathesis over the whole API

EXAMPLES = 40  # per operation and generation mode; about 20 s of fuzzing on 2 cores
AUTH_EXAMPLES = 25
# Measured: about 400 MiB after warm-up (drug index, knowledge, model) and +2 MiB after 1300
# fuzzed requests (bench/fuzz_api.py). A leak of the request bodies (up to 8 MiB each) would
# pass this within a few dozen requests.
MAX_GROWTH_MIB = 100
MAX_PEAK_ABOVE_START_MIB = 200


def explain(report: FuzzReport) -> str:
    return "\n" + report.table()


@pytest.fixture(scope="module")
def open_report(tmp_path_factory) -> FuzzReport:
    folder = tmp_path_factory.mktemp("fuzz-open")
    server = start_server(folder / "data", no_auth=True)
    try:
        warm_up(server.root)
        return fuzz(server, examples=EXAMPLES, failures_dir=folder / "failures")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded_report(tmp_path_factory) -> FuzzReport:
    folder = tmp_path_factory.mktemp("fuzz-guarded")
    trust = write_trust(folder / "trust")
    server = start_server(
        folder / "data", no_auth=False, env={"DDI_CDS_TRUSTED_ISSUERS_FILE": str(trust)}
    )
    variants = itertools.cycle(
        [
            lambda url: None,
            lambda url: {"Authorization": "Bearer not.a.jwt"},
            lambda url: authorization(
                url, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200
            ),
            lambda url: authorization("https://elsewhere.example/cds-services/ddi-order-sign"),
            lambda url: authorization(url, iss="https://untrusted.example/"),
            lambda url: {"Authorization": "Basic dXNlcjpwYXNz"},
        ]
    )

    def bad_token(case) -> dict[str, str]:
        header = next(variants)(f"{server.root}{case.formatted_path}")
        if header is None:  # schemathesis makes up an Authorization header: send none at all
            case.headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
            return {}
        return header

    try:
        return fuzz(
            server,
            examples=AUTH_EXAMPLES,
            methods=("POST",),
            secured_only=True,
            headers=bad_token,
            expect=refused_unless_unrouted,
            failures_dir=folder / "failures",
        )
    finally:
        server.stop()


def test_fuzzed_requests_get_documented_answers_and_never_a_server_error(open_report):
    assert not open_report.failures, explain(open_report)
    assert open_report.sent >= 4 * EXAMPLES, explain(open_report)


def test_the_fuzzing_reaches_past_the_parsers(open_report):
    """Not only 400s: schema-valid bodies get cards, or 412 when their FHIR server is down."""
    hook = next(
        s
        for s in open_report.stats
        if s.operation.endswith("{service_id}") and s.mode == "positive"
    )
    assert hook.statuses[200] + hook.statuses[412] > 0, explain(open_report)
    assert open_report.statuses()[400] > 0, explain(open_report)


def test_memory_stays_bounded_under_fuzzing(open_report):
    mib = 1024
    growth = (open_report.rss_end_kib - open_report.rss_start_kib) / mib
    peak = (open_report.rss_peak_kib - open_report.rss_start_kib) / mib
    assert growth < MAX_GROWTH_MIB, explain(open_report)
    assert peak < MAX_PEAK_ABOVE_START_MIB, explain(open_report)


def test_unauthenticated_fuzzed_posts_are_refused_with_401(guarded_report):
    assert not guarded_report.failures, explain(guarded_report)
    statuses = guarded_report.statuses()
    assert statuses[401] >= 4 * AUTH_EXAMPLES - statuses[404], explain(guarded_report)
    assert all(code in {401, 404} for code in statuses), explain(guarded_report)
