"""The DDI model: metrics, calibration, a tiny run that learns a planted signal, resume, and the
committed artifact's inference (shapes, determinism, new structures, warfarin + NSAID)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from model import drug_alone
from model.artifact import PACKAGED, ArtifactError, load_artifact
from model.calibration import PlattCalibration
from model.config import PairConfig, ProfileConfig, TrainConfig
from model.data import Benchmark, SideEffect, load_benchmark
from model.evaluate import evaluate_run, score_pairs
from model.features import StructureError
from model.inference import Predictor
from model.metrics import ap_at_k, aupr, aupr_negatives, auroc, expected_calibration_error
from model.prepare import prepare
from model.splits import TRAIN
from model.train import CHECKPOINT, train
from tests.conftest import SHARED_DATA

# Not among the 645 TWOSIDES drugs (approved after 2012): apixaban, from DrugBank (DB06605).
APIXABAN = "COC1=CC=C(C=C1)N1N=C(C(N)=O)C2=C1C(=O)N(CC2)C1=CC=C(C=C1)N1CCCCC1=O"
HAEMORRHAGE_WORDS = ("haemorrhage", "hemorrhage", "bleed", "melaena", "haematoma", "hematoma")


# --- metrics ---------------------------------------------------------------------------


def test_auroc_and_aupr_match_hand_computed_values():
    labels = np.array([1, 0, 1, 0, 0], bool)
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.1])
    # Positives outrank 5 of 6 positive/negative pairs.
    assert auroc(labels, scores) == pytest.approx(5 / 6)
    # Precision at the two positives: 1/1 and 2/3.
    assert aupr(labels, scores) == pytest.approx((1 + 2 / 3) / 2)
    assert aupr_negatives(labels, scores) == pytest.approx(aupr(~labels, -scores))
    assert ap_at_k(labels, scores, k=2) == pytest.approx(1 / 2)
    assert auroc(labels, np.zeros(5)) == pytest.approx(0.5)  # ties count one half
    assert np.isnan(auroc(np.zeros(3, bool), np.arange(3.0)))


def test_expected_calibration_error_is_zero_for_calibrated_and_large_for_overconfident():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = rng.random(20000) < p
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.where(p > 0.5, 0.99, 0.01)) > 0.15


def test_platt_calibration_is_monotonic_and_recovers_the_generating_map():
    rng = np.random.default_rng(1)
    # Offset and scaled like the model's logits (b_k minus two distances: large and negative).
    x = rng.normal(size=(5000, 3)) * 2 - 15
    truth = 1 / (1 + np.exp(-(1.5 * (x + 15) - 2)))
    y = rng.random(x.shape) < truth
    fit = PlattCalibration.fit([x[:, k] for k in range(3)], [y[:, k] for k in range(3)])
    assert np.allclose(fit.slope, 1.5, atol=0.2) and np.allclose(fit.intercept, 20.5, atol=3)
    assert expected_calibration_error(y[:, 0], fit(x)[:, 0]) < 0.03
    grid = np.linspace(-25, -5, 200)[:, None].repeat(3, axis=1)
    assert (np.diff(fit(grid), axis=0) >= 0).all()
    # No positives: still finite, monotonic, and near zero.
    flat = PlattCalibration.fit([x[:, 0]], [np.zeros(5000, bool)])
    assert (
        np.isfinite(flat.slope).all() and flat.slope[0] > 0 and flat(np.zeros((1, 1)))[0, 0] < 0.01
    )


# --- a tiny run on a planted signal ----------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """60 real drugs; side effect 0 is reported exactly when both drugs are in one group."""
    full = load_benchmark(SHARED_DATA)
    keep = np.arange(60)
    group = np.zeros(60, bool)
    group[::3] = True
    a, b = np.triu_indices(60, k=1)
    rng = np.random.default_rng(7)
    labels = np.stack(
        [group[a] & group[b], rng.random(len(a)) < 0.3, rng.random(len(a)) < 0.3], axis=1
    )
    reported = labels.any(axis=1)
    benchmark = Benchmark(
        drugs=[full.drugs[i] for i in keep],
        side_effects=[SideEffect(f"C000000{k}", f"planted {k}") for k in range(3)],
        pairs=np.stack([a, b], axis=1)[reported],
        labels=labels[reported],
        landmark_entrez=full.landmark_entrez,
        drug_targets=[full.drug_targets[i] for i in keep],
        ppi_indptr=full.ppi_indptr,
        ppi_indices=full.ppi_indices,
        landmark_nodes=full.landmark_nodes,
    )
    config = TrainConfig(
        epochs=8,
        batch_pairs=32,
        lr=1e-2,
        min_test_positives=3,
        profile=ProfileConfig(
            pretrain_epochs=20, fingerprint_hidden=(64, 32), descriptor_hidden=16
        ),
        pair=PairConfig(hidden=32, embedding=16, interaction_hidden=32),
    )
    run_dir = tmp_path_factory.mktemp("planted")
    train(config, SHARED_DATA, run_dir, benchmark=benchmark)
    return config, benchmark, run_dir


@pytest.mark.slow
@pytest.mark.shared
def test_a_tiny_run_learns_the_planted_side_effect(planted):
    config, benchmark, run_dir = planted
    results = evaluate_run(run_dir, SHARED_DATA, prepare(config, SHARED_DATA, benchmark))
    rows = results["partitions"]["test"]["per_side_effect"]
    assert rows[0]["auroc"] > 0.9, rows[0]
    # The noise side effects carry no signal: near chance.
    assert all(abs(r["auroc"] - 0.5) < 0.2 for r in rows[1:]), rows[1:]


@pytest.mark.slow
@pytest.mark.shared
def test_training_is_deterministic_and_resumes_from_its_checkpoint(planted, tmp_path):
    config, benchmark, _ = planted
    short = dataclasses.replace(config, epochs=2)
    train(short, SHARED_DATA, tmp_path / "a", benchmark=benchmark)
    train(short, SHARED_DATA, tmp_path / "b", benchmark=benchmark)
    first, second = load_artifact(tmp_path / "a"), load_artifact(tmp_path / "b")
    assert first.version == second.version
    saved = torch.load(tmp_path / "a" / CHECKPOINT, weights_only=True)
    assert saved["epoch"] == 2
    # A resumed run with another config is refused rather than silently mixed.
    with pytest.raises(SystemExit):
        train(
            dataclasses.replace(short, lr=1e-3),
            SHARED_DATA,
            tmp_path / "a",
            resume=True,
            benchmark=benchmark,
        )
    # Resuming a finished run trains no more epochs and rebuilds the same artifact.
    train(short, SHARED_DATA, tmp_path / "a", resume=True, benchmark=benchmark)
    assert load_artifact(tmp_path / "a").version == first.version


@pytest.mark.slow
@pytest.mark.shared
def test_report_records_never_carry_a_held_out_label(planted):
    config, benchmark, _ = planted
    random_split = prepare(config, SHARED_DATA, benchmark)
    a, b, k = random_split.split.held_out_cells()
    assert len(k) and not random_split.records[random_split.split.report_row[a, b], k].any()
    # Every other cell of a training pair is its label.
    kept = benchmark.labels.copy()
    kept[random_split.split.report_row[a, b], k] = False
    assert (random_split.records == kept).all()

    whole_pairs = prepare(dataclasses.replace(config, split="pairs"), SHARED_DATA, benchmark)
    pairs = torch.from_numpy(benchmark.pairs)
    records, recorded = whole_pairs.pair_records(pairs)
    partition = whole_pairs.split.partition[benchmark.pairs[:, 0], benchmark.pairs[:, 1]]
    assert (recorded.numpy() == (partition == TRAIN)).all() and (partition != TRAIN).any()
    assert not records[~recorded].any()


@pytest.mark.slow
@pytest.mark.shared
def test_the_served_model_scores_pairs_as_evaluation_did(planted):
    """The artifact keeps codes, not records: serving must give the evaluated logits."""
    config, benchmark, run_dir = planted
    prepared = prepare(config, SHARED_DATA, benchmark)
    served = Predictor(run_dir)
    drugs = [d.stitch_id for d in benchmark.drugs]
    pairs = np.array([[0, 3], [1, 2], [4, 30], [5, 6], [7, 59]])
    recorded = prepared.pair_records(torch.from_numpy(pairs))[1]
    assert recorded.all()  # random split: every pair of training drugs has a record
    evaluated = score_pairs(served.model, prepared, pairs)
    logits = served.logits([(drugs[i], drugs[j]) for i, j in pairs])
    # the artifact stores the record codes in float16 (3 significant digits): the logits agree
    # to that, where a wrong code or a missing record would move them by whole units
    assert np.allclose(logits, evaluated, rtol=1e-3, atol=1e-3), np.abs(logits - evaluated).max()
    why = served.explain((drugs[0], drugs[3]), 0)
    assert why.record_logit is not None
    assert served.explain((drugs[0], APIXABAN), 0).record_logit is None


# --- the committed artifact --------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor():
    return Predictor()


def _drug(predictor, name):
    return next(d["stitch_id"] for d in predictor.artifact.drugs if d["name"] == name)


def test_committed_artifact_is_versioned_and_complete(predictor):
    artifact = predictor.artifact
    assert artifact.version.startswith("deside-")
    assert len(artifact.side_effects) == 963 and len(artifact.genes) == 978
    assert len(artifact.drugs) == 645
    assert all(g["symbol"] for g in artifact.genes)
    assert {s["tier"] for s in artifact.side_effects} == {"life-threatening", "serious", "other"}
    # Both heads (the clinical head's folder included) within issue 21's 25 MB
    size = sum(p.stat().st_size for p in PACKAGED.rglob("*") if p.is_file())
    assert size <= 25_000_000
    assert {"random", "unseen"} <= set(artifact.metrics)
    # The committed metrics keep the service's macro figures, not the per-side-effect rows
    assert "per_side_effect" not in json.dumps(artifact.metrics)
    assert artifact.metrics["random"]["partitions"]["test"]["macro"]["auroc"] > 0.85


def test_the_artifact_is_stored_in_float16_and_saving_it_again_keeps_its_version(tmp_path):
    with np.load(PACKAGED / "weights.npz") as stored:
        assert stored["records.code"].dtype == np.float16
        assert stored["pair_net.shared.0.weight"].dtype == np.float16
        assert stored["calibration.slope"].dtype == np.float32
        assert stored["records.index"].dtype == np.int32
    artifact = load_artifact(PACKAGED)
    assert artifact.tensors["records.code"].dtype == np.float32  # computed in float32
    assert artifact.save(tmp_path) == artifact.version
    assert load_artifact(tmp_path).version == artifact.version


def test_an_altered_artifact_is_refused(tmp_path):
    for item in PACKAGED.iterdir():
        if item.is_file():  # the clinical head's artifact is a folder of its own
            (tmp_path / item.name).write_bytes(item.read_bytes())
    meta = (tmp_path / "model.json").read_text()
    (tmp_path / "model.json").write_text(meta.replace('"warfarin"', '"warfarin!"', 1))
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path)


def test_predict_shapes_and_determinism(predictor):
    drugs = [d["stitch_id"] for d in predictor.artifact.drugs[:20]]
    pairs = [(a, b) for i, a in enumerate(drugs) for b in drugs[i + 1 :]]
    first = predictor.predict(pairs)
    assert first.shape == (190, 963)
    assert np.isfinite(first).all() and (first >= 0).all() and (first <= 1).all()
    assert np.array_equal(first, predictor.predict(pairs))
    # One pair alone scores as it does in a batch, and the order of the drugs does not matter.
    alone = predictor.predict([pairs[7]])[0]
    assert np.allclose(alone, first[7], atol=1e-6)
    assert np.allclose(predictor.predict([pairs[7][::-1]])[0], alone, atol=1e-6)
    assert predictor.predict([]).shape == (0, 963)


def test_a_smiles_of_a_known_drug_is_that_drug(predictor):
    warfarin = _drug(predictor, "warfarin")
    smiles = next(d["smiles"] for d in predictor.artifact.drugs if d["name"] == "ibuprofen")
    by_id = predictor.predict([(warfarin, _drug(predictor, "ibuprofen"))])
    assert np.allclose(predictor.predict([(warfarin, smiles)]), by_id, atol=1e-6)


def test_a_drug_outside_the_645_gets_a_prediction_from_its_structure(predictor):
    assert not predictor.knows(APIXABAN)
    state = predictor.drug_state(APIXABAN)
    assert not state.known
    probabilities = predictor.predict([(_drug(predictor, "aspirin"), APIXABAN)])
    assert probabilities.shape == (1, 963) and np.isfinite(probabilities).all()
    with pytest.raises(StructureError):
        predictor.predict([(_drug(predictor, "aspirin"), "not a molecule")])
    with pytest.raises(StructureError):
        predictor.predict([("CID999999999", APIXABAN)])


@pytest.mark.slow
@pytest.mark.parametrize("nsaid", ["ibuprofen", "naproxen", "diclofenac"])
def test_warfarin_with_an_nsaid_ranks_haemorrhage_high(predictor, nsaid):
    names = predictor.side_effects
    bleeding = [k for k, n in enumerate(names) if any(w in n.lower() for w in HAEMORRHAGE_WORDS)]
    assert bleeding
    pair = (_drug(predictor, "warfarin"), _drug(predictor, nsaid))
    logits = predictor.logits([pair])[0]
    # Ranked against the same side effect across all pairs of warfarin with other drugs.
    others = [
        (pair[0], d["stitch_id"]) for d in predictor.artifact.drugs if d["stitch_id"] != pair[0]
    ]
    background = predictor.logits(others)
    percentile = (background[:, bleeding] < logits[bleeding]).mean(axis=0)
    ranks = dict(zip([names[k] for k in bleeding], percentile, strict=True))
    assert np.median(percentile) > 0.7, ranks


def test_explain_names_genes_and_the_top_side_effects(predictor):
    pair = (_drug(predictor, "warfarin"), _drug(predictor, "ibuprofen"))
    k = next(
        k
        for k, n in enumerate(predictor.side_effects)
        if any(w in n.lower() for w in HAEMORRHAGE_WORDS)
    )
    why = predictor.explain(pair, k, genes=8, effects=5)
    assert why.side_effect == predictor.side_effects[k]
    assert len(why.genes) == 8 and all(g.symbol and g.entrez > 0 for g in why.genes)
    magnitudes = [abs(g.contribution) for g in why.genes]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert all(0 <= g.gate_a <= 1 and 0 <= g.gate_b <= 1 for g in why.genes)
    assert len(why.top_side_effects) == 5
    probabilities = [p for _, _, p in why.top_side_effects]
    assert probabilities == sorted(probabilities, reverse=True)
    assert why.probability == pytest.approx(predictor.predict([pair])[0, k], abs=1e-6)


def test_the_drug_alone_rates_are_built_for_the_committed_model(predictor):
    """A retrained or re-stored model needs `ddi-cds build-drug-alone` again; without it no
    side-effect signal could be told from what one drug brings alone."""
    assert drug_alone.load(PACKAGED, predictor.version) is not None
    metformin = predictor.alone_rates("CID000004091")
    assert metformin is not None and metformin.shape == (963,)
    assert predictor.alone_rates("CC(C)Cc1ccc(cc1)C(C)C(=O)NO") is None  # never trained on


def test_drug_alone_rates_of_another_model_are_refused(tmp_path, caplog):
    drug_alone.save(tmp_path, np.zeros((2, 3), np.float32), "deside-000000000000")
    assert drug_alone.load(tmp_path, "deside-000000000001") is None
    assert "build-drug-alone" in caplog.text
    assert drug_alone.load(tmp_path, "deside-000000000000").shape == (2, 3)
