"""What the deep DDI model says about ingredient pairs, as the clinical core sees it. Pure.

The core never calls the model: it asks a `PredictionSource` (the adapter in
`cds_service.adapters.model_predictions` wraps `model.inference`) for every ingredient pair it
checks,
and gets back, per pair, the side effects of a serious tier whose calibrated probability passed
the policy's thresholds (`PredictionPolicy`). Predicted evidence stays apart from curated
evidence all the way to the card: a prediction is a statistical signal from spontaneous
reports, not a known interaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cds_service.core.deadline import Deadline
from cds_service.core.medication import Ingredient

PairKey = frozenset[str]  # the two ingredient RXCUIs
TIER_ORDER = {"life-threatening": 0, "serious": 1, "other": 2}


def pair_key(a: Ingredient, b: Ingredient) -> PairKey:
    return frozenset((a.rxcui, b.rxcui))


@dataclass(frozen=True, slots=True)
class PredictedEffect:
    name: str  # the side effect as TWOSIDES names it
    tier: str  # life-threatening, serious or other (model/SIDE_EFFECT_TIERS.md)
    probability: float  # calibrated, at TWOSIDES' base rate among drug pairs
    rule: str = ""  # the seriousness rule that tiered it ("lt.gi-bleed"): its kind of harm


@dataclass(frozen=True, slots=True)
class DriverGene:
    entrez: int
    symbol: str


@dataclass(frozen=True, slots=True)
class ModelDrug:
    """How an ingredient was matched to the model's drug vocabulary (for the card's trail)."""

    key: str  # a TWOSIDES/STITCH id, or "structure" for a drug the model was not trained on
    name: str
    matched_by: str  # e.g. "InChIKey", "name", "structure only (not a training drug)"

    @property
    def trained_on(self) -> bool:
        return self.key != "structure"


@dataclass(frozen=True, slots=True)
class PairPrediction:
    model_version: str
    effects: tuple[PredictedEffect, ...]  # as `PredictionPolicy.select` orders them; not empty
    drug_a: ModelDrug  # ingredient_a's match (the first ingredient of the pair as asked)
    drug_b: ModelDrug
    driver_genes: tuple[DriverGene, ...] = ()  # of the top effect (gene-proxy attributions)
    from_report_record: bool = False  # the pair's own TWOSIDES record contributed to the score
    explained: bool = True  # False: no time was left to find the driving genes

    @property
    def top(self) -> PredictedEffect:
        return self.effects[0]


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """The model's answer for one request. Pairs without a prediction past the threshold are
    absent from `pairs`; ingredients the model could not score are in `not_scored`."""

    model_version: str
    pairs: Mapping[PairKey, PairPrediction] = field(default_factory=dict)
    not_scored: Mapping[str, tuple[Ingredient, str]] = field(default_factory=dict)  # rxcui →
    notes: tuple[str, ...] = ()  # e.g. the cache was down: said on /readyz and in the logs
    # Pairs the model had no time left for (the request's deadline): checked by curated
    # knowledge only, and said so on a card
    out_of_time: tuple[tuple[Ingredient, Ingredient], ...] = ()


@dataclass(frozen=True, slots=True)
class PredictionPolicy:
    """Which predictions a clinician sees. A pair the curated sources already flag gets the
    model's view in its card at the lower *context* bar (it costs no extra alert); a pair only
    the model flags gets a card of its own only at the *card* bar, which is kept high because
    TWOSIDES signals are noisy and every extra card feeds alert fatigue."""

    card_threshold: float = 0.9
    card_tiers: frozenset[str] = frozenset({"life-threatening"})
    context_threshold: float = 0.5
    context_tiers: frozenset[str] = frozenset({"life-threatening", "serious"})
    max_effects: int = 3
    # Off by default: the side-effect model's strongest signals on pairs no source or rule
    # flags are mostly why both drugs are prescribed (metformin + atorvastatin: "heart attack"),
    # not interactions; a pair only the model flags gets a card only where a site turns this on.
    own_cards: bool = False

    def card_worthy(self, effect: PredictedEffect) -> bool:
        return effect.tier in self.card_tiers and effect.probability >= self.card_threshold

    def shown(self, effect: PredictedEffect) -> bool:
        in_context = (
            effect.tier in self.context_tiers and effect.probability >= self.context_threshold
        )
        return in_context or self.card_worthy(effect)

    def select(self, effects: Sequence[PredictedEffect]) -> tuple[PredictedEffect, ...]:
        """The effects to name: card-worthy ones first, then the more serious tier, then the
        likelier (a bleed at 54% says more to a prescriber than cellulitis at 58%)."""
        shown = [e for e in effects if self.shown(e)]
        shown.sort(
            key=lambda e: (not self.card_worthy(e), TIER_ORDER.get(e.tier, 9), -e.probability)
        )
        return tuple(shown[: self.max_effects])

    def warrants_card(self, prediction: PairPrediction) -> bool:
        return self.own_cards and any(self.card_worthy(e) for e in prediction.effects)


class PredictionSource(Protocol):
    policy: PredictionPolicy

    def predict_pairs(
        self,
        pairs: Sequence[tuple[Ingredient, Ingredient]],
        deadline: Deadline | None = None,
        explain: Collection[PairKey] = frozenset(),
    ) -> PredictionBatch:
        """Pairs it cannot score before `deadline` go in `out_of_time`. Driving genes are
        worked out for the pairs in `explain` (those a curated card will show) and for those
        that warrant a card of their own; the others would never be shown."""
        ...


@dataclass(frozen=True, slots=True)
class SimilarKnownPair:
    """A known major-or-worse pair a predicted interaction leans on."""

    a: str
    b: str
    source: str  # the curated sources that list it, "|"-joined


@dataclass(frozen=True, slots=True)
class PredictedInteraction:
    """The clinical head's answer for a pair (`model.clinical`): whether, how severely, by what
    mechanism two drugs interact, from what is known of each drug alone."""

    probability: float  # P(a curated source would list the pair)
    probability_major: float  # P(major or contraindicated)
    grade: str  # "none", "minor", "moderate" or "major": the likeliest reading
    mechanism: str  # a sentence about "one drug" and "the other"
    similar_known: tuple[SimilarKnownPair, ...]
    model_version: str


class InteractionPredictionSource(Protocol):
    """The clinical head as the core sees it (the adapter:
    `cds_service.adapters.interaction_model`)."""

    def card_worthy(
        self, pairs: Sequence[tuple[Ingredient, Ingredient]]
    ) -> dict[int, PredictedInteraction]:
        """The pairs (by position) whose P(major) reaches the card threshold (precision ≥ 0.8
        on validation); pairs with a drug the model cannot describe are never among them."""
        ...
