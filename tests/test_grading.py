"""The pair's grade and indicator from its evidence (cds_service.core.grading), pure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.core.evidence import EvidenceKind, Flag, KnownInteraction
from cds_service.core.grading import grade_pair
from cds_service.core.severity import Indicator, Severity


def record(
    source: str,
    severity: Severity | None,
    kind: EvidenceKind = EvidenceKind.CURATED,
    *,
    words: bool = True,
    flag: Flag = Flag.NONE,
    rule: str = "",
) -> KnownInteraction:
    return KnownInteraction(
        "1", "a", "2", "b",
        severity=severity,
        source_severity=str(severity),
        consequence="harm" if words else "",
        mechanism="",
        management="",
        management_derived=False,
        original_text="",
        via="",
        source=source,
        editions=(source,),
        source_label=source,
        citation="",
        url="",
        licence="",
        kind=kind,
        flag=flag,
        rule=rule,
    )  # fmt: skip


def test_the_most_severe_credible_grade_wins_and_every_source_keeps_its_own():
    records = [
        record("ANSM-2020", Severity.MODERATE),
        record("DDInter-1.0", Severity.MAJOR, words=False),
        record("DrugBank-DDI", Severity.MINOR, EvidenceKind.TYPE),
    ]
    grade = grade_pair(records)
    assert (grade.severity, grade.indicator) == (Severity.MAJOR, Indicator.WARNING)
    assert grade.interrupts


def test_a_label_rule_is_credible_and_can_raise_a_french_minor_grade():
    """Oxycodone + alprazolam: ANSM 'à prendre en compte', the FDA boxed warning says major."""
    records = [
        record("ANSM-2020", Severity.MINOR),
        record("DDI-CDS-rules", Severity.MAJOR, EvidenceKind.LABEL, rule="opioid-benzo"),
    ]
    assert grade_pair(records).severity is Severity.MAJOR


def test_a_generalisation_never_outranks_a_credible_grade():
    records = [
        record("ANSM-2020", Severity.MODERATE),
        record("DDI-CDS-rules", Severity.MAJOR, EvidenceKind.PHARMACOLOGY, rule="cyp3a4"),
    ]
    grade = grade_pair(records)
    assert grade.severity is Severity.MODERATE and grade.indicator is Indicator.INFO
    assert "cyp3a4 would grade it more severely; not applied" in grade.reasons[0]


def test_a_generalisation_grades_a_pair_no_credible_source_grades():
    records = [
        record("DDI-CDS-rules", Severity.MAJOR, EvidenceKind.PHARMACOLOGY, rule="cyp3a4"),
        record("DDInter-1.0", None, words=False),
    ]
    assert grade_pair(records).severity is Severity.MAJOR


def test_a_bare_moderate_grade_alone_makes_no_card():
    """DDInter gives a grade and nothing else; metformin + lisinopril is 'Moderate' there."""
    grade = grade_pair([record("DDInter-1.0", Severity.MODERATE, words=False)])
    assert grade.severity is Severity.MINOR
    assert "names no harm or action" in grade.reasons[0]


def test_a_bare_moderate_grade_beside_words_stands():
    records = [
        record("DDInter-1.0", Severity.MODERATE, words=False),
        record("DrugBank-DDI", Severity.MODERATE, EvidenceKind.TYPE),
    ]
    assert grade_pair(records).severity is Severity.MODERATE


def test_a_vague_drugbank_type_does_not_lend_words_to_a_bare_grade():
    records = [
        record("DDInter-1.0", Severity.MODERATE, words=False),
        record("DrugBank-DDI", Severity.MINOR, EvidenceKind.TYPE),
    ]
    assert grade_pair(records).severity is Severity.MINOR


def test_a_bare_major_grade_alone_still_warns():
    grade = grade_pair([record("DDInter-1.0", Severity.MAJOR, words=False)])
    assert grade.indicator is Indicator.WARNING


@pytest.mark.parametrize("others", [[], [record("ANSM-2020", Severity.MINOR)]])
def test_an_onc_high_priority_pair_always_interrupts(others):
    onc = record("ONC-HP-2012", Severity.MAJOR, flag=Flag.ALWAYS_INTERRUPTIVE)
    grade = grade_pair([onc, *others])
    assert grade.indicator is Indicator.WARNING and grade.severity is Severity.MAJOR
    onc_ungraded = replace(onc, severity=None)
    assert grade_pair([onc_ungraded]).indicator is Indicator.WARNING


def test_an_onc_high_priority_pair_keeps_a_contraindication_critical():
    records = [
        record("ONC-HP-2012", Severity.MAJOR, flag=Flag.ALWAYS_INTERRUPTIVE),
        record("ANSM-2020", Severity.CONTRAINDICATED),
    ]
    assert grade_pair(records).indicator is Indicator.CRITICAL


def test_an_onc_non_interruptive_pair_never_interrupts_unless_contraindicated():
    ni = record("ONC-NI-2013", Severity.MODERATE, flag=Flag.NON_INTERRUPTIVE, words=False)
    major = grade_pair([ni, record("DDInter-1.0", Severity.MAJOR, words=False)])
    assert major.severity is Severity.MAJOR and major.indicator is Indicator.INFO
    assert "non-interruptive" in major.reasons[-1]
    contraindicated = grade_pair([ni, record("ANSM-2020", Severity.CONTRAINDICATED)])
    assert contraindicated.indicator is Indicator.CRITICAL


def test_nothing_graded_is_no_grade():
    grade = grade_pair([record("DrugBank-DDI", None, EvidenceKind.TYPE)])
    assert grade.severity is None and grade.indicator is None
    assert grade_pair([]).severity is None


def test_the_scale_reads_its_earlier_names():
    assert Severity.parse("precaution") is Severity.MODERATE
    assert Severity.parse(" Avoid ") is Severity.MAJOR
    assert Severity.parse("informational") is Severity.MINOR
    with pytest.raises(ValueError, match="use one of contraindicated"):
        Severity.parse("severe")
