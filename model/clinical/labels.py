"""Graded pairs for the clinical head, read from the project's compiled knowledge index
(`cds_service/data/interactions.sqlite`, itself built from the curated sources in ../shared).

Each pair of drugs in the drug table gets:
- `grade`: the most severe grade any curated source gives it, on the service's one scale folded
  to 3 = contraindicated or major, 2 = moderate, 1 = minor; -1 = listed without a grade
  (DrugBank interaction types, DDInter "Unknown"); 0 = listed by no source (a negative);
- `mechanism`: a DrugBank interaction type (0..85, its English sentence in `ddi_template`) or -1;
- `rule_grade`: the grade of the project's own pharmacology rules (a baseline, never a label).
The project's rules are left out of the labels: they generalise the sources, and a model taught
them would be graded on its teacher. Negatives are unlisted pairs between drugs that DDInter
covers (a comprehensive source: a pair it does not list among its own drugs is likely harmless),
drawn at random, `negatives_per_positive` per listed pair.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.clinical.config import LabelConfig

GRADE_OF = {"contraindicated": 3, "major": 3, "moderate": 2, "minor": 1}
UNGRADED, NONE = -1, 0
RULE_SOURCE = "DDI-CDS-rules"
COMPREHENSIVE_SOURCE = "DDInter-1.0"


@dataclass(frozen=True)
class LabelledPairs:
    pairs: np.ndarray  # (P, 2) int64 rows of the drug table, a < b
    grade: np.ndarray  # (P,) int8: 3 major+, 2 moderate, 1 minor, -1 listed ungraded, 0 none
    mechanism: np.ndarray  # (P,) int16 DrugBank type or -1
    rule_grade: np.ndarray  # (P,) int8 the project's rules (0 none)
    sources: np.ndarray  # (P,) str: the sources that list the pair, "|"-joined ("" for none)
    mechanisms: list[str]  # type → its English template
    listed: frozenset[tuple[int, int]]  # every listed pair (any source, rules included)


def read_labels(
    interactions: Path, drug_rows: dict[str, int], config: LabelConfig
) -> LabelledPairs:
    grade: dict[tuple[int, int], int] = {}
    sources: dict[tuple[int, int], set[str]] = defaultdict(set)
    rule_grade: dict[tuple[int, int], int] = {}
    mechanism: dict[tuple[int, int], int] = {}
    covered: set[int] = set()
    with sqlite3.connect(f"file:{interactions}?mode=ro", uri=True) as db:
        for low, high, source, severity in db.execute(
            "SELECT c.rxcui_low, c.rxcui_high, s.source, s.severity FROM curated_pair c "
            "JOIN statement s ON s.id = c.statement_id"
        ):
            key = _key(drug_rows, low, high)
            if key is None:
                continue
            value = GRADE_OF.get(severity, UNGRADED)
            if source == RULE_SOURCE:
                rule_grade[key] = max(rule_grade.get(key, 0), max(value, 0))
                continue
            grade[key] = max(grade.get(key, UNGRADED), value)
            sources[key].add(source)
            if source == COMPREHENSIVE_SOURCE:
                covered.update(key)
        for low, high, kind in db.execute("SELECT rxcui_low, rxcui_high, type FROM ddi_pair"):
            key = _key(drug_rows, low, high)
            if key is None:
                continue
            grade.setdefault(key, UNGRADED)
            sources[key].add("DrugBank")
            mechanism[key] = min(mechanism.get(key, kind), kind)
        templates = dict(db.execute("SELECT type, template FROM ddi_template"))
    listed = frozenset(grade) | frozenset(rule_grade)
    negatives = _unlisted(
        sorted(covered),
        listed,
        int(len(grade) * config.negatives_per_positive),
        np.random.default_rng(config.seed),
    )
    keys = [*sorted(grade), *negatives]
    return LabelledPairs(
        pairs=np.array(keys, dtype=np.int64).reshape(-1, 2),
        grade=np.array([grade.get(k, NONE) for k in keys], dtype=np.int8),
        mechanism=np.array([mechanism.get(k, -1) for k in keys], dtype=np.int16),
        rule_grade=np.array([rule_grade.get(k, 0) for k in keys], dtype=np.int8),
        sources=np.array(["|".join(sorted(sources.get(k, ()))) for k in keys]),
        mechanisms=[templates.get(t, "") for t in range(max(templates, default=-1) + 1)],
        listed=listed,
    )


def _key(drug_rows: dict[str, int], low: int, high: int) -> tuple[int, int] | None:
    a, b = drug_rows.get(str(low)), drug_rows.get(str(high))
    if a is None or b is None or a == b:
        return None
    return (a, b) if a < b else (b, a)


def _unlisted(
    drugs: list[int], listed: frozenset[tuple[int, int]], count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """`count` distinct pairs of `drugs` that no source lists, drawn uniformly."""
    pool = np.array(drugs, dtype=np.int64)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < count:
        draws = rng.choice(pool, size=(2 * (count - len(chosen)) + 16, 2))
        for a, b in draws.tolist():
            key = (a, b) if a < b else (b, a)
            if a != b and key not in listed:
                chosen.add(key)
                if len(chosen) == count:
                    break
    return sorted(chosen)


def degree_matched_negatives(
    positives: np.ndarray, listed: frozenset[tuple[int, int]], rng: np.random.Generator
) -> np.ndarray:
    """Unlisted pairs whose drugs have the positives' numbers of interactions: the positives'
    second endpoints shuffled among them (rewiring), so each drug keeps its degree and
    popularity cannot tell positives from negatives. The first column keeps its role (the new
    drug, where the split has one)."""
    first, second = positives[:, 0], rng.permutation(positives[:, 1])
    used: Counter[tuple[int, int]] = Counter()

    def key(i: int) -> tuple[int, int]:
        a, b = int(first[i]), int(second[i])
        return (a, b) if a < b else (b, a)

    def valid(i: int) -> bool:
        k = key(i)
        return k[0] != k[1] and k not in listed and used[k] <= 1

    for i in range(len(first)):
        used[key(i)] += 1
    for _ in range(50):  # swap the partners of invalid positions with random others
        bad = [i for i in range(len(first)) if not valid(i)]
        if not bad:
            break
        for i in bad:
            j = int(rng.integers(len(first)))
            used[key(i)] -= 1
            used[key(j)] -= 1
            second[i], second[j] = second[j], second[i]
            used[key(i)] += 1
            used[key(j)] += 1
            if not (valid(i) and valid(j)):  # undo
                used[key(i)] -= 1
                used[key(j)] -= 1
                second[i], second[j] = second[j], second[i]
                used[key(i)] += 1
                used[key(j)] += 1
    rows = [(int(first[i]), int(second[i])) for i in range(len(first)) if valid(i)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)
