"""The model's part of a card: its own section, its own wording, never merged with curated
evidence. Pure: Markdown lines and card dicts from `PairPrediction`s."""

from __future__ import annotations

from collections.abc import Callable

from cds_service.medication import Ingredient
from cds_service.predictions import ModelDrug, PairPrediction

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

Escape = Callable[[str], str]


def indicator(prediction: PairPrediction) -> str:
    return PREDICTED_INDICATOR


def summary(name_a: str, name_b: str, prediction: PairPrediction) -> str:
    top = prediction.top
    return (
        f"{name_a.capitalize()} + {name_b}: model predicts {top.name} "
        f"({_percent(top.probability)}, {top.tier})"
    )


def section(
    prediction: PairPrediction, ingredient_a: Ingredient, ingredient_b: Ingredient, escape: Escape
) -> list[str]:
    """The "Predicted by model" block of a card's detail."""
    lines = [
        f"### Predicted by model {escape(prediction.model_version)}: "
        f"{escape(ingredient_a.name)} + {escape(ingredient_b.name)}",
        "",
    ]
    for effect in prediction.effects:
        lines.append(
            f"- {escape(effect.name)}: probability {_percent(effect.probability)} "
            f"(tier: {effect.tier})"
        )
    lines.append("")
    if prediction.driver_genes:
        genes = ", ".join(
            f"{escape(g.symbol or 'Entrez ' + str(g.entrez))}" for g in prediction.driver_genes
        )
        lines.extend(
            [
                f"Genes driving *{escape(prediction.top.name)}* (network-propagated target "
                f"profile, a proxy for expression): {genes}.",
                "",
            ]
        )
    if not prediction.explained:
        lines.extend(
            [
                "The genes driving this prediction were not worked out within the time allowed "
                "for this check; the explanation link gives them.",
                "",
            ]
        )
    if prediction.from_report_record:
        lines.extend(
            [
                "Part of this score comes from what TWOSIDES reported for this very pair "
                "(its other side effects).",
                "",
            ]
        )
    matched = ((ingredient_a, prediction.drug_a), (ingredient_b, prediction.drug_b))
    lines.append(
        "Drugs as the model knows them: "
        + "; ".join(_drug_line(ingredient, drug, escape) for ingredient, drug in matched)
        + "."
    )
    lines.extend(["", f"*{CAUTION}*", ""])
    return lines


def _drug_line(ingredient: Ingredient, drug: ModelDrug, escape: Escape) -> str:
    if drug.trained_on:
        return (
            f"{escape(ingredient.name)} = training drug {escape(drug.key)} "
            f"({escape(drug.name)}, matched by {escape(drug.matched_by)})"
        )
    return f"{escape(ingredient.name)}: {escape(drug.matched_by)}"


def _percent(probability: float) -> str:
    return f"{probability:.0%}" if probability >= 0.01 else "<1%"
