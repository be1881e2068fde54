"""Read-only access to the committed drug index (`cds_service/data/drug_index.sqlite`).

The index is built offline by `ddi-cds build-index` from the RxNorm, RxTerms, DrugBank, PharmGKB
and UNII sources; at run time nothing else is read. All lookups are exact.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cds_service.core.medication import Ingredient

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_INDEX_PATH = DATA_DIR / "drug_index.sqlite"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE ingredient (
    rxcui TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    unii TEXT,
    drugbank_id TEXT,
    drugbank_source TEXT,
    pubchem_cid TEXT,
    smiles TEXT,
    inchikey TEXT,
    structure_source TEXT,
    atc_codes TEXT,  -- "|"-separated ATC codes
    atc_source TEXT  -- drugbank-4.2, pharmgkb-2023 or who-atc-2026:<how it matched>
) WITHOUT ROWID;
CREATE TABLE concept (
    rxcui TEXT PRIMARY KEY,
    tty TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE concept_ingredient (
    rxcui TEXT NOT NULL,
    ingredient_rxcui TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (rxcui, ingredient_rxcui)
) WITHOUT ROWID;
CREATE TABLE ndc (ndc11 TEXT PRIMARY KEY, rxcui TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE name (
    normalized TEXT NOT NULL,
    rxcui TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (normalized, rxcui, kind)
) WITHOUT ROWID;
CREATE TABLE drugbank_ingredient (
    drugbank_id TEXT NOT NULL,
    ingredient_rxcui TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (drugbank_id, ingredient_rxcui)
) WITHOUT ROWID;
CREATE TABLE model_drug (
    stitch_id TEXT PRIMARY KEY,
    pubchem_cid TEXT NOT NULL,
    name TEXT NOT NULL,
    ingredient_rxcui TEXT,
    how TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE ingredient_moiety (
    rxcui TEXT PRIMARY KEY,
    moiety_rxcui TEXT NOT NULL,
    basis TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE pack_component (
    pack_rxcui TEXT NOT NULL,
    component TEXT NOT NULL,
    ingredient_rxcuis TEXT NOT NULL,  -- space-separated; empty when no ingredient is known
    PRIMARY KEY (pack_rxcui, component)
) WITHOUT ROWID;
CREATE INDEX concept_ingredient_by_ingredient ON concept_ingredient (ingredient_rxcui);
CREATE INDEX ingredient_moiety_by_moiety ON ingredient_moiety (moiety_rxcui);
CREATE INDEX drugbank_by_ingredient ON drugbank_ingredient (ingredient_rxcui);
"""


@dataclass(frozen=True, slots=True)
class Concept:
    rxcui: str
    tty: str  # RxNorm term type (IN, PIN, MIN, SCDC, SCD, SBD, GPCK, BPCK, BN) or "product"
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class NameHit:
    rxcui: str  # a concept RXCUI (ingredient, brand or product)
    kind: str  # ingredient | brand | synonym | product
    source: str


def open_artifact(path: Path, what: str) -> tuple[sqlite3.Connection, dict[str, str]]:
    """A committed SQLite artifact, read-only and shareable across threads, with its meta."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} {path} is missing: run `ddi-cds build-index --data ../shared/data`"
        )
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    return db, dict(db.execute("SELECT key, value FROM meta"))


class DrugIndex:
    """Exact lookups over the drug index. Cheap to share: one read-only connection."""

    def __init__(self, path: Path | str = DEFAULT_INDEX_PATH) -> None:
        self.path = Path(path)
        self._db, self.meta = open_artifact(self.path, "drug index")
        self.version = self.meta.get("version", "unknown")

    def close(self) -> None:
        self._db.close()

    def concept(self, rxcui: str) -> Concept | None:
        row = self._db.execute(
            "SELECT rxcui, tty, name, source FROM concept WHERE rxcui = ?", (rxcui,)
        ).fetchone()
        return Concept(*row) if row else None

    def ingredient_rxcuis(self, rxcui: str) -> list[tuple[str, str]]:
        """(ingredient RXCUI, source table) for every ingredient of a concept, in RXCUI order."""
        return self._db.execute(
            "SELECT ingredient_rxcui, source FROM concept_ingredient WHERE rxcui = ? "
            "ORDER BY ingredient_rxcui",
            (rxcui,),
        ).fetchall()

    def ingredient(self, rxcui: str) -> Ingredient | None:
        row = self._db.execute(
            "SELECT rxcui, name, drugbank_id, smiles, inchikey, unii FROM ingredient "
            "WHERE rxcui = ?",
            (rxcui,),
        ).fetchone()
        return Ingredient(*row) if row else None

    def product_for_ndc(self, ndc11: str) -> str | None:
        row = self._db.execute("SELECT rxcui FROM ndc WHERE ndc11 = ?", (ndc11,)).fetchone()
        return row[0] if row else None

    def names(self, normalized: str) -> list[NameHit]:
        rows = self._db.execute(
            "SELECT rxcui, kind, source FROM name WHERE normalized = ? ORDER BY rxcui, kind",
            (normalized,),
        ).fetchall()
        return [NameHit(*row) for row in rows]

    def ingredients_for_drugbank(self, drugbank_id: str) -> list[str]:
        return [
            r[0]
            for r in self._db.execute(
                "SELECT ingredient_rxcui FROM drugbank_ingredient WHERE drugbank_id = ? "
                "ORDER BY ingredient_rxcui",
                (drugbank_id,),
            )
        ]

    def moiety(self, rxcui: str) -> tuple[str, str] | None:
        """(base moiety RXCUI, basis) for a salt ingredient (lithium carbonate -> lithium),
        None for any other ingredient."""
        row = self._db.execute(
            "SELECT moiety_rxcui, basis FROM ingredient_moiety WHERE rxcui = ?", (rxcui,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def salts_of(self, moiety_rxcui: str) -> list[str]:
        """The salt ingredient RXCUIs whose base moiety this is, sorted."""
        rows = self._db.execute(
            "SELECT rxcui FROM ingredient_moiety WHERE moiety_rxcui = ?", (moiety_rxcui,)
        ).fetchall()
        return sorted(r[0] for r in rows)

    def pack_components(self, rxcui: str) -> list[tuple[str, tuple[str, ...]]]:
        """(component drug name, its ingredient RXCUIs) of a GPCK/BPCK, () where none is known;
        an empty list for anything that is not a pack named in RxNorm 2025."""
        rows = self._db.execute(
            "SELECT component, ingredient_rxcuis FROM pack_component WHERE pack_rxcui = ? "
            "ORDER BY component",
            (rxcui,),
        ).fetchall()
        return [(component, tuple(found.split())) for component, found in rows]

    def names_of_kinds(self, kinds: tuple[str, ...]) -> list[str]:
        """Every distinct normalised name of these kinds (for "did you mean"), sorted."""
        marks = ", ".join("?" * len(kinds))
        return [
            r[0]
            for r in self._db.execute(
                f"SELECT DISTINCT normalized FROM name WHERE kind IN ({marks}) "  # noqa: S608
                "ORDER BY normalized",
                kinds,
            )
        ]

    def names_starting(self, prefix: str, limit: int = 20) -> list[tuple[str, str, str]]:
        """(normalised name, RXCUI, kind) for autocomplete; prefix is normalised by the caller."""
        return self._db.execute(
            "SELECT normalized, rxcui, kind FROM name WHERE normalized >= ? AND normalized < ? "
            "ORDER BY normalized, rxcui LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        ).fetchall()
