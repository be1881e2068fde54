"""Benchmark: score every pair of a 20-medication list (190 pairs × 963 side effects).

    .venv/bin/python bench/model_inference.py [--repeats 200] [--threads 1]

Reports the median and p95 latency of `Predictor.predict` on one CPU core (torch threads = 1)
for a warm drug cache (stage-1 profiles already computed, the service's steady state) and a cold
one (every call featurises the 20 structures and runs stage 1 first), plus the machine's cores.
Then the same for the clinical head (`ClinicalPredictor.scores`: the four calibrated outputs
and the mechanism, neighbour and partner votes included) on the same 190 pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from model.clinical.inference import ClinicalPredictor
from model.inference import Predictor

# A plausible polypharmacy list, all among the model's 645 drugs.
MEDICATIONS = [
    "warfarin", "ibuprofen", "aspirin", "simvastatin", "metformin", "lisinopril", "amlodipine",
    "omeprazole", "furosemide", "digoxin", "metoprolol", "sertraline", "tramadol", "prednisone",
    "losartan", "allopurinol", "clopidogrel", "amiodarone", "citalopram", "gabapentin",
]  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "p95": _percentile(times, 95), "n": len(times)}


def _clinical(repeats: int) -> dict[str, object]:
    """The clinical head on the same 20 medications: each call scores all 190 pairs."""
    predictor = ClinicalPredictor.load()
    by_name = {
        name: rxcui
        for name, rxcui in zip(
            predictor.artifact.table.names, predictor.artifact.table.rxcuis, strict=True
        )
    }
    rxcuis = [by_name[m] for m in MEDICATIONS]
    pairs = [(a, b) for i, a in enumerate(rxcuis) for b in rxcuis[i + 1 :]]

    def timed() -> float:
        started = time.perf_counter()
        predictor.scores(pairs)
        return (time.perf_counter() - started) * 1000

    first = timed()  # encodes every drug once per process
    for _ in range(10):
        timed()
    return {
        "model_version": predictor.version,
        "pairs": len(pairs),
        "first_call_ms": first,
        "warm_ms": _summary([timed() for _ in range(repeats)]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    predictor = Predictor()
    by_name = {d["name"]: d["stitch_id"] for d in predictor.artifact.drugs}
    missing = [m for m in MEDICATIONS if m not in by_name]
    if missing:
        raise SystemExit(f"not among the model's drugs: {missing}")
    drugs = [by_name[m] for m in MEDICATIONS]
    pairs = [(a, b) for i, a in enumerate(drugs) for b in drugs[i + 1 :]]

    def timed(cold: bool) -> float:
        if cold:
            predictor._cache.clear()  # the benchmark measures the cold path
        started = time.perf_counter()
        predictor.predict(pairs)
        return (time.perf_counter() - started) * 1000

    for _ in range(10):
        timed(cold=False)
    warm = [timed(cold=False) for _ in range(args.repeats)]
    cold = [timed(cold=True) for _ in range(max(args.repeats // 4, 10))]
    result = {
        "model_version": predictor.version,
        "pairs": len(pairs),
        "side_effects": len(predictor.side_effects),
        "torch_threads": args.threads,
        "machine_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "warm_ms": _summary(warm),
        "cold_ms": _summary(cold),
        "clinical_head": _clinical(args.repeats),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
