"""The project's reviewed rule tables (cds_service/index_build/pharmacology/): their format is
enforced, every name resolves, and the rules say what a prescriber must hear."""

from __future__ import annotations

import re

import pytest

from cds_service.core.drug_index import DrugIndex
from cds_service.core.grading import grade_pair
from cds_service.core.knowledge import KnowledgeBase
from cds_service.core.severity import Severity
from cds_service.index_build import crediblemeds, pharmacology
from cds_service.index_build.drug_facts import DrugFacts
from cds_service.index_build.ingredient_resolver import IngredientResolver
from cds_service.testing.rxcui import (
    CIPROFLOXACIN,
    FLUOXETINE,
    OXYCODONE,
    SERTRALINE,
    TIZANIDINE,
)
from tests.conftest import SHARED_DATA

RULES_HEADER = "\t".join(pharmacology.COLUMNS["rules"])
SUMMARIES_HEADER = "\t".join(pharmacology.COLUMNS["summaries"])
FRENCH = re.compile(r"\b(?:le|la|les|des|avec|une|surveillance|risque|association)\b", re.I)


@pytest.fixture(scope="module")
def tables() -> pharmacology.Tables:
    return pharmacology.read_tables()


@pytest.mark.shared
def test_every_name_group_and_reference_resolves(tables):
    index = DrugIndex()
    resolver = IngredientResolver(index)
    external = {"qt-known-tdp": crediblemeds.known_tdp_group(SHARED_DATA, resolver)}
    resolution = pharmacology.resolve(tables, resolver, DrugFacts(index, SHARED_DATA), external)
    assert resolution.problems == []
    assert len(tables.rules) >= 200 and len(tables.references) >= 200


def test_every_rule_names_a_harm_an_action_and_cites_in_english(tables):
    for rule in tables.rules:
        assert rule.references, rule.id
        for text in (rule.harm, rule.mechanism, rule.advice):
            assert not FRENCH.search(text), (rule.id, text)
            unknown = set(re.findall(r"\{(\w+)\}", text)) - {"a", "b", "a_note", "b_note"}
            assert not unknown, (rule.id, unknown)


def write(folder, name: str, lines: list[str]) -> None:
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("r1\tg\tg\tsevere\tlabel\th\tm\ta\t\tref\t", "grade 'severe' is not one of the scale"),
        ("r1\tg\tg\tmajor\tguess\th\tm\ta\t\tref\t", "basis 'guess' is not label"),
        ("r1\tg\tg\tmajor\tlabel\t\tm\ta\t\tref\t", "has no harm"),
        ("r1\tg\tg\tmajor\tlabel\th\tm\ta\tvibes\tref\t", "monitor vibes not in"),
    ],
)
def test_a_malformed_rule_names_its_file_and_line(tmp_path, row, says):
    write(tmp_path, "x.rules.tsv", ["# a comment", RULES_HEADER, row])
    with pytest.raises(pharmacology.TableError, match=r"x\.rules\.tsv:3: ") as error:
        pharmacology.read_tables(tmp_path)
    assert says in str(error.value)


def test_a_wrong_header_and_a_duplicate_reference_are_refused(tmp_path):
    write(tmp_path, "x.rules.tsv", ["rule\tgroup_a"])
    with pytest.raises(pharmacology.TableError, match=r"x\.rules\.tsv:1: header must be"):
        pharmacology.read_tables(tmp_path)
    (tmp_path / "x.rules.tsv").unlink()
    write(tmp_path, "x.references.tsv", ["id\tcitation\turl", "a\tA\t", "a\tB\t"])
    with pytest.raises(pharmacology.TableError, match="reference 'a' is defined twice"):
        pharmacology.read_tables(tmp_path)


@pytest.mark.shared
def test_resolving_reports_unknown_names_groups_and_references(tmp_path):
    write(tmp_path, "x.references.tsv", ["id\tcitation\turl", "ref\tA citation\t"])
    write(
        tmp_path,
        "x.groups.tsv",
        ["\t".join(pharmacology.COLUMNS["groups"]), "g\ta thing\t\t\t\tref\t"],
    )
    write(
        tmp_path,
        "x.members.tsv",
        ["\t".join(pharmacology.COLUMNS["members"]), "g\twarfrin\tnamed\tref\t",
         "h\twarfarin\tnamed\tnope\t"],
    )  # fmt: skip
    write(tmp_path, "x.rules.tsv", [RULES_HEADER, "r\tg\tmissing\tmajor\tlabel\th\tm\ta\t\tref\t"])
    write(tmp_path, "rules.summaries.tsv", [SUMMARIES_HEADER, "r\tharm\tavoid"])
    index = DrugIndex()
    tables = pharmacology.read_tables(tmp_path)
    problems = pharmacology.resolve(
        tables, IngredientResolver(index), DrugFacts(index, SHARED_DATA)
    ).problems
    assert any("'warfrin' names no ingredient" in p for p in problems)
    assert any("unknown group 'h'" in p for p in problems)
    assert any("uses unknown group 'missing'" in p for p in problems)


def test_every_rule_needs_its_summary_and_no_summary_its_rule(tmp_path):
    write(tmp_path, "x.rules.tsv", [RULES_HEADER, "r\tg\th\tmajor\tlabel\th\tm\ta\t\t\t"])
    write(tmp_path, "rules.summaries.tsv", [SUMMARIES_HEADER, "other\tharm\tavoid"])
    with pytest.raises(pharmacology.TableError, match="unknown rules other; rules without one r"):
        pharmacology.read_tables(tmp_path)
    write(tmp_path, "rules.summaries.tsv", [SUMMARIES_HEADER, "r\t{a} rises\tavoid"])
    with pytest.raises(pharmacology.TableError, match="no placeholder"):
        pharmacology.read_tables(tmp_path)


ALPRAZOLAM = "596"
DOFETILIDE, VERAPAMIL, THIORIDAZINE = "49247", "11170", "10502"
LINEZOLID, CLOZAPINE, FLUVOXAMINE = "190376", "2626", "42355"


@pytest.mark.parametrize(
    ("a", "b", "severity", "words"),
    [
        (OXYCODONE, ALPRAZOLAM, Severity.MAJOR, "respiratory depression"),
        (TIZANIDINE, CIPROFLOXACIN, Severity.CONTRAINDICATED, "CYP1A2"),
        (DOFETILIDE, VERAPAMIL, Severity.CONTRAINDICATED, "dofetilide"),
        (THIORIDAZINE, FLUOXETINE, Severity.CONTRAINDICATED, "CYP2D6"),
        (LINEZOLID, SERTRALINE, Severity.CONTRAINDICATED, "serotonin"),
        (CLOZAPINE, FLUVOXAMINE, Severity.MAJOR, "clozapine"),
    ],
)
def test_textbook_pairs_the_french_lists_miss_are_graded_by_the_rules(a, b, severity, words):
    records = KnowledgeBase().interactions_for([a], [b])
    assert grade_pair(records).severity is severity
    rules = [r for r in records if r.rule]
    assert rules and all(r.references for r in rules)
    text = " ".join(f"{r.consequence} {r.mechanism} {r.management}" for r in rules)
    assert words.lower() in text.lower()
    assert "{" not in text  # every placeholder filled
