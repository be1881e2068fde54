"""Medication mapping on the committed drug index: every RxNorm term type, NDC and text."""

import pytest

from cds_service.core.medication import Confidence
from cds_service.testing.hook_requests import RXNORM, ndc, rxnorm


def names(mapping) -> set[str]:
    return {m.ingredient.name for m in mapping.ingredients}


@pytest.mark.parametrize(
    ("code", "tty", "expected"),
    [
        ("855288", "SCD", {"warfarin"}),
        ("855292", "SBD", {"warfarin"}),
        ("1000395", "GPCK", {"estrogens, conjugated (USP)", "medroxyprogesterone"}),
        ("1000487", "BPCK", {"estrogens, conjugated (USP)", "medroxyprogesterone"}),
        ("855287", "SCDC", {"warfarin"}),
        ("11289", "IN", {"warfarin"}),
        ("114194", "PIN", {"warfarin"}),  # warfarin sodium: the salt collapses to the base
        ("10831", "MIN", {"sulfamethoxazole", "trimethoprim"}),
        ("151399", "BN", {"sulfamethoxazole", "trimethoprim"}),  # Bactrim
        ("42844", "BN", {"acetaminophen", "oxycodone"}),  # Percocet
        ("1000001", "SCD", {"amlodipine", "hydrochlorothiazide", "olmesartan"}),
        ("1191", "IN", {"aspirin"}),  # its 2025 file (A.json) is missing: RxTerms supplies it
    ],
)
def test_rxnorm_term_types_map_to_every_ingredient(mapper, drug_index, code, tty, expected):
    assert drug_index.concept(code).tty == tty
    mapping = mapper.map_concept(rxnorm(code))
    assert names(mapping) == expected
    assert mapping.unmapped_reasons == ()


def test_each_ingredient_carries_ids_structure_and_trail(mapper):
    mapping = mapper.map_concept(rxnorm("855288"))
    (warfarin,) = mapping.ingredients
    assert warfarin.ingredient.rxcui == "11289"
    assert warfarin.ingredient.drugbank_id == "DB00682"
    assert warfarin.ingredient.smiles and warfarin.ingredient.inchikey
    assert warfarin.confidence is Confidence.CODE
    first, last = warfarin.trail
    assert (first.system, first.code) == (RXNORM, "855288")
    assert "SCD warfarin sodium 1 MG Oral Tablet" in first.detail
    assert last.code == "11289" and "SCD->IN" in last.table
    assert "855288" in first.describe()


def test_salt_code_is_marked_as_resolved(mapper):
    (item,) = mapper.map_concept(rxnorm("114194")).ingredients
    assert item.confidence is Confidence.CODE_RESOLVED


@pytest.mark.parametrize("code", ["00113007471", "00113-0074-71", "0113-0074-71"])
def test_ndc_maps_through_its_product(mapper, code):
    mapping = mapper.map_concept(ndc(code))
    assert names(mapping) == {"ibuprofen"}
    assert mapping.ingredients[0].confidence is Confidence.CODE


def test_undashed_10_digit_ndc_is_resolved_only_when_one_split_exists(mapper):
    mapping = mapper.map_concept(ndc("0113007471"))  # 4-4-2 without dashes
    assert names(mapping) == {"ibuprofen"}
    assert mapping.ingredients[0].confidence is Confidence.CODE_RESOLVED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acetaminophen", {"acetaminophen"}),
        ("Paracetamol", {"acetaminophen"}),
        ("albuterol", {"albuterol"}),
        ("Salbutamol", {"albuterol"}),
        ("Coumadin", {"warfarin"}),
        ("Warfarin Sodium 1 MG Oral Tablet", {"warfarin"}),
        ("PERCOCET", {"acetaminophen", "oxycodone"}),
    ],
)
def test_text_matches_exactly_and_is_low_confidence(mapper, text, expected):
    mapping = mapper.map_concept({"text": text})
    assert names(mapping) == expected
    assert all(m.confidence is Confidence.TEXT for m in mapping.ingredients)
    assert mapping.ingredients[0].trail[0].system == "text"


@pytest.mark.parametrize("text", ["warfarn", "warfarin 5mg", "ibuprofen tabs", "aspirn"])
def test_text_is_never_fuzzy_matched(mapper, text):
    mapping = mapper.map_concept({"text": text})
    assert not mapping.is_mapped
    assert "matches no ingredient, brand or product name exactly" in mapping.unmapped_reasons[0]


def test_code_wins_over_text_and_display_is_a_fallback(mapper):
    both = {"coding": [{"system": RXNORM, "code": "855288"}], "text": "aspirin"}
    assert names(mapper.map_concept(both)) == {"warfarin"}
    unknown_code = {"coding": [{"system": RXNORM, "code": "99999999", "display": "Coumadin"}]}
    mapping = mapper.map_concept(unknown_code)
    assert names(mapping) == {"warfarin"}
    assert mapping.ingredients[0].confidence is Confidence.TEXT
    assert any("99999999" in note for note in mapping.notes)


def test_disagreeing_codings_check_all_ingredients_and_say_so(mapper):
    mapping = mapper.map_concept(
        {"coding": [{"system": RXNORM, "code": "11289"}, {"system": RXNORM, "code": "5640"}]}
    )
    assert names(mapping) == {"warfarin", "ibuprofen"}
    assert any("different ingredients" in note for note in mapping.notes)


def test_medication_resource_code_then_ingredients(mapper):
    medication = {"resourceType": "Medication", "code": rxnorm("855288")}
    assert names(mapper.map_medication(medication)) == {"warfarin"}
    compounded = {
        "resourceType": "Medication",
        "code": {"text": "compounded cream"},
        "ingredient": [
            {"itemCodeableConcept": rxnorm("5640")},
            {"item": {"concept": rxnorm("1191")}},  # R5 shape
        ],
    }
    assert names(mapper.map_medication(compounded)) == {"ibuprofen", "aspirin"}


BAD_INPUTS = [
    ("None instead of a concept", None, "no medication code or text was sent"),
    ("a string", "warfarin", "expected a FHIR CodeableConcept object, got str"),
    ("empty concept", {}, "neither a coding nor a text"),
    ("empty coding list", {"coding": []}, "neither a coding nor a text"),
    ("empty coding", {"coding": [{}]}, "has no code"),
    ("coding not an object", {"coding": ["x"]}, "expected a FHIR Coding object, got str"),
    ("coding is not a list", {"coding": {"code": "1"}}, "coding is a dict, not a list"),
    ("code without system", {"coding": [{"code": "11289"}]}, "has no code system"),
    (
        "unknown system",
        {"coding": [{"system": "http://snomed.info/sct", "code": "387458008"}]},
        "is not supported (RxNorm and NDC are)",
    ),
    ("RxNorm code not digits", rxnorm("abc"), "is not an RXCUI"),
    ("unknown RXCUI", rxnorm("99999999"), "not in the prescribable RxNorm or RxTerms tables"),
    ("malformed NDC", ndc("12-34"), "is not 10 or 11 digits"),
    ("unknown NDC", ndc("99999-9999-99"), "is not in the RxNorm 2025 NDC table"),
    ("non-string text", {"text": 42}, "CodeableConcept.text is a int, not text"),
    ("text of punctuation", {"text": "---"}, "has no letters or digits"),
    (
        "10,000 codings",
        {"coding": [{"system": RXNORM, "code": "99999999"}] * 10_000},
        "only the first 50 of 10000 codings were read",
    ),
    ("huge text", {"text": "x" * 1_000_000}, "matches no ingredient"),
]


@pytest.mark.parametrize(("case", "concept", "reason"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gives_an_explicit_unmapped_reason(mapper, case, concept, reason):
    mapping = mapper.map_concept(concept)
    assert not mapping.is_mapped
    assert any(reason in r for r in mapping.unmapped_reasons), mapping.unmapped_reasons
    assert all(len(r) < 300 for r in mapping.unmapped_reasons)  # hostile input is not echoed


def test_bad_input_table_in_the_docs_matches_the_code(mapper):
    """docs/mapping.md shows the bad-input table; it is generated from BAD_INPUTS."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "mapping.md").read_text()
    for case, concept, _reason in BAD_INPUTS:
        reasons = "; ".join(mapper.map_concept(concept).unmapped_reasons)
        assert f"| {case} |" in doc
        assert reasons.replace("|", "\\|") in doc


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Warfarin Sodium 0.5 MG Oral Tablet", {"warfarin"}),  # RxNorm 855350, retired
        ("Digoxin 0.2 MG Oral Capsule", {"digoxin"}),  # RxNorm 197605, retired
        (
            "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension",
            {"amoxicillin", "clavulanate"},
        ),
        ("Diclofenac Sodium 0.01 MG/MG Topical Gel [Voltaren]", {"diclofenac"}),
    ],
)
def test_retired_code_maps_by_its_clinical_drug_name(mapper, display, expected):
    concept = {"coding": [{"system": RXNORM, "code": "855350", "display": display}]}
    concept["coding"][0]["code"] = "1"  # an RXCUI that is not in RxNorm
    mapping = mapper.map_concept(concept)
    assert names(mapping) == expected
    assert all(i.confidence == "text" for i in mapping.ingredients)
    assert "clinical drug name" in mapping.ingredients[0].trail[0].detail or expected == {
        "diclofenac"
    }
    assert any("not in the prescribable" in note for note in mapping.notes)


@pytest.mark.parametrize(
    "text",
    [
        "warfarin 5mg",
        "Unknownium 5 MG Oral Tablet",
        "Warfarin Sodium 5 MG / Unknownium 2 MG Oral Tablet",
    ],
)
def test_clinical_drug_names_need_every_component_named_exactly(mapper, text):
    assert not mapper.map_concept({"text": text}).is_mapped
