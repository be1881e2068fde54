"""The per-drug representation of the clinical head, built for every ingredient of the drug index
that has a structure or known proteins, so that a drug nobody has seen interact has one.

Four blocks, each from what is known of the drug alone (never from its interactions):
- **fingerprint**: ECFP4 bits of the ingredient's structure (the drug index's SMILES);
- **proteins**: DrugBank 4.2 targets, enzymes, transporters and carriers with the drug's action
  on each ("CYP3A4 enzyme inhibitor", "ABCB1 transporter substrate"), as tokens;
- **atc**: the ingredient's ATC classes at levels 1-3, as tokens;
- **profile**: DeSIDE's gene space: a random walk with restart from the drug's human targets on
  the protein network, read at the 978 LINCS landmark genes (`model.profiles.walk_profiles`).
A token is kept when at least `min_token_drugs` drugs carry it; a block a drug lacks is zeros
and its mask says so.
"""

from __future__ import annotations

import csv
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.clinical.config import DrugFeatureConfig
from model.config import FeatureConfig
from model.data import load_protein_network
from model.features import StructureError, fingerprint
from model.profiles import walk_profiles

PROTEINS = Path("drug-vocabulary/drugbank-4.2-dhimmel/data/proteins.tsv")
BLOCKS = ("fingerprint", "proteins", "atc", "profile")


@dataclass(frozen=True)
class DrugTable:
    """Rows are ingredients (RxCUI strings); each block a dense float32 matrix."""

    rxcuis: list[str]
    names: list[str]
    fingerprint: np.ndarray  # (D, bits)
    proteins: np.ndarray  # (D, protein tokens)
    atc: np.ndarray  # (D, ATC tokens)
    profile: np.ndarray  # (D, 978)
    has: np.ndarray  # (D, 4) bool: which blocks the drug has, in BLOCKS order
    protein_tokens: list[str]
    atc_tokens: list[str]

    def index(self) -> dict[str, int]:
        return {rxcui: i for i, rxcui in enumerate(self.rxcuis)}

    def blocks(self) -> list[np.ndarray]:
        return [self.fingerprint, self.proteins, self.atc, self.profile]

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            rxcuis=np.array(self.rxcuis),
            names=np.array(self.names),
            fingerprint=np.packbits(self.fingerprint.astype(bool), axis=1),
            fingerprint_bits=np.array(self.fingerprint.shape[1]),
            proteins=np.packbits(self.proteins.astype(bool), axis=1),
            atc=np.packbits(self.atc.astype(bool), axis=1),
            profile=self.profile.astype(np.float16),
            has=self.has,
            protein_tokens=np.array(self.protein_tokens),
            atc_tokens=np.array(self.atc_tokens),
        )

    @classmethod
    def load(cls, path: Path) -> DrugTable:
        data = np.load(path, allow_pickle=False)

        def bits(name: str, count: int) -> np.ndarray:
            return np.unpackbits(data[name], axis=1, count=count).astype(np.float32)

        protein_tokens = [str(t) for t in data["protein_tokens"]]
        atc_tokens = [str(t) for t in data["atc_tokens"]]
        return cls(
            rxcuis=[str(r) for r in data["rxcuis"]],
            names=[str(n) for n in data["names"]],
            fingerprint=bits("fingerprint", int(data["fingerprint_bits"])),
            proteins=bits("proteins", len(protein_tokens)),
            atc=bits("atc", len(atc_tokens)),
            profile=data["profile"].astype(np.float32),
            has=data["has"],
            protein_tokens=protein_tokens,
            atc_tokens=atc_tokens,
        )


@dataclass(frozen=True)
class _Ingredient:
    rxcui: str
    name: str
    smiles: str
    drugbank_ids: frozenset[str]
    atc_codes: tuple[str, ...]


def build_drug_table(
    drug_index: Path,
    shared_data: Path,
    config: DrugFeatureConfig,
    progress: Callable[[str], None] = print,
) -> DrugTable:
    ingredients = _ingredients(drug_index)
    proteins = _protein_rows(shared_data / PROTEINS)
    protein_tokens_of = {
        i.rxcui: sorted({t for db in i.drugbank_ids for t in _protein_tokens(proteins.get(db, ()))})
        for i in ingredients
    }
    fingerprints: dict[str, np.ndarray] = {}
    structure = FeatureConfig(fingerprint_bits=config.fingerprint_bits)
    for ingredient in ingredients:
        if ingredient.smiles:
            try:
                fingerprints[ingredient.rxcui] = fingerprint(ingredient.smiles, structure)
            except StructureError:
                continue
    kept = [i for i in ingredients if i.rxcui in fingerprints or protein_tokens_of[i.rxcui]]
    progress(
        f"drugs: {len(kept)} of {len(ingredients)} ingredients have a structure "
        f"({len(fingerprints)}) or known proteins"
    )
    atc_of = {i.rxcui: _atc_tokens(i.atc_codes) for i in kept}
    protein_vocabulary = _vocabulary((protein_tokens_of[i.rxcui] for i in kept), config)
    atc_vocabulary = _vocabulary((atc_of[i.rxcui] for i in kept), config)

    network = load_protein_network(shared_data)
    targets_of = {
        i.rxcui: np.array(
            sorted(
                {
                    network.node_of_entrez[entrez]
                    for db in i.drugbank_ids
                    for entrez, category, _, human in proteins.get(db, ())
                    if category == "target" and human and entrez in network.node_of_entrez
                }
            ),
            dtype=np.int64,
        )
        for i in kept
    }
    with_targets = [i.rxcui for i in kept if len(targets_of[i.rxcui])]
    progress(f"gene-space profiles: {len(with_targets)} drugs with human targets on the network")
    walked = walk_profiles(
        [targets_of[r] for r in with_targets],
        network.indptr,
        network.indices,
        network.landmark_nodes,
        config.restart_probability,
        config.walk_iterations,
    )
    profile_row = {rxcui: row for rxcui, row in zip(with_targets, walked, strict=True)}

    count = len(kept)
    table = DrugTable(
        rxcuis=[i.rxcui for i in kept],
        names=[i.name for i in kept],
        fingerprint=np.zeros((count, config.fingerprint_bits), dtype=np.float32),
        proteins=_multi_hot([protein_tokens_of[i.rxcui] for i in kept], protein_vocabulary),
        atc=_multi_hot([atc_of[i.rxcui] for i in kept], atc_vocabulary),
        profile=np.zeros((count, len(network.landmark_entrez)), dtype=np.float32),
        has=np.zeros((count, len(BLOCKS)), dtype=bool),
        protein_tokens=protein_vocabulary,
        atc_tokens=atc_vocabulary,
    )
    for row, ingredient in enumerate(kept):
        if ingredient.rxcui in fingerprints:
            table.fingerprint[row] = fingerprints[ingredient.rxcui]
        if ingredient.rxcui in profile_row:
            table.profile[row] = profile_row[ingredient.rxcui]
    table.has[:, 0] = [i.rxcui in fingerprints for i in kept]
    table.has[:, 1] = table.proteins.any(axis=1)
    table.has[:, 2] = table.atc.any(axis=1)
    table.has[:, 3] = [i.rxcui in profile_row for i in kept]
    return table


def _ingredients(drug_index: Path) -> list[_Ingredient]:
    with sqlite3.connect(f"file:{drug_index}?mode=ro", uri=True) as db:
        drugbank: dict[str, set[str]] = defaultdict(set)
        for drugbank_id, rxcui in db.execute(
            "SELECT drugbank_id, ingredient_rxcui FROM drugbank_ingredient"
        ):
            drugbank[rxcui].add(drugbank_id)
        rows = db.execute(
            "SELECT rxcui, name, smiles, drugbank_id, atc_codes FROM ingredient ORDER BY rxcui"
        ).fetchall()
    out = []
    for rxcui, name, smiles, drugbank_id, atc in rows:
        ids = drugbank[rxcui] | ({drugbank_id} if drugbank_id else set())
        codes = tuple(c for c in (atc or "").split("|") if c)
        out.append(_Ingredient(rxcui, name, smiles or "", frozenset(ids), codes))
    return out


ProteinRow = tuple[int, str, str, bool]  # (Entrez, category, action, human)


def _protein_rows(path: Path) -> dict[str, list[ProteinRow]]:
    rows: dict[str, list[ProteinRow]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if not row["entrez_gene_id"].isdigit():
                continue
            actions = [a.strip().lower() for a in row["actions"].split("|") if a.strip()]
            human = row["organism"] == "Human"
            for action in actions or [""]:
                entry = (int(row["entrez_gene_id"]), row["category"], action, human)
                rows[row["drugbank_id"]].append(entry)
    return rows


def _protein_tokens(rows: Iterable[ProteinRow]) -> set[str]:
    """'<Entrez> <category>' for each protein, and '<Entrez> <category> <action>' where known:
    a CYP3A4 inhibitor and a CYP3A4 substrate share the first and differ in the second."""
    tokens = set()
    for entrez, category, action, _ in rows:
        tokens.add(f"{entrez} {category}")
        if action:
            tokens.add(f"{entrez} {category} {action}")
    return tokens


def _atc_tokens(codes: Iterable[str]) -> list[str]:
    return sorted({code[:length] for code in codes for length in (1, 3, 4) if len(code) >= length})


def _vocabulary(token_lists: Iterable[Iterable[str]], config: DrugFeatureConfig) -> list[str]:
    counts = Counter(t for tokens in token_lists for t in set(tokens))
    return sorted(t for t, n in counts.items() if n >= config.min_token_drugs)


def _multi_hot(token_lists: list[list[str]], vocabulary: list[str]) -> np.ndarray:
    column = {t: i for i, t in enumerate(vocabulary)}
    matrix = np.zeros((len(token_lists), len(vocabulary)), dtype=np.float32)
    for row, tokens in enumerate(token_lists):
        for token in tokens:
            if token in column:
                matrix[row, column[token]] = 1.0
    return matrix
