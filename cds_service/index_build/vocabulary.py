"""Build `drug_index.sqlite`: RxNorm concepts, NDCs, names and ingredient cross-references."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cds_service.core.codes import normalize_name, without_salt
from cds_service.core.drug_index import SCHEMA
from cds_service.index_build import brands, crossrefs, moieties, rxnorm, twosides, who_atc
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
    {
        "id": who_atc.WHO_ATC,
        "name": "WHO ATC/DDD Index 2026 (via fabkury/atcd@1e92aec7)",
        "licence": "WHO Collaborating Centre for Drug Statistics Methodology: non-commercial use",
        "files": [who_atc.ATC_FILE],
    },
]

# When one normalised name comes from several families, the more authoritative family wins;
# within one family, several targets stay and the lookup refuses the name as ambiguous.
NAME_FAMILY_RANK = {"rxnorm": 0, "drugbank": 1, "pharmgkb": 2, "fda": 3}
FAMILY_OF_RANK = {rank: family for family, rank in NAME_FAMILY_RANK.items()}
# Name families and kinds that may say which substance a name is (a brand or a product may not).
_SUBSTANCE_FAMILIES = frozenset({"rxnorm", "drugbank"})
_SUBSTANCE_KINDS = frozenset({"ingredient", "synonym"})


def _input_files(data_dir: Path) -> list[Path]:
    files: list[Path] = [moieties.TABLE_PATH]
    for source in SOURCES:
        for relative in source["files"]:
            path = data_dir / relative
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            )
    return files


def build_drug_index(data_dir: Path, out_path: Path) -> dict[str, Any]:
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
    moiety_table = moieties.read_moiety_table()
    _add_moiety_bases(moiety_table, tables, pharmgkb, triads)
    pack_components = rxnorm.link_pack_components(tables)

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

    skipped: Counter[str] = Counter()
    name_index = _NameIndex(tables)
    _add_names(name_index, drugbank, drugbank_to_ingredients, pharmgkb, triads, skipped)
    names = name_index.best()
    moiety_links = moieties.moiety_links(moiety_table, ingredient_names)
    atc = _atc_codes(
        data_dir, ingredient_names, links, drugbank, pharmgkb, name_index, moiety_links
    )
    ingredient_rows = _ingredient_rows(ingredient_names, unii, links, drugbank, pharmgkb, atc)

    def name_to_ingredients(name: str) -> set[str]:
        hits = names.get(normalize_name(name), [])
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
            "ingredient_moiety": [(m.salt_rxcui, m.moiety_rxcui, m.basis) for m in moiety_links],
            "pack_component": [(c.pack, c.name, " ".join(c.ingredients)) for c in pack_components],
        },
        {
            "version": f"drugindex-{version}",
            "builder": BUILDER_VERSION,
            "sources": _sources_json(),
        },
    )
    report = _coverage(tables, rxterms_links, ingredient_rows, model_drugs, version)
    report.update(
        _mapping_report(ingredient_names, ingredient_rows, moiety_links, pack_components, names)
    )
    report["names_left_out"] = dict(sorted(skipped.items()))
    return report


def _add_moiety_bases(
    table: moieties.MoietyTable,
    tables: rxnorm.RxNormTables,
    pharmgkb: list[crossrefs.PharmGkbChemical],
    triads: list[tuple[str, str, str, str]],
) -> None:
    """Make every base moiety an ingredient (calcium, iron: the prescribable tables lack them),
    once its RXCUI is checked against what RxNorm, PharmGKB or the FDA triads call it."""
    attested = {(normalize_name(c.name), r) for c in pharmgkb for r in c.rxcuis}
    attested |= {(normalize_name(term), rxcui) for term, _unii, rxcui, _db in triads}
    attested |= {(normalize_name(n), r) for r, n in tables.ingredient_names().items()}
    moieties.check_bases(table, lambda name, rxcui: (name, rxcui) in attested)
    for name, (rxcui, _basis) in sorted(table.bases.items()):
        known = tables.concepts.get(rxcui)
        if known and known[0] != "IN":
            raise moieties.MoietyTableError(f"base {name!r} RXCUI {rxcui} is a {known[0]}")
        if not known:
            tables.add_concept(rxcui, "IN", name, moieties.SOURCE)
            tables.link(rxcui, rxcui, f"{moieties.SOURCE}:IN")


def _sources_json() -> str:
    return json.dumps(
        [{k: s[k] for k in ("id", "name", "licence")} for s in SOURCES], sort_keys=True
    )


def _existing_atc(
    ingredient_names: dict[str, str],
    links: dict[str, dict[str, str]],
    drugbank: dict[str, crossrefs.DrugBankDrug],
    pharmgkb: list[crossrefs.PharmGkbChemical],
) -> dict[str, tuple[str, str]]:
    """IN RXCUI -> (codes, source) as DrugBank 4.2, else PharmGKB, gives them."""
    pharmgkb_by_rxcui = {r: c for c in pharmgkb for r in c.rxcuis}
    found = {}
    for rxcui in sorted(ingredient_names):
        best = crossrefs.best_link(links.get(rxcui, {}))
        drug = drugbank[best[0]] if best else None
        chemical = pharmgkb_by_rxcui.get(rxcui)
        if drug and drug.atc_codes:
            found[rxcui] = (drug.atc_codes, "drugbank-4.2")
        elif chemical and chemical.atc_codes:
            found[rxcui] = (chemical.atc_codes, "pharmgkb-2023")
    return found


def _atc_codes(
    data_dir: Path,
    ingredient_names: dict[str, str],
    links: dict[str, dict[str, str]],
    drugbank: dict[str, crossrefs.DrugBankDrug],
    pharmgkb: list[crossrefs.PharmGkbChemical],
    name_index: _NameIndex,
    moiety_links: list[moieties.MoietyLink],
) -> dict[str, tuple[str, str]]:
    """DrugBank's or PharmGKB's codes, else the WHO index's by exact name (who_atc.py).

    A base the moiety table adds (calcium, iron, zinc) takes no code: DrugBank's element entries
    list the code of every compound of the element (carbasalate calcium, an antiplatelet, under
    calcium), which would put the element in wrong classes; each salt carries its own codes.
    """
    added_bases = {
        rxcui
        for rxcui, (_tty, _name, source) in name_index.tables.concepts.items()
        if source == moieties.SOURCE
    }
    existing = _existing_atc(ingredient_names, links, drugbank, pharmgkb)
    atc = {rxcui: codes for rxcui, codes in existing.items() if rxcui not in added_bases}

    def ingredient_for_name(normalized: str) -> tuple[str, str] | None:
        found = name_index.substance(normalized)
        if found is None or len(found[0]) != 1:
            return None
        return next(iter(found[0])), found[1]

    who = who_atc.read_who_substances(data_dir / who_atc.ATC_FILE)
    atc.update(
        who_atc.atc_from_who(
            who,
            {r: n for r, n in ingredient_names.items() if r not in atc and r not in added_bases},
            ingredient_for_name,
            {m.salt_rxcui: m.moiety_rxcui for m in moiety_links},
            ingredient_names,
        )
    )
    return atc


def _ingredient_rows(
    ingredient_names: dict[str, str],
    unii: dict[str, str],
    links: dict[str, dict[str, str]],
    drugbank: dict[str, crossrefs.DrugBankDrug],
    pharmgkb: list[crossrefs.PharmGkbChemical],
    atc: dict[str, tuple[str, str]],
) -> list[tuple[Any, ...]]:
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
        codes, codes_source = atc.get(rxcui, (None, None))
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
                codes,
                codes_source,
            )
        )
    return rows


class _NameIndex:
    """normalised name -> {(family rank, concept RXCUI, kind, source)} while the build adds
    names; `best()` keeps, for each name, only its best-ranked family."""

    def __init__(self, tables: rxnorm.RxNormTables) -> None:
        self.tables = tables
        self.candidates: dict[str, set[tuple[int, str, str, str]]] = defaultdict(set)

    def add(self, name: str, rxcui: str, kind: str, family: str, source: str) -> None:
        if family != "rxnorm" and "(" in name:
            return  # "(-)-Salbutamol" (levalbuterol) would fold into "salbutamol"
        normalized = normalize_name(name)
        if normalized and rxcui in self.tables.links:
            self.candidates[normalized].add((NAME_FAMILY_RANK[family], rxcui, kind, source))

    def _best_hits(self, normalized: str) -> list[tuple[int, str, str, str]]:
        hits = self.candidates.get(normalized, set())
        best = min((hit[0] for hit in hits), default=None)
        return sorted(hit for hit in hits if hit[0] == best)

    def targets(self, normalized: str) -> set[frozenset[str]]:
        """The ingredient sets the name would map to (several: the lookup refuses it)."""
        links = self.tables.links
        return {frozenset(links[rxcui]) for _rank, rxcui, _k, _s in self._best_hits(normalized)}

    def substance(self, normalized: str) -> tuple[frozenset[str], str] | None:
        """(ingredients, family) when the name's best family is trusted to name a substance
        (RxNorm or DrugBank), every best hit is an ingredient or synonym name, and all agree."""
        hits = self._best_hits(normalized)
        if not hits or FAMILY_OF_RANK[hits[0][0]] not in _SUBSTANCE_FAMILIES:
            return None
        targets = self.targets(normalized)
        if len(targets) != 1 or any(kind not in _SUBSTANCE_KINDS for _r, _c, kind, _s in hits):
            return None
        return next(iter(targets)), FAMILY_OF_RANK[hits[0][0]]

    def prefer_whole_mixtures(self, family: str) -> None:
        """Within `family`'s brand names, keep only the mixture when a name also points to a
        part of it: PharmGKB lists "Percodan" as a trade name of oxycodone and as the mixture
        oxycodone + aspirin, and the whole mixture is what the patient takes."""
        rank = NAME_FAMILY_RANK[family]
        for normalized in sorted(self.candidates):
            hits = self._best_hits(normalized)
            if not hits or hits[0][0] != rank or any(hit[2] != "brand" for hit in hits):
                continue
            sets = {hit: frozenset(self.tables.links[hit[1]]) for hit in hits}
            whole = frozenset().union(*sets.values())
            if whole in sets.values() and len(set(sets.values())) > 1:
                self.candidates[normalized] -= {hit for hit, found in sets.items() if found < whole}

    def best(self) -> dict[str, list[tuple[str, str, str]]]:
        return {
            normalized: [(r, k, s) for _rank, r, k, s in self._best_hits(normalized)]
            for normalized in self.candidates
        }


def _add_names(
    index: _NameIndex,
    drugbank: dict[str, crossrefs.DrugBankDrug],
    drugbank_to_ingredients: dict[str, set[str]],
    pharmgkb: list[crossrefs.PharmGkbChemical],
    triads: list[tuple[str, str, str, str]],
    skipped: Counter[str],
) -> None:
    """Every name the text lookup knows: RxNorm's, the synonyms, then the brands RxNorm's BN
    concepts miss (brands.py), which must not make a known name ambiguous."""
    tables = index.tables
    kinds = {"IN": "ingredient", "PIN": "ingredient", "MIN": "ingredient", "BN": "brand"}
    for rxcui, (tty, name, source) in tables.concepts.items():
        if tty != "product":  # RxTerms-only products have no RxNorm name of their own
            index.add(name, rxcui, kinds.get(tty, "product"), "rxnorm", source)
    for drugbank_id, drug in drugbank.items():
        targets = drugbank_to_ingredients.get(drugbank_id, set())
        if len(targets) == 1:
            (rxcui,) = targets
            for synonym in [drug.name, *drug.synonyms]:
                index.add(synonym, rxcui, "synonym", "drugbank", "drugbank-open")
    for chemical in pharmgkb:
        for rxcui in chemical.rxcuis:
            for synonym in [chemical.name, *chemical.generic_names]:
                index.add(synonym, rxcui, "synonym", "pharmgkb", "pharmgkb-2023")
            for brand in chemical.trade_names:
                index.add(brand, rxcui, "brand", "pharmgkb", "pharmgkb-2023")
    for term, _unii, rxcui, _drugbank in triads:
        index.add(term, rxcui, "synonym", "fda", "fda-triads-2014")

    def resolve(name: str) -> frozenset[str]:
        found = index.substance(normalize_name(name)) or index.substance(without_salt(name))
        return found[0] if found else frozenset()

    concept_for = brands.concepts_by_ingredients(tables.concepts, tables.links)
    for brand, rxcui in brands.pharmgkb_brands(pharmgkb, resolve, concept_for, skipped):
        index.add(brand, rxcui, "brand", "pharmgkb", "pharmgkb-2023")
    index.prefer_whole_mixtures("pharmgkb")
    for brand, rxcui in brands.pack_brands(tables.concepts, tables.links, index.targets, skipped):
        index.add(brand, rxcui, "brand", "rxnorm", rxnorm.RXNORM_2025)


def _coverage(
    tables: rxnorm.RxNormTables,
    rxterms_links: dict[str, set[str]],
    ingredient_rows: list[tuple[Any, ...]],
    model_drugs: list[tuple[Any, ...]],
    version: str,
) -> dict[str, Any]:
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


def _mapping_report(
    ingredient_names: dict[str, str],
    ingredient_rows: list[tuple[Any, ...]],
    moiety_links: list[moieties.MoietyLink],
    pack_components: list[rxnorm.PackComponent],
    names: dict[str, list[tuple[str, str, str]]],
) -> dict[str, Any]:
    """Salts, ATC codes, packs and brand names: what this build adds to the mapping."""
    atc_sources = Counter(row[10] for row in ingredient_rows if row[9])
    from_who = sum(n for source, n in atc_sources.items() if source.startswith(who_atc.WHO_ATC))
    unresolved = [c for c in pack_components if not c.ingredients]
    return {
        "salt_moieties": {
            "salts": len(moiety_links),
            "by_base": dict(
                sorted(Counter(ingredient_names[m.moiety_rxcui] for m in moiety_links).items())
            ),
            "by": dict(sorted(Counter(m.how for m in moiety_links).items())),
        },
        "ingredients_with_atc": {
            "before_who": sum(atc_sources.values()) - from_who,
            "after_who": sum(atc_sources.values()),
            "by_source": dict(sorted(atc_sources.items())),
        },
        "pack_components": {
            "packs": len({c.pack for c in pack_components}),
            "components": len(pack_components),
            "without_ingredient": len(unresolved),
            "without_ingredient_examples": sorted({c.name for c in unresolved})[:10],
        },
        "brand_names": sum(1 for hits in names.values() if any(k == "brand" for _r, k, _s in hits)),
    }
