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


def _transition(benchmark: Benchmark) -> torch.Tensor:
    indptr = torch.from_numpy(benchmark.ppi_indptr)
    indices = torch.from_numpy(benchmark.ppi_indices)
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
    transition = _transition(benchmark)
    nodes = transition.shape[0]
    restart = torch.zeros((nodes, len(with_targets) + 1), dtype=torch.float64)
    for column, drug in enumerate(with_targets):
        targets = torch.from_numpy(benchmark.drug_targets[drug])
        restart[targets, column] = 1.0 / len(targets)
    restart[:, -1] = 1.0 / nodes  # the background walk
    alpha = config.restart_probability
    visits = restart.clone()
    for _ in range(config.iterations):
        visits = (1 - alpha) * torch.sparse.mm(transition, visits) + alpha * restart
    at_landmarks = torch.zeros(
        (len(benchmark.landmark_nodes), visits.shape[1]), dtype=torch.float64
    )
    present = benchmark.landmark_nodes >= 0
    at_landmarks[torch.from_numpy(present)] = visits[
        torch.from_numpy(benchmark.landmark_nodes[present])
    ]
    ratio = torch.log((at_landmarks[:, :-1] + _FLOOR) / (at_landmarks[:, -1:] + _FLOOR))
    return with_targets, ratio.t().numpy().astype(np.float32)
