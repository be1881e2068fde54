"""Which ingredient pairs of a prescribing session interact, by the curated knowledge. Pure.

The medications advised about (the selections at order-select, every draft at order-sign) are
paired with every other medication: the other drafts and the current medications. One result
per interacting pair of ingredients, however many orders carry them, so that a clinician sees
warfarin + ibuprofen once even when both a draft and a current order hold ibuprofen. A
combination product's own ingredients are not paired with each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cds_service.knowledge import KnownInteraction, Severity
from cds_service.medication import Ingredient
from cds_service.orders import PrescribedMedication


class InteractionSource(Protocol):
    def interactions_for(
        self, ingredients_a: Iterable[str], ingredients_b: Iterable[str]
    ) -> list[KnownInteraction]: ...


@dataclass(frozen=True, slots=True)
class InteractingPair:
    ingredient_a: Ingredient  # carried by a medication advised about
    ingredient_b: Ingredient
    medications_a: tuple[PrescribedMedication, ...]
    medications_b: tuple[PrescribedMedication, ...]
    interactions: tuple[KnownInteraction, ...]  # oriented a -> b, most severe first

    @property
    def severity(self) -> Severity:
        return self.interactions[0].severity

    @property
    def medications(self) -> tuple[PrescribedMedication, ...]:
        return self.medications_a + tuple(
            m for m in self.medications_b if m not in self.medications_a
        )


@dataclass(frozen=True, slots=True)
class CheckResult:
    pairs: tuple[InteractingPair, ...]  # most severe first
    unmapped: tuple[PrescribedMedication, ...]  # could not be checked at all
    ingredient_pairs_checked: int


def check_interactions(
    advised: Sequence[PrescribedMedication],
    others: Sequence[PrescribedMedication],
    knowledge: InteractionSource,
    min_tier: Severity,
) -> CheckResult:
    everything = list(advised) + [m for m in others if m not in advised]
    carriers: dict[str, list[int]] = {}  # ingredient RXCUI -> positions in `everything`
    ingredients: dict[str, Ingredient] = {}
    for position, medication in enumerate(everything):
        for item in medication.mapping.ingredients:
            carriers.setdefault(item.ingredient.rxcui, []).append(position)
            ingredients.setdefault(item.ingredient.rxcui, item.ingredient)
    advised_positions = set(range(len(advised)))

    seen: set[frozenset[str]] = set()
    pairs: list[InteractingPair] = []
    for rxcui_a in carriers:
        a_positions = [p for p in carriers[rxcui_a] if p in advised_positions]
        if not a_positions:
            continue
        for rxcui_b, b_positions in carriers.items():
            key = frozenset((rxcui_a, rxcui_b))
            if rxcui_a == rxcui_b or key in seen:
                continue
            if not any(pa != pb for pa in a_positions for pb in b_positions):
                continue  # both only in one combination product
            seen.add(key)
            found = knowledge.interactions_for([rxcui_a], [rxcui_b])
            if not found or found[0].severity.rank > min_tier.rank:
                continue
            pairs.append(
                InteractingPair(
                    ingredient_a=ingredients[rxcui_a],
                    ingredient_b=ingredients[rxcui_b],
                    medications_a=tuple(everything[p] for p in a_positions),
                    medications_b=tuple(everything[p] for p in b_positions),
                    interactions=tuple(found),
                )
            )
    pairs.sort(key=lambda p: (p.severity.rank, p.ingredient_a.name, p.ingredient_b.name))
    unmapped = tuple(m for m in everything if not m.mapping.is_mapped)
    return CheckResult(tuple(pairs), unmapped, len(seen))
