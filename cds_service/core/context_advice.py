"""Advice that depends on the patient, not only on the two drugs. Pure: an interacting pair and
the `PatientContext` in, sentences and offers (what the card may suggest) out.

Three checks, each from a published logic:
- **Gastroprotection** for pairs whose harm is upper gastrointestinal bleeding from an NSAID
  (warfarin + NSAID and the project's NSAID bleeding rules): the HL7 PDDI warfarin + NSAIDs
  logic (http://hl7.org/fhir/uv/pddi/STU1/) asks whether a proton-pump inhibitor or misoprostol
  is already taken (they reduce the risk), whether the patient is 65 or older, and whether a
  systemic corticosteroid or an aldosterone antagonist is also taken (each multiplies the risk:
  Masclee et al., Gastroenterology 2014;147:784-92). Without a PPI, the card offers to add one
  and, where the NSAID is the new order, to use acetaminophen instead.
- **Digoxin level** for digoxin + a P-glycoprotein inhibitor (the HL7 PDDI digoxin +
  cyclosporine logic): a level within 30 days below 0.9 ng/mL means the rise can be managed by
  monitoring; a higher or unknown level calls for a level before starting (offered as an order)
  and caution. Low potassium makes digoxin toxicity likelier.
- **Potassium and kidney function** for the potassium-raising pairs, and the **lithium level**
  for the lithium pairs: the latest value, or the default advice to check it.
When the context is not in the call, the card says the default advice applies and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from cds_service.core.card_text import escape
from cds_service.core.evidence import KnownInteraction
from cds_service.core.interaction_check import InteractingPair
from cds_service.core.patient_context import LAB_MAX_AGE_DAYS, LabValue, PatientContext

DIGOXIN_LEVEL_DAYS = 30  # the HL7 PDDI digoxin + cyclosporine logic's window

GI_BLEEDING_RULES = frozenset(
    {
        "anticoagulant-nsaid",
        "aspirin-nsaid",
        "p2y12-nsaid",
        "ssri-snri-nsaid",
        "nsaid-corticosteroid",
        "nsaid-nsaid",
        "ketorolac-nsaid",
    }
)
DIGOXIN_RULES = frozenset({"pk-digoxin-pgp-major", "pk-digoxin-pgp-moderate"})
POTASSIUM_RULES = frozenset(
    {
        "enac-blocker-potassium",
        "mra-potassium",
        "potassium-sparing-duplicate",
        "finerenone-potassium-sparing",
        "raas-potassium-sparing",
        "raas-potassium",
        "trimethoprim-potassium-sparing",
    }
)
LITHIUM_RULES = frozenset({"lithium-thiazide", "lithium-acei-arb", "lithium-nsaid"})
GASTROPROTECTIVE = frozenset(
    {
        "omeprazole",
        "esomeprazole",
        "lansoprazole",
        "dexlansoprazole",
        "pantoprazole",
        "rabeprazole",
        "misoprostol",
    }
)
# Systemic corticosteroids and aldosterone antagonists (HL7 PDDI card 4); the inhaled and nasal
# steroids are left out because their systemic exposure is small
UGIB_RISK_MEDICATIONS = frozenset(
    {
        "prednisone",
        "prednisolone",
        "methylprednisolone",
        "dexamethasone",
        "hydrocortisone",
        "cortisone",
        "betamethasone",
        "deflazacort",
        "spironolactone",
        "eplerenone",
    }
)
OLDER_AGE = 65
DIGOXIN_SAFE_BELOW = 0.9  # ng/mL (HL7 PDDI digoxin + cyclosporine)
POTASSIUM_HIGH_ABOVE = 5.0  # mmol/L
POTASSIUM_LOW_BELOW = 3.5
EGFR_LOW_BELOW = 30.0  # mL/min/1.73 m2
LITHIUM_HIGH_ABOVE = 1.0  # mmol/L


@dataclass(frozen=True, slots=True)
class PairContext:
    """What the patient's context adds to a pair's card."""

    notes: tuple[str, ...] = ()  # Markdown sentences, "This patient" on the card
    # What the card may offer: "acetaminophen" (replace the NSAID), "ppi" (add one), and the
    # lab orders ("lab:digoxin", "lab:potassium", "lab:creatinine", "lab:lithium")
    offers: frozenset[str] = field(default_factory=frozenset)
    nsaid: str = ""  # the ingredient to replace with acetaminophen, for "acetaminophen"


NO_CONTEXT = PairContext()


def pair_context(pair: InteractingPair, context: PatientContext, today: date) -> PairContext:
    rules = {r.rule for r in pair.interactions if r.rule}
    pddi = " ".join(r.via for r in pair.interactions if r.source == "HL7-PDDI").lower()
    parts: list[PairContext] = []
    if rules & GI_BLEEDING_RULES or "nsaid" in pddi:
        parts.append(_gastroprotection(pair, context))
    if rules & DIGOXIN_RULES or "digoxin" in pddi:
        parts.append(_digoxin(context, today))
    if rules & POTASSIUM_RULES:
        parts.append(_potassium(context))
    if rules & LITHIUM_RULES:
        parts.append(_lab_check(context, "lithium", "lithium level", LITHIUM_HIGH_ABOVE))
    if not parts:
        return NO_CONTEXT
    return PairContext(
        tuple(note for part in parts for note in part.notes),
        frozenset(offer for part in parts for offer in part.offers),
        next((part.nsaid for part in parts if part.nsaid), ""),
    )


def _gastroprotection(pair: InteractingPair, context: PatientContext) -> PairContext:
    taken = sorted(name for name in context.ingredients.values() if name in GASTROPROTECTIVE)
    own = {pair.ingredient_a.name, pair.ingredient_b.name}  # the card already names these
    risks = sorted(
        name
        for name in context.ingredients.values()
        if name in UGIB_RISK_MEDICATIONS and name not in own
    )
    notes = []
    offers: set[str] = set()
    if taken:
        notes.append(
            f"Takes {escape(', '.join(taken))}: gastroprotection lowers the risk of upper "
            "gastrointestinal bleeding; the risk of other bleeding remains."
        )
    elif context.medications_known:
        notes.append("Takes no proton-pump inhibitor or misoprostol: add one if the NSAID is kept.")
        offers.add("ppi")
    else:
        notes.append(
            "Whether a proton-pump inhibitor is taken is not known (the current medications "
            "were not read): the default advice applies."
        )
        offers.add("ppi")
    if context.age_years is None:
        notes.append("Age not sent: the risk rises from 65.")
    elif context.age_years >= OLDER_AGE:
        notes.append(f"Age {context.age_years}: upper gastrointestinal bleeding is likelier.")
    if risks:
        notes.append(
            f"Also takes {escape(', '.join(risks))}, which multiplies the risk of upper "
            "gastrointestinal bleeding with an NSAID."
        )
    nsaid = _nsaid_of(pair)
    if nsaid:
        offers.add("acetaminophen")
    return PairContext(tuple(notes), frozenset(offers), nsaid)


def _nsaid_of(pair: InteractingPair) -> str:
    """The NSAID of the pair, as its rule's class membership names it ("ibuprofen: NSAID")."""
    for record in pair.interactions:
        for name, joined in ((record.name_a, record.joined_a), (record.name_b, record.joined_b)):
            if joined.startswith(f"{name}: NSAID") and not _both_nsaids(record):
                return name
    return ""


def _both_nsaids(record: KnownInteraction) -> bool:
    return "NSAID" in record.joined_a and "NSAID" in record.joined_b


def _digoxin(context: PatientContext, today: date) -> PairContext:
    level = context.labs.get("digoxin")
    if (
        level is not None
        and level.when is not None
        and (today - level.when).days > DIGOXIN_LEVEL_DAYS
    ):
        level = None  # the HL7 PDDI logic reads a level from the last 30 days
    notes = []
    offers = {"lab:digoxin"}
    if level is None:
        notes.append(
            f"{_no_recent(context, 'digoxin', 'digoxin level', DIGOXIN_LEVEL_DAYS)}: check a "
            "trough level before starting, or within 24 hours (default advice)."
        )
    elif level.value < DIGOXIN_SAFE_BELOW:
        notes.append(
            f"Digoxin level {level.describe()} is in range: expect it to rise; check it again "
            "within a week and adjust the dose."
        )
    else:
        notes.append(
            f"Digoxin level {level.describe()} is already {DIGOXIN_SAFE_BELOW} ng/mL or more: "
            "combine only if the benefit outweighs the risk; reduce the digoxin dose first and "
            "monitor closely."
        )
    potassium = context.labs.get("potassium")
    if potassium is not None and potassium.value < POTASSIUM_LOW_BELOW:
        notes.append(f"Potassium {potassium.describe()} is low, which favours digoxin toxicity.")
    return PairContext(tuple(notes), frozenset(offers))


def _potassium(context: PatientContext) -> PairContext:
    potassium = context.labs.get("potassium")
    egfr = context.labs.get("egfr")
    notes = []
    offers = {"lab:potassium", "lab:creatinine"}
    if potassium is None and egfr is None:
        notes.append(
            "No recent potassium or kidney function was sent: the advice above applies as "
            "written (its default)."
        )
        return PairContext(tuple(notes), frozenset(offers))
    if potassium is None:
        notes.append("No recent potassium was sent: the advice above applies as written.")
    elif potassium.value > POTASSIUM_HIGH_ABOVE:
        notes.append(
            f"Potassium {potassium.describe()} is already above {POTASSIUM_HIGH_ABOVE:g}: "
            "avoid adding to it."
        )
    else:
        notes.append(f"Potassium {potassium.describe()} is in range: monitor as advised above.")
    if egfr is not None and egfr.value < EGFR_LOW_BELOW:
        notes.append(f"eGFR {egfr.describe()}: poor kidney function makes hyperkalemia likelier.")
    return PairContext(tuple(notes), frozenset(offers))


def _lab_check(context: PatientContext, analyte: str, label: str, high: float) -> PairContext:
    value: LabValue | None = context.labs.get(analyte)
    if value is None:
        note = (
            f"{_no_recent(context, analyte, label, LAB_MAX_AGE_DAYS)}: the advice above applies "
            "as written "
            "(its default)."
        )
    elif value.value > high:
        note = f"{label.capitalize()} {value.describe()} is already above {high:g}."
    else:
        note = f"{label.capitalize()} {value.describe()}: monitor as advised above."
    return PairContext((note,), frozenset({f"lab:{analyte}"}))


def _no_recent(context: PatientContext, analyte: str, label: str, days: int) -> str:
    """No usable value: says so, naming the latest one sent if it was only too old."""
    sent = context.labs.get(analyte) or context.older_labs.get(analyte)
    if sent is None:
        return f"No {label} from the last {days} days was sent"
    return f"The latest {label} sent ({sent.describe()}) is older than {days} days"
