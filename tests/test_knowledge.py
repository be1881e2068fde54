"""The curated interaction knowledge, checked on the real artifact `data/interactions.sqlite`.

Expected tiers were read off the sources themselves: ANSM 2020 grades warfarin + ibuprofen
"Association DECONSEILLEE" (oral anticoagulants + NSAIDs), warfarin + aspirin
"CONTRE-INDICATION" at anti-inflammatory or analgesic doses (down to "A prendre en compte" at
antiplatelet doses: the most severe level wins), simvastatin + clarithromycin (strong CYP3A4
inhibitors), methotrexate + trimethoprim and sildenafil + nitrates "CONTRE-INDICATION".
Neither ANSM edition has digoxin + cyclosporine: the HL7 PDDI rule grades it, DrugBank knows it.
The other sources (DDInter, the ONC lists, CredibleMeds, the project's rules) have their own
tests (tests/test_sources.py, tests/test_rules.py).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from cds_service.core import knowledge
from cds_service.core.knowledge import (
    DEFAULT_KNOWLEDGE_PATH,
    KnowledgeBase,
    KnownInteraction,
    Severity,
    render_ddi_template,
)
from cds_service.core.medication import Confidence, Ingredient, MappedIngredient
from cds_service.index_build import ansm_2016, ansm_2020
from cds_service.testing.rxcui import (
    ACETAMINOPHEN,
    AMOXICILLIN,
    ASPIRIN,
    CLARITHROMYCIN,
    CYCLOSPORINE,
    DIGOXIN,
    IBUPROFEN,
    METHOTREXATE,
    SILDENAFIL,
    SIMVASTATIN,
    WARFARIN,
)
from tests.conftest import SHARED_DATA

TRIMETHOPRIM = "10829"
NITROGLYCERIN = "4917"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


def ansm(results: list[KnownInteraction]) -> KnownInteraction:
    found = [r for r in results if r.source.startswith("ANSM")]
    assert len(found) == 1, found  # one ANSM record per ingredient pair
    return found[0]


def drugbank(results: list[KnownInteraction]) -> list[KnownInteraction]:
    return [r for r in results if r.source == "DrugBank-DDI"]


def test_warfarin_ibuprofen_is_avoid_via_anticoagulant_and_nsaid_classes(kb):
    results = kb.interactions_for([WARFARIN], [IBUPROFEN])
    record = ansm(results)
    assert record.severity is Severity.MAJOR
    assert record.source == "ANSM-2020"
    assert record.source_severity == "Not recommended"  # "Association DECONSEILLEE"
    assert record.editions == ("ANSM-2020", "ANSM-2016")
    assert "oral anticoagulants" in record.via
    assert "NSAIDs" in record.via
    # the project's English translation of the 2020 text (ansm_english); the French stays the
    # original text
    assert "bleeding risk" in record.consequence
    assert "stomach and duodenal lining" in record.consequence
    assert record.harm == "bleeding risk"
    assert not record.management_derived and "monitor" in record.management.lower()
    assert "risque hémorragique" in record.original_text
    assert (record.rxcui_a, record.name_a, record.rxcui_b, record.name_b) == (
        WARFARIN,
        "warfarin",
        IBUPROFEN,
        "ibuprofen",
    )
    assert results[0] == record  # most severe first
    sentences = [r.mechanism for r in drugbank(results)]
    assert sentences == ["Ibuprofen may increase the anticoagulant activities of warfarin."]


def test_warfarin_aspirin_is_contraindicated_keeping_every_ansm_level(kb):
    record = ansm(kb.interactions_for([WARFARIN], [ASPIRIN]))
    assert record.severity is Severity.CONTRAINDICATED
    assert record.source_severity == (  # "CONTRE-INDICATION / Association DECONSEILLEE / …"
        "Contraindication / Not recommended / Take into account"
    )
    assert "doses anti-inflammatoires" in record.original_text
    assert "doses antiagrégantes" in record.original_text
    assert record.via == "oral anticoagulants"  # aspirin is named directly


def test_digoxin_cyclosporine_is_graded_by_the_hl7_pddi_rule_and_known_to_drugbank(kb):
    """ANSM has no entry for this pair; the HL7 PDDI rule grades it (assess risk = moderate)."""
    results = kb.interactions_for([DIGOXIN], [CYCLOSPORINE])
    (hl7,) = [r for r in results if r.source == "HL7-PDDI"]
    (record,) = drugbank(results)
    assert hl7.severity is Severity.MODERATE
    assert hl7.monitor == ("digoxin-level", "creatinine")
    assert hl7.consequence == "Increased risk of digoxin toxicity."
    assert "P-glycoprotein" in hl7.mechanism
    assert hl7.management.startswith("Assess risk and take action if necessary.")
    assert not hl7.management_derived
    assert "unknown." not in hl7.original_text  # the template's empty fields are not text
    assert ".." not in hl7.management
    assert hl7.licence == "CC0 1.0"
    assert record.severity is Severity.MINOR  # a PK type: the rules decide, alone it is minor
    assert not record.credible
    assert record.source_severity == "not graded by the source"
    assert record.mechanism == (
        "The serum concentration of digoxin can be increased when it is combined with cyclosporine."
    )
    assert record.management_derived
    assert "CC BY-NC" in record.licence


@pytest.mark.parametrize(
    ("a", "b", "words"),
    [
        (SIMVASTATIN, CLARITHROMYCIN, "rhabdomyolyse"),
        (METHOTREXATE, TRIMETHOPRIM, "toxicité hématologique"),
        (SILDENAFIL, NITROGLYCERIN, "hypotension"),
    ],
)
def test_ansm_contraindications(kb, a, b, words):
    record = ansm(kb.interactions_for([a], [b]))
    assert record.severity is Severity.CONTRAINDICATED
    assert record.source == "ANSM-2020"
    assert record.source_severity == "Contraindication"
    assert words in record.original_text
    assert record.consequence  # the project's English translation (index_build/translations)
    assert "ANSM" in record.citation
    assert record.management.startswith("Do not co-prescribe")
    assert record.management_derived and "Derived" in record.management


def test_direct_entries_have_no_via(kb):
    assert ansm(kb.interactions_for([METHOTREXATE], [TRIMETHOPRIM])).via == ""
    simvastatin = ansm(kb.interactions_for([SIMVASTATIN], [CLARITHROMYCIN]))
    assert simvastatin.via == "strong CYP3A4 inhibitors"  # "INHIBITEURS PUISSANTS DU CYP3A4"


def test_unrelated_pair_gives_nothing_graded(kb):
    """DDInter lists acetaminophen + amoxicillin with the level "Unknown": an ungraded record."""
    results = kb.interactions_for([ACETAMINOPHEN], [AMOXICILLIN])
    assert [(r.source, r.severity) for r in results] == [("DDInter-1.0", None)]


def test_symmetric_with_sides_swapped(kb):
    forward = kb.interactions_for([WARFARIN], [IBUPROFEN, ASPIRIN])
    backward = kb.interactions_for([IBUPROFEN, ASPIRIN], [WARFARIN])
    assert len(forward) == len(backward) > 0
    swapped = {
        (r.rxcui_b, r.rxcui_a, r.source, r.severity, r.mechanism, r.original_text) for r in backward
    }
    assert {
        (r.rxcui_a, r.rxcui_b, r.source, r.severity, r.mechanism, r.original_text) for r in forward
    } == swapped


def test_an_ingredient_never_interacts_with_itself(kb):
    assert kb.interactions_for([WARFARIN], [WARFARIN]) == []
    results = kb.interactions_for([WARFARIN, IBUPROFEN], [WARFARIN])
    assert {(r.rxcui_a, r.rxcui_b) for r in results} == {(IBUPROFEN, WARFARIN)}


def test_sorted_most_severe_first_and_deduplicated(kb):
    results = kb.interactions_for(
        [WARFARIN, WARFARIN], [IBUPROFEN, ASPIRIN, AMOXICILLIN, IBUPROFEN]
    )
    assert len(results) == len(set(results))
    ranks = [r.sort_key() for r in results]
    assert ranks == sorted(ranks)
    assert results[0].rxcui_b == ASPIRIN and results[0].severity is Severity.CONTRAINDICATED


def test_accepts_ingredients_and_mapped_ingredients(kb):
    warfarin = Ingredient(WARFARIN, "warfarin")
    ibuprofen = Ingredient(IBUPROFEN, "ibuprofen")
    mapped = MappedIngredient(ibuprofen, Confidence.CODE, ())
    by_code = kb.interactions_for([WARFARIN], [IBUPROFEN])
    assert kb.interactions_for([warfarin], [ibuprofen]) == by_code
    assert kb.interactions_for([warfarin], [mapped]) == by_code
    assert kb.interactions_for([warfarin], ["not-a-code", ""]) == []


def test_module_level_lookup_uses_the_packaged_file():
    results = knowledge.interactions_for([SILDENAFIL], [NITROGLYCERIN])
    assert results[0].severity is Severity.CONTRAINDICATED


def test_severity_order():
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    assert Severity.CONTRAINDICATED.is_more_severe_than(Severity.MAJOR)
    assert not Severity.MINOR.is_more_severe_than(Severity.MODERATE)


def test_metadata_names_every_source_with_its_licence(kb):
    assert kb.version.startswith("interactions-")
    assert set(kb.sources) == {
        "ANSM-2020",
        "ANSM-2016",
        "DrugBank-DDI",
        "HL7-PDDI",
        "DDInter-1.0",
        "ONC-HP-2012",
        "ONC-NI-2013",
        "CredibleMeds",
        "DDI-CDS-rules",
        "RxNorm-combinations",
    }
    for source in kb.sources.values():
        assert source.label and source.citation and source.url and source.licence
    assert json.loads(kb.meta["sources"])


def test_every_ansm_2020_tier_is_its_most_severe_level():
    """The tier of each statement re-derived from the level wordings it keeps."""
    with sqlite3.connect(DEFAULT_KNOWLEDGE_PATH) as db:
        rows = db.execute(
            "SELECT source, severity, source_severity FROM statement WHERE source LIKE 'ANSM%'"
        ).fetchall()
    assert rows
    for _source, severity, wording in rows:  # both editions in the ANSM's English wordings
        levels = [ansm_2016.severity_of(level) for level in wording.split(" / ")]
        assert Severity(severity) is min(levels, key=lambda s: s.rank), wording


def test_severity_wordings_are_mapped_explicitly():
    assert ansm_2016.severity_of("Tale into account") is Severity.MINOR
    assert ansm_2016.severity_of("Not recommended with:") is Severity.MAJOR
    assert ansm_2016.severity_of("CONTRAINDICATON") is Severity.CONTRAINDICATED
    assert ansm_2020.severity_of("Précaution d'emploi") is Severity.MODERATE
    with pytest.raises(ValueError, match="unknown"):
        ansm_2016.severity_of("Probably fine")
    with pytest.raises(ValueError, match="unknown"):
        ansm_2020.severity_of("Peut-être")


def test_three_slot_templates_name_the_first_drug_twice():
    template = (
        "The serum concentration of the active metabolites of DRUG can be increased when "
        "DRUG is used in combination with DRUG."
    )
    assert render_ddi_template(template, "clopidogrel", "omeprazole") == (
        "The serum concentration of the active metabolites of clopidogrel can be increased "
        "when clopidogrel is used in combination with omeprazole."
    )


@pytest.mark.slow
@pytest.mark.shared
def test_build_is_deterministic(tmp_path):
    from cds_service.core.drug_index import DrugIndex
    from cds_service.index_build.interactions_writer import build_interactions

    index = DrugIndex()
    first = build_interactions(SHARED_DATA, index, tmp_path / "a.sqlite")
    second = build_interactions(SHARED_DATA, index, tmp_path / "b.sqlite")
    assert (tmp_path / "a.sqlite").read_bytes() == (tmp_path / "b.sqlite").read_bytes()
    assert first["version"] == second["version"]
    assert first["ANSM"]["entries"] == {"ANSM-2016": 2895, "ANSM-2020": 3139}
    assert first["DrugBank-DDI"]["triples"] == 191570
    assert first["bytes"] < 10_000_000
