"""The model's evidence in the cards: served by the real app on the committed artifact."""

from __future__ import annotations

import pytest

from cds_service.adapters.model_predictions import ModelDrugMatcher, NotScored, load_predictor
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.medication import Ingredient
from cds_service.core.prediction_cards import MODEL_LABEL
from cds_service.core.predictions import (
    ModelDrug,
    PairPrediction,
    PredictedEffect,
    PredictionPolicy,
)
from cds_service.protocol.services import service_by_id
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import (
    ADALIMUMAB,
    AMOXICILLIN,
    ASPIRIN,
    IBUPROFEN,
    METFORMIN,
    WARFARIN,
)

ERYTHROMYCIN = "4053"
AZITHROMYCIN = "18631"


def sign(client, drafts: list[str], current: list[str]) -> list[dict]:
    response = client.post(
        "/cds-services/ddi-order-sign", json=order_sign_by_codes(drafts, current)
    )
    assert response.status_code == 200, response.json
    return response.json["cards"]


def test_a_curated_card_carries_one_model_line_when_it_agrees_in_kind(client):
    """Warfarin + aspirin: the curated harm is bleeding and the model's strongest serious signal
    that neither drug brings alone is a gastrointestinal bleed: one line says so; genes and
    training-drug matches stay on the explanation page."""
    (card,) = sign(client, [WARFARIN], [ASPIRIN])
    detail = card["detail"]
    (line,) = [x for x in detail.split("\n") if x.startswith("**Model signal:**")]
    assert line.startswith("**Model signal:** gastrointestinal bleed (")
    assert "same kind of harm" in line
    assert detail.index("**What to do:**") < detail.index(line) < detail.index("**Sources:**")
    for explanation_only in ("Genes driving", "training drug", "probability", "CID0"):
        assert explanation_only not in detail
    assert card["indicator"] == "critical"  # the curated grade's: the model never sets it


def test_a_side_effect_one_drug_brings_alone_is_no_model_signal(client):
    """Warfarin + ibuprofen: the model scores bleeding for the pair no higher than for warfarin
    with any partner (model.drug_alone), so it is not shown as an interaction signal; the
    curated warning is unchanged."""
    (card,) = sign(client, [WARFARIN], [IBUPROFEN])
    assert "Model signal" not in card["detail"]
    assert card["indicator"] == "warning"
    assert card["source"]["label"].startswith("DDI CDS reviewed rules")  # the US advice leads
    explained = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}&format=json").json
    bleeding = next(e for e in explained["seriousSideEffects"] if e["name"] == "Bleeding")
    assert bleeding["explainedBy"] == "warfarin and ibuprofen"


def test_a_model_signal_of_another_kind_stays_off_the_card(client):
    """Simvastatin + clarithromycin: rhabdomyolysis is the harm; the model's hypoxia and
    pneumonia (why both drugs are given to sick patients) are not shown on the card."""
    (card,) = sign(client, ["36567"], ["21212"])
    assert card["indicator"] == "critical"
    assert "Model signal" not in card["detail"]
    assert "hypoxia" not in card["detail"].lower()


@pytest.fixture
def own_cards_client(tmp_path):
    """A site that turned model-only cards on (off by default: DDI_CDS_PREDICTION_OWN_CARDS)."""
    settings = Settings(auth_disabled=True, data_dir=tmp_path, prediction_own_cards=True)
    return create_app(settings).test_client()


def test_a_drug_without_structure_is_said_in_the_audit_notes_not_on_a_card(app):
    outcome = app.extensions["ddi_cds"].engine.evaluate(
        service_by_id("ddi-order-sign"), order_sign_by_codes([ADALIMUMAB], [WARFARIN])
    )
    assert not any("prediction model" in c["summary"] for c in outcome.response["cards"])
    (note,) = [n for n in outcome.notes if n.startswith("not scored by the prediction model")]
    assert "adalimumab" in note and "no chemical structure" in note


def test_model_only_cards_are_off_by_default(client):
    assert sign(client, [AMOXICILLIN], [AZITHROMYCIN]) == []


def test_a_pair_only_the_model_flags_gets_its_own_labelled_info_card(own_cards_client):
    # Metformin + erythromycin: rhabdomyolysis 96%, above what either drug is reported with
    # alone; no source lists the pair. (Amoxicillin + azithromycin no longer makes a card:
    # its signals are what amoxicillin is reported with whatever its partner.)
    cards = sign(own_cards_client, [METFORMIN], [ERYTHROMYCIN])
    (card,) = cards
    assert card["source"]["label"].startswith(MODEL_LABEL)
    assert card["indicator"] == "info" and "model predicts" in card["summary"]
    assert card["detail"].startswith("**Predicted by model deside-")
    assert "not an established interaction" in card["detail"]
    assert "Genes" not in card["detail"] and "training drug" not in card["detail"]


def test_raising_the_card_bar_removes_model_only_cards_but_keeps_curated_context(tmp_path):
    strict = Settings(
        auth_disabled=True,
        data_dir=tmp_path,
        prediction_card_threshold=1.01,
        prediction_own_cards=True,
    )
    client = create_app(strict).test_client()
    assert sign(client, [METFORMIN], [ERYTHROMYCIN]) == []
    (card,) = sign(client, [WARFARIN], [ASPIRIN])
    assert "**Model signal:**" in card["detail"]


def test_with_the_model_switched_off_cards_are_curated_only(tmp_path):
    client = create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, model_enabled=False)
    ).test_client()
    (card,) = sign(client, [WARFARIN], [IBUPROFEN])
    assert "Model signal" not in card["detail"]
    assert card["links"][0]["label"].startswith("Full evidence and sources")
    assert sign(client, [AMOXICILLIN], [AZITHROMYCIN]) == []
    assert client.get("/readyz").json["model"]["loaded"] is False


@pytest.mark.parametrize(
    ("ingredient", "matched_by"),
    [
        (Ingredient("11289", "warfarin"), "name"),  # its TWOSIDES structure is another tautomer
        (Ingredient("6809", "metformin", inchikey="XZWYZXLIPXDOLR-UHFFFAOYSA-N"), "InChIKey"),
        (  # TWOSIDES draws it without its stereo centres
            Ingredient("36567", "simvastatin", inchikey="RYMZZMVNJRMUDD-HGQWONQESA-N"),
            "InChIKey connectivity",
        ),
        (
            Ingredient("1", "new drug", smiles="CC(C)Cc1ccc(cc1)C(C)C(=O)NO"),
            "structure only (not one of the trained drugs)",
        ),
    ],
)
def test_ingredients_are_matched_to_the_models_drugs(ingredient, matched_by):
    found = ModelDrugMatcher(load_predictor()).match(ingredient)
    assert not isinstance(found, NotScored) and found[1].matched_by == matched_by


def test_an_ingredient_without_structure_or_match_is_not_scored():
    found = ModelDrugMatcher(load_predictor()).match(Ingredient("327361", "adalimumab"))
    assert isinstance(found, NotScored) and "no chemical structure" in found.reason


def effect(name: str, tier: str, probability: float) -> PredictedEffect:
    return PredictedEffect(name, tier, probability)


def test_the_policy_names_card_worthy_then_serious_tiers_then_likelier_effects():
    policy = PredictionPolicy(card_threshold=0.9, context_threshold=0.5, max_effects=3)
    effects = [
        effect("cellulitis", "serious", 0.95),
        effect("bleeding", "life-threatening", 0.55),
        effect("arrest", "life-threatening", 0.92),
        effect("rash", "other", 0.99),
        effect("cough", "serious", 0.4),
    ]
    assert [e.name for e in policy.select(effects)] == ["arrest", "bleeding", "cellulitis"]


def test_only_a_card_worthy_effect_earns_a_model_only_card():
    policy = PredictionPolicy(
        card_threshold=0.9, card_tiers=frozenset({"life-threatening"}), own_cards=True
    )
    someone = ModelDrug("CID1", "x", "name")

    def prediction(*effects: PredictedEffect) -> PairPrediction:
        return PairPrediction("v", effects, someone, someone)

    assert policy.warrants_card(prediction(effect("arrest", "life-threatening", 0.91)))
    assert not policy.warrants_card(prediction(effect("arrest", "life-threatening", 0.89)))
    assert not policy.warrants_card(prediction(effect("cellulitis", "serious", 0.99)))
    off = PredictionPolicy(card_threshold=0.9, card_tiers=frozenset({"life-threatening"}))
    assert not off.warrants_card(prediction(effect("arrest", "life-threatening", 0.99)))


def test_model_only_cards_beyond_the_limit_share_one_summary_card(own_cards_client):
    current = ["6809", "29046", "17767", "83367", "6918", "4603", "10582", "5487", "25480"]
    current += [AMOXICILLIN, ERYTHROMYCIN]  # more model-only pairs than the 3 cards shown
    cards = sign(own_cards_client, ["21212", "10689"], current)  # clarithromycin, tramadol
    own = [c for c in cards if "model predicts" in c["summary"]]
    (more,) = [c for c in cards if c["summary"].startswith("The prediction model flags")]
    assert len(own) == 3
    count = int(more["summary"].split("flags ")[1].split(" ")[0])
    assert count >= 1 and more["detail"].count("\n- ") == count
    assert more["indicator"] == "info" and more["source"]["label"].startswith(MODEL_LABEL)
    shown = {c["summary"].split(":")[0].lower() for c in own}
    assert not any(line.split(":")[0].lstrip("- ") in shown for line in more["detail"].split("\n"))


def test_a_card_has_one_link_its_explanation(client):
    (card,) = sign(client, [WARFARIN], [ASPIRIN])
    (link,) = card["links"]
    assert link["type"] == "absolute" and link["label"].startswith("Full evidence and sources")
    assert link["url"].startswith("http://localhost/explain?")
    explained = client.get(link["url"].removeprefix("http://localhost"))
    assert explained.status_code == 200
    body = explained.json
    assert body["modelVersion"] == load_predictor().version
    assert [d["rxcui"] for d in body["drugs"]] == [WARFARIN, ASPIRIN]
    assert body["sideEffect"]["name"] == "gastrointestinal bleed"  # the card names it first
    assert len(body["genes"]) == 10 and all(g["symbol"] for g in body["genes"])
    assert body["accuracy"]["random/test"]["auroc"] > 0.85
    assert "not an established interaction" in body["caution"]


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("a=11289", 400, "parameter 'b' must be an RxNorm ingredient code"),
        ("a=x&b=5640", 400, "parameter 'a' must be an RxNorm ingredient code"),
        ("a=11289&b=999999999", 404, "not an ingredient the service knows"),
        ("a=1547545&b=327361", 404, "pembrolizumab is not scored by the model"),
        ("a=11289&b=5640&effect=nope", 404, "no side effect 'nope'"),
    ],
)
def test_explanation_requests_it_cannot_answer_say_why(client, query, status, says):
    response = client.get(f"/explain?{query}")
    assert response.status_code == status
    assert says in response.json["issue"][0]["diagnostics"]


def test_an_unreadable_structure_is_not_scored_and_says_why(app):
    predictions = app.extensions["ddi_cds"].engine.predictions
    broken = Ingredient("1", "broken", smiles="C1CC(")
    warfarin = Ingredient("11289", "warfarin")
    batch = predictions.predict_pairs([(broken, warfarin)])
    assert batch.pairs == {}
    ingredient, reason = batch.not_scored["1"]
    assert ingredient == broken and "structure cannot be read" in reason


def test_genes_are_worked_out_only_for_pairs_a_card_will_show(app):
    predictions = app.extensions["ddi_cds"].engine.predictions
    warfarin = app.extensions["ddi_cds"].index.ingredient(WARFARIN)
    ibuprofen = app.extensions["ddi_cds"].index.ingredient(IBUPROFEN)
    key = frozenset({WARFARIN, IBUPROFEN})

    beside_curated = predictions.predict_pairs([(warfarin, ibuprofen)], explain={key})
    alone = predictions.predict_pairs([(warfarin, ibuprofen)])

    shown = beside_curated.pairs[key]
    assert shown.explained and shown.driver_genes
    unshown = alone.pairs[key]
    assert unshown.effects == shown.effects
    if predictions.policy.warrants_card(unshown):  # a card of its own: explained all the same
        assert unshown.driver_genes
    else:
        assert not unshown.explained and not unshown.driver_genes
