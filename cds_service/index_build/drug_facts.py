"""What the build knows about each ingredient beyond its name: ATC codes and DrugBank protein
actions. Class and mechanism rules use them to let a drug join a group (conservatively: see
`cds_service/index_build/pharmacology/README.md`).
"""

from __future__ import annotations

import csv
import sqlite3
from collections import defaultdict
from pathlib import Path

from cds_service.core.codes import normalize_name, without_salt
from cds_service.core.drug_index import DrugIndex

PROTEINS_FILE = "drug-vocabulary/drugbank-4.2-dhimmel/data/proteins.tsv"
WHO_ATC_FOLDER = "drug-vocabulary/who-atc-2026"
SUBSTANCE_NAME_KINDS = ("ingredient", "synonym")
# Gene symbols a rule table may name, by the UniProt accession proteins.tsv uses.
UNIPROT_BY_GENE: dict[str, str] = {
    "CYP3A4": "P08684",
    "CYP2D6": "P10635",
    "CYP1A2": "P05177",
    "CYP2C9": "P11712",
    "CYP2C19": "P33261",
    "ABCB1": "P08183",
    "MAOA": "P21397",
    "MAOB": "P27338",
}
GENE_BY_UNIPROT = {uniprot: gene for gene, uniprot in UNIPROT_BY_GENE.items()}


def who_atc_names(data_dir: Path) -> dict[str, str]:
    """WHO ATC code → its name, every level."""
    names: dict[str, str] = {}
    for path in sorted((data_dir / WHO_ATC_FOLDER).glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                names[row["atc_code"].strip()] = row["atc_name"].strip()
    return names


class DrugFacts:
    """ATC codes are kept only where the WHO table names the code after the ingredient: the
    cross-references carry errors (DrugBank 4.2 gives loratadine lisinopril's C09AA03 and
    hydrochlorothiazide the aliskiren combination's C09XA52), and a wrong code would put a drug
    in a class rule it does not belong to. `dropped_atc` lists what was refused."""

    def __init__(self, drug_index: DrugIndex, data_dir: Path) -> None:
        with sqlite3.connect(f"file:{drug_index.path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT rxcui, name, atc_codes FROM ingredient").fetchall()
            known_names = db.execute(
                "SELECT n.normalized, ci.ingredient_rxcui FROM name n "
                "JOIN concept_ingredient ci ON ci.rxcui = n.rxcui "
                "WHERE n.kind IN (?, ?)",
                SUBSTANCE_NAME_KINDS,
            ).fetchall()
        self.names: dict[str, str] = {rxcui: name for rxcui, name, _ in rows}
        synonyms: dict[str, set[str]] = defaultdict(set)
        for normalized, rxcui in known_names:
            synonyms[rxcui].update({normalized, without_salt(normalized)})
        for rxcui, name in self.names.items():
            synonyms[rxcui].update({normalize_name(name), without_salt(name)})
        who = who_atc_names(data_dir)
        self.atc: dict[str, tuple[str, ...]] = {}
        self.dropped_atc: dict[str, tuple[str, ...]] = {}
        for rxcui, _, codes in rows:
            given = sorted({c.strip() for c in (codes or "").replace("|", ",").split(",") if c})
            kept = [c for c in given if _names_the_drug(who.get(c), synonyms[rxcui])]
            if kept:
                self.atc[rxcui] = tuple(kept)
            if len(kept) < len(given):
                self.dropped_atc[rxcui] = tuple(c for c in given if c not in kept)
        self.actions: dict[str, set[tuple[str, str]]] = defaultdict(set)
        with (data_dir / PROTEINS_FILE).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                gene = GENE_BY_UNIPROT.get(row["uniprot_id"])
                if gene is None or not row["actions"]:
                    continue
                for rxcui in drug_index.ingredients_for_drugbank(row["drugbank_id"]):
                    for action in row["actions"].split("|"):
                        self.actions[rxcui].add((gene, action.strip().lower()))

    def atc_matches(
        self, rxcui: str, prefixes: tuple[str, ...], exclude: tuple[str, ...] = ()
    ) -> str | None:
        """The ingredient's first ATC code under one of `prefixes` and none of `exclude`."""
        for code in self.atc.get(rxcui, ()):
            if code.startswith(prefixes) and not (exclude and code.startswith(exclude)):
                return code
        return None

    def atc_members(
        self, prefixes: tuple[str, ...], exclude: tuple[str, ...] = ()
    ) -> dict[str, str]:
        """Ingredient → the ATC code that puts it under `prefixes`."""
        found = {}
        for rxcui in self.atc:
            code = self.atc_matches(rxcui, prefixes, exclude)
            if code:
                found[rxcui] = code
        return found

    def protein_members(self, specs: tuple[tuple[str, str], ...]) -> dict[str, str]:
        """Ingredient → "DrugBank 4.2: MAOA inhibitor" for each (gene, action) it has."""
        found: dict[str, str] = {}
        for rxcui, actions in sorted(self.actions.items()):
            hits = [f"{gene} {action}" for gene, action in specs if (gene, action) in actions]
            if hits:
                found[rxcui] = "DrugBank 4.2: " + ", ".join(hits)
        return found


def _names_the_drug(who_name: str | None, synonyms: set[str]) -> bool:
    """Whether a level-5 WHO name is one of the ingredient's names (salt words aside)."""
    if who_name is None:
        return False
    return bool({normalize_name(who_name), without_salt(who_name)} & synonyms)
