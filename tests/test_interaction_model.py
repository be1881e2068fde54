"""The clinical head as the service serves it: real inference on the committed artifact through
`GET /explain?format=json`, for known drugs, for drugs the side-effect model cannot read, and
for drugs neither model can describe."""

from __future__ import annotations

import pytest
import redis

from cds_service.adapters.interaction_model import InteractionModel
from cds_service.adapters.prediction_cache import PredictionCache, cache_key
from cds_service.core.medication import Ingredient
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import (
    ACETAMINOPHEN,
    ADALIMUMAB,
    AMOXICILLIN,
    CLARITHROMYCIN,
    IBUPROFEN,
    METHOTREXATE,
    SIMVASTATIN,
    WARFARIN,
)
from model.clinical.artifact import PACKAGED, load

PHENELZINE = "8123"
PEMBROLIZUMAB = "1547545"

pytestmark = pytest.mark.skipif(
    not (PACKAGED / "clinical.json").exists(), reason="the clinical artifact is not built"
)


def predicted(client, a: str, b: str) -> dict:
    answer = client.get(f"/explain?a={a}&b={b}&format=json")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_major_pair_is_predicted_major_with_the_known_pairs_it_leans_on(client):
    body = predicted(client, WARFARIN, IBUPROFEN)
    prediction = body["predicted_interaction"]
    assert prediction["grade"] == "major"
    threshold = load().meta["card_threshold"]["probability_major"]
    assert prediction["probability_major"] >= threshold
    assert prediction["similar_known"], "a prediction names what it leans on"
    assert all(s["source"] for s in prediction["similar_known"])
    assert "anticoagulant" in prediction["mechanism"] or "bleeding" in prediction["mechanism"]
    assert body["modelVersion"]  # the side-effect explanation is still there


def test_a_harmless_pair_is_not_predicted_major(client):
    prediction = predicted(client, AMOXICILLIN, ACETAMINOPHEN)["predicted_interaction"]
    threshold = load().meta["card_threshold"]["probability_major"]
    assert prediction["probability_major"] < threshold


def test_a_drug_without_structure_is_described_by_its_proteins(client):
    body = predicted(client, ADALIMUMAB, METHOTREXATE)
    assert body["predicted_interaction"]["probability"] > 0
    assert "sideEffectsUnavailable" in body  # the side-effect model needs a structure


def test_a_pair_neither_model_can_describe_is_404_with_both_reasons(client):
    answer = client.get(f"/explain?a={PEMBROLIZUMAB}&b={ADALIMUMAB}&format=json")
    assert answer.status_code == 404
    text = str(answer.get_json())
    assert "pembrolizumab" in text and "interaction model" in text


def test_the_artifact_is_versioned_by_its_content(tmp_path):
    artifact = load()
    assert artifact.version.startswith("clinical-")
    for name in ("drugs.npz", "weights.npz", "known.npz", "clinical.json"):
        (tmp_path / name).write_bytes((PACKAGED / name).read_bytes())
    with (tmp_path / "known.npz").open("ab") as altered:
        altered.write(b"\0")
    from model.clinical.artifact import ClinicalArtifactError

    with pytest.raises(ClinicalArtifactError):
        load(tmp_path)


def test_the_explanation_page_shows_the_prediction_apart_from_curated_evidence(client):
    page = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Predicted interaction (not from curated sources)" in text
    assert "Similar known major pairs it leans on" in text


# No curated source or rule lists this pair; the model leans on hydroxychloroquine's known
# QT pairs with other antipsychotics (ziprasidone, quetiapine: `bench/unlisted_pairs.py --model`)
HYDROXYCHLOROQUINE, LURASIDONE = "5521", "1040028"


def model_cards(client, drafts: list[str], current: list[str]) -> list[dict]:
    answer = client.post("/cds-services/ddi-order-sign", json=order_sign_by_codes(drafts, current))
    assert answer.status_code == 200
    return [c for c in answer.get_json()["cards"] if "not in curated sources" in c["summary"]]


def test_a_pair_no_source_lists_gets_a_predicted_card_when_the_model_says_major(client):
    (card,) = model_cards(client, [HYDROXYCHLOROQUINE], [LURASIDONE])
    assert card["summary"].startswith(
        "Hydroxychloroquine + lurasidone: predicted major interaction"
    )
    assert card["indicator"] == "info"
    assert card["source"]["label"].startswith("DDI CDS interaction model")
    assert "clinical-" in card["source"]["label"]  # the model version
    for part in ("**Predicted, not in curated sources:**", "**Likely mechanism:**",
                 "**Similar known pairs:**", "**Identified:**"):  # fmt: skip
        assert part in card["detail"]
    assert any("explain?" in link["url"] for link in card.get("links", []))


def test_listed_pairs_never_get_a_predicted_card(client):
    assert model_cards(client, [WARFARIN], [IBUPROFEN]) == []  # curated: its own card
    assert model_cards(client, [AMOXICILLIN], [ACETAMINOPHEN]) == []  # listed, harmless


def test_a_site_can_make_the_predicted_card_a_warning_or_turn_it_off(tmp_path):
    from cds_service.app import create_app
    from cds_service.config import Settings

    def client_with(**settings):
        base = Settings(auth_disabled=True, data_dir=tmp_path, redis_url="")
        from dataclasses import replace

        return create_app(replace(base, **settings)).test_client()

    (card,) = model_cards(client_with(interaction_model_warning=True), [HYDROXYCHLOROQUINE],
                          [LURASIDONE])  # fmt: skip
    assert card["indicator"] == "warning"
    assert model_cards(client_with(interaction_model_cards=False), [HYDROXYCHLOROQUINE],
                       [LURASIDONE]) == []  # fmt: skip


def test_the_side_effect_model_is_not_shown_as_evidence_for_a_drug_it_never_saw(client):
    apixaban = "1364430"  # approved 2012: not among the 645 TWOSIDES drugs
    page = client.get(f"/explain?a={apixaban}&b={IBUPROFEN}", headers={"Accept": "text/html"})
    text = page.get_data(as_text=True)
    assert "Not evidence for apixaban:" in text
    known = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}", headers={"Accept": "text/html"})
    assert "Not evidence for" not in known.get_data(as_text=True)


REDIS_URL = "redis://127.0.0.1:6379/0"
CACHE_KEY = bytes(range(32))  # not the apps' key: what these tests write is removed after them
SIMVASTATIN_CLARITHROMYCIN = (SIMVASTATIN, CLARITHROMYCIN)


@pytest.fixture
def clean_redis():
    """The pair's entry removed before and after: the shared Redis keeps no value under a MAC
    key other tests' apps would reject."""
    client = redis.Redis.from_url(REDIS_URL)
    key = cache_key(load(PACKAGED).version, *SIMVASTATIN_CLARITHROMYCIN)
    client.delete(key)
    yield key
    client.delete(key)


def _ingredient(rxcui: str, name: str) -> Ingredient:
    return Ingredient(rxcui=rxcui, name=name)


def test_scores_are_cached_in_redis_under_the_model_version_and_read_back_by_another_worker(
    clean_redis,
):
    simvastatin, clarithromycin = (
        _ingredient("36567", "simvastatin"),
        _ingredient("21212", "clarithromycin"),
    )
    key = clean_redis
    assert key.startswith("ddi-cds:pair:clinical-")  # the version is in the key

    first_cache = PredictionCache(REDIS_URL, key=CACHE_KEY)
    first = InteractionModel.load(cache=first_cache).predicted_interaction(
        simvastatin, clarithromycin
    )
    assert first_cache.state().misses == 1 and redis.Redis.from_url(REDIS_URL).exists(key)

    # Another worker: nothing in its own memory, the score comes from Redis
    second_cache = PredictionCache(REDIS_URL, key=CACHE_KEY)
    second = InteractionModel.load(cache=second_cache).predicted_interaction(
        clarithromycin, simvastatin
    )
    assert second_cache.state().hits_redis == 1 and second_cache.state().misses == 0
    assert second.probability_major == first.probability_major > 0.5
    assert second.mechanism == first.mechanism
    # the same known pairs, each named in the order the question named its drugs
    assert [{k.a, k.b} for k in second.similar_known] == [{k.a, k.b} for k in first.similar_known]


def test_with_redis_down_the_scores_are_computed_and_the_card_is_the_same(clean_redis):
    pairs = [(_ingredient("36567", "simvastatin"), _ingredient("21212", "clarithromycin"))]
    down = PredictionCache("redis://127.0.0.1:1/0", key=CACHE_KEY)
    up = PredictionCache(REDIS_URL, key=CACHE_KEY)
    without = InteractionModel.load(cache=down).card_worthy(pairs)
    with_redis = InteractionModel.load(cache=up).card_worthy(pairs)
    assert down.state().redis == "down"
    assert without.keys() == with_redis.keys() == {0}
    assert without[0].probability_major == with_redis[0].probability_major
