"""Multi-level ANSM 2020 entries: a level that names its substances applies to the pairs that
hold them, where the entry has a catch-all level (cds_service/index_build/ansm_levels.py). On
the committed knowledge, and on the rule itself."""

from __future__ import annotations

import pytest

from cds_service.core.knowledge import KnowledgeBase, Severity
from cds_service.index_build import ansm_english
from cds_service.index_build.ansm_levels import LevelScope, level_scopes
from cds_service.testing.rxcui import (
    ASPIRIN,
    GABAPENTIN,
    LISINOPRIL,
    OXYCODONE,
    SILDENAFIL,
    TRAMADOL,
    WARFARIN,
)

OXYBATE, MORPHINE = "2387302", "7052"
LORAZEPAM = "6470"
SOFOSBUVIR, CARBAMAZEPINE, RIFAMPIN, BICTEGRAVIR = "1484911", "2002", "9384", "1999660"
DOXAZOSIN, TAMSULOSIN, TADALAFIL = "49276", "77492", "358263"
CITALOPRAM, METHADONE, ARSENIC, CRIZOTINIB = "2556", "6813", "18330", "1148495"
SACUBITRIL, SITAGLIPTIN = "1656328", "593411"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


def ansm_tier(kb: KnowledgeBase, a: str, b: str) -> tuple[Severity, str]:
    """The grade and the thesaurus's level wording (cards show the ANSM's English wording)."""
    (record,) = [r for r in kb.interactions_for([a], [b]) if r.source.startswith("ANSM")]
    return record.severity, record.source_severity


@pytest.mark.parametrize(
    ("a", "b", "tier", "level"),
    [
        # "A prendre en compte pour tous les médicaments sédatifs entre eux"; the contraindication
        # is "entre l'oxybate de sodium et les opiacés": no longer on every pair of sedatives
        (TRAMADOL, GABAPENTIN, Severity.MINOR, "A prendre en compte"),
        (OXYCODONE, LORAZEPAM, Severity.MINOR, "A prendre en compte"),
        (OXYBATE, MORPHINE, Severity.CONTRAINDICATED, "CONTRE-INDICATION"),
        # "avec la doxazosine" / "avec les autres alpha-bloquants"
        (DOXAZOSIN, SILDENAFIL, Severity.MAJOR, "Association DECONSEILLEE"),
        (TAMSULOSIN, TADALAFIL, Severity.MODERATE, "Précaution d'emploi"),
        # "avec le citalopram, ..." / "avec les autres médicaments susceptibles de donner des
        # torsades de pointes"
        (CITALOPRAM, METHADONE, Severity.CONTRAINDICATED, "CONTRE-INDICATION"),
        (ARSENIC, CRIZOTINIB, Severity.MAJOR, "Association DECONSEILLEE"),
        # "avec la rifampicine" / "avec les autres inducteurs enzymatiques"
        (BICTEGRAVIR, RIFAMPIN, Severity.CONTRAINDICATED, "CONTRE-INDICATION"),
        (BICTEGRAVIR, CARBAMAZEPINE, Severity.MAJOR, "Association DECONSEILLEE"),
        # "CONTRE-INDICATION : entre sacubitril et IEC", then "Association DECONSEILLEE" alone
        (SACUBITRIL, LISINOPRIL, Severity.CONTRAINDICATED, "CONTRE-INDICATION"),
        (SITAGLIPTIN, LISINOPRIL, Severity.MAJOR, "Association DECONSEILLEE"),
    ],
)
def test_a_level_naming_its_substances_applies_to_their_pairs_only(kb, a, b, tier, level):
    assert ansm_tier(kb, a, b) == (tier, ansm_english.level(level))
    assert ansm_tier(kb, b, a) == (tier, ansm_english.level(level))


def test_a_level_that_also_names_a_class_is_not_narrowed(kb):
    # Sofosbuvir: contraindicated "avec la rifampicine - avec les anticonvulsivants inducteurs
    # enzymatiques"; narrowing to rifampicin would lose carbamazepine's contraindication.
    assert ansm_tier(kb, SOFOSBUVIR, CARBAMAZEPINE)[0] is Severity.CONTRAINDICATED
    assert ansm_tier(kb, SOFOSBUVIR, RIFAMPIN)[0] is Severity.CONTRAINDICATED


def test_levels_on_dose_keep_the_most_severe(kb):
    # Aspirin's levels depend on its dose, which codes do not carry: the card quotes them all.
    tier, wording = ansm_tier(kb, WARFARIN, ASPIRIN)
    assert tier is Severity.CONTRAINDICATED
    assert wording == "Contraindication / Not recommended / Take into account"


SUBSTANCES = {"oxybate de sodium": ["1"], "doxazosine": ["2"], "rifampicine": ["3"]}
CLASSES = {"anticonvulsivants inducteurs enzymatiques"}


def scopes(levels: list[tuple[str, str]], members: set[str]) -> list[LevelScope]:
    return level_scopes(levels, members, SUBSTANCES, CLASSES)


def test_the_rule_narrows_only_beside_a_catch_all():
    with_catch_all = scopes(
        [("CI", "entre l'oxybate de sodium et les opiacés"), ("APEC", "pour tous les sédatifs")],
        {"1", "9"},
    )
    assert [s.requires_any for s in with_catch_all] == [("1",), ()]
    without = scopes([("ASDEC", "avec la doxazosine"), ("PE", "en cas d'insuffisance")], {"2"})
    assert [s.requires_any for s in without] == [(), ()]


def test_the_rule_keeps_a_level_that_names_a_class_beside_its_substance():
    found = scopes(
        [
            ("CI", "avec la rifampicine - avec les anticonvulsivants inducteurs enzymatiques"),
            ("ASDEC", "avec les autres inducteurs"),
        ],
        {"3"},
    )
    assert [s.requires_any for s in found] == [(), ()]


def test_the_rule_ignores_substances_outside_the_entry():
    found = scopes([("ASDEC", "avec la doxazosine"), ("PE", "avec les autres")], {"1"})
    assert [s.requires_any for s in found] == [(), ()]
