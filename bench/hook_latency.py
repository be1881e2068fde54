"""Benchmark: one order-sign call with 2 drafts and 15 current medications, service-side.

    .venv/bin/python bench/hook_latency.py [--calls 200] [--redis-url redis://127.0.0.1:6379/0]

The request goes through the whole Flask app in-process (parsing, mapping, curated check, model,
cards, JSON), without a network hop. 31 ingredient pairs are checked per call. Three states of
the prediction cache, each timed over `--calls` calls, median and p95 in milliseconds:
- cold: neither the local cache nor Redis holds the pairs, so the model scores all 31;
- warm Redis: the local cache is emptied before each call, Redis holds every pair (a worker
  that has not seen the pairs, in a fleet that has);
- warm local: the pairs are in the process's own cache.
The model's per-drug state is warm throughout (it is computed once per drug per process). EHR
token checking is off here (`auth_disabled`): it is the same for every request and is measured
with the load benchmark.
Target (issue 5): warm-Redis p95 under 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
import torch

from cds_service.adapters.prediction_cache import KEY_PREFIX
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import CURRENT_15, DRAFTS_2
from cds_service.web.runtime import runtime


def request_body() -> dict:
    return order_sign_by_codes(list(DRAFTS_2.values()), list(CURRENT_15.values()))


def summary(times_ms: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(times_ms), 2),
        "p95_ms": round(float(np.percentile(times_ms, 95)), 2),
        "calls": len(times_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--no-interaction-model",
        action="store_true",
        help="without the clinical head's cards (DDI_CDS_INTERACTION_MODEL_CARDS=false)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(
            Settings(
                auth_disabled=True,
                data_dir=Path(data_dir),
                redis_url=args.redis_url,
                interaction_model_cards=not args.no_interaction_model,
            )
        )
        client = app.test_client()
        with app.app_context():
            state = runtime()
        cache = state.engine.predictions.cache
        pattern = f"{KEY_PREFIX}:{state.model_version}:*"
        store = redis.Redis.from_url(args.redis_url)
        body = request_body()

        def call() -> float:
            started = time.perf_counter()
            response = client.post("/cds-services/ddi-order-sign", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"the hook answered {response.status_code}: {response.json}")
            return elapsed

        def forget_everything() -> None:
            cache.clear_local()
            keys = list(store.scan_iter(pattern, count=1000))
            if keys:
                store.delete(*keys)

        forget_everything()
        call()  # the first call loads per-drug model states and lazy imports: not timed
        results: dict[str, dict] = {}
        cold = []
        for _ in range(args.calls):
            forget_everything()
            cold.append(call())
        results["cold (model scores every pair)"] = summary(cold)
        warm_redis = []
        for _ in range(args.calls):
            cache.clear_local()
            warm_redis.append(call())
        results["warm Redis (local cache empty)"] = summary(warm_redis)
        results["warm local cache"] = summary([call() for _ in range(args.calls)])
        cards = client.post("/cds-services/ddi-order-sign", json=body).json["cards"]
        redis_state = cache.state().redis
    print(
        json.dumps(
            {
                "workload": "order-sign, 2 drafts + 15 current medications, 31 ingredient pairs",
                "cards_per_call": len(cards),
                "redis": redis_state,
                "model_version": state.model_version,
                "machine": {"cores": os.cpu_count(), "processor": platform.processor(),
                            "torch_threads": args.threads},
                "results": results,
            },
            indent=1,
        )
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
