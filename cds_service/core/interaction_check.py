"""Which ingredient pairs of a prescribing session interact: curated knowledge and the model. Pure.

The medications advised about (the selections at order-select, every draft at order-sign) are
paired with every other medication: the other drafts and the current medications. One result
per interacting pair of ingredients, however many orders carry them, so that a clinician sees
warfarin + ibuprofen once even when both a draft and a current order hold ibuprofen. A
combination product's own ingredients are not paired with each other.

Every checked pair is also put to the model (`PredictionSource`, when there is one) in one
batch; a pair appears when either source has something to say, each source's evidence kept in
its own field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cds_service.core.deadline import Deadline
from cds_service.core.evidence import KnownInteraction
from cds_service.core.grading import (
    APPLIED_LOCALLY,
    NOT_GRADED,
    PairGrade,
    applied_locally,
    grade_pair,
)
from cds_service.core.medication import Ingredient, PrescribedMedication
from cds_service.core.predictions import (
    TIER_ORDER,
    InteractionPredictionSource,
    PairKey,
    PairPrediction,
    PredictedInteraction,
    PredictionBatch,
    PredictionSource,
)
from cds_service.core.severity import Severity


class InteractionSource(Protocol):
    def interactions_for(
        self, ingredients_a: Iterable[str], ingredients_b: Iterable[str]
    ) -> list[KnownInteraction]: ...


class PairOverrides(Protocol):
    """A site's decisions on pairs (`cds_service.core.overrides`): a new grade, or None to
    silence."""

    def apply(self, rxcui_a: str, rxcui_b: str, grade: PairGrade) -> PairGrade | None: ...


@dataclass(frozen=True, slots=True)
class InteractingPair:
    ingredient_a: Ingredient  # carried by a medication advised about
    ingredient_b: Ingredient
    medications_a: tuple[PrescribedMedication, ...]
    medications_b: tuple[PrescribedMedication, ...]
    interactions: tuple[KnownInteraction, ...]  # oriented a -> b, most severe first; may be ()
    prediction: PairPrediction | None = None  # the model's, when past the threshold
    grade: PairGrade = NOT_GRADED  # from the evidence (and the site's overrides)
    # The clinical head's, for a pair no source or rule lists, when past its card threshold
    predicted_interaction: PredictedInteraction | None = None

    @property
    def severity(self) -> Severity | None:
        """The pair's grade; None for a pair only the model flags."""
        return self.grade.severity if self.interactions else None

    def sort_key(self) -> tuple[int, int, float, str, str]:
        """Curated pairs first, most severe first; then predicted-only ones by tier and
        probability."""
        if self.severity is not None:
            return (0, self.severity.rank, 0.0, self.ingredient_a.name, self.ingredient_b.name)
        if self.predicted_interaction is not None:
            return (1, 0, -self.predicted_interaction.probability_major, self.ingredient_a.name, "")
        top = self.prediction.top if self.prediction else None
        tier = TIER_ORDER.get(top.tier, 3) if top else 3
        return (1, tier, -(top.probability if top else 0.0), self.ingredient_a.name, "")

    @property
    def medications(self) -> tuple[PrescribedMedication, ...]:
        return self.medications_a + tuple(
            m for m in self.medications_b if m not in self.medications_a
        )


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """What one call may cost, whatever the caller sends (docs/security.md): a session holds at
    most `max_ingredients` distinct ingredients (the advised medications' first) and
    `max_pairs` pairs, and the curated lookups stop at `deadline`. What is left out is said on
    a card, never dropped silently. A real prescribing session is far below these: 40
    medications of one ingredient each, all new, make 780 pairs."""

    max_ingredients: int = 100
    max_pairs: int = 5000
    deadline: Deadline | None = None


@dataclass(frozen=True, slots=True)
class LeftUnchecked:
    """What a call's limits kept from being checked."""

    ingredients: tuple[Ingredient, ...] = ()  # beyond the ingredient limit: paired with nothing
    pairs: int = 0  # pairs beyond the pair limit, or not looked up before the deadline
    out_of_time: bool = False

    def __bool__(self) -> bool:
        return bool(self.ingredients or self.pairs)


@dataclass(frozen=True, slots=True)
class CheckResult:
    pairs: tuple[InteractingPair, ...]  # most severe first
    unmapped: tuple[PrescribedMedication, ...]  # could not be checked, wholly or in part
    ingredient_pairs_checked: int
    model: PredictionBatch | None = None  # None: no model configured
    left_unchecked: LeftUnchecked = LeftUnchecked()


def check_interactions(
    advised: Sequence[PrescribedMedication],
    others: Sequence[PrescribedMedication],
    knowledge: InteractionSource,
    min_tier: Severity,
    predictions: PredictionSource | None = None,
    model_deadline: Deadline | None = None,
    overrides: PairOverrides | None = None,
    limits: CheckLimits | None = None,
    interaction_model: InteractionPredictionSource | None = None,
) -> CheckResult:
    """`min_tier`: the least severe grade that makes a card. `model_deadline`: when the model
    must stop; the pairs it had no time for are checked against the curated sources all the
    same. `overrides`: the site's decisions, applied to each pair's grade. `limits`: what the
    call may cost (default: `CheckLimits()`, no deadline). `interaction_model`: the clinical
    head, asked about the pairs no source or rule lists at all."""
    limits = limits or CheckLimits()
    advised_ids = {id(m) for m in advised}  # identity: comparing records field by field is slow
    everything = list(advised) + [m for m in others if id(m) not in advised_ids]
    carriers: dict[str, list[int]] = {}  # ingredient RXCUI -> positions in `everything`
    ingredients: dict[str, Ingredient] = {}
    beyond: dict[str, Ingredient] = {}  # past the ingredient limit
    for position, medication in enumerate(everything):
        for item in medication.mapping.ingredients:
            rxcui = item.ingredient.rxcui
            if rxcui not in carriers and len(carriers) >= limits.max_ingredients:
                beyond.setdefault(rxcui, item.ingredient)
                continue
            carriers.setdefault(rxcui, []).append(position)
            ingredients.setdefault(rxcui, item.ingredient)
    checked, over_limit = _pairs_to_check(carriers, set(range(len(advised))), limits.max_pairs)

    curated: dict[PairKey, list[KnownInteraction]] = {}
    grades: dict[PairKey, PairGrade] = {}
    listed: set[PairKey] = set()  # any record at all, shown or not
    deadline, out_of_time = limits.deadline, False
    for number, (key, (rxcui_a, rxcui_b, _)) in enumerate(list(checked.items())):
        if deadline is not None and number % 32 == 0 and deadline.expired():
            late = list(checked)[number:]
            for unlooked in late:
                del checked[unlooked]
            over_limit += len(late)
            out_of_time = True
            break
        found = knowledge.interactions_for([rxcui_a], [rxcui_b])
        if found:
            listed.add(key)
        grade: PairGrade | None = grade_pair(found)
        if overrides is not None and grade is not None:
            grade = overrides.apply(rxcui_a, rxcui_b, grade)
        shown = grade is not None and _at_least(grade, min_tier)
        curated[key] = found if shown else []
        if grade is not None:
            grades[key] = grade
    policy = predictions.policy if predictions is not None else None
    model = (
        predictions.predict_pairs(
            [(ingredients[a], ingredients[b]) for a, b, _ in checked.values()],
            model_deadline,
            explain=frozenset(key for key, found in curated.items() if found),
        )
        if predictions is not None and checked
        else None
    )
    # The clinical head only adds cards for pairs no source lists, all asked in one batch;
    # past the call's deadline it is not asked (a signal, not a check the answer owes)
    unlisted = [k for k in checked if k not in listed]
    clinical: dict[PairKey, PredictedInteraction] = {}
    in_time = not out_of_time and (deadline is None or not deadline.expired())
    if interaction_model is not None and unlisted and in_time:
        asked = [(ingredients[checked[k][0]], ingredients[checked[k][1]]) for k in unlisted]
        found_by_model = interaction_model.card_worthy(asked)
        clinical = {unlisted[i]: p for i, p in found_by_model.items()}
    pairs: list[InteractingPair] = []
    for key, (rxcui_a, rxcui_b, a_positions) in checked.items():
        found = curated[key]
        prediction = model.pairs.get(key) if model else None
        own_card = bool(prediction and policy and policy.warrants_card(prediction))
        predicted = clinical.get(key)
        if not found and not own_card and predicted is None:
            continue
        medications_a = tuple(everything[p] for p in a_positions)
        medications_b = tuple(everything[p] for p in carriers[rxcui_b])
        grade = grades.get(key, NOT_GRADED) if found else NOT_GRADED
        for ingredient, medications in (
            (ingredients[rxcui_a], medications_a),
            (ingredients[rxcui_b], medications_b),
        ):
            routes = {m.route for m in medications}
            if len(routes) == 1 and (route := routes.pop()) in APPLIED_LOCALLY:
                grade = applied_locally(grade, ingredient.name, route)
        pairs.append(
            InteractingPair(
                ingredient_a=ingredients[rxcui_a],
                ingredient_b=ingredients[rxcui_b],
                medications_a=medications_a,
                medications_b=medications_b,
                interactions=tuple(found),
                prediction=prediction,
                grade=grade,
                predicted_interaction=predicted if not found else None,
            )
        )
    pairs.sort(key=InteractingPair.sort_key)
    unmapped = tuple(m for m in everything if not m.mapping.is_complete)
    left = LeftUnchecked(tuple(beyond.values()), over_limit, out_of_time)
    return CheckResult(tuple(pairs), unmapped, len(checked), model, left)


def _pairs_to_check(
    carriers: dict[str, list[int]], advised_positions: set[int], max_pairs: int
) -> tuple[dict[PairKey, tuple[str, str, list[int]]], int]:
    """Each pair of an advised ingredient with any other, oriented from the advised one, up to
    `max_pairs`; and how many more there were."""
    checked: dict[PairKey, tuple[str, str, list[int]]] = {}
    over: set[PairKey] = set()
    for rxcui_a in carriers:
        a_positions = [p for p in carriers[rxcui_a] if p in advised_positions]
        if not a_positions:
            continue
        for rxcui_b, b_positions in carriers.items():
            key = frozenset((rxcui_a, rxcui_b))
            if rxcui_a == rxcui_b or key in checked or key in over:
                continue
            if not any(pa != pb for pa in a_positions for pb in b_positions):
                continue  # both only in one combination product
            if len(checked) >= max_pairs:
                over.add(key)
                continue
            checked[key] = (rxcui_a, rxcui_b, a_positions)
    return checked, len(over)


def _at_least(grade: PairGrade, min_tier: Severity) -> bool:
    return grade.severity is not None and not min_tier.is_more_severe_than(grade.severity)
