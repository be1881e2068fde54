"""A card's suggestions: what the prescriber can do with one click. Pure: CDS Hooks 2.0
suggestions whose resources are valid FHIR R4 (the tests validate each with fhir.resources).

- **Remove the draft** only where the grade says not to combine or to avoid the combination
  (contraindicated, major); a moderate pair is managed, not undone.
- **Order the monitoring** the advice asks for: a draft `ServiceRequest` coded in LOINC (INR,
  potassium, creatinine, a drug level, an ECG...), with the advice's timing in its note.
  A drug's level is ordered for the drug whose level the advice watches; only tests with a
  standard LOINC code are coded (the others by text, never by a guessed code).
- **A safer alternative** where the logic names one (HL7 PDDI warfarin + NSAIDs): acetaminophen
  in place of the NSAID being ordered, or a proton-pump inhibitor beside it.
Lab orders and alternatives need the patient's id (a FHIR request names its subject); without
one only removal is offered (the try-it page sends a made-up patient for that reason).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cds_service.core.card_text import clip
from cds_service.core.context_advice import PairContext
from cds_service.core.evidence import KnownInteraction
from cds_service.core.interaction_check import InteractingPair
from cds_service.core.medication import PrescribedMedication, Role
from cds_service.core.severity import Severity

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
REMOVAL_GRADES = frozenset({Severity.CONTRAINDICATED, Severity.MAJOR})
MAX_LAB_ORDERS = 3  # a card offers at most this many tests, the most specific first


@dataclass(frozen=True, slots=True)
class LabTest:
    label: str  # as the suggestion names it: "INR"
    loinc: str  # "" when no single standard code exists: ordered by text
    display: str  # the LOINC long common name


# Monitoring words of the rule tables (`monitor` column) -> the test ordered. Reviewed LOINC
# codes; blood pressure, heart rate and sedation are watched at the bedside, not ordered.
LAB_TESTS: dict[str, LabTest] = {
    "INR": LabTest("INR", "6301-6", "INR in Platelet poor plasma by Coagulation assay"),
    "ECG": LabTest("ECG (QTc)", "11524-6", "EKG study"),
    "potassium": LabTest("potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma"),
    "creatinine": LabTest("creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    "sodium": LabTest("sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma"),
    "magnesium": LabTest("magnesium", "19123-9", "Magnesium [Mass/volume] in Serum or Plasma"),
    "glucose": LabTest("glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
    "CK": LabTest(
        "creatine kinase",
        "2157-6",
        "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma",
    ),
    "blood-count": LabTest(
        "complete blood count", "58410-2", "CBC panel - Blood by Automated count"
    ),
    "liver-tests": LabTest(
        "liver tests", "24325-3", "Hepatic function 2000 panel - Serum or Plasma"
    ),
    "digoxin-level": LabTest(
        "digoxin level", "10535-3", "Digoxin [Mass/volume] in Serum or Plasma"
    ),
    "lithium-level": LabTest(
        "lithium level", "14334-7", "Lithium [Moles/volume] in Serum or Plasma"
    ),
}
# "serum-level": the level of whichever drug of the pair is monitored by its level
DRUG_LEVELS: dict[str, LabTest] = {
    "digoxin": LAB_TESTS["digoxin-level"],
    "lithium": LAB_TESTS["lithium-level"],
    "phenytoin": LabTest("phenytoin level", "3968-5", "Phenytoin [Mass/volume] in Serum or Plasma"),
    "fosphenytoin": LabTest(
        "phenytoin level", "3968-5", "Phenytoin [Mass/volume] in Serum or Plasma"
    ),
    "carbamazepine": LabTest(
        "carbamazepine level", "3432-2", "Carbamazepine [Mass/volume] in Serum or Plasma"
    ),
    "valproic acid": LabTest(
        "valproate level", "4086-5", "Valproate [Mass/volume] in Serum or Plasma"
    ),
    "theophylline": LabTest(
        "theophylline level", "4049-3", "Theophylline [Mass/volume] in Serum or Plasma"
    ),
    "phenobarbital": LabTest(
        "phenobarbital level", "3948-7", "Phenobarbital [Mass/volume] in Serum or Plasma"
    ),
    "tacrolimus": LabTest("tacrolimus level", "11253-2", "Tacrolimus [Mass/volume] in Blood"),
    "cyclosporine": LabTest("cyclosporine level", "", "Cyclosporine trough level in blood"),
    "sirolimus": LabTest("sirolimus level", "", "Sirolimus trough level in blood"),
    "everolimus": LabTest("everolimus level", "", "Everolimus trough level in blood"),
}
# The same monitoring named in a source's own advice (ANSM's, CredibleMeds')
_ADVICE_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (monitor, re.compile(pattern, re.IGNORECASE))
    for monitor, pattern in (
        ("INR", r"\bINR\b"),
        ("ECG", r"\bECG\b|electrocardiogra"),
        ("digoxin-level", r"digoxin (?:level|concentration)|digoxinaemia|digoxinemia"),
        ("lithium-level", r"lithium (?:level|concentration)|lithaemia|lithemia"),
        ("serum-level", r"(?:plasma|serum|blood|trough) (?:level|concentration)"),
        ("potassium", r"potassium|kal(?:a)?emia"),
        ("creatinine", r"creatinine|renal function|kidney function"),
        ("CK", r"\bCK\b|creatine kinase"),
        ("blood-count", r"blood count|\bCBC\b"),
        ("glucose", r"blood (?:sugar|glucose)|glyc(?:a)?emia"),
        ("sodium", r"natr(?:a)?emia|\bsodium level"),
    )
)
ACETAMINOPHEN = ("161", "acetaminophen")  # RxNorm ingredient: the strength is in the dosage
OMEPRAZOLE_20 = ("198051", "omeprazole 20 MG Delayed Release Oral Capsule")  # RxNorm SCD

NewId = Callable[[], str]


def suggestions_for(
    pair: InteractingPair,
    context: PairContext,
    new_id: NewId,
    patient: str | None,
) -> list[dict[str, Any]]:
    """Removal first (the grade's own action), then the alternative, then the tests."""
    suggestions = _removals(pair, new_id)
    if patient:
        suggestions += _alternatives(pair, context, new_id, patient)
        suggestions += [
            _lab_order(test, pair, new_id, patient) for test in lab_tests(pair, context)
        ]
    return suggestions


def lab_tests(pair: InteractingPair, context: PairContext) -> list[LabTest]:
    """The tests the pair's advice (and the patient's context) asks for, most specific first."""
    monitors: list[str] = []
    for offer in sorted(context.offers):
        if offer.startswith("lab:"):
            monitors.append(_LAB_OFFERS[offer])
    for record in _advising(pair):
        monitors.extend(record.monitor)
        if not record.management_derived:
            monitors.extend(_monitors_named_in(record.management))
    tests: list[LabTest] = []
    for monitor in monitors:
        for test in _tests_for(monitor, pair):
            if test not in tests:
                tests.append(test)
    return tests[:MAX_LAB_ORDERS]


@functools.lru_cache(maxsize=4096)
def _monitors_named_in(management: str) -> tuple[str, ...]:
    """The monitors a management text names (its words, searched once per text: the same
    statements come back call after call)."""
    return tuple(m for m, words in _ADVICE_WORDS if words.search(management))


_LAB_OFFERS = {
    "lab:digoxin": "digoxin-level",
    "lab:potassium": "potassium",
    "lab:creatinine": "creatinine",
    "lab:lithium": "lithium-level",
}


def _advising(pair: InteractingPair) -> Iterable[KnownInteraction]:
    """The records whose advice the card follows: those carrying the pair's grade."""
    return [r for r in pair.interactions if r.severity is pair.severity and r.credible]


def _tests_for(monitor: str, pair: InteractingPair) -> list[LabTest]:
    if monitor == "serum-level":
        names = [n for n in (pair.ingredient_a.name, pair.ingredient_b.name) if n in DRUG_LEVELS]
        if len(names) > 1:  # both are monitored by level: the one whose level the advice names
            advice = " ".join(r.management for r in _advising(pair))
            names = [n for n in names if _level_named(n, advice)] or names
        return [DRUG_LEVELS[name] for name in names]
    test = LAB_TESTS.get(monitor)
    return [test] if test else []


def _level_named(drug: str, advice: str) -> bool:
    """ "serum digoxin", "digoxin level", "concentrations of digoxin" name the drug's level."""
    name = re.escape(drug)
    pattern = (
        rf"(?:serum|plasma|blood|trough)\s+{name}|{name}\s+(?:levels?|concentrations?)|"
        rf"(?:levels?|concentrations?) of {name}"
    )
    return re.search(pattern, advice, re.IGNORECASE) is not None


def _removals(pair: InteractingPair, new_id: NewId) -> list[dict[str, Any]]:
    if pair.severity not in REMOVAL_GRADES:
        return []
    suggestions: list[dict[str, Any]] = []
    for medication in _drafts(pair.medications):
        suggestions.append(
            {
                "label": clip(f"Remove the draft order for {medication.label}"),
                "uuid": new_id(),
                "actions": [_delete(medication)],
            }
        )
    if suggestions and pair.severity is Severity.CONTRAINDICATED:
        suggestions[0]["isRecommended"] = True
    return suggestions


def _drafts(medications: Iterable[PrescribedMedication]) -> list[PrescribedMedication]:
    """Draft orders with an id: an order without one cannot be named in a delete action."""
    return [m for m in medications if m.role is Role.DRAFT and m.reference is not None]


def _delete(medication: PrescribedMedication) -> dict[str, Any]:
    return {
        "type": "delete",
        "description": f"Remove the draft order {medication.reference} ({medication.label}) "
        "from this order session",
        "resourceId": medication.reference,
    }


def _alternatives(
    pair: InteractingPair, context: PairContext, new_id: NewId, patient: str
) -> list[dict[str, Any]]:
    suggestions = []
    if "acetaminophen" in context.offers and context.nsaid:
        nsaid_orders = [
            m
            for m in _drafts(pair.medications)
            if any(i.ingredient.name == context.nsaid for i in m.mapping.ingredients)
        ]
        if nsaid_orders:
            order = nsaid_orders[0]
            acetaminophen = _medication_request(
                patient,
                ACETAMINOPHEN,
                "acetaminophen 500 mg oral tablet",
                "500 mg by mouth every 6 hours as needed for pain; no more than 2 g a day "
                "(above 2 g a day for several days, acetaminophen can raise the INR)",
            )
            suggestions.append(
                {
                    "label": clip(f"Use acetaminophen instead of {order.label}"),
                    "uuid": new_id(),
                    "actions": [
                        _delete(order),
                        {
                            "type": "create",
                            "description": "Order acetaminophen 500 mg as needed, at most "
                            "2 g a day",
                            "resource": acetaminophen,
                        },
                    ],
                }
            )
    if "ppi" in context.offers:
        omeprazole = _medication_request(
            patient,
            OMEPRAZOLE_20,
            OMEPRAZOLE_20[1],
            "20 mg by mouth once a day, before breakfast, while the NSAID is taken",
        )
        suggestions.append(
            {
                "label": "Add omeprazole 20 mg daily to protect the stomach",
                "uuid": new_id(),
                "actions": [
                    {
                        "type": "create",
                        "description": "Order omeprazole 20 mg once a day (gastroprotection)",
                        "resource": omeprazole,
                    }
                ],
            }
        )
    return suggestions


def _medication_request(
    patient: str, code: tuple[str, str], text: str, dosage: str
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code[0], "display": code[1]}],
            "text": text,
        },
        "subject": {"reference": patient},
        "dosageInstruction": [{"text": dosage}],
    }


def _lab_order(test: LabTest, pair: InteractingPair, new_id: NewId, patient: str) -> dict[str, Any]:
    code: dict[str, Any] = {"text": test.label}
    if test.loinc:
        code["coding"] = [{"system": LOINC, "code": test.loinc, "display": test.display}]
    names = f"{pair.ingredient_a.name} + {pair.ingredient_b.name}"
    advice = next((r.management for r in _advising(pair) if not r.management_derived), "")
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": code,
        "subject": {"reference": patient},
        "reasonCode": [{"text": f"Monitoring the interaction {names}"}],
    }
    if advice:
        request["note"] = [{"text": clip(advice, 500)}]
    return {
        "label": clip(f"Order {test.label} ({names})"),
        "uuid": new_id(),
        "actions": [
            {
                "type": "create",
                "description": f"Order {test.label} to monitor {names}",
                "resource": request,
            }
        ],
    }
