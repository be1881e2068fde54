"""Stage-1 target: a network-propagated drug-target profile read at the 978 LINCS landmark genes.

DeSIDE-DDI learnt to predict measured LINCS L1000 expression. No measured signatures exist here,
so the gene-space signal is a proxy: a random walk with restart from each drug's protein targets
on the protein-protein network, read at the landmark genes, log-scaled against the walk's own
background (a walk restarting anywhere) so hub genes do not dominate. It says which landmark
genes sit near the drug's targets; it is not expression, and the model card says so.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from model.config import ProfileConfig
from model.data import Benchmark

_FLOOR = 1e-7  # below any real visiting probability on a 19,081-node network


def _transition(indptr_array: np.ndarray, indices_array: np.ndarray) -> torch.Tensor:
    indptr = torch.from_numpy(indptr_array)
    indices = torch.from_numpy(indices_array)
    nodes = len(indptr) - 1
    degree = torch.bincount(indices, minlength=nodes).clamp(min=1).to(torch.float64)
    # W[i, j] = 1/deg(j): column-stochastic, the walker leaves j along one of its edges.
    values = 1.0 / degree[indices]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            indptr, indices, values, (nodes, nodes), check_invariants=True
        )


def random_walk_profiles(
    benchmark: Benchmark, config: ProfileConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(drug indices with targets, their log-ratio profiles over the 978 landmark genes)."""
    with_targets = np.array([i for i, t in enumerate(benchmark.drug_targets) if len(t)])
    profiles = walk_profiles(
        [benchmark.drug_targets[i] for i in with_targets],
        benchmark.ppi_indptr,
        benchmark.ppi_indices,
        benchmark.landmark_nodes,
        config.restart_probability,
        config.iterations,
    )
    return with_targets, profiles


def walk_profiles(
    targets: list[np.ndarray],
    ppi_indptr: np.ndarray,
    ppi_indices: np.ndarray,
    landmark_nodes: np.ndarray,
    restart_probability: float,
    iterations: int,
) -> np.ndarray:
    """Log-ratio profiles over the landmark genes of walks restarting at each target set (each
    non-empty), against a walk restarting anywhere."""
    transition = _transition(ppi_indptr, ppi_indices)
    nodes = transition.shape[0]
    restart = torch.zeros((nodes, len(targets) + 1), dtype=torch.float64)
    for column, nodes_hit in enumerate(targets):
        restart[torch.from_numpy(nodes_hit), column] = 1.0 / len(nodes_hit)
    restart[:, -1] = 1.0 / nodes  # the background walk
    alpha = restart_probability
    visits = restart.clone()
    for _ in range(iterations):
        visits = (1 - alpha) * torch.sparse.mm(transition, visits) + alpha * restart
    at_landmarks = torch.zeros((len(landmark_nodes), visits.shape[1]), dtype=torch.float64)
    present = landmark_nodes >= 0
    at_landmarks[torch.from_numpy(present)] = visits[torch.from_numpy(landmark_nodes[present])]
    ratio = torch.log((at_landmarks[:, :-1] + _FLOOR) / (at_landmarks[:, -1:] + _FLOOR))
    return ratio.t().numpy().astype(np.float32)
