"""A card's detail, short enough to read in ten seconds. Pure: Markdown from an interacting pair.

In reading order: the grade and the harm; what to do (the advice of a source carrying the
pair's grade, never a line that contradicts it); why, in one line; what the patient's context
changes; the model's signal when it agrees in kind with the curated harm; the sources, each
with its own grade, on one line; the route when it changes the picture; and how each
medication code was mapped. Everything else (every source's full text, references, the French
original, the model's genes) is on the explanation page the card links to.
"""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.core import prediction_cards
from cds_service.core.card_text import escape
from cds_service.core.codes import NDC_SYSTEMS, RXNORM_SYSTEMS
from cds_service.core.context_advice import PairContext
from cds_service.core.evidence import (
    DERIVED_MANAGEMENT,
    EvidenceKind,
    KnownInteraction,
    lead_record,
    records_to_show,
)
from cds_service.core.harm_kinds import curated_harm_kinds, effect_harm_kinds
from cds_service.core.interaction_check import InteractingPair
from cds_service.core.medication import READ_AS_R4, PrescribedMedication
from cds_service.core.predictions import PredictedEffect

# Routes by which a drug reaches the blood far less than by mouth or injection
LOCAL_ROUTES = frozenset({"topical", "ophthalmic", "otic", "nasal", "vaginal", "rectal"})
SHORT_SOURCE_NAMES = {
    "ANSM-2020": "ANSM thesaurus 2020",
    "ANSM-2016": "ANSM thesaurus 2016",
    "DDInter-1.0": "DDInter 1.0",
    "ONC-HP-2012": "ONC high-priority list 2012",
    "ONC-NI-2013": "ONC non-interruptive list 2013",
    "CredibleMeds": "CredibleMeds 2017",
    "HL7-PDDI": "HL7 PDDI guide",
    "DrugBank-DDI": "DrugBank",
    "RxNorm-combinations": "RxNorm combination products",
}
_RULE_BASIS = {
    EvidenceKind.LABEL: "from US labelling",
    EvidenceKind.CURATED_RULE: "restating a curated list",
    EvidenceKind.PHARMACOLOGY: "from pharmacology",
}
_VIA_LIMIT = 80
_WHY_LIMIT = 220
DERIVED_NOTE = "(from the grade: no source gives more specific advice)"


def interaction_detail(pair: InteractingPair, context: PairContext) -> str:
    records = records_to_show(pair.interactions)
    lead = lead_record(pair.interactions, pair.severity)
    grade = pair.severity.value.capitalize() if pair.severity else "Not graded"
    harm = lead.consequence or lead.harm or lead.mechanism or "no harm named by the source"
    out = [f"**{grade} interaction:** {escape(harm)}"]
    out += [f"- {escape(reason)}." for reason in pair.grade.reasons]
    if pair.grade.override:
        out.append(f"- **Site override:** {escape(pair.grade.override)}")
    out += ["", f"**What to do:** {escape(advice(pair))}"]
    why = next((r.mechanism for r in [lead, *records] if r.mechanism), "")
    if why and why != harm:
        out += ["", f"**Why:** {escape(_one_line(why))}"]
    if context.notes:
        out += ["", "**This patient:** " + " ".join(context.notes)]
    model = agreeing_signal(pair)
    if model:
        out += ["", model]
    # An ungraded source's interaction type (DrugBank) beside credible grades only blurs the
    # list; the explanation page keeps it
    listed = [r for r in records if r.kind is not EvidenceKind.TYPE] or records
    by_source: dict[str, str] = {}  # a source's most severe record only
    for line in map(_source, listed):
        by_source.setdefault(line.split(":")[0], line)
    out += ["", "**Sources:** " + " · ".join(by_source.values()) + "."]
    return "\n".join(out + _trail(pair))


def advice(pair: InteractingPair) -> str:
    """The advice of the most severe source carrying the pair's grade that gives its own; the
    grade's derived advice, said as such, when none does."""
    for record in records_to_show(pair.interactions):
        if record.severity is pair.severity and record.management and not record.management_derived:
            return record.management
    if pair.severity is None:
        return "No source grades this pair; weigh it against the patient."
    return f"{DERIVED_MANAGEMENT[pair.severity]} {DERIVED_NOTE}"


def agreeing_signal(pair: InteractingPair) -> str:
    """One line of the model's view, only when it names the same kind of harm as the curated
    sources (a bleed beside a bleeding warning), never an unrelated effect."""
    if pair.prediction is None:
        return ""
    kinds = curated_harm_kinds(
        text for r in pair.interactions for text in (r.consequence, r.harm) if text
    )
    effect = next((e for e in pair.prediction.effects if effect_harm_kinds(e.rule) & kinds), None)
    if effect is None:
        return ""
    return (
        f"**Model signal:** {escape(effect.name)} ({_percent(effect)}), the same kind of harm "
        "(see the explanation)."
    )


def predicted_detail(pair: InteractingPair) -> str:
    """A pair only the model flags (cards of their own are off by default)."""
    prediction = pair.prediction
    assert prediction is not None
    effects = "; ".join(f"{escape(e.name)} {_percent(e)} ({e.tier})" for e in prediction.effects)
    out = [
        f"**Predicted by model {escape(prediction.model_version)}:** {effects}.",
        "",
        f"*{prediction_cards.CAUTION}*",
        "",
        "No curated source or rule lists this pair; the explanation shows what the model leans on.",
    ]
    return "\n".join(out + _trail(pair))


INTERACTION_MODEL_LABEL = "DDI CDS interaction model (learnt from the curated sources' grades)"


def interaction_model_detail(pair: InteractingPair) -> str:
    """A pair only the clinical head flags: what it predicts and what it leans on."""
    predicted = pair.predicted_interaction
    assert predicted is not None
    known = "; ".join(
        f"{escape(k.a)} + {escape(k.b)} ({escape(k.source.replace('|', ', '))})"
        for k in predicted.similar_known[:3]
    )
    out = [
        f"**Predicted, not in curated sources:** a major interaction is "
        f"{predicted.probability_major:.0%} likely (likeliest grade: {predicted.grade}).",
        "",
        f"**Likely mechanism:** {escape(predicted.mechanism)}",
        "",
        "**What to do:** check the pair in a drug-interaction reference or with a pharmacist "
        "before signing; no curated source lists it, so the model's view is the only evidence.",
    ]
    if known:
        out += ["", f"**Similar known pairs:** {known}."]
    return "\n".join(out + _trail(pair))


def _trail(pair: InteractingPair) -> list[str]:
    out = []
    route = _route_note(pair.medications)
    if route:
        out += ["", f"**Route:** {route}"]
    rxcuis = {pair.ingredient_a.rxcui, pair.ingredient_b.rxcui}
    lines = [_mapping(m, rxcuis) for m in pair.medications]
    return [*out, "", "**Identified:** " + "; ".join(lines) + "."]


def _source(record: KnownInteraction) -> str:
    if record.rule:
        basis = _RULE_BASIS.get(record.kind, "")
        grade = record.severity.value if record.severity else "not graded"
        return (
            f"DDI CDS rule {escape(record.rule)}" + (f", {basis}" if basis else "") + f": {grade}"
        )
    name = SHORT_SOURCE_NAMES.get(record.source, record.source_label)
    text = f"{escape(name)}: {escape(record.source_severity)}"
    if record.via and record.source != "HL7-PDDI":
        via = record.via if len(record.via) <= _VIA_LIMIT else record.via[: _VIA_LIMIT - 1] + "…"
        text += f" (for {escape(via)})"
    return text


def _route_note(medications: Sequence[PrescribedMedication]) -> str:
    notes = [
        f"*{escape(m.label)}* is given by the {m.route} route: much less reaches the blood than "
        "by mouth; shown because absorption is not nil (large areas, long use, broken skin)."
        for m in medications
        if m.route in LOCAL_ROUTES
    ]
    return " ".join(notes)


def _mapping(medication: PrescribedMedication, rxcuis: set[str]) -> str:
    where = medication.role.value + (
        f" {escape(medication.reference)}" if medication.reference else ""
    )
    steps = []
    for item in medication.mapping.ingredients:
        if item.ingredient.rxcui not in rxcuis:
            continue
        first = item.trail[0]
        salt = f" (salt of {escape(item.moiety.name)})" if item.moiety is not None else ""
        sure = "" if item.confidence.value == "code" else f", confidence: {item.confidence.value}"
        code = f"{_system_name(first.system)} {escape(first.code)}"
        if first.system == "text":
            code = "by name" if first.code == medication.label else f"text “{escape(first.code)}”"
        if code == escape(medication.label):
            code = ""  # the label is the code already (an order sent without a display)
        if code == f"RxNorm {item.ingredient.rxcui}":
            steps.append(f"{code}, the ingredient itself{salt}{sure}")  # nothing was mapped
            continue
        steps.append(
            f"{code + ' ' if code else ''}→ {escape(item.ingredient.name)} "
            f"(RxNorm {item.ingredient.rxcui}){salt}{sure}"
        )
    read = "" if medication.read_as == READ_AS_R4 else ", not valid FHIR R4, read leniently"
    head = f"*{escape(medication.label)}* ({where}{read})"
    caveats = "".join(f" ({escape(note)})" for note in medication.mapping.notes)
    trail = "".join(f" {step}" if step.startswith("→") else f": {step}" for step in steps)
    return head + trail + caveats


def _system_name(system: str) -> str:
    if system in RXNORM_SYSTEMS or system == "rxnorm":
        return "RxNorm"
    if system in NDC_SYSTEMS:
        return "NDC"
    return "text" if system == "text" else escape(system)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _WHY_LIMIT else text[: _WHY_LIMIT - 1].rstrip() + "…"


def _percent(effect: PredictedEffect) -> str:
    return f"{effect.probability:.0%}" if effect.probability >= 0.01 else "<1%"
