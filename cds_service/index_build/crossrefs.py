"""Cross-references from RxNorm ingredients to DrugBank, PubChem, structures and other names.

Links are ranked by how they were made: a shared UNII is an identity of substance, PharmGKB and
the FDA/RxNorm/DrugBank triads are curated cross-walks, and an exact name is the weakest. The
best link becomes the ingredient's DrugBank id; every link is kept for reverse lookups.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.core.codes import normalize_name

csv.field_size_limit(1 << 30)

LINK_RANK = ("unii-2025", "pharmgkb-2023", "fda-triads-2014", "unii-2014", "name")
_DRUGBANK_ID = re.compile(r"DB[0-9]{5}")


@dataclass
class DrugBankDrug:
    drugbank_id: str
    name: str
    unii: str = ""
    inchikey: str = ""
    synonyms: list[str] = field(default_factory=list)
    atc_codes: str = ""
    smiles: str = ""
    smiles_source: str = ""
    pubchem_cids: set[str] = field(default_factory=set)


@dataclass
class PharmGkbChemical:
    name: str
    generic_names: list[str]
    trade_names: list[str]
    rxcuis: list[str]  # empty for a chemical PharmGKB gives no RxNorm code (apixaban)
    drugbank_ids: list[str]
    pubchem_cids: list[str]
    smiles: str
    atc_codes: str  # "|"-separated, as DrugBank's
    brand_mixtures: str = ""  # 'Lotrel (amlodipine + benazepril), ...' (brands.py reads it)
    is_drug: bool = True  # a drug or prodrug, not a metabolite or a drug class


def _split(text: str, sep: str) -> list[str]:
    return [part.strip().strip('"') for part in text.split(sep) if part.strip().strip('"')]


def read_drugbank(vocabulary: Path) -> dict[str, DrugBankDrug]:
    """DrugBank open vocabulary (CC0) with ATC, InChIKey and PubChem from DrugBank 4.2."""
    drugs: dict[str, DrugBankDrug] = {}
    with (vocabulary / "drugbank-open-vocabulary" / "drugbank_vocabulary.csv").open(
        encoding="utf-8", newline=""
    ) as handle:
        for row in csv.DictReader(handle):
            drugs[row["DrugBank ID"]] = DrugBankDrug(
                drugbank_id=row["DrugBank ID"],
                name=row["Common name"],
                unii=row["UNII"],
                inchikey=row["Standard InChI Key"],
                synonyms=_split(row["Synonyms"], " | "),
            )
    dhimmel = vocabulary / "drugbank-4.2-dhimmel"
    with (dhimmel / "data" / "drugbank.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            drug = drugs.get(row["drugbank_id"])
            if drug:
                drug.atc_codes = row["atc_codes"]
                drug.inchikey = drug.inchikey or row["inchikey"]
    for path, column in (
        (dhimmel / "data" / "pubchem-mapping.tsv", "pubchem_cid"),
        (dhimmel / "drugbank4-to-pubchem.tsv", "pubchemCompoundId"),
    ):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                drug = drugs.get(row.get("drugbank_id") or row.get("drugbankid", ""))
                if drug and row.get(column):
                    drug.pubchem_cids.add(row[column])
    return drugs


def add_drugbank_smiles(drugs: dict[str, DrugBankDrug], benchmark: Path) -> None:
    """SMILES from the DDI benchmarks, in the order the DDI data itself uses them."""
    sources = (
        ("drugbank-ddi-ryu", benchmark / "DrugBank-DDI-Ryu" / "drug_smiles.csv"),
        ("ssi-ddi", benchmark / "SSI-DDI" / "data" / "drug_smiles.csv"),
    )
    for label, path in sources:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                drug = drugs.get(row["drug_id"])
                if drug and not drug.smiles and row["smiles"]:
                    drug.smiles, drug.smiles_source = row["smiles"], label
    chemicalx = json.loads(
        (benchmark / "chemicalx" / "dataset" / "drugbankddi" / "drug_set.json").read_text()
    )
    for drugbank_id, record in sorted(chemicalx.items()):
        drug = drugs.get(drugbank_id)
        if drug and not drug.smiles and record.get("smiles"):
            drug.smiles, drug.smiles_source = record["smiles"], "chemicalx-drugbankddi"


def read_pharmgkb(vocabulary: Path) -> list[PharmGkbChemical]:
    """PharmGKB chemicals with an RxNorm code, a trade name or a brand mixture."""
    chemicals = []
    path = vocabulary / "pharmgkb-2023" / "chemicals.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rxcuis = _split(row["RxNorm Identifiers"], ",")
            if not (rxcuis or row["Trade Names"].strip() or row["Brand Mixtures"].strip()):
                continue
            chemicals.append(
                PharmGkbChemical(
                    name=row["Name"],
                    generic_names=_split(row["Generic Names"], '", "')
                    if row["Generic Names"].startswith('"')
                    else _split(row["Generic Names"], ","),
                    trade_names=_split(row["Trade Names"], ","),
                    rxcuis=rxcuis,
                    drugbank_ids=sorted(set(_DRUGBANK_ID.findall(row["Cross-references"]))),
                    pubchem_cids=_split(row["PubChem Compound Identifiers"], ","),
                    smiles=row["SMILES"],
                    atc_codes="|".join(_split(row["ATC Identifiers"], ",")),
                    brand_mixtures=row["Brand Mixtures"],
                    is_drug=bool({"Drug", "Prodrug"} & set(_split(row["Type"], ","))),
                )
            )
    return chemicals


def read_fda_triads(vocabulary: Path) -> list[tuple[str, str, str, str]]:
    """(FDA preferred term, UNII, RxCUI, DrugBank id or "") rows of the 2014 FDA/RxNorm triads."""
    path = next((vocabulary / "fda-rxnorm-drugbank-2014").glob("*.tsv"))
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            drugbank = row["DrugBank_CUI"] if _DRUGBANK_ID.fullmatch(row["DrugBank_CUI"]) else ""
            rows.append((row["FDA_PreferredTerm"], row["FDA_UNII"], row["RxNorm_CUI"], drugbank))
    return sorted(rows)


def link_drugbank(
    ingredients: dict[str, str],
    ingredient_unii: dict[str, str],
    drugs: dict[str, DrugBankDrug],
    pharmgkb: list[PharmGkbChemical],
    triads: list[tuple[str, str, str, str]],
    base: Callable[[str], set[str]],
) -> dict[str, dict[str, str]]:
    """IN RXCUI -> {DrugBank id: how}, each link made by the best method that finds it.

    PharmGKB and the FDA triads often give a salt's RXCUI (mefenamic acid, PIN of mefenamate):
    `base` brings it to the ingredient.
    """
    by_unii: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    for drugbank_id, drug in sorted(drugs.items()):
        if drug.unii:
            by_unii[drug.unii].append(drugbank_id)
        by_name[normalize_name(drug.name)].append(drugbank_id)
    found: dict[str, dict[str, str]] = defaultdict(dict)

    def add(rxcui: str, drugbank_id: str, how: str) -> None:
        if drugbank_id not in drugs:
            return
        for ingredient in sorted(base(rxcui) if rxcui not in ingredients else {rxcui}):
            if ingredient in ingredients:
                found[ingredient].setdefault(drugbank_id, how)

    for rxcui, unii in sorted(ingredient_unii.items()):
        for drugbank_id in by_unii.get(unii, []):
            add(rxcui, drugbank_id, "unii-2025")
    for chemical in pharmgkb:
        for rxcui in chemical.rxcuis:
            for drugbank_id in chemical.drugbank_ids:
                add(rxcui, drugbank_id, "pharmgkb-2023")
    for _term, unii, rxcui, drugbank_id in triads:
        if drugbank_id:
            add(rxcui, drugbank_id, "fda-triads-2014")
        for via_unii in by_unii.get(unii, []):
            add(rxcui, via_unii, "unii-2014")
    for rxcui, name in sorted(ingredients.items()):
        if rxcui not in found and len(by_name.get(normalize_name(name), [])) == 1:
            add(rxcui, by_name[normalize_name(name)][0], "name")
    return found


def best_link(links: dict[str, str]) -> tuple[str, str] | None:
    if not links:
        return None
    return min(links.items(), key=lambda item: (LINK_RANK.index(item[1]), item[0]))
