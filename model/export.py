"""`ddi-cds export-model`: copy a trained run into the committed artifact, with every split's
metrics, so the service and the model card quote one set of figures.

    ddi-cds export-model --run runs/random --metrics runs/random runs/unseen --out model/artifact
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from model.artifact import METRICS, PACKAGED, load_artifact, write_metrics


def export(run: Path, metric_runs: Sequence[Path], out: Path) -> str:
    artifact = load_artifact(run)
    metrics = {}
    for run_dir in metric_runs:
        measured = json.loads((run_dir / METRICS).read_text())
        metrics[measured["split"]] = measured
    if out.exists():
        shutil.rmtree(out)
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
    args = parser.parse_args(argv)
    print(f"exported {export(args.run, args.metrics, args.out)} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
