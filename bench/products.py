"""Real RxNorm product codes for an ingredient, as an EHR would send them (benchmarks only)."""

from __future__ import annotations

import sqlite3
from functools import cache

from cds_service.core.drug_index import DrugIndex

ORAL_FORMS = ("Oral Tablet", "Oral Capsule", "Oral Solution", "Oral Suspension")


class ProductPicker:
    """The single-ingredient clinical drug (SCD) an EHR would send for an ingredient: an oral
    form first, then any, lowest RXCUI for determinism; a salt of the ingredient will do when
    the ingredient itself has no product (potassium → potassium chloride)."""

    def __init__(self, index: DrugIndex) -> None:
        self.index = index
        with sqlite3.connect(f"file:{index.path}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT c.rxcui, c.name, ci.ingredient_rxcui FROM concept c "
                "JOIN concept_ingredient ci ON ci.rxcui = c.rxcui WHERE c.tty = 'SCD'"
            ).fetchall()
        by_product: dict[str, tuple[str, set[str]]] = {}
        for rxcui, name, ingredient in rows:
            by_product.setdefault(rxcui, (name, set()))[1].add(ingredient)
        self._single: dict[str, list[tuple[str, str]]] = {}
        for rxcui, (name, ingredients) in by_product.items():
            if len(ingredients) == 1:
                self._single.setdefault(next(iter(ingredients)), []).append((rxcui, name))

    @cache  # noqa: B019 - one picker per run, few ingredients
    def product(self, ingredient: str) -> tuple[str, str] | None:
        candidates = list(self._single.get(ingredient, []))
        salts_of = getattr(self.index, "salts_of", None)
        if not candidates and salts_of is not None:
            for salt in salts_of(ingredient):
                candidates += self._single.get(salt, [])
        if not candidates:
            return None
        return min(candidates, key=lambda c: (not c[1].endswith(ORAL_FORMS), int(c[0])))
