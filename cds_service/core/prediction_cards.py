"""The model's own wording on cards, never merged with curated evidence: the label, indicator and
summary of a card only the model raises, and the caution every prediction carries. Pure."""

from __future__ import annotations

from cds_service.core.predictions import PairPrediction

MODEL_LABEL = "DDI CDS deep model (predicted from FDA adverse-event reports)"
# A card only the model raises is "info" whatever the tier: the signal is statistical and
# confounded by indication (amoxicillin + azithromycin "predicts" hypoventilation because both
# treat chest infections), so it must not interrupt as a curated "warning" does; "critical"
# is for curated contraindications only.
PREDICTED_INDICATOR = "info"
CAUTION = (
    "A prediction is a statistical signal learnt from spontaneous adverse-event reports "
    "(TWOSIDES), not an established interaction: weigh it against the patient and the curated "
    "sources."
)


def indicator(prediction: PairPrediction) -> str:
    return PREDICTED_INDICATOR


def summary(name_a: str, name_b: str, prediction: PairPrediction) -> str:
    top = prediction.top
    return (
        f"{name_a.capitalize()} + {name_b}: model predicts {top.name} "
        f"({_percent(top.probability)}, {top.tier})"
    )


def _percent(probability: float) -> str:
    return f"{probability:.0%}" if probability >= 0.01 else "<1%"
