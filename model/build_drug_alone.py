"""`ddi-cds build-drug-alone`: compute each training drug's own side-effect rates
(`model.drug_alone`) with the committed side-effect model and write them beside it.

    ddi-cds build-drug-alone [--artifact model/artifact]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from model.artifact import PACKAGED
from model.drug_alone import DRUG_ALONE, compute, save
from model.inference import Predictor


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddi-cds build-drug-alone", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--artifact", type=Path, default=PACKAGED)
    args = parser.parse_args(argv)
    predictor = Predictor(args.artifact)
    rates = compute(predictor)
    save(args.artifact, rates, predictor.version)
    print(f"wrote {args.artifact / DRUG_ALONE} for {predictor.version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
