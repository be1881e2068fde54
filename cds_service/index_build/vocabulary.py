"""Build `drug_index.sqlite`: RxNorm concepts, NDCs, names and ingredient cross-references."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cds_service.codes import normalize_name
from cds_service.drug_index import SCHEMA
from cds_service.index_build import crossrefs, rxnorm, twosides
from cds_service.index_build.sqlite_writer import digest_files, write_sqlite

BUILDER_VERSION = "drug-index/1"

SOURCES = [
    {
        "id": "rxnorm-2025",
        "name": (
            "RxNorm Current Prescribable Content 2025-10-06 "
            "(via davidanderson3/rxnorm-ingredients@a8fcf13a)"
        ),
        "licence": "Public domain; courtesy of the U.S. National Library of Medicine",
        "files": ["drug-vocabulary/rxnorm-prescribable-2025/web/data"],
    },
    {
        "id": "rxterms-2023",
        "name": "NLM RxTerms 2023-04 ingredients (via grey-box/medical-codex-backend@f12f1208)",
        "licence": "Public domain; courtesy of the U.S. National Library of Medicine",
        "files": ["drug-vocabulary/rxterms-2023/RxTermsIngredients202304.txt"],
    },
    {
        "id": "drugbank-open",
        "name": "DrugBank open vocabulary (via mitgit30/MediGraph@f52b4d4a)",
        "licence": "CC0 1.0",
        "files": ["drug-vocabulary/drugbank-open-vocabulary/drugbank_vocabulary.csv"],
    },
    {
        "id": "drugbank-4.2",
        "name": "DrugBank 4.2 tables and PubChem/UNII mappings (dhimmel/drugbank@6b9ae386)",
        "licence": "CC BY-NC 4.0 (non-commercial)",
        "files": [
            "drug-vocabulary/drugbank-4.2-dhimmel/data/drugbank.tsv",
            "drug-vocabulary/drugbank-4.2-dhimmel/data/pubchem-mapping.tsv",
            "drug-vocabulary/drugbank-4.2-dhimmel/drugbank4-to-pubchem.tsv",
        ],
    },
    {
        "id": "pharmgkb-2023",
        "name": "PharmGKB chemicals 2023-04-05 (via grey-box/medical-codex-backend@f12f1208)",
        "licence": "CC BY-SA 4.0",
        "files": ["drug-vocabulary/pharmgkb-2023/chemicals.tsv"],
    },
    {
        "id": "fda-triads-2014",
        "name": (
            "FDA UNII / RxNorm / DrugBank / ChEBI triads 2014-04-04 "
            "(dbmi-pitt/public-PDDI-analysis@8199ee66)"
        ),
        "licence": "Research use",
        "files": ["drug-vocabulary/fda-rxnorm-drugbank-2014"],
    },
    {
        "id": "ddi-smiles",
        "name": (
            "SMILES of the DrugBank DDI benchmarks (Zhankun-Xiong/MRCGNN@7c10a011, "
            "kanz76/SSI-DDI@23e958f6, AstraZeneca/chemicalx@a960bb13)"
        ),
        "licence": "DrugBank-derived, CC BY-NC 4.0 (non-commercial)",
        "files": [
            "ddi-benchmark/DrugBank-DDI-Ryu/drug_smiles.csv",
            "ddi-benchmark/SSI-DDI/data/drug_smiles.csv",
            "ddi-benchmark/chemicalx/dataset/drugbankddi/drug_set.json",
        ],
    },
    {
        "id": "deside-ddi",
        "name": "DeSIDE-DDI TWOSIDES drug list (GIST-CSBL/DeSIDE-DDI@3e392470)",
        "licence": "CC BY-NC-SA 4.0 (non-commercial)",
        "files": ["ddi-benchmark/DeSIDE-DDI/data/twosides_drug_info.csv"],
    },
]

# When one normalised name comes from several families, the more authoritative family wins;
# within one family, several targets stay and the lookup refuses the name as ambiguous.
NAME_FAMILY_RANK = {"rxnorm": 0, "drugbank": 1, "pharmgkb": 2, "fda": 3}


def _input_files(data_dir: Path) -> list[Path]:
    files: list[Path] = []
    for source in SOURCES:
        for relative in source["files"]:
            path = data_dir / relative
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            )
    return files


def build_drug_index(data_dir: Path, out_path: Path) -> dict:
    """Read the sources under `data_dir`, write the index, return the coverage report."""
    vocabulary, benchmark = data_dir / "drug-vocabulary", data_dir / "ddi-benchmark"
    tables = rxnorm.RxNormTables()
    rxterms_links, rxterms_names = rxnorm.read_rxterms(
        vocabulary / "rxterms-2023" / "RxTermsIngredients202304.txt"
    )
    rxnorm.load_rxnorm_2025(vocabulary / "rxnorm-prescribable-2025", tables, rxterms_names)
    rxnorm.merge_rxterms(rxterms_links, rxterms_names, tables)

    drugbank = crossrefs.read_drugbank(vocabulary)
    crossrefs.add_drugbank_smiles(drugbank, benchmark)
    pharmgkb = crossrefs.read_pharmgkb(vocabulary)
    triads = crossrefs.read_fda_triads(vocabulary)

    def base(rxcui: str) -> set[str]:
        return set(tables.links.get(rxcui, {}))

    ingredient_names = tables.ingredient_names()
    unii = dict(tables.ingredient_unii)
    for _term, triad_unii, rxcui, _db in triads:
        if rxcui in ingredient_names and triad_unii:
            unii.setdefault(rxcui, triad_unii)
    links = crossrefs.link_drugbank(ingredient_names, unii, drugbank, pharmgkb, triads, base)
    drugbank_to_ingredients: dict[str, set[str]] = defaultdict(set)
    for rxcui, found in links.items():
        for drugbank_id in found:
            drugbank_to_ingredients[drugbank_id].add(rxcui)

    ingredient_rows = _ingredient_rows(ingredient_names, unii, links, drugbank, pharmgkb, base)
    names = _name_rows(tables, drugbank, drugbank_to_ingredients, pharmgkb, triads, base)

    def name_to_ingredients(name: str) -> set[str]:
        hits = names.get(normalize_name(name), {})
        return set().union(*(base(rxcui) for rxcui, _kind, _src in hits))

    model_drugs = twosides.map_twosides(
        twosides.read_twosides_drugs(benchmark),
        drugbank,
        drugbank_to_ingredients,
        pharmgkb,
        base,
        name_to_ingredients,
    )
    version = digest_files(_input_files(data_dir), BUILDER_VERSION)
    write_sqlite(
        out_path,
        SCHEMA,
        {
            "ingredient": ingredient_rows,
            "concept": [(r, *v) for r, v in tables.concepts.items()],
            "concept_ingredient": [
                (r, i, src) for r, found in tables.links.items() for i, src in found.items()
            ],
            "ndc": [(ndc, min(products)) for ndc, products in tables.ndcs.items()],
            "name": [(n, *hit) for n, hits in names.items() for hit in hits],
            "drugbank_ingredient": [
                (d, r, how) for r, found in links.items() for d, how in found.items()
            ],
            "model_drug": model_drugs,
        },
        {
            "version": f"drugindex-{version}",
            "builder": BUILDER_VERSION,
            "sources": _sources_json(),
        },
    )
    return _coverage(tables, rxterms_links, ingredient_rows, model_drugs, version)


def _sources_json() -> str:
    import json

    return json.dumps(
        [{k: s[k] for k in ("id", "name", "licence")} for s in SOURCES], sort_keys=True
    )


def _ingredient_rows(
    ingredient_names: dict[str, str],
    unii: dict[str, str],
    links: dict[str, dict[str, str]],
    drugbank: dict[str, crossrefs.DrugBankDrug],
    pharmgkb: list[crossrefs.PharmGkbChemical],
    base: object,
) -> list[tuple]:
    pharmgkb_by_rxcui = {r: c for c in pharmgkb for r in c.rxcuis}
    rows = []
    for rxcui, name in sorted(ingredient_names.items()):
        best = crossrefs.best_link(links.get(rxcui, {}))
        drug = drugbank[best[0]] if best else None
        chemical = pharmgkb_by_rxcui.get(rxcui)
        smiles, structure_source = None, None
        if drug and drug.smiles:
            smiles, structure_source = drug.smiles, drug.smiles_source
        elif chemical and chemical.smiles:
            smiles, structure_source = chemical.smiles, "pharmgkb-2023"
        pubchem = sorted(chemical.pubchem_cids)[0] if chemical and chemical.pubchem_cids else None
        if pubchem is None and drug and drug.pubchem_cids:
            pubchem = min(drug.pubchem_cids, key=int)
        rows.append(
            (
                rxcui,
                name,
                unii.get(rxcui),
                best[0] if best else None,
                best[1] if best else None,
                pubchem,
                smiles,
                (drug.inchikey or None) if drug else None,
                structure_source,
                (
                    drug.atc_codes
                    if drug and drug.atc_codes
                    else (chemical.atc_codes if chemical else "")
                )
                or None,
            )
        )
    return rows


def _name_rows(
    tables: rxnorm.RxNormTables,
    drugbank: dict[str, crossrefs.DrugBankDrug],
    drugbank_to_ingredients: dict[str, set[str]],
    pharmgkb: list[crossrefs.PharmGkbChemical],
    triads: list[tuple[str, str, str, str]],
    base: object,
) -> dict[str, list[tuple[str, str, str]]]:
    """normalised name -> [(RXCUI, kind, source)], keeping only the best-ranked family."""
    candidates: dict[str, set[tuple[int, str, str, str]]] = defaultdict(set)

    def add(name: str, rxcui: str, kind: str, family: str, source: str) -> None:
        if family != "rxnorm" and "(" in name:
            return  # "(-)-Salbutamol" (levalbuterol) would fold into "salbutamol"
        normalized = normalize_name(name)
        if normalized and rxcui in tables.links:
            candidates[normalized].add((NAME_FAMILY_RANK[family], rxcui, kind, source))

    kinds = {"IN": "ingredient", "PIN": "ingredient", "MIN": "ingredient", "BN": "brand"}
    for rxcui, (tty, name, source) in tables.concepts.items():
        if tty != "product":  # RxTerms-only products have no RxNorm name of their own
            add(name, rxcui, kinds.get(tty, "product"), "rxnorm", source)
    for drugbank_id, drug in drugbank.items():
        targets = drugbank_to_ingredients.get(drugbank_id, set())
        if len(targets) == 1:
            (rxcui,) = targets
            for synonym in [drug.name, *drug.synonyms]:
                add(synonym, rxcui, "synonym", "drugbank", "drugbank-open")
    for chemical in pharmgkb:
        for rxcui in chemical.rxcuis:
            for synonym in [chemical.name, *chemical.generic_names]:
                add(synonym, rxcui, "synonym", "pharmgkb", "pharmgkb-2023")
            for brand in chemical.trade_names:
                add(brand, rxcui, "brand", "pharmgkb", "pharmgkb-2023")
    for term, _unii, rxcui, _drugbank in triads:
        add(term, rxcui, "synonym", "fda", "fda-triads-2014")

    names: dict[str, list[tuple[str, str, str]]] = {}
    for normalized, hits in candidates.items():
        best = min(rank for rank, *_rest in hits)
        names[normalized] = sorted({(r, k, s) for rank, r, k, s in hits if rank == best})
    return names


def _coverage(
    tables: rxnorm.RxNormTables,
    rxterms_links: dict[str, set[str]],
    ingredient_rows: list[tuple],
    model_drugs: list[tuple],
    version: str,
) -> dict:
    by_rxcui = {row[0]: row for row in ingredient_rows}

    def share(products: list[str], column: int | tuple[int, ...]) -> float:
        columns = column if isinstance(column, tuple) else (column,)
        ok = sum(
            1
            for p in products
            if tables.links.get(p)
            and all(any(by_rxcui.get(i, (None,) * 10)[c] for c in columns) for i in tables.links[p])
        )
        return round(ok / len(products), 4) if products else 0.0

    products = sorted(rxterms_links)
    mapped = [row for row in model_drugs if row[3]]
    return {
        "version": f"drugindex-{version}",
        "concepts": len(tables.concepts),
        "ingredients": len(ingredient_rows),
        "ndcs": len(tables.ndcs),
        "rxterms_products": len(products),
        "rxterms_products_all_ingredients_drugbank": share(products, 3),
        "rxterms_products_all_ingredients_structure": share(products, (6, 7)),
        "rxterms_products_all_ingredients_smiles": share(products, 6),
        "ingredients_with_drugbank": round(
            sum(1 for r in ingredient_rows if r[3]) / len(ingredient_rows), 4
        ),
        "twosides_drugs": len(model_drugs),
        "twosides_drugs_mapped": len(mapped),
        "twosides_share_mapped": round(len(mapped) / len(model_drugs), 4),
        "twosides_unmapped_examples": [r[2] for r in model_drugs if not r[3]][:25],
        "twosides_mapped_by": {
            how: sum(1 for r in mapped if r[4] == how) for how in sorted({r[4] for r in mapped})
        },
        "build_issues": {k: len(v) for k, v in sorted(tables.issues.items())},
    }
