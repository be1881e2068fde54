"""The clinical head's data, splits and network: labels read from the real knowledge index,
splits that hold drugs out entirely, negatives popularity cannot solve, and a network whose
answer for a drug depends on its features alone."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from cds_service.testing.rxcui import (
    ACETAMINOPHEN,
    AMOXICILLIN,
    CLARITHROMYCIN,
    IBUPROFEN,
    SIMVASTATIN,
    WARFARIN,
)
from model.clinical.artifact import PACKAGED as CLINICAL
from model.clinical.blend import VoteBlend, fit_logistic
from model.clinical.config import ClinicalConfig, LabelConfig, NetworkConfig
from model.clinical.inference import ClinicalPredictor
from model.clinical.labels import degree_matched_negatives, read_labels
from model.clinical.neighbours import NeighbourVotes
from model.clinical.network import ClinicalNetwork, grade_targets
from model.clinical.splits import make_split
from model.clinical.tasks import task_sets
from model.metrics import auroc, expected_calibration_error
from model.summary import rows, table

ROOT = Path(__file__).resolve().parent.parent
INTERACTIONS = ROOT / "cds_service" / "data" / "interactions.sqlite"


@pytest.fixture(scope="module")
def labelled():
    rxcuis = [WARFARIN, IBUPROFEN, SIMVASTATIN, CLARITHROMYCIN, AMOXICILLIN, ACETAMINOPHEN]
    rows = {rxcui: i for i, rxcui in enumerate(rxcuis)}
    return rows, read_labels(INTERACTIONS, rows, LabelConfig(negatives_per_positive=0.0))


def grade_of(labelled, a: str, b: str) -> int:
    rows, labels = labelled
    key = tuple(sorted((rows[a], rows[b])))
    for pair, grade in zip(labels.pairs.tolist(), labels.grade.tolist(), strict=True):
        if tuple(pair) == key:
            return grade
    return 0


def test_labels_come_from_the_curated_sources(labelled):
    assert grade_of(labelled, WARFARIN, IBUPROFEN) == 3
    assert grade_of(labelled, SIMVASTATIN, CLARITHROMYCIN) == 3
    assert grade_of(labelled, AMOXICILLIN, ACETAMINOPHEN) < 2  # DDInter: 'Unknown' at most
    _, labels = labelled
    assert all(source != "DDI-CDS-rules" for s in labels.sources for source in s.split("|"))


def random_pairs(drugs: int, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pairs = {tuple(sorted(p)) for p in rng.integers(0, drugs, size=(count * 2, 2)).tolist()}
    pairs = [p for p in pairs if p[0] != p[1]][:count]
    return np.array(sorted(pairs), dtype=np.int64)


@pytest.mark.parametrize("name", ["one-new", "two-new"])
def test_drug_splits_hold_drugs_out_entirely(name):
    pairs = random_pairs(200, 4000)
    split = make_split(name, pairs, 200, ClinicalConfig(), seed=3)
    test_drugs = set(split.test_drugs.tolist())
    train_drugs = set(split.pairs[split.train].ravel().tolist())
    validation_drugs = set(split.pairs[split.validation].ravel().tolist()) - train_drugs
    assert not train_drugs & test_drugs
    assert not validation_drugs & test_drugs
    for a, b in split.pairs[split.test].tolist():
        assert a in test_drugs  # oriented: the new drug first
        assert (b in test_drugs) == (name == "two-new")
        if name == "one-new":
            assert b in train_drugs or b not in validation_drugs


def test_degree_matched_negatives_keep_each_drugs_count_and_are_unlisted():
    positives = random_pairs(100, 600, seed=1)
    listed = frozenset(map(tuple, positives.tolist()))
    negatives = degree_matched_negatives(positives, listed, np.random.default_rng(0))
    assert len(negatives) >= 0.95 * len(positives)
    assert not any(tuple(sorted(p)) in listed for p in negatives.tolist())
    for column in (0, 1):  # each drug as often among negatives as among positives
        wanted = np.bincount(positives[:, column], minlength=100)
        got = np.bincount(negatives[:, column], minlength=100)
        assert np.abs(got - wanted).sum() <= 0.05 * len(positives)


def test_task_sets_pair_grades_as_the_tasks_say(labelled):
    _, labels = labelled
    sets = task_sets(labels, labels.pairs, np.arange(len(labels.pairs)), seed=0)
    grading = sets["grading"]
    assert grading.labels.any()


def test_grade_targets_mask_what_is_unknown():
    targets, mask = grade_targets(torch.tensor([3, 2, 1, 0, -1]))
    assert targets.tolist() == [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
        [1, 0, 0, 0],
    ]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]]


def test_the_network_is_order_free_and_has_no_drug_identity():
    torch.manual_seed(0)
    sizes = [16, 8, 4, 6]
    network = ClinicalNetwork(sizes, mechanisms=5, config=NetworkConfig(), votes=4).eval()
    votes = torch.rand(1, 4)
    drugs = [torch.rand(3, size) for size in sizes]
    has = torch.ones(3, 4)

    def rows(i: list[int]) -> tuple[list[torch.Tensor], torch.Tensor]:
        return [d[i] for d in drugs], has[i]

    ab, _ = network(*rows([0]), *rows([1]), votes)
    ba, _ = network(*rows([1]), *rows([0]), votes)
    assert torch.allclose(ab, ba)
    # a drug is its features: the same features under another row give the same answer
    same = [d.clone() for d in drugs]
    for block in same:
        block[2] = block[0]
    twin, _ = network([d[[2]] for d in same], has[[2]], *rows([1]), votes)
    assert torch.allclose(twin, ab)
    assert not any("embedding" in name.lower() for name, _ in network.named_modules())


def test_one_table_holds_both_heads_every_split_and_the_baselines():
    side_effect = {
        "random": {"partitions": {"test": {"macro": {"auroc": 0.888}}}},
        "unseen": {"partitions": {"test_one_unseen": {"macro": {"auroc": 0.651}},
                                  "test_both_unseen": {"macro": {"auroc": 0.5}}}},
    }  # fmt: skip
    baselines = {"unseen/test_both": {"count baseline": {"auroc": 0.61}}}
    clinical = {
        "two-new/0/network": {"major vs none": 0.85, "grading": 0.79},
        "two-new/1/network": {"major vs none": 0.87, "grading": 0.81},
        "two-new/0/tree": {"major vs none": 0.86, "grading": float("nan")},
    }
    summary = rows(side_effect, baselines, clinical)
    keyed = {(r["split"], r["head"], r["model"]): r for r in summary}
    assert keyed[("random", "side effects", "network")]["side effects (macro)"] == "0.888"
    assert keyed[("two-new", "side effects", "count baseline")]["side effects (macro)"] == "0.610"
    network = keyed[("two-new", "clinical", "network")]
    assert network["seeds"] == 2 and network["major vs none"] == "0.860 ± 0.010"
    assert keyed[("two-new", "clinical", "tree")]["grading"] == ""
    printed = table(summary)
    assert (
        printed.count("\n") == len(summary) + 1 and "| two-new | clinical | tree | 1 |" in printed
    )


def test_the_vote_blend_learns_what_the_votes_add_and_stays_calibrated():
    """Synthetic pairs whose truth depends on the network's logit and both votes: the fitted
    blend weighs all three, ranks better than the logit alone, and its probabilities match the
    observed rate."""
    rng = np.random.default_rng(0)
    logit, vote, partner = rng.normal(size=(3, 20_000))
    truth = rng.random(20_000) < 1 / (1 + np.exp(-(1.5 * logit + 1.0 * vote + 2.0 * partner - 0.5)))
    (slope, weight, partner_weight), intercept = fit_logistic(
        np.stack([logit, vote, partner], axis=1), truth
    )
    assert abs(slope - 1.5) < 0.1 and abs(weight - 1.0) < 0.1 and abs(partner_weight - 2.0) < 0.15
    assert abs(intercept + 0.5) < 0.1
    same_question = np.eye(4)  # each output's weight on its own question's votes only
    blend = VoteBlend(
        np.full(4, slope),
        same_question * weight,
        same_question * partner_weight,
        np.full(4, intercept),
    )
    p = blend(*(np.repeat(x[:, None], 4, axis=1) for x in (logit, vote, partner)))[:, 2]
    assert auroc(truth, p) > auroc(truth, logit) + 0.05
    assert expected_calibration_error(truth, p) < 0.02
    assert blend.as_json()[0].keys() == {"slope", "vote", "partner", "intercept"}
    again = VoteBlend.from_json(blend.as_json())
    assert np.allclose(again.vote, blend.vote) and np.allclose(again.partner, blend.partner)
    # a calibration written before the partner votes: one vote weight on its own question
    older = VoteBlend.from_json([{"slope": 1.0, "vote": 0.5, "intercept": 0.0}] * 4)
    assert np.allclose(older.vote, np.eye(4) * 0.5) and not older.partner.any()


def test_the_blend_reads_every_question_of_the_votes():
    """P(major) whose truth follows the partners' "listed" vote, not their "major" vote: the
    fitted blend finds it, as a blend of the same question only could not."""
    rng = np.random.default_rng(1)
    grade = rng.choice([0, 1, 2, 3], size=20_000)
    logits, votes, partner = rng.normal(size=(3, 20_000, 4)).astype(np.float32)
    partner[:, 0] = (grade == 3) + rng.normal(scale=0.5, size=20_000)
    blend = VoteBlend.fit(logits, votes, partner, grade)
    assert blend.partner[2, 0] > 1.0 and abs(blend.partner[2, 2]) < 0.2
    assert auroc(grade == 3, blend(logits, votes, partner)[:, 2]) > 0.9


def test_partner_votes_read_the_known_drugs_own_pairs_never_the_pairs_own_label():
    """Drugs 0 and 1 look alike, as do 2 and 3. Known: 1 + 2 major, 0 + 3 none, 1 + 3 major.
    Drug 4 is new (like 0 and 1). 4 + 2 leans on 2's own known partner 1 (major);
    0 + 3's partner votes never include its own "none"."""
    bits = np.array(
        [[1, 1, 0, 0, 0], [1, 1, 0, 0, 1], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0]],
        dtype=np.float32,
    )
    known = np.array([[1, 2], [0, 3], [1, 3]])
    votes = NeighbourVotes.fit(bits, known, np.array([3, 0, 3]))
    partner = votes.partner(np.array([[4, 2], [2, 4], [0, 3], [4, 4]]))
    assert partner[0, 2] > 0 and np.allclose(partner[0], partner[1])  # order-free
    major = 2
    assert partner[2, major] > 0  # 3 met 1 (like 0) as major; 0 + 3's own "none" not read
    assert not partner[3].any()  # two drugs with no known pairs: nothing to read
    similar = votes.similar_known(4, 2)
    assert (1, 2) in [(c, d) for c, d, _ in similar]  # the pair the partner vote leans on


def test_the_served_head_applies_its_vote_blend():
    predictor = ClinicalPredictor.load(CLINICAL)
    scores = predictor.scores([("36567", "21212"), ("21212", "36567")])  # both orders
    assert np.allclose(scores[0], scores[1], atol=1e-6)  # order-free, votes included
    assert 0.0 <= scores[0, 2] <= 1.0 and scores[0, 0] >= scores[0, 2]  # listed ≥ major


def test_a_pair_is_never_likelier_major_than_interacting():
    """The outputs are calibrated one by one; served, they nest (major ⊂ moderate+ ⊂ listed),
    e.g. hydroxychloroquine + lurasidone, unlisted, whose own P(listed) fit is lower."""
    predictor = ClinicalPredictor.load(CLINICAL)
    drugs = list(predictor.rows)[:300]
    pairs = [("5521", "1040028"), *itertools.pairwise(drugs)]
    scores = predictor.scores(pairs)
    assert (scores[:, 0] >= scores[:, 1]).all() and (scores[:, 1] >= scores[:, 2]).all()


@pytest.mark.slow
@pytest.mark.shared
def test_a_small_export_trains_a_head_the_service_can_load(shared_data, tmp_path):
    """The CI-sized run of the whole pipeline (`ddi-cds export-clinical --small`: drug table
    from ../shared, labels, training, vote blend, threshold, artifact): what it writes loads,
    verifies, and already tells a textbook major pair from an unlisted harmless one."""
    from model.clinical.export import export

    version = export(ClinicalConfig.small(), shared_data, tmp_path / "clinical")
    predictor = ClinicalPredictor.load(tmp_path / "clinical")
    assert predictor.version == version != ClinicalPredictor.load(CLINICAL).version
    meta = predictor.artifact.meta
    assert meta["validation"]["auroc major vs none"] > 0.8
    assert 0.0 < meta["card_threshold"]["probability_major"] <= 1.0
    assert len(meta["calibration"]["major or worse"]["partner"]) == 4
    assert meta["known_drugs_held_out"]["pairs"] > 1000  # the familiar drugs' blend's data
    major, harmless = predictor.probabilities_major(
        [(SIMVASTATIN, CLARITHROMYCIN), (AMOXICILLIN, ACETAMINOPHEN)]
    )
    assert major > 0.5 > harmless


def test_pairs_of_two_familiar_drugs_are_read_through_their_own_blend():
    """Two drugs with known pairs: the blend fitted on held-out pairs of training drugs; a drug
    no source lists beside a familiar one: the blend fitted on drug-disjoint validation."""
    predictor = ClinicalPredictor.load(CLINICAL)
    stranger = next(r for r, i in predictor.rows.items() if not predictor.votes.has_known[i])
    pairs = [(SIMVASTATIN, CLARITHROMYCIN), (stranger, CLARITHROMYCIN)]
    served = predictor.scores(pairs)
    predictor.known_drugs_blend = predictor.blend  # as if there were one blend only
    single = predictor.scores(pairs)
    assert not np.allclose(served[0, :4], single[0, :4])  # familiar pair: its own blend
    assert np.allclose(served[1], single[1])  # a stranger's pair: the drug-disjoint blend
