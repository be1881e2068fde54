"""CDS Hooks cards from the interaction check. Pure: dicts in the CDS Hooks 2.0 shape.

One card per interacting ingredient pair: the indicator follows the most severe curated record,
the detail gives every record with its source's own severity wording, the management advice,
the route when it changes the picture, and how each medication code was mapped to the
ingredient. Text that came from the EHR is escaped before it goes into Markdown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from cds_service import prediction_cards
from cds_service.card_text import SERVICE_LABEL, SUMMARY_LIMIT, clip, escape
from cds_service.codes import NDC_SYSTEMS, RXNORM_SYSTEMS
from cds_service.evidence import (
    DERIVED_ACTION,
    KnownInteraction,
    lead_record,
    records_to_show,
)
from cds_service.interaction_check import CheckResult, InteractingPair
from cds_service.limit_cards import LISTED, left_unchecked_card, more_interactions_card
from cds_service.orders import PrescribedMedication, Role
from cds_service.severity import Indicator, Severity

# Routes by which a drug reaches the blood far less than by mouth or injection
LOCAL_ROUTES = frozenset({"topical", "ophthalmic", "otic", "nasal", "vaginal", "rectal"})
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
REMOVAL_GRADES = frozenset({Severity.CONTRAINDICATED, Severity.MAJOR})
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


def cards_for(
    result: CheckResult,
    *,
    medications_checked: bool = True,
    medications_missing_because: str | None = None,
    medications_dropped_beyond: int | None = None,
    options: CardOptions | None = None,
) -> list[dict]:
    """Interaction cards, then one card per reason the check is incomplete (if any)."""
    options = options or CardOptions()
    curated = [pair for pair in result.pairs if pair.interactions]
    predicted_only = [pair for pair in result.pairs if not pair.interactions]
    shown = predicted_only[: options.max_predicted_cards]
    in_full = (curated + shown)[: options.max_interaction_cards]
    cards = [interaction_card(pair, options) for pair in in_full]
    if len(curated) + len(shown) > len(in_full):
        rest = (curated + shown)[len(in_full) :]
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


def interaction_card(pair: InteractingPair, options: CardOptions) -> dict:
    """Curated evidence first when there is any; the model's section after it, apart."""
    if not pair.interactions:
        return predicted_card(pair, options)
    top = lead_record(pair.interactions, pair.severity)
    # The indicator is the evidence's: the model adds its section, never raises the alert.
    indicator = (pair.grade.indicator or Indicator.INFO).value
    card: dict = {
        "uuid": options.new_id(),
        "summary": _summary(pair, top),
        "indicator": indicator,
        "detail": _detail(pair),
        "source": {"label": _with_licence(top), "url": top.url},
        "overrideReasons": _override_reasons(),
    }
    return _with_actions(
        card, pair, options, _links(records_to_show(pair.interactions), exclude=top.url)
    )


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
    card: dict, pair: InteractingPair, options: CardOptions, links: list[dict]
) -> dict:
    """The card's suggestions (remove a draft) and links (sources, the model's explanation)."""
    suggestions = _removal_suggestions(pair, options)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    links = links + _explain_link(pair, options)
    if links:
        card["links"] = links
    return card


def _explain_link(pair: InteractingPair, options: CardOptions) -> list[dict]:
    if pair.prediction is None or not options.explain_url:
        return []
    query = urlencode({"a": pair.ingredient_a.rxcui, "b": pair.ingredient_b.rxcui})
    label = f"Why the model predicts this: {pair.ingredient_a.name} + {pair.ingredient_b.name}"
    return [{"label": clip(label), "url": f"{options.explain_url}?{query}", "type": "absolute"}]


def predicted_card(pair: InteractingPair, options: CardOptions) -> dict:
    """A pair only the model flags: at most `warning`, and labelled as a prediction."""
    assert pair.prediction is not None
    name_a, name_b = pair.ingredient_a.name, pair.ingredient_b.name
    card: dict = {
        "uuid": options.new_id(),
        "summary": clip(prediction_cards.summary(name_a, name_b, pair.prediction)),
        "indicator": prediction_cards.indicator(pair.prediction),
        "detail": _detail(pair),
        "source": {"label": f"{prediction_cards.MODEL_LABEL}, {pair.prediction.model_version}"},
        "overrideReasons": _override_reasons(),
    }
    return _with_actions(card, pair, options, [])


def more_predictions_card(pairs: list[InteractingPair], options: CardOptions) -> dict:
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


def _override_reasons() -> list[dict]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS
    ]


def unmapped_card(medications: Iterable[PrescribedMedication], options: CardOptions) -> dict:
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


def no_current_medications_card(options: CardOptions, because: str | None = None) -> dict:
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


def model_out_of_time_card(result: CheckResult, options: CardOptions) -> dict:
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


def too_many_medications_card(limit: int, options: CardOptions) -> dict:
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


def _detail(pair: InteractingPair) -> str:
    name_a, name_b = pair.ingredient_a.name, pair.ingredient_b.name
    out = []
    if pair.interactions:
        out.extend([f"### Known interaction: {escape(name_a)} + {escape(name_b)}", ""])
        out.extend(_grade_lines(pair))
    for record in records_to_show(pair.interactions):
        out.extend(_evidence(record))
    if pair.prediction:
        out.extend(
            prediction_cards.section(pair.prediction, pair.ingredient_a, pair.ingredient_b, escape)
        )
    route_note = _route_note(pair)
    if route_note:
        out.extend(["**Route.** " + route_note, ""])
    out.append("**How the medications were identified**")
    out.append("")
    for medication in pair.medications:
        out.append(_mapping_line(medication, {pair.ingredient_a.rxcui, pair.ingredient_b.rxcui}))
    return "\n".join(out).rstrip()


def _grade_lines(pair: InteractingPair) -> list[str]:
    grade = pair.severity.value if pair.severity else "not graded"
    lines = [
        f"**Grade: {grade}** (the most severe grade of a credible source; each source's "
        "own grade is listed below)."
    ]
    lines.extend(f"- {escape(reason)}." for reason in pair.grade.reasons)
    if pair.grade.override:
        lines.append(f"- **Site override:** {escape(pair.grade.override)}")
    return [*lines, ""]


def _evidence(record: KnownInteraction) -> list[str]:
    own = record.severity.value if record.severity else "not graded"
    title = escape(record.source_label) + (f" — rule {escape(record.rule)}" if record.rule else "")
    lines = [
        f"**{title}**: {escape(record.source_severity)} (grade: {own}; {record.kind.value})",
        "",
    ]
    if record.consequence:
        lines.append(f"- Consequence: {escape(record.consequence)}")
    if record.mechanism:
        lines.append(f"- Mechanism: {escape(record.mechanism)}")
    lines.append(f"- What to do: {escape(record.management)}")
    if record.via:
        lines.append(f"- Documented for: {escape(record.via)}")
    for joined in (record.joined_a, record.joined_b):
        if joined:
            lines.append(f"- Class membership: {escape(joined)}")
    for name, matched in ((record.name_a, record.matched_a), (record.name_b, record.matched_b)):
        if matched:
            lines.append(
                f"- {escape(name)} matched as {escape(matched)} (the source names the "
                "base moiety of the salt)"
            )
    if record.monitor:
        lines.append(f"- Monitor: {escape(', '.join(record.monitor))}")
    for reference in record.references:
        lines.append(f"- Reference: {escape(reference)}")
    english_original = record.original_language == "en"  # French stays off cards
    if english_original and record.original_text and record.original_text != record.management:
        lines.append(f"- Source text: {escape(_shorten(record.original_text, 600))}")
    lines.append("")
    return lines


def _route_note(pair: InteractingPair) -> str:
    notes = []
    for medication in pair.medications:
        if medication.route in LOCAL_ROUTES:
            notes.append(
                f"*{escape(medication.label)}* is given by the {medication.route} route: "
                "systemic exposure is usually much lower than by mouth, and the evidence above "
                "concerns systemic use. The interaction is shown because absorption is not nil "
                "(large areas, long use, broken skin)."
            )
    return " ".join(notes)


def _mapping_line(medication: PrescribedMedication, rxcuis: set[str]) -> str:
    where = medication.role.value
    if medication.reference:
        where += f" {escape(medication.reference)}"
    steps = []
    for item in medication.mapping.ingredients:
        if item.ingredient.rxcui not in rxcuis:
            continue
        first = item.trail[0]
        salt = (
            f" = salt of {escape(item.moiety.name)} (RxNorm {item.moiety.rxcui})"
            if item.moiety is not None
            else ""
        )
        steps.append(
            f"{_system_name(first.system)} {escape(first.code)} ({escape(first.detail)}) → "
            f"ingredient {escape(item.ingredient.name)} (RxNorm {item.ingredient.rxcui}){salt}; "
            f"confidence: {item.confidence.value}"
        )
    return f"- *{escape(medication.label)}*, {where}, read as {medication.read_as}: " + "; ".join(
        steps
    )


def _removal_suggestions(pair: InteractingPair, options: CardOptions) -> list[dict]:
    """Removing a draft is offered where the grade says not to combine (contraindicated) or to
    avoid the combination (major); a moderate pair is managed (monitoring, dose), not undone."""
    if pair.severity not in REMOVAL_GRADES:
        return []
    suggestions = []
    for medication in pair.medications:
        if medication.role is not Role.DRAFT or medication.reference is None:
            continue  # an order without an id cannot be named in a delete action
        suggestion = {
            "label": clip(f"Remove the draft order for {medication.label}"),
            "uuid": options.new_id(),
            "actions": [
                {
                    "type": "delete",
                    "description": f"Remove the draft order {medication.reference} "
                    f"({medication.label}) from this order session",
                    "resourceId": medication.reference,
                }
            ],
        }
        suggestions.append(suggestion)
    if suggestions and pair.severity is Severity.CONTRAINDICATED:
        suggestions[0]["isRecommended"] = True
    return suggestions


def _links(records: Iterable[KnownInteraction], exclude: str) -> list[dict]:
    links: dict[str, dict] = {}
    for record in records:
        if record.url and record.url != exclude and record.url not in links:
            links[record.url] = {
                "label": clip(_with_licence(record)),
                "url": record.url,
                "type": "absolute",
            }
    return list(links.values())


def _with_licence(record: KnownInteraction) -> str:
    """A source's name with its terms: several sources are for non-commercial use only."""
    return f"{record.source_label} — {record.licence}" if record.licence else record.source_label


def _system_name(system: str) -> str:
    if system in RXNORM_SYSTEMS or system == "rxnorm":
        return "RxNorm"
    if system in NDC_SYSTEMS:
        return "NDC"
    return "text" if system == "text" else escape(system)


def _sentence_case(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
