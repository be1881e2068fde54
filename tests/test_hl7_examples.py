"""Every hook request HL7 published (PDDI CDS guide, hooks library) gets a 200 with its cards."""

import json
from datetime import date

import pytest

from cds_service.core.prediction_cards import MODEL_LABEL
from cds_service.protocol.services import SERVICES
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.shared

SERVICE_FOR_HOOK = {s.hook: s.id for s in SERVICES}
WARFARIN_NSAID = ("warfarin", "ketorolac")
DIGOXIN_CYCLOSPORINE = ("digoxin", "cyclosporine")

# file -> the interacting ingredient pairs (unordered) and their indicators, as the guide intends
EXPECTED = {
    "digoxin-cyclosporine-order-select-coordination.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "digoxin-cyclosporine-order-select-no-coordination.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "digoxin-cyclosporine-order-sign-coordination.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "digoxin-cyclosporine-order-sign-no-coordination.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "multi-update-draft-orders-1.json": {WARFARIN_NSAID: "warning"},
    "multi-update-draft-orders-2.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "multi-update-draft-orders-3.json": {WARFARIN_NSAID: "warning"},
    # NSAIDs add to cyclosporine's nephrotoxicity (DrugBank; ANSM "à prendre en compte")
    "multi-update-draft-orders-4.json": {
        DIGOXIN_CYCLOSPORINE: "info",
        ("ketorolac", "cyclosporine"): "info",
    },
    # ANSM: cyclosporine + furosemide, precaution (creatinine rises without lower clearance)
    "request-digoxin-cyclosporine-scenario-01.json": {
        DIGOXIN_CYCLOSPORINE: "info",
        ("cyclosporine", "furosemide"): "info",
    },
    "request-digoxin-cyclosporine-scenario-02.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "request-digoxin-cyclosporine-scenario-03.json": {DIGOXIN_CYCLOSPORINE: "info"},
    "request-digoxin-cyclosporine-scenario-04.json": {DIGOXIN_CYCLOSPORINE: "info"},
    # Oral anticoagulant + NSAID: ANSM "association déconseillée", HL7 PDDI and the rules: major
    # (warning); NSAID + systemic corticosteroid: GI bleeding, moderate (info)
    # diclofenac there is a topical gel: graded major all the same, shown without interrupting
    "request-warfarin-nsaid-scenario-01.json": {("warfarin", "diclofenac"): "info"},
    "request-warfarin-nsaid-scenario-02.json": {("warfarin", "ibuprofen"): "warning"},
    "request-warfarin-nsaid-scenario-03.json": {
        ("warfarin", "ibuprofen"): "warning",
        ("ibuprofen", "dexamethasone"): "info",
    },
    "request-warfarin-nsaid-scenario-04.json": {("warfarin", "ibuprofen"): "warning"},
    "request-warfarin-nsaid-scenario-05.json": {
        ("warfarin", "ibuprofen"): "warning",
        ("spironolactone", "ibuprofen"): "info",
    },
    "warfarin-nsaids-order-select-coordination.json": {WARFARIN_NSAID: "warning"},
    "warfarin-nsaids-order-select-no-coordination.json": {WARFARIN_NSAID: "warning"},
    "warfarin-nsaids-order-sign-coordination.json": {WARFARIN_NSAID: "warning"},
    "warfarin-nsaids-order-sign-no-coordination.json": {WARFARIN_NSAID: "warning"},
}
PDDI_FILES = sorted(p.name for p in (EXAMPLES / "pddi-cds").glob("*.json"))
LIBRARY_FILES = sorted(p.name for p in (EXAMPLES / "hooks-library").glob("*.json"))


def is_model_card(card: dict) -> bool:
    return card["source"]["label"].startswith(MODEL_LABEL)


def pair_of(card: dict) -> frozenset:
    """The ingredient pair a card is about: its summary reads "A + B: harm — action"."""
    return frozenset(card["summary"].split(": ", 1)[0].lower().split(" + "))


def is_interaction_card(card: dict) -> bool:
    return " + " in card["summary"].split(": ", 1)[0] and not is_model_card(card)


def test_every_pddi_example_has_an_expectation():
    assert set(PDDI_FILES) == set(EXPECTED)
    assert len(PDDI_FILES) == 21


@pytest.mark.parametrize("name", PDDI_FILES)
def test_pddi_example_gives_its_interaction_cards(client, schema_validator, name):
    body = json.loads((EXAMPLES / "pddi-cds" / name).read_text())
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.json
    schema_validator("response", response.json)
    cards = response.json["cards"]
    found = {pair_of(c): c["indicator"] for c in cards if is_interaction_card(c)}
    assert found == {frozenset(pair): indicator for pair, indicator in EXPECTED[name].items()}
    assert all(c["uuid"] and len(c["summary"]) < 140 for c in cards)


def test_topical_diclofenac_card_notes_the_route(client):
    body = json.loads(
        (EXAMPLES / "pddi-cds" / "request-warfarin-nsaid-scenario-01.json").read_text()
    )
    (card,) = client.post("/cds-services/ddi-medication-prescribe", json=body).json["cards"]
    assert "Diclofenac + warfarin" in card["summary"]
    assert "by the topical route" in card["detail"]
    assert "Topical Gel" in card["detail"]


def test_retired_rxnorm_code_is_mapped_from_its_display_and_says_so(client):
    # the guide's warfarin 0.5 MG tablet (855350) has left RxNorm; its display still names it
    body = json.loads(
        (EXAMPLES / "pddi-cds" / "warfarin-nsaids-order-sign-coordination.json").read_text()
    )
    (card,) = client.post("/cds-services/ddi-order-sign", json=body).json["cards"]
    assert (
        "*Warfarin Sodium 0.5 MG Oral Tablet* (current medication MedicationRequest/r101, not "
        "valid FHIR R4, read leniently): by name → warfarin (RxNorm 11289), confidence: text "
        "(RxNorm code 855350 is not in the prescribable RxNorm or RxTerms tables)"
    ) in card["detail"]


def test_drafts_with_ids_get_a_delete_suggestion(client, schema_validator):
    body = json.loads(
        (EXAMPLES / "pddi-cds" / "warfarin-nsaids-order-select-coordination.json").read_text()
    )
    (card,) = client.post("/cds-services/ddi-order-select", json=body).json["cards"]
    (removal,) = [s for s in card["suggestions"] if s["label"].startswith("Remove")]
    deletes = removal["actions"]
    assert deletes == [
        {
            "type": "delete",
            "description": deletes[0]["description"],
            "resourceId": "MedicationRequest/ketorolac-draft-order-test",
        }
    ]
    # and the gastroprotection and INR the advice asks for, to be chosen freely beside it
    assert card["selectionBehavior"] == "any"


def test_drafts_without_ids_get_no_delete_suggestion(client):
    # the medication-prescribe scenarios' drafts have ids; strip them as some EHRs send them
    body = json.loads(
        (EXAMPLES / "pddi-cds" / "request-warfarin-nsaid-scenario-02.json").read_text()
    )
    for entry in body["context"]["medications"]["entry"]:
        entry.pop("id", None)
    (card, *_) = client.post("/cds-services/ddi-medication-prescribe", json=body).json["cards"]
    actions = [a for s in card.get("suggestions", []) for a in s["actions"]]
    assert actions and all(a["type"] == "create" for a in actions)  # the INR order stays


def post_example(client, name: str, edit=None) -> list[dict]:
    body = json.loads((EXAMPLES / "pddi-cds" / name).read_text())
    if edit is not None:
        edit(body)
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.json
    return [c for c in response.json["cards"] if is_interaction_card(c)]


def suggested(card: dict) -> list[str]:
    return [s["label"] for s in card.get("suggestions", [])]


def test_the_ppi_branch_is_taken_where_the_example_carries_a_ppi(client):
    """Scenario 02: the patient takes rabeprazole; the HL7 PDDI logic then says the risk of
    upper GI bleeding is lowered and asks for no PPI. Scenario 04 has none: a PPI is offered
    beside acetaminophen in place of the ibuprofen being ordered."""
    (with_ppi,) = post_example(client, "request-warfarin-nsaid-scenario-02.json")
    assert "**This patient:** Takes rabeprazole: gastroprotection lowers" in with_ppi["detail"]
    assert not any("omeprazole" in label for label in suggested(with_ppi))
    (without,) = post_example(client, "request-warfarin-nsaid-scenario-04.json")
    assert "Takes no proton-pump inhibitor or misoprostol" in without["detail"]
    labels = suggested(without)
    assert "Add omeprazole 20 mg daily to protect the stomach" in labels
    assert "Use acetaminophen instead of Ibuprofen 400 MG Oral Tablet" in labels


def test_a_corticosteroid_or_aldosterone_antagonist_is_named_as_a_further_risk(client):
    cards = post_example(client, "request-warfarin-nsaid-scenario-05.json")
    (card,) = [c for c in cards if pair_of(c) == frozenset({"warfarin", "ibuprofen"})]
    assert "Also takes spironolactone, which multiplies the risk" in card["detail"]
    cards = post_example(client, "request-warfarin-nsaid-scenario-03.json")
    details = {pair_of(c): c["detail"] for c in cards}
    assert "Also takes dexamethasone" in details[frozenset({"warfarin", "ibuprofen"})]
    # the NSAID + corticosteroid card names dexamethasone already: not as a further drug
    assert "Also takes" not in details[frozenset({"ibuprofen", "dexamethasone"})]


def test_the_patients_age_from_prefetch_is_read(client):
    """Scenario 04's patient was born in 1982 (the guide's "under 65" case): no age note. The
    same patient at 72 is at higher risk, and the card says so."""
    name = "request-warfarin-nsaid-scenario-04.json"
    (under_65,) = post_example(client, name)
    assert "Age " not in under_65["detail"]

    def aged_72(body: dict) -> None:
        (patient,) = body["context"]["item2"]["resource"]["entry"]
        patient["birthDate"] = f"{date.today().year - 72}-01-01"  # 72 all year

    (older,) = post_example(client, name, aged_72)
    assert "Age 72: upper gastrointestinal bleeding is likelier." in older["detail"]


def test_a_recent_digoxin_level_changes_the_advice(client):
    """The guide's level (0.7 ng/mL) dated today: in range, so the rise is managed by
    monitoring; dated 2020 as published, it is too old to count and the default advice says
    so. The digoxin level is offered as an order either way."""
    name = "digoxin-cyclosporine-order-sign-coordination.json"
    (stale,) = post_example(client, name)
    assert (
        "The latest digoxin level sent (0.7 ng/mL, 2020-03-28) is older than 30 days"
        in stale["detail"]
    )
    # scenario 01's level carries a SNOMED code where UCUM's would go: read by its unit
    (old, *_) = post_example(client, "request-digoxin-cyclosporine-scenario-01.json")
    assert "(2.3 ng/mL, 2018-08-04) is older than 30 days" in old["detail"]

    def dated_today(body: dict) -> None:
        for entry in body["prefetch"]["item6"]["entry"]:
            entry["resource"]["effectiveDateTime"] = date.today().isoformat()

    (recent,) = post_example(client, name, dated_today)
    assert f"Digoxin level 0.7 ng/mL, {date.today().isoformat()} is in range" in recent["detail"]
    assert "Order digoxin level (digoxin + cyclosporine)" in suggested(recent)


@pytest.mark.parametrize("name", LIBRARY_FILES)
def test_hooks_library_context_examples_are_answered(client, schema_validator, name):
    """The hooks library publishes contexts only: wrapped in a minimal request, as an EHR with
    no prefetch and no FHIR server would send them. Their amoxicillin/clavulanate and
    azithromycin orders do not interact; the answer says the current medications were not
    available. The prediction model may add its own cards, labelled as its own."""
    context = json.loads((EXAMPLES / "hooks-library" / name).read_text())["context"]
    hook = name.split("-0")[0]
    body = {
        "hook": hook,
        "hookInstance": "5b0c6f5e-2a7e-4d8e-9d8c-0c2b1c3d4e5f",
        "context": context,
    }
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}", json=body)
    assert response.status_code == 200, response.json
    schema_validator("response", response.json)
    curated = [c for c in response.json["cards"] if not is_model_card(c)]
    assert [c["summary"] for c in curated] == [
        "Current medications not available: only the new orders were checked"
    ]
    for card in response.json["cards"]:
        if is_model_card(card):
            assert card["indicator"] == "info" and "model predicts" in card["summary"]
