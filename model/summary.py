"""`ddi-cds evaluate --all`: both heads, every split, every baseline, in one table.

    ddi-cds evaluate --all            # prints the table, writes model/evaluation_summary.json

Reads what the slow commands measured, so the table costs nothing to print:
- the side-effect head: the committed `model/artifact/metrics.json` (`ddi-cds evaluate`, macro
  AUROC over side effects) and its count baseline (`model/side_effect_baselines.json`,
  `bench/count_baseline.py --out`);
- the clinical head: `model/clinical/evaluation.json` (`ddi-cds evaluate-clinical`, AUROC per
  task, mean ± sd over the seeds run), with its tree, similarity-vote, popularity and rules
  baselines.

Rows are split × head × model; the side-effect head's splits map onto the clinical head's: the
random split, one new drug (TWOSIDES "one drug unseen"), two new drugs ("both drugs unseen").
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import METRICS, PACKAGED
from model.clinical.config import SPLITS
from model.clinical.evaluate import MODELS
from model.clinical.tasks import TASKS

ROOT = Path(__file__).resolve().parent
SIDE_EFFECT_BASELINES = ROOT / "side_effect_baselines.json"
CLINICAL_RESULTS = ROOT / "clinical" / "evaluation.json"
SIDE_EFFECT_TASK = "side effects (macro)"
COLUMNS = (SIDE_EFFECT_TASK, *TASKS)
# (split, partition) of the side-effect head's metrics and its baselines, per clinical split
SIDE_EFFECT_PARTS = {
    "random": (("random", "test"), "random/test"),
    "one-new": (("unseen", "test_one_unseen"), "unseen/test"),
    "two-new": (("unseen", "test_both_unseen"), "unseen/test_both"),
}


def rows(
    side_effect: dict[str, Any], baselines: dict[str, Any], clinical: dict[str, Any]
) -> list[dict[str, Any]]:
    """One dict per (split, head, model): the figures, as text, by column."""
    out = []
    for split in SPLITS:
        (metrics_split, partition), baseline_key = SIDE_EFFECT_PARTS[split]
        macro = side_effect.get(metrics_split, {}).get("partitions", {}).get(partition, {})
        if "macro" in macro:
            out.append(_row(split, "side effects", "network", macro["macro"]["auroc"]))
        count = baselines.get(baseline_key, {}).get("count baseline")
        if count:
            out.append(_row(split, "side effects", "count baseline", count["auroc"]))
        for model in MODELS:
            runs = [v for k, v in clinical.items() if k.startswith(f"{split}/") and
                    k.endswith(f"/{model}")]  # fmt: skip
            if runs:
                cells = {task: _mean_sd([r.get(task) for r in runs]) for task in TASKS}
                out.append({"split": split, "head": "clinical", "model": model,
                            "seeds": len(runs), **cells})  # fmt: skip
    return out


def _row(split: str, head: str, model: str, auroc: float) -> dict[str, Any]:
    return {"split": split, "head": head, "model": model, "seeds": 1,
            SIDE_EFFECT_TASK: f"{auroc:.3f}"}  # fmt: skip


def _mean_sd(values: Sequence[float | None]) -> str:
    kept = np.array([v for v in values if v is not None], dtype=float)
    if len(kept) == 0 or np.isnan(kept).all():
        return ""
    if len(kept) == 1:
        return f"{kept[0]:.3f}"
    return f"{np.nanmean(kept):.3f} ± {np.nanstd(kept):.3f}"


def table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| split | head | model | seeds | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for row in summary:
        cells = [row.get(c, "") for c in COLUMNS]
        lines.append(
            f"| {row['split']} | {row['head']} | {row['model']} | {row['seeds']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddi-cds evaluate --all", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--all", action="store_true", help="(this command)")
    parser.add_argument("--side-effect-metrics", type=Path, default=PACKAGED / METRICS)
    parser.add_argument("--side-effect-baselines", type=Path, default=SIDE_EFFECT_BASELINES)
    parser.add_argument("--clinical", type=Path, default=CLINICAL_RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation_summary.json")
    args = parser.parse_args(argv)
    summary = rows(
        _read(args.side_effect_metrics),
        _read(args.side_effect_baselines),
        _read(args.clinical),
    )
    print(table(summary))
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
