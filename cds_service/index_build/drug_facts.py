"""What the build knows about each ingredient beyond its name: ATC codes and DrugBank protein
actions. Class and mechanism rules use them to let a drug join a group (conservatively: see
`cds_service/index_build/pharmacology/README.md`).
"""

from __future__ import annotations

import csv
import sqlite3
from collections import defaultdict
from pathlib import Path

from cds_service.drug_index import DrugIndex

PROTEINS_FILE = "drug-vocabulary/drugbank-4.2-dhimmel/data/proteins.tsv"
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


class DrugFacts:
    def __init__(self, drug_index: DrugIndex, data_dir: Path) -> None:
        with sqlite3.connect(f"file:{drug_index.path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT rxcui, name, atc_codes FROM ingredient").fetchall()
        self.names: dict[str, str] = {rxcui: name for rxcui, name, _ in rows}
        self.atc: dict[str, tuple[str, ...]] = {
            rxcui: tuple(sorted({c.strip() for c in codes.replace("|", ",").split(",") if c}))
            for rxcui, _, codes in rows
            if codes
        }
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
