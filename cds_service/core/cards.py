"""CDS Hooks cards from the interaction check. Pure: dicts in the CDS Hooks 2.0 shape.

One card per interacting ingredient pair: the indicator follows the pair's grade; the summary
names the harm and what to do; the detail (`card_detail`) is short and links to the
explanation page for everything else; the suggestions (`care_actions`) are what the advice
asks for, adapted to the patient's context (`context_advice`). Then one card per reason the
check is incomplete. Text that came from the EHR is escaped before it goes into Markdown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from cds_service.core import prediction_cards
from cds_service.core.card_detail import (
    INTERACTION_MODEL_LABEL,
    interaction_detail,
    interaction_model_detail,
    predicted_detail,
)
from cds_service.core.card_text import SERVICE_LABEL, SUMMARY_LIMIT, clip, escape
from cds_service.core.care_actions import suggestions_for
from cds_service.core.context_advice import NO_CONTEXT, PairContext, pair_context
from cds_service.core.evidence import DERIVED_ACTION, KnownInteraction, lead_record
from cds_service.core.interaction_check import CheckResult, InteractingPair
from cds_service.core.limit_cards import LISTED, left_unchecked_card, more_interactions_card
from cds_service.core.medication import PrescribedMedication
from cds_service.core.patient_context import PatientContext
from cds_service.core.severity import Indicator

OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (  # code, display: as the code system has them
    ("risk-benefit-ratio", "Recipient assessment of risk/benefit ratio"),
    ("mitigate-risk-negative-outcome", "Action taken to mitigate risk of negative outcome"),
    (
        "action-performed-no-adverse-effect",
        "Intended action was performed previously without adverse effect",
    ),
    ("cds-not-applicable", "PC CDS does not apply to patient"),
    (
        "does-not-align-latest-evidence",
        "Recommended action does not align with the latest evidence",
    ),
)

NewId = Callable[[], str]
_LISTED_PAIRS = 20  # pairs named on a card about pairs left unscored


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class CardOptions:
    new_id: NewId = _new_uuid
    # Pairs only the model flags beyond this many share one summary card (alert fatigue).
    max_predicted_cards: int = 3
    # Interaction cards in full beyond this many share one card (`limit_cards`), most severe
    # first: an answer stays readable and bounded in size, whatever the call carried
    max_interaction_cards: int = 20
    explain_url: str | None = None  # absolute URL of the explanation endpoint, if served
    # "Patient/123" for this call: orders a card suggests name it; None: no orders suggested
    patient: str | None = None
    interaction_model_indicator: str = "info"  # a clinical-head card: info unless set


def cards_for(
    result: CheckResult,
    *,
    medications_checked: bool = True,
    medications_missing_because: str | None = None,
    medications_dropped_beyond: int | None = None,
    options: CardOptions | None = None,
    context: PatientContext | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """Interaction cards, then one card per reason the check is incomplete (if any).
    `context`: what the call says about the patient (None: nothing, the default advice)."""
    options = options or CardOptions()
    context = context or PatientContext(medications_known=medications_checked)
    today = today or date.today()
    curated = [pair for pair in result.pairs if pair.interactions]
    clinical = [p for p in result.pairs if not p.interactions and p.predicted_interaction]
    predicted_only = [
        p for p in result.pairs if not p.interactions and p.predicted_interaction is None
    ]
    shown = predicted_only[: options.max_predicted_cards]
    # The clinical head's cards share the model cards' cap; the rest go on the "more" card
    curated = curated + clinical[: options.max_predicted_cards]
    cards_beyond = clinical[options.max_predicted_cards :]
    in_full = (curated + shown)[: options.max_interaction_cards]
    cards = [interaction_card(pair, options, context, today) for pair in in_full]
    if len(curated) + len(shown) > len(in_full) or cards_beyond:
        rest = (curated + shown)[len(in_full) :] + cards_beyond
        cards.append(more_interactions_card(rest, options.new_id))
    if len(predicted_only) > len(shown):
        cards.append(more_predictions_card(predicted_only[len(shown) :], options))
    if result.left_unchecked:
        cards.append(left_unchecked_card(result.left_unchecked, options.new_id))
    if result.unmapped:
        cards.append(unmapped_card(result.unmapped, options))
    if result.model is not None and result.model.out_of_time:
        cards.append(model_out_of_time_card(result, options))
    if not medications_checked:
        cards.append(no_current_medications_card(options, medications_missing_because))
    if medications_dropped_beyond is not None:
        cards.append(too_many_medications_card(medications_dropped_beyond, options))
    return cards


def interaction_card(
    pair: InteractingPair,
    options: CardOptions,
    context: PatientContext | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Curated evidence first when there is any; the model's line only when it agrees."""
    if not pair.interactions and pair.predicted_interaction is not None:
        return interaction_model_card(pair, options)
    if not pair.interactions:
        return predicted_card(pair, options)
    top = lead_record(pair.interactions, pair.severity)
    situation = (
        pair_context(pair, context, today or date.today()) if context is not None else NO_CONTEXT
    )
    # The indicator is the evidence's: the model adds its line, never raises the alert.
    indicator = (pair.grade.indicator or Indicator.INFO).value
    card: dict[str, Any] = {
        "uuid": options.new_id(),
        "summary": _summary(pair, top),
        "indicator": indicator,
        "detail": interaction_detail(pair, situation),
        "source": {"label": _with_licence(top), "url": top.url},
        "overrideReasons": _override_reasons(),
    }
    return _with_actions(card, pair, options, situation)


def _summary(pair: InteractingPair, top: KnownInteraction) -> str:
    """ "A + B: <harm> — <what to do>" from the record's short forms when it has them, whole
    phrases only (the action is left out rather than cut); else its consequence, clipped."""
    head = f"{pair.ingredient_a.name.capitalize()} + {pair.ingredient_b.name}: "
    severity = pair.severity
    action = top.action or (DERIVED_ACTION[severity] if severity is not None else "")
    if top.harm:
        for summary in (f"{head}{top.harm} — {action}" if action else "", head + top.harm):
            if summary and len(summary) < SUMMARY_LIMIT:
                return summary
    what = top.consequence or top.mechanism or _harmless_label(pair)
    return clip(head + _sentence_case(what))


def _harmless_label(pair: InteractingPair) -> str:
    grade = pair.severity.value if pair.severity else "ungraded"
    return f"{grade} interaction ({pair.interactions[0].source})"


def _with_actions(
    card: dict[str, Any], pair: InteractingPair, options: CardOptions, situation: PairContext
) -> dict[str, Any]:
    """The card's suggestions (`care_actions`) and its one link: the explanation page, which
    holds every source's text, references and licence, and the model's view."""
    suggestions = suggestions_for(pair, situation, options.new_id, options.patient)
    if suggestions:
        card["suggestions"] = suggestions
        only_undo = all(a["type"] == "delete" for s in suggestions for a in s["actions"])
        card["selectionBehavior"] = "at-most-one" if only_undo else "any"
    if options.explain_url:
        query = urlencode({"a": pair.ingredient_a.rxcui, "b": pair.ingredient_b.rxcui})
        names = f"{pair.ingredient_a.name} + {pair.ingredient_b.name}"
        card["links"] = [
            {
                "label": clip(f"Full evidence and sources: {names}"),
                "url": f"{options.explain_url}?{query}",
                "type": "absolute",
            }
        ]
    return card


def predicted_card(pair: InteractingPair, options: CardOptions) -> dict[str, Any]:
    """A pair only the model flags: `info`, and labelled as a prediction."""
    assert pair.prediction is not None
    name_a, name_b = pair.ingredient_a.name, pair.ingredient_b.name
    card: dict[str, Any] = {
        "uuid": options.new_id(),
        "summary": clip(prediction_cards.summary(name_a, name_b, pair.prediction)),
        "indicator": prediction_cards.indicator(pair.prediction),
        "detail": predicted_detail(pair),
        "source": {"label": f"{prediction_cards.MODEL_LABEL}, {pair.prediction.model_version}"},
        "overrideReasons": _override_reasons(),
    }
    return _with_actions(card, pair, options, NO_CONTEXT)


def interaction_model_card(pair: InteractingPair, options: CardOptions) -> dict[str, Any]:
    """A pair no source lists that the clinical head predicts major: says it is predicted,
    names the mechanism and the known pairs it leans on, links to the explanation."""
    predicted = pair.predicted_interaction
    assert predicted is not None
    name_a, name_b = pair.ingredient_a.name, pair.ingredient_b.name
    card: dict[str, Any] = {
        "uuid": options.new_id(),
        "summary": clip(
            f"{name_a.capitalize()} + {name_b}: predicted major interaction, not in curated "
            "sources — review before signing"
        ),
        "indicator": options.interaction_model_indicator,
        "detail": interaction_model_detail(pair),
        "source": {"label": f"{INTERACTION_MODEL_LABEL}, {predicted.model_version}"},
        "overrideReasons": _override_reasons(),
    }
    return _with_actions(card, pair, options, NO_CONTEXT)


def more_predictions_card(pairs: list[InteractingPair], options: CardOptions) -> dict[str, Any]:
    """The model-only pairs past the card limit, one line each, on one info card."""
    version = pairs[0].prediction.model_version if pairs[0].prediction else ""
    lines = [
        f"The prediction model ({escape(version)}) also flags these pairs. They are statistical "
        "signals from adverse-event reports, not established interactions:",
        "",
    ]
    for pair in pairs:
        assert pair.prediction is not None
        top = pair.prediction.top
        lines.append(
            f"- {escape(pair.ingredient_a.name)} + {escape(pair.ingredient_b.name)}: "
            f"{escape(top.name)}, probability {top.probability:.0%} ({top.tier})"
        )
    count = len(pairs)
    return {
        "uuid": options.new_id(),
        "summary": clip(f"The prediction model flags {count} more pair{'s' if count > 1 else ''}"),
        "indicator": "info",
        "detail": "\n".join(lines),
        "source": {"label": f"{prediction_cards.MODEL_LABEL}, {version}"},
    }


def _override_reasons() -> list[dict[str, Any]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS
    ]


def unmapped_card(
    medications: Iterable[PrescribedMedication], options: CardOptions
) -> dict[str, Any]:
    lines = [
        "These medications could not be mapped to ingredients, wholly or in part, so what could "
        "not be mapped was **not checked** for interactions. Check it by other means.",
        "",
    ]
    labels = []
    for number, medication in enumerate(medications):
        labels.append(medication.label)
        if number >= LISTED:
            continue  # counted in the summary, not listed: the answer stays bounded
        mapping = medication.mapping
        why = mapping.unchecked if mapping.is_mapped else mapping.unmapped_reasons
        reasons = "; ".join(why) or "no reason recorded"
        lines.append(
            f"- *{escape(medication.label)}* ({medication.role.value}"
            f"{', ' + escape(medication.reference) if medication.reference else ''}): "
            f"{escape(reasons)}"
        )
    count = len(labels)
    if count > LISTED:
        lines.append(f"- and {count - LISTED} more")
    summary = f"{count} medication{'s' if count > 1 else ''} could not be checked: " + ", ".join(
        labels[:LISTED]
    )
    return {
        "uuid": options.new_id(),
        "summary": clip(summary),
        "indicator": "info",
        "detail": "\n".join(lines),
        "source": {"label": SERVICE_LABEL},
    }


def no_current_medications_card(options: CardOptions, because: str | None = None) -> dict[str, Any]:
    """`because`: why they could not be read (a slow FHIR server); None: nobody offered them."""
    if because is None:
        summary = "Current medications not available: only the new orders were checked"
        why = (
            "The EHR neither prefetched the patient's current medications nor named a FHIR "
            "server to read them from"
        )
    else:
        summary = "Check incomplete: not all current medications could be read"
        why = f"Not all of the patient's current medications could be read: {escape(because)}"
    return {
        "uuid": options.new_id(),
        "summary": summary,
        "indicator": "info",
        "detail": (
            f"{why}. So the new orders were checked **only against each other** (and against "
            "the current medications that could be read). Interactions with the other "
            "medications the patient takes were not checked."
        ),
        "source": {"label": SERVICE_LABEL},
    }


def model_out_of_time_card(result: CheckResult, options: CardOptions) -> dict[str, Any]:
    assert result.model is not None
    pairs = result.model.out_of_time
    shown = [f"- {escape(a.name)} + {escape(b.name)}" for a, b in pairs[:_LISTED_PAIRS]]
    if len(pairs) > _LISTED_PAIRS:
        shown.append(f"- and {len(pairs) - _LISTED_PAIRS} more")
    count = len(pairs)
    return {
        "uuid": options.new_id(),
        "summary": clip(
            f"Check incomplete: {count} pair{'s' if count > 1 else ''} not scored by the "
            "prediction model in time"
        ),
        "indicator": "info",
        "detail": "\n".join(
            [
                "The prediction model ran out of the time allowed for this check before it "
                "scored these ingredient pairs. They **were** checked against the curated "
                "sources; only the model's prediction is missing.",
                "",
                *shown,
            ]
        ),
        "source": {"label": f"{prediction_cards.MODEL_LABEL}, {result.model.model_version}"},
    }


def too_many_medications_card(limit: int, options: CardOptions) -> dict[str, Any]:
    return {
        "uuid": options.new_id(),
        "summary": f"Not all medications were checked: only the first {limit} were read",
        "indicator": "info",
        "detail": (
            f"The request carried more than {limit} medication resources (draft orders and "
            f"current medications together). Only the first {limit} were checked for "
            "interactions; **the others were not checked**."
        ),
        "source": {"label": SERVICE_LABEL},
    }


def _with_licence(record: KnownInteraction) -> str:
    """A source's name with its terms: several sources are for non-commercial use only."""
    return f"{record.source_label} — {record.licence}" if record.licence else record.source_label


def _sentence_case(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
