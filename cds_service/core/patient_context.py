"""What a rule may need to know about the patient besides the two drugs: age, recent lab values,
and the other medications taken. Pure: read from the hook call's prefetch, never fetched.

The EHR sends it through the `patient` and `observations` prefetch templates
(`cds_service.protocol.services`); the HL7 PDDI examples send the same resources under their own
keys
(`item1`..`item6`), which are read as well. What is not sent stays unknown, and the advice that
depends on it says that it used its default (`cds_service.core.context_advice`). Only final,
amended or corrected Observations count, each analyte's latest, and only within
`LAB_MAX_AGE_DAYS`: an old value says nothing about the patient now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LAB_MAX_AGE_DAYS = 100  # the HL7 PDDI digoxin logic reads electrolytes within 100 days
RESULT_STATUSES = frozenset({"final", "amended", "corrected"})

# Which LOINC codes report an analyte (reviewed; the HL7 PDDI value sets list the same codes for
# digoxin, potassium and renal function). Units are read as sent: each analyte has the unit
# its thresholds are written in, and a value in another unit is not used.
LAB_CODES: dict[str, frozenset[str]] = {
    "digoxin": frozenset({"10535-3", "3563-4"}),
    "potassium": frozenset({"2823-3", "6298-4", "75940-7", "22760-3", "39789-3", "32713-0"}),
    "creatinine": frozenset({"2160-0", "38483-4"}),
    "egfr": frozenset(
        {"33914-3", "48642-3", "48643-1", "50044-7", "62238-1", "69405-9", "98979-8", "77147-7"}
    ),
    "lithium": frozenset({"14334-7"}),
    "inr": frozenset({"6301-6", "34714-6", "46418-0"}),
}
LAB_UNITS: dict[str, frozenset[str]] = {  # UCUM codes, and units as EHRs write them
    "digoxin": frozenset({"ng/mL", "ug/L"}),
    "potassium": frozenset({"mmol/L", "meq/L", "mEq/L", "m[eq]/L"}),
    "creatinine": frozenset({"mg/dL"}),
    "egfr": frozenset({"mL/min/{1.73_m2}", "mL/min/1.73m2", "mL/min/1.73 m2", "mL/min"}),
    "lithium": frozenset({"mmol/L", "meq/L", "mEq/L", "m[eq]/L"}),
    "inr": frozenset({"{INR}", "{ratio}", "1", "", "INR"}),
}
_ANALYTE_OF = {code: analyte for analyte, codes in LAB_CODES.items() for code in codes}
MAX_RESOURCES = 2_000  # read at most this many resources from prefetch for context


@dataclass(frozen=True, slots=True)
class LabValue:
    analyte: str
    value: float
    unit: str
    when: date | None  # the observation's effective date; None when not given

    def describe(self) -> str:
        when = f", {self.when.isoformat()}" if self.when else ""
        return f"{self.value:g} {self.unit}{when}"


@dataclass(frozen=True, slots=True)
class PatientContext:
    age_years: int | None = None  # None: no Patient with a birth date was sent
    labs: Mapping[str, LabValue] = field(default_factory=dict)  # latest recent value per analyte
    labs_sent: bool = False  # any Observation was sent (else every lab is unknown)
    # The latest value of an analyte sent only with results too old to act on: said, not used
    older_labs: Mapping[str, LabValue] = field(default_factory=dict)
    # Every ingredient of the medications in this call (drafts and current), for rules that
    # ask what else is taken (a proton-pump inhibitor beside warfarin + an NSAID)
    ingredients: Mapping[str, str] = field(default_factory=dict)  # rxcui -> name
    medications_known: bool = False  # the current medications were read (else only drafts)


def read_patient_context(
    prefetched: Iterable[Any],
    ingredients: Mapping[str, str],
    medications_known: bool,
    today: date,
) -> PatientContext:
    """The context in the call's prefetched values, whatever their keys; the first Patient
    wins (the standard prefetch is passed before a legacy layout's)."""
    age: int | None = None
    latest: dict[str, LabValue] = {}
    older: dict[str, LabValue] = {}
    labs_sent = False
    for resource in _resources(prefetched):
        kind = resource.get("resourceType")
        if kind == "Patient" and age is None:
            age = _age(resource.get("birthDate"), today)
        elif kind == "Observation":
            labs_sent = True
            value = _lab_value(resource, today)
            if value is None:
                continue
            recent = value.when is None or (today - value.when).days <= LAB_MAX_AGE_DAYS
            kept = latest if recent else older
            held = kept.get(value.analyte)
            if held is None or (value.when or date.min) > (held.when or date.min):
                kept[value.analyte] = value
    older = {analyte: v for analyte, v in older.items() if analyte not in latest}
    return PatientContext(
        age_years=age,
        labs=latest,
        labs_sent=labs_sent,
        older_labs=older,
        ingredients=dict(ingredients),
        medications_known=medications_known,
    )


def _resources(values: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    count = 0
    for value in values:
        if not isinstance(value, Mapping):
            continue
        entries = value.get("entry") if value.get("resourceType") == "Bundle" else [value]
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource", entry) if isinstance(entry, Mapping) else None
            if isinstance(resource, Mapping):
                count += 1
                if count > MAX_RESOURCES:
                    return
                yield resource


def _age(birth_date: Any, today: date) -> int | None:
    if not isinstance(birth_date, str) or len(birth_date) < 4:
        return None
    try:  # FHIR allows "1950", "1950-03" and "1950-03-14": a partial date is its first day
        parts = [int(p) for p in birth_date[:10].split("-")]
        born = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if 0 <= years < 130 else None


def _lab_value(resource: Mapping[str, Any], today: date) -> LabValue | None:
    if resource.get("status") not in RESULT_STATUSES:
        return None
    codings = (resource.get("code") or {}).get("coding") or []
    analyte = next(
        (
            _ANALYTE_OF[c["code"]]
            for c in codings
            if isinstance(c, Mapping) and c.get("system") == LOINC and c.get("code") in _ANALYTE_OF
        ),
        None,
    )
    quantity = resource.get("valueQuantity")
    if analyte is None or not isinstance(quantity, Mapping):
        return None
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    # The UCUM code where the quantity has one, else its unit as written (some EHRs put a
    # SNOMED code in `code`: the HL7 PDDI examples' "258806002" for ng/mL)
    ucum = quantity.get("code") if quantity.get("system") == UCUM else None
    unit = next((str(u) for u in (ucum, quantity.get("unit")) if u is not None), "")
    if unit not in LAB_UNITS[analyte]:
        return None
    when = _date(resource.get("effectiveDateTime") or resource.get("issued"))
    if when is not None and when > today:
        return None
    return LabValue(analyte, float(value), _unit_label(unit), when)


def _date(text: Any) -> date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _unit_label(unit: str) -> str:
    return {"m[eq]/L": "mEq/L", "meq/L": "mEq/L", "mL/min/{1.73_m2}": "mL/min/1.73 m²"}.get(
        unit, unit
    )
