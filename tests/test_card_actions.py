"""What a card offers to do, and what the patient's context changes (issue 20, parts 5 and 6):
real product codes through the real app; every suggested resource validated as FHIR R4."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.adapters.model_predictions import load_predictor
from cds_service.core.care_actions import DRUG_LEVELS, LAB_TESTS, suggestions_for
from cds_service.core.context_advice import NO_CONTEXT
from cds_service.core.harm_kinds import HARM_KINDS, curated_harm_kinds, effect_harm_kinds
from cds_service.core.patient_context import LAB_CODES, read_patient_context
from cds_service.protocol.services import service_by_id
from cds_service.testing.hook_requests import hook_request, medication_request
from tests.conftest import EXAMPLES

SIGN = "/cds-services/ddi-order-sign"
WARFARIN_5 = "855332"  # warfarin sodium 5 MG Oral Tablet
FLUCONAZOLE_200 = "197700"
IBUPROFEN_800 = "197807"
SPIRONOLACTONE_25 = "313096"
POTASSIUM_CHLORIDE_20 = "198116"  # 20 MEQ extended-release tablet
SIMVASTATIN_40 = "198211"
CLARITHROMYCIN_500 = "197517"
RABEPRAZOLE_20 = "854868"  # rabeprazole sodium 20 MG Delayed Release Oral Tablet
LISINOPRIL_10 = "314076"
LITHIUM_300 = "197889"  # lithium carbonate 300 MG Oral Capsule


def observation(loinc: str, value: float, unit: str, when: date | None = None) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": (when or date.today()).isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    }  # fmt: skip


def sign(client, drafts: list[str], current: list[str], **prefetch) -> list[dict]:
    body = hook_request(
        "order-sign",
        [medication_request(code, rid=f"d{i}") for i, code in enumerate(drafts)],
        current=[
            medication_request(c, rid=f"c{i}", status="active") for i, c in enumerate(current)
        ],
    )
    body["prefetch"].update(prefetch)
    response = client.post(SIGN, json=body)
    assert response.status_code == 200, response.json
    return [c for c in response.json["cards"] if " + " in c["summary"].split(": ")[0]]


def labels(card: dict) -> list[str]:
    return [s["label"] for s in card.get("suggestions", [])]


def validate_actions(card: dict) -> int:
    """Every create action's resource parses as its FHIR R4 model; returns how many."""
    count = 0
    for suggestion in card.get("suggestions", []):
        assert suggestion["uuid"] and suggestion["label"]
        for action in suggestion["actions"]:
            assert action["description"]
            if action["type"] == "delete":
                assert re.fullmatch(r"MedicationRequest/[\w.-]+", action["resourceId"])
                continue
            resource = action["resource"]
            model = get_fhir_model_class(resource["resourceType"])
            model.model_validate(resource)  # raises on anything R4 does not allow
            assert resource["subject"] == {"reference": "Patient/p1"}
            assert resource["status"] == "draft"
            count += 1
    return count


def test_monitoring_advice_becomes_a_loinc_coded_order(client):
    """Warfarin + fluconazole: the advice is to check the INR; the card offers that order."""
    (card,) = sign(client, [FLUCONAZOLE_200], [WARFARIN_5])
    assert validate_actions(card) >= 1
    (inr,) = [
        a["resource"]
        for s in card["suggestions"]
        for a in s["actions"]
        if a["type"] == "create" and a["resource"]["resourceType"] == "ServiceRequest"
        and a["resource"]["code"]["text"] == "INR"
    ]  # fmt: skip
    assert inr["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "6301-6",
         "display": "INR in Platelet poor plasma by Coagulation assay"}
    ]  # fmt: skip
    assert inr["note"][0]["text"]  # the advice, with its timing
    assert card["selectionBehavior"] == "any"


def test_the_nsaid_being_ordered_can_be_replaced_by_acetaminophen(client):
    (card,) = sign(client, [IBUPROFEN_800], [WARFARIN_5])
    validate_actions(card)
    (replace,) = [s for s in card["suggestions"] if s["label"].startswith("Use acetaminophen")]
    delete, create = replace["actions"]
    assert delete == {**delete, "type": "delete", "resourceId": "MedicationRequest/d0"}
    medication = create["resource"]["medicationCodeableConcept"]
    assert medication["coding"][0]["code"] == "161"  # RxNorm ingredient acetaminophen
    assert "2 g a day" in create["resource"]["dosageInstruction"][0]["text"]
    assert "Add omeprazole 20 mg daily to protect the stomach" in labels(card)


def test_a_patient_on_a_ppi_is_not_offered_another(client):
    (card,) = sign(client, [IBUPROFEN_800], [WARFARIN_5, RABEPRAZOLE_20])
    assert "Takes rabeprazole: gastroprotection lowers" in card["detail"]
    assert not [label for label in labels(card) if "omeprazole" in label]


def test_the_omeprazole_offered_is_the_rxnorm_product_named(drug_index):
    concept = drug_index.concept("198051")
    assert concept is not None and concept.name == "omeprazole 20 MG Delayed Release Oral Capsule"


def test_a_high_potassium_sent_in_prefetch_is_said_and_a_missing_one_is_said_too(client):
    (default,) = sign(client, [POTASSIUM_CHLORIDE_20], [SPIRONOLACTONE_25])
    assert "No recent potassium or kidney function was sent" in default["detail"]
    pair = "potassium chloride + spironolactone"  # the new order first
    assert {f"Order potassium ({pair})", f"Order creatinine ({pair})"} <= set(labels(default))
    labs = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": observation("2823-3", 5.6, "mmol/L")},
        {"resource": observation("62238-1", 24, "mL/min/{1.73_m2}")},
        {"resource": observation("2823-3", 4.1, "mmol/L", date.today() - timedelta(days=20))},
    ]}  # fmt: skip
    (known,) = sign(client, [POTASSIUM_CHLORIDE_20], [SPIRONOLACTONE_25], observations=labs)
    assert f"Potassium 5.6 mmol/L, {date.today().isoformat()} is already above 5" in known["detail"]
    assert "eGFR 24 mL/min/1.73 m², " in known["detail"]


def test_a_lithium_level_is_read_for_the_lithium_rules(client):
    labs = {
        "resourceType": "Bundle",
        "entry": [{"resource": observation("14334-7", 1.3, "mmol/L")}],
    }
    (card,) = sign(client, [LISINOPRIL_10], [LITHIUM_300], observations=labs)
    assert "Lithium level 1.3 mmol/L" in card["detail"] and "already above 1" in card["detail"]
    assert any(label.startswith("Order lithium level") for label in labels(card))


def test_without_a_patient_only_removal_is_offered(app):
    """The try-it page has no patient: an order cannot name its subject, so only removal."""
    body = hook_request(
        "order-sign",
        [medication_request(SIMVASTATIN_40, rid="s")],
        current=[medication_request(CLARITHROMYCIN_500, rid="c", status="active")],
    )
    outcome = app.extensions["ddi_cds"].engine.evaluate(service_by_id("ddi-order-sign"), body)
    (pair,) = outcome.result.pairs
    offered = suggestions_for(pair, NO_CONTEXT, lambda: "id", None)
    assert [s["label"] for s in offered] == ["Remove the draft order for RxNorm 198211"]
    assert len(suggestions_for(pair, NO_CONTEXT, lambda: "id", "Patient/p1")) > 1


@pytest.mark.slow
def test_every_suggestion_on_the_reference_list_is_valid_fhir(reference_cards):
    created = sum(validate_actions(card) for card in reference_cards)
    assert created > 50


@pytest.fixture(scope="module")
def reference_cards(tmp_path_factory) -> list[dict]:
    import csv
    from pathlib import Path

    from cds_service.app import create_app
    from cds_service.config import Settings

    settings = Settings(auth_disabled=True, data_dir=tmp_path_factory.mktemp("ref"))
    client = create_app(settings).test_client()
    cards: list[dict] = []
    rows = (Path(__file__).parent / "data" / "reference_pairs.tsv").read_text().splitlines()
    for row in csv.DictReader((r for r in rows if not r.startswith("#")), delimiter="\t"):
        cards += sign(client, [row["rxcui_a"]], [row["rxcui_b"]])
    return cards


@pytest.mark.shared
def test_lab_codes_agree_with_the_hl7_pddi_value_sets():
    """The LOINC codes the service reads and orders for digoxin, potassium, magnesium and
    creatinine are codes of the HL7 PDDI guide's own value sets."""
    text = (EXAMPLES.parent.parent / "knowledge" / "hl7-pddi-cds" / "artifacts" /
            "digoxin-cyclosporine" / "valueset-bundle.xml").read_text()  # fmt: skip
    published = set(re.findall(r'<code value="(\d{1,6}-\d)\s*"', text))
    ordered = {
        LAB_TESTS[m].loinc for m in ("digoxin-level", "potassium", "magnesium", "creatinine")
    }
    assert ordered <= published
    assert LAB_CODES["digoxin"] <= published and "2823-3" in LAB_CODES["potassium"]
    assert all(re.fullmatch(r"\d{1,6}-\d", t.loinc) for t in LAB_TESTS.values())
    assert all(re.fullmatch(r"(\d{1,6}-\d)?", t.loinc) for t in DRUG_LEVELS.values())


def test_every_harm_kind_names_seriousness_rules_the_model_uses():
    rules = set(load_predictor().tier_rules)
    for kind in HARM_KINDS:
        assert kind.effect_rules <= rules, kind.name
    assert curated_harm_kinds(["Increased risk of bleeding, haemorrhoids aside"]) == {"bleeding"}
    assert "muscle damage" in curated_harm_kinds(["myopathy and rhabdomyolysis"])
    assert effect_harm_kinds("lt.gi-bleed") == {"bleeding"}
    assert effect_harm_kinds("serious.infection") == frozenset()


def test_patient_context_reads_only_recent_final_values_in_known_units():
    today = date(2026, 12, 7)
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Patient", "birthDate": "1950-12"}},
        {"resource": observation("2823-3", 5.9, "mmol/L", date(2026, 1, 2))},  # too old
        {"resource": {**observation("10535-3", 2.1, "ng/mL", today), "status": "preliminary"}},
        {"resource": observation("2160-0", 88, "umol/L", today)},  # another unit: not used
        {"resource": observation("2823-3", 4.4, "mEq/L", today)},
    ]}  # fmt: skip
    context = read_patient_context([bundle], {}, True, today)
    assert context.age_years == 76 and context.labs_sent  # born 1950-12-01
    assert set(context.labs) == {"potassium"}
    assert context.labs["potassium"].describe() == "4.4 mEq/L, 2026-12-07"
