"""What the bench scripts that read a random-split run share: the command line (`--run`,
`--data`), the run's served model, and the data it was trained and evaluated on."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from model.inference import Predictor
from model.prepare import Prepared, prepare


def load_random_run(description: str, default_run: Path) -> tuple[Predictor, Prepared]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", type=Path, default=default_run)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    predictor = Predictor(args.run)
    config = predictor.artifact.config
    if config.split != "random":
        raise SystemExit(f"{args.run} is a {config.split!r} run; this reads the random split")
    torch.set_num_threads(config.threads)
    return predictor, prepare(config, args.data)
