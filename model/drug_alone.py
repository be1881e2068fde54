"""What each training drug is reported with whatever its partner: the side-effect model's mean
calibrated probability of each side effect over the drug's pairs with every other training drug.

A pair's side effect is an interaction signal only when the pair scores well above what either
drug scores with any partner. An effect one drug brings alone (a statin's myalgia) or that comes
with why it is prescribed (metformin's "diabetes", a statin's "heart attack": TWOSIDES reports
are confounded by indication) is high for that drug with every partner, so it is marked as
explained by that drug and never shown as an interaction. TIP's single-drug side-effect matrix
cannot serve here: its 10,184 side effects share no UMLS CUI with the 963 pair side effects
(Decagon kept the two vocabularies apart) and come without names to join on.

    ddi-cds build-drug-alone            # about 2 minutes on 2 cores (model.build_drug_alone)

The file names the model version it was computed from; a predictor refuses one of another
version (a retrained model needs a new file).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # model.inference reads this module's files
    from model.inference import Predictor

log = logging.getLogger(__name__)
DRUG_ALONE = "drug_alone.npz"
# A drug's own rate of a side effect: this quantile of its pairs' probabilities over all partners
# (a mean is pulled down by the many partners it is never reported with)
QUANTILE = 0.9
# A pair's probability must exceed the higher of its two drugs' own rates by this much to be an
# interaction signal (chosen on the reference list: docs in model/MODEL_CARD.md)
MIN_EXCESS = 0.25


def compute(predictor: Predictor, report_every: int = 50) -> np.ndarray:
    """(drugs, side effects): each training drug's mean probability over its partners."""
    drugs = [d["stitch_id"] for d in predictor.artifact.drugs]
    rates = np.zeros((len(drugs), len(predictor.side_effects)), dtype=np.float64)
    started = time.monotonic()
    for i, drug in enumerate(drugs):
        partners = [(drug, other) for other in drugs if other != drug]
        rates[i] = np.quantile(predictor.predict(partners), QUANTILE, axis=0)
        if (i + 1) % report_every == 0 or i + 1 == len(drugs):
            elapsed = time.monotonic() - started
            print(f"  {i + 1}/{len(drugs)} drugs, {elapsed:.0f} s", flush=True)
    return rates.astype(np.float32)


def save(directory: Path, rates: np.ndarray, version: str) -> None:
    np.savez_compressed(
        directory / DRUG_ALONE, rates=rates.astype(np.float16), model_version=np.array(version)
    )


def load(directory: Path, version: str) -> np.ndarray | None:
    """The rates for model `version`, or None (no file, or one of another model)."""
    path = directory / DRUG_ALONE
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as archive:
        if str(archive["model_version"]) != version:
            log.warning(
                "%s is for model %s, not %s: side-effect signals are not shown until "
                "`ddi-cds build-drug-alone` is run",
                path,
                archive["model_version"],
                version,
            )
            return None
        return archive["rates"].astype(np.float32)
