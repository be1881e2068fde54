"""Profile of a warm hook call, as production runs it: where the time of one call goes.

    .venv/bin/python bench/profile_call.py [--calls 500] [--workload first|large] [--top 25]
                                           [--redis-url URL]

The app is built as `serve --production` builds it, with the audit trail and EHR token checking
on (a trusted issuer, a fresh signed token per call, replay checks), and called in process
through Flask's test client (no network hop, so what is left is the service's own work). The
tokens are signed before profiling starts: signing is the EHR's cost, not ours. After warm-up
calls (model states, caches, lazy imports), cProfile records `--calls` calls and prints the
functions with the most cumulative and the most own time, the share of the call spent in the
clinical check (`CdsEngine.evaluate`) against everything around it, and the response's size.

Workloads (issue 23): `first` is a warfarin draft with ibuprofen current (order-sign), `large`
is 2 drafts with 15 current medications.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.ehr_tokens import authorization, write_trust
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import CURRENT_15, DRAFTS_2, IBUPROFEN_200MG, WARFARIN_1MG

BASE_URL = "http://127.0.0.1:8080"
ENDPOINT = "/cds-services/ddi-order-sign"
WORKLOADS = {
    "first": ([WARFARIN_1MG], [IBUPROFEN_200MG]),
    "large": (list(DRAFTS_2.values()), list(CURRENT_15.values())),
}
ENGINE_CALL = "evaluate"  # CdsEngine.evaluate: the clinical work, without HTTP, tokens or audit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="first")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--redis-url", default=Settings().redis_url)
    args = parser.parse_args()
    drafts, current = WORKLOADS[args.workload]
    body = json.dumps(order_sign_by_codes(drafts, current)).encode()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            data_dir=Path(folder) / "data",
            trusted_issuers_file=write_trust(Path(folder) / "trust"),
            public_base_url=BASE_URL,
            redis_url=args.redis_url,
        )
        app = create_app(settings)
        client = app.test_client()
        headers = [
            {**authorization(BASE_URL + ENDPOINT), "Content-Type": "application/json"}
            for _ in range(args.warm_up + args.calls)
        ]

        def call(header: dict[str, str]) -> int:
            response = client.post(ENDPOINT, data=body, headers=header)
            if response.status_code != 200:
                raise SystemExit(f"the hook answered {response.status_code}: {response.data!r}")
            return len(response.data)

        for header in headers[: args.warm_up]:
            size = call(header)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for header in headers[args.warm_up :]:
            call(header)
        profile.disable()
        elapsed_ms = (time.perf_counter() - started) * 1000 / args.calls
    stats = pstats.Stats(profile)
    engine_ms = (
        sum(
            cumulative
            for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items()
            if name == ENGINE_CALL and path.endswith("engine.py")
        )
        * 1000
        / args.calls
    )
    print(
        json.dumps(
            {
                "workload": args.workload,
                "calls": args.calls,
                "mean_ms_per_call_under_profile": round(elapsed_ms, 3),
                "engine_ms_per_call": round(engine_ms, 3),
                "engine_share": round(engine_ms / elapsed_ms, 3),
                "response_bytes": size,
                "cores": os.cpu_count(),
            },
            indent=1,
        )
    )
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
        print(f"\n--- by {order} ---")
        print(out.getvalue().split("\n", 4)[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
