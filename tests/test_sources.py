"""The sources issue 18 added, checked on the committed knowledge and on the readers."""

from __future__ import annotations

import pytest

from cds_service.core.drug_index import DrugIndex
from cds_service.core.evidence import EvidenceKind, Flag
from cds_service.core.grading import grade_pair
from cds_service.core.knowledge import KnowledgeBase
from cds_service.core.severity import Indicator, Severity
from cds_service.index_build import crediblemeds, ddinter, onc
from cds_service.index_build.ingredient_resolver import IngredientResolver
from cds_service.testing.rxcui import (
    AMIODARONE,
    ASPIRIN,
    ATORVASTATIN,
    CIPROFLOXACIN,
    FLUCONAZOLE,
    IBUPROFEN,
    LEVOTHYROXINE,
    LISINOPRIL,
    METFORMIN,
    SUMATRIPTAN,
    TIZANIDINE,
    WARFARIN,
)
from tests.conftest import SHARED_DATA

TRANYLCYPROMINE = "10734"
CLOPIDOGREL = "32968"
LITHIUM, LITHIUM_CARBONATE = "6448", "42351"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


def by_source(kb: KnowledgeBase, a: str, b: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for record in kb.interactions_for([a], [b]):
        found.setdefault(record.source, []).append(record)
    return found


def test_ddinter_grades_by_its_own_levels(kb):
    (record,) = by_source(kb, WARFARIN, FLUCONAZOLE)["DDInter-1.0"]
    assert record.severity is Severity.MAJOR and record.source_severity == "Major"
    assert record.credible and not record.consequence  # a bare grade: no text in DDInter
    assert grade_pair(kb.interactions_for([WARFARIN], [FLUCONAZOLE])).interrupts


def test_a_ddinter_moderate_alone_makes_no_card(kb):
    records = kb.interactions_for([METFORMIN], [LISINOPRIL])
    assert [(r.source, r.severity) for r in records] == [("DDInter-1.0", Severity.MODERATE)]
    assert grade_pair(records).severity is Severity.MINOR


def test_onc_high_priority_pairs_are_major_and_interrupt_with_the_projects_text(kb):
    (record,) = by_source(kb, TRANYLCYPROMINE, SUMATRIPTAN)["ONC-HP-2012"]
    assert record.flag is Flag.ALWAYS_INTERRUPTIVE and record.severity is Severity.MAJOR
    assert "Serotonin syndrome" in record.consequence and "MAO-A" in record.mechanism
    assert record.via == "Triptans + Monoamine oxidase (MAO) inhibitors"
    tizanidine = by_source(kb, TIZANIDINE, CIPROFLOXACIN)["ONC-HP-2012"][0]
    assert "CYP1A2" in tizanidine.mechanism and tizanidine.monitor == ("blood-pressure",)


def test_onc_non_interruptive_pairs_never_interrupt(kb):
    records = kb.interactions_for([CLOPIDOGREL], [ASPIRIN])  # the garbled salicylates repaired
    assert any(r.flag is Flag.NON_INTERRUPTIVE for r in records)
    grade = grade_pair(records)
    assert grade.indicator is Indicator.INFO
    thyroid_statin = kb.interactions_for([LEVOTHYROXINE], [ATORVASTATIN])
    assert {r.source for r in thyroid_statin} >= {"ONC-NI-2013"}
    assert not grade_pair(thyroid_statin).interrupts


def test_crediblemeds_listing_keeps_its_english_advice(kb):
    (record,) = by_source(kb, WARFARIN, AMIODARONE)["CredibleMeds"]
    assert record.severity is Severity.MODERATE  # "Take Precautions"
    assert "INR" in record.management and "8-12 weeks" in record.management
    assert record.source_severity == "Take Precautions"


def test_crediblemeds_texts_carry_no_broken_characters(kb):
    """The listing's bullets survive only as U+FFFD: they become sentence breaks."""
    for a, b in ((WARFARIN, AMIODARONE), (WARFARIN, IBUPROFEN)):
        for record in by_source(kb, a, b)["CredibleMeds"]:
            text = record.management + record.mechanism + record.original_text
            assert "\ufffd" not in text and "ï¿½" not in text, text


def test_knowledge_on_the_base_reaches_the_salt(kb):
    """ANSM writes lithium + NSAIDs on lithium; a product of lithium carbonate reaches it."""
    salt = {r.source for r in kb.interactions_for([LITHIUM_CARBONATE], [IBUPROFEN])}
    assert "ANSM-2020" in salt
    record = by_source(kb, LITHIUM_CARBONATE, IBUPROFEN)["ANSM-2020"][0]
    assert record.name_a == "lithium carbonate" and record.matched_a == "lithium"
    assert kb.key(int(LITHIUM_CARBONATE)) == int(LITHIUM)


@pytest.mark.shared
def test_the_onc_table_is_read_with_its_fifteen_interactions():
    interactions = onc.read_hp_table(SHARED_DATA / onc.HP_FOLDER / onc.HP_TABLE)
    assert [i.number for i in interactions] == list(onc.HP_TEXT)
    triptans = next(i for i in interactions if i.number == "31")
    assert triptans.object.names == ["Sumatriptan", "Zolmitriptan", "Rizatriptan"]
    assert "Methylene blue" in triptans.precipitant.names


@pytest.mark.shared
def test_the_known_tdp_list_resolves_its_us_drugs():
    group = crediblemeds.known_tdp_group(SHARED_DATA, IngredientResolver(DrugIndex()))
    names = {DrugIndex().ingredient(r).name for r in group.members}
    assert {"amiodarone", "azithromycin", "citalopram", "methadone", "haloperidol"} <= names
    assert len(group.members) >= 25  # the 2017 list's drugs still sold in the US


@pytest.mark.parametrize(
    ("advice", "grade"),
    [
        ("Usually Avoid \u00b7Consider Alternatives: ...", Severity.MAJOR),
        ("Take Precautions Monitor: ...", Severity.MODERATE),
        ("Something else", Severity.MODERATE),
    ],
)
def test_crediblemeds_advice_wording_gives_the_grade(advice, grade):
    assert crediblemeds.grade_of(advice)[0] is grade


def test_ddinter_levels_are_mapped_explicitly():
    assert ddinter.LEVELS == {
        "Major": Severity.MAJOR,
        "Moderate": Severity.MODERATE,
        "Minor": Severity.MINOR,
        "Unknown": None,
    }
    assert ddinter.level_statement("Unknown").severity == ""


def test_every_record_kind_is_known(kb):
    for a, b in ((WARFARIN, FLUCONAZOLE), (TIZANIDINE, CIPROFLOXACIN), (CLOPIDOGREL, ASPIRIN)):
        for record in kb.interactions_for([a], [b]):
            assert record.kind in EvidenceKind
