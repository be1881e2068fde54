"""`ddi-cds export-model`: copy a trained run into the committed artifact, with every split's
metrics, so the service and the model card quote one set of figures.

    ddi-cds export-model --run runs/random --metrics runs/random runs/unseen --out model/artifact
    ddi-cds export-model --repack      # the committed artifact again, in the current storage form

The committed metrics keep what the service reads (macro figures per split and partition) and
the summary the model card quotes; per-side-effect rows stay in the run's own metrics.json.
Storage form: see `model.artifact` (float16 weights). A new artifact replaces the old files, and
its version is a new content hash: cached predictions of the old one are never reused.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.artifact import META, METRICS, PACKAGED, WEIGHTS, Artifact, load_artifact, write_metrics

PER_ROW_KEYS = ("per_side_effect",)  # hundreds of rows each: the run keeps them


def published_metrics(measured: Any) -> Any:
    """`measured` without its per-side-effect rows."""
    if isinstance(measured, dict):
        return {k: published_metrics(v) for k, v in measured.items() if k not in PER_ROW_KEYS}
    return measured


def export(run: Path, metric_runs: Sequence[Path], out: Path) -> str:
    artifact = load_artifact(run)
    metrics = {}
    for run_dir in metric_runs:
        measured = json.loads((run_dir / METRICS).read_text())
        metrics[measured["split"]] = published_metrics(measured)
    return _replace(artifact, metrics, out)


def repack(directory: Path) -> str:
    """The artifact in `directory` saved again in the current storage form."""
    artifact = load_artifact(directory)
    return _replace(artifact, published_metrics(artifact.metrics), directory)


def _replace(artifact: Artifact, metrics: dict[str, Any], out: Path) -> str:
    # The side-effect model's files only: the clinical head's folder inside is its own artifact
    for name in (WEIGHTS, META, METRICS):
        (out / name).unlink(missing_ok=True)
    artifact.metrics = {}
    version = artifact.save(out)
    write_metrics(out, metrics)
    return version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddi-cds export-model", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--run", type=Path, default=Path("runs/random"))
    parser.add_argument(
        "--metrics", type=Path, nargs="+", default=[Path("runs/random"), Path("runs/unseen")]
    )
    parser.add_argument("--out", type=Path, default=PACKAGED)
    parser.add_argument(
        "--repack", action="store_true", help="save the artifact in --out again, in today's form"
    )
    args = parser.parse_args(argv)
    if args.repack:
        print(f"repacked {args.out} as {repack(args.out)}")
        return 0
    print(f"exported {export(args.run, args.metrics, args.out)} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
