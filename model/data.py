"""The TWOSIDES/Decagon benchmark as plain arrays, read from `../shared` (offline build code).

Drug order is DeSIDE-DDI's `twosides_drug_info.csv` (645 drugs) and side-effect order is its
`twosides_side_effect_info.csv` (963 side effects); labels come from TIP's complete per-side-effect
adjacency matrices, so the 4,576,287 (pair, side effect) triples are all there. The TIP index maps
are pickles: they are read here, in offline build code only, and never by the service.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARK = Path("ddi-benchmark")


@dataclass(frozen=True)
class Drug:
    stitch_id: str  # e.g. CID000002173, the TWOSIDES key
    name: str
    pubchem_cid: int
    smiles: str


@dataclass(frozen=True)
class SideEffect:
    cui: str  # UMLS CUI, e.g. C0000731
    name: str


@dataclass(frozen=True)
class Benchmark:
    """Drugs, side effects, labelled pairs, and what stage 1 needs (targets, network, genes).

    `pairs` holds every drug pair reported in TWOSIDES with at least one kept side effect, as
    (a, b) with a < b; `labels` is a dense boolean (pairs × side effects) matrix.
    """

    drugs: list[Drug]
    side_effects: list[SideEffect]
    pairs: np.ndarray  # (P, 2) int64, a < b
    labels: np.ndarray  # (P, S) bool
    landmark_entrez: np.ndarray  # (978,) int64, LINCS order
    drug_targets: list[np.ndarray]  # per drug: protein-network node indices (may be empty)
    ppi_indptr: np.ndarray
    ppi_indices: np.ndarray
    landmark_nodes: np.ndarray  # (978,) protein-network node of each landmark gene, -1 if absent

    @property
    def triples(self) -> int:
        return int(self.labels.sum())

    def keep_side_effects(self, count: int) -> Benchmark:
        """The `count` most frequent side effects (ties by index), for small runs."""
        frequency = self.labels.sum(axis=0)
        keep = np.sort(np.argsort(-frequency, kind="stable")[:count])
        labels = self.labels[:, keep]
        reported = labels.any(axis=1)
        return Benchmark(
            drugs=self.drugs,
            side_effects=[self.side_effects[i] for i in keep],
            pairs=self.pairs[reported],
            labels=labels[reported],
            landmark_entrez=self.landmark_entrez,
            drug_targets=self.drug_targets,
            ppi_indptr=self.ppi_indptr,
            ppi_indices=self.ppi_indices,
            landmark_nodes=self.landmark_nodes,
        )


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _offline_pickle(path: Path) -> dict[Any, Any]:
    # Third-party pickles from the shared reference data, read by offline build code only.
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301


def _csr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    archive = np.load(path, allow_pickle=False)
    if archive["format"].item() != b"csr":
        raise ValueError(f"{path} is not a CSR matrix")
    return archive["indptr"].astype(np.int64), archive["indices"].astype(np.int64)


def load_benchmark(data_dir: Path) -> Benchmark:
    """Read the benchmark from `<data_dir>/ddi-benchmark` (the shared reference data)."""
    root = Path(data_dir) / BENCHMARK
    deside = root / "DeSIDE-DDI" / "data"
    tip = root / "TIP" / "data"

    smiles = {
        row["drug_id"]: row["smiles"] for row in _csv_rows(root / "Twosides" / "drug_smiles.csv")
    }
    drugs = [
        Drug(row["STITCH_id"], row["name"], int(row["pubchemID"]), smiles[row["STITCH_id"]])
        for row in _csv_rows(deside / "twosides_drug_info.csv")
    ]
    side_effect_rows = sorted(
        _csv_rows(deside / "twosides_side_effect_info.csv"), key=lambda r: int(r["SE_map"])
    )
    side_effects = [SideEffect(r["SE_id"], r["Side Effect Name"]) for r in side_effect_rows]

    tip_row = _offline_pickle(tip / "index_map" / "drug-map.pkl")  # PubChem CID → TIP row
    tip_type = _offline_pickle(tip / "index_map" / "combo_map.pkl")  # CUI number → type file
    ours = np.full(len(tip_row), -1, dtype=np.int64)
    for index, drug in enumerate(drugs):
        ours[tip_row[drug.pubchem_cid]] = index
    if (ours < 0).any():
        raise ValueError("TIP drug map and DeSIDE drug list disagree")

    pair_ids: dict[tuple[int, int], int] = {}
    entries: list[tuple[int, int]] = []
    for column, side_effect in enumerate(side_effects):
        path = (
            tip / "sym_adj" / "drug-sparse-adj" / f"type_{tip_type[int(side_effect.cui[1:])]}.npz"
        )
        indptr, indices = _csr(path)
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        a, b = ours[rows], ours[indices]
        upper = a < b
        for x, y in zip(a[upper].tolist(), b[upper].tolist(), strict=True):
            entries.append((pair_ids.setdefault((x, y), len(pair_ids)), column))
    pairs = np.array(list(pair_ids), dtype=np.int64).reshape(-1, 2)
    labels = np.zeros((len(pairs), len(side_effects)), dtype=bool)
    flat = np.array(entries, dtype=np.int64)
    labels[flat[:, 0], flat[:, 1]] = True
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs, labels = pairs[order], labels[order]

    network = load_protein_network(data_dir)
    landmark_entrez, landmark_nodes = network.landmark_entrez, network.landmark_nodes
    ppi_indptr, ppi_indices = network.indptr, network.indices
    coo = np.load(tip / "sym_adj" / "drug-protein-sparse-adj.npz", allow_pickle=False)
    target_rows, target_cols = ours[coo["row"].astype(np.int64)], coo["col"].astype(np.int64)
    drug_targets = [np.sort(target_cols[target_rows == i]) for i in range(len(drugs))]

    return Benchmark(
        drugs=drugs,
        side_effects=side_effects,
        pairs=pairs,
        labels=labels,
        landmark_entrez=landmark_entrez,
        drug_targets=drug_targets,
        ppi_indptr=ppi_indptr,
        ppi_indices=ppi_indices,
        landmark_nodes=landmark_nodes,
    )


@dataclass(frozen=True)
class ProteinNetwork:
    """TIP's protein-protein network, its Entrez → node map and the landmark genes' nodes."""

    node_of_entrez: dict[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    landmark_entrez: np.ndarray  # (978,) int64, LINCS order
    landmark_nodes: np.ndarray  # (978,) node of each landmark gene, -1 if absent


def load_protein_network(data_dir: Path) -> ProteinNetwork:
    root = Path(data_dir) / BENCHMARK
    tip = root / "TIP" / "data"
    node_of = _offline_pickle(tip / "index_map" / "protein-map.pkl")  # Entrez → node
    landmark_entrez = np.array(
        [int(r["0"]) for r in _csv_rows(root / "DeSIDE-DDI" / "data" / "lincs_gene_list.csv")],
        dtype=np.int64,
    )
    indptr, indices = _csr(tip / "sym_adj" / "protein-sparse-adj.npz")
    return ProteinNetwork(
        node_of_entrez={int(k): int(v) for k, v in node_of.items()},
        indptr=indptr,
        indices=indices,
        landmark_entrez=landmark_entrez,
        landmark_nodes=np.array([node_of.get(int(g), -1) for g in landmark_entrez]),
    )
