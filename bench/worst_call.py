"""Benchmark: the most expensive single calls one caller can construct, and what each costs.

    .venv/bin/python bench/worst_call.py [--save bench/results/worst_call.json]

Each scenario runs in a fresh interpreter (so that its peak memory is its own) against the whole
Flask app in-process, with the audit trail on as in production (token checking is off: it costs
the same for every call). Reported per scenario: wall and CPU seconds of the call (CPU of every
thread of the process), the request and response sizes, how much the audit trail grew, the cards
answered, the process's peak RSS, and the HTTP status.

Scenarios (docs/security.md, "one call's cost"):
- `order-sign-1000-distinct`: 1,000 drafts of 1,000 distinct ingredients (about 230 kB);
- `order-sign-1000-model-drugs`: 1,000 drafts of ingredients with a chemical structure, so that
  the model is asked to score every pair;
- `order-sign-2-15`: an ordinary call (2 drafts, 15 current medications), for scale;
- `try-it-40`, `try-it-20`: the try-it page's form with 40 and 20 medications, as anyone can
  post it when the page is on (20 is its limit, `DDI_CDS_TRY_IT_MAX_ENTRIES`);
- `explain`: one explanation page for a pair the model knows, and the same page again
  (`again_wall_s`: it is computed once per pair).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = (
    "order-sign-1000-distinct",
    "order-sign-1000-model-drugs",
    "order-sign-2-15",
    "try-it-40",
    "try-it-20",
    "explain",
)
INDEX = Path(__file__).resolve().parent.parent / "cds_service" / "data" / "drug_index.sqlite"


def ingredient_codes(count: int, *, with_structure: bool) -> list[str]:
    """Distinct ingredient RXCUIs of the drug index, in a fixed order (the same every run)."""
    where = "smiles IS NOT NULL AND smiles != ''" if with_structure else "drugbank_id IS NOT NULL"
    db = sqlite3.connect(f"file:{INDEX}?mode=ro", uri=True)
    try:
        rows = db.execute(f"SELECT rxcui FROM ingredient WHERE {where} ORDER BY rxcui")  # noqa: S608
        return [rxcui for (rxcui,) in rows][:count]
    finally:
        db.close()


def run_scenario(name: str) -> dict:
    """In this process: build the app, make the call once, measure it."""
    from cds_service.app import create_app
    from cds_service.config import Settings
    from cds_service.testing.hook_requests import order_sign_by_codes
    from cds_service.testing.rxcui import CURRENT_15, DRAFTS_2

    data_dir = Path(tempfile.mkdtemp(prefix="ddi-cds-worst-"))
    app = create_app(Settings(auth_disabled=True, data_dir=data_dir, redis_url=""))
    client = app.test_client()
    client.get("/cds-services")  # the first request's one-off set-up is not the call's cost
    audit = data_dir / "audit.sqlite"
    audit_before = _size(audit)
    if name.startswith("try-it-"):
        count = int(name.rsplit("-", 1)[1])
        names = ingredient_codes(count, with_structure=False)
        form = {"medication": names, "role": ["new", "current"] * (count // 2)}
        request_bytes = len(json.dumps(form))
        call = lambda: client.post("/", data=form)  # noqa: E731
    elif name == "explain":
        request_bytes = 0
        call = lambda: client.get("/explain?a=11289&b=5640", headers={"Accept": "text/html"})  # noqa: E731
    else:
        if name == "order-sign-2-15":
            body = order_sign_by_codes(list(DRAFTS_2.values()), list(CURRENT_15.values()))
        else:
            codes = ingredient_codes(1000, with_structure=name.endswith("model-drugs"))
            body = order_sign_by_codes(codes, [])
        payload = json.dumps(body)
        request_bytes = len(payload)
        call = lambda: client.post(  # noqa: E731
            "/cds-services/ddi-order-sign", data=payload, content_type="application/json"
        )
    wall, cpu = time.perf_counter(), time.process_time()
    response = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    answer = response.get_json(silent=True) or {}
    again = None
    if name == "explain":
        again = time.perf_counter()
        call()
        again = round(time.perf_counter() - again, 4)
    return {
        "scenario": name,
        "status": response.status_code,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "request_kb": round(request_bytes / 1024, 1),
        "response_kb": round(len(response.data) / 1024, 1),
        "cards": len(answer.get("cards", [])) if isinstance(answer, dict) else None,
        "audit_growth_kb": round((_size(audit) - audit_before) / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **({"again_wall_s": again} if again is not None else {}),
    }


def _size(path: Path) -> int:
    """The store's bytes on disk, its write-ahead log included."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path, help="write the results here as JSON")
    parser.add_argument("--scenario", choices=SCENARIOS, help="run one, in this process")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario)))
        return 0
    results = []
    for name in SCENARIOS:
        out = subprocess.run(  # noqa: S603 - this script, fixed arguments
            [sys.executable, __file__, "--scenario", name],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "DDI_CDS_LOG_FORMAT": "text"},
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    report = {"cores": os.cpu_count(), "python": platform.python_version(), "results": results}
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
