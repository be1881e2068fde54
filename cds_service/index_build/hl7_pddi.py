"""The HL7 Potential Drug-Drug Interaction (PDDI) CDS rules: warfarin + NSAIDs, digoxin +
cyclosporine, with their value sets, compiled to ingredient pairs with the rules' own texts.

The rules' indicator is computed in CQL from patient context (age, bleeding history, co-
medication); without that context the base card says "Assess risk and take action if
necessary". Graded on the one scale (cds_service.core.severity): warfarin + NSAIDs major (bleeding,
the guide's warning), digoxin + cyclosporine moderate (monitor the digoxin level).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from cds_service.core.drug_index import DrugIndex
from cds_service.core.severity import Severity
from cds_service.index_build.statements import Pair, Statement

HL7_PDDI = "HL7-PDDI"
FHIR = "{http://hl7.org/fhir}"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BASE_ADVICE = "Assess risk and take action if necessary."
# PlanDefinition -> (value set of the object drug, value set of the precipitant drugs)
RULES = {
    "warfarin-nsaids": ("warfarin", "NSAIDS"),
    "digoxin-cyclosporine": ("digoxin", "cyclosporine"),
}
GRADES = {"warfarin-nsaids": Severity.MAJOR, "digoxin-cyclosporine": Severity.MODERATE}
MONITOR = {"warfarin-nsaids": "INR", "digoxin-cyclosporine": "digoxin-level,creatinine"}

SOURCE = {
    "id": HL7_PDDI,
    "label": "HL7 Potential Drug-Drug Interaction (PDDI) CDS implementation guide",
    "citation": (
        "HL7 International Clinical Decision Support WG. Potential Drug-Drug Interaction (PDDI) "
        "CDS Implementation Guide, STU1: PlanDefinitions warfarin-nsaids-cds and "
        "digoxin-cyclosporine-cds with their value sets (HL7/PDDI-CDS @ 018be880)."
    ),
    "url": "http://hl7.org/fhir/uv/pddi/STU1/",
    "licence": "CC0 1.0",
}


def fhir_value(element: ET.Element, child: str | None = None) -> str:
    """The `value` attribute of `element` (or of its FHIR child `child`); a bundle that lacks
    it is broken, and says where."""
    found = element if child is None else element.find(f"{FHIR}{child}")
    value = found.get("value") if found is not None else None
    if value is None:
        raise ValueError(f"a FHIR {element.tag.removeprefix(FHIR)} without a {child or ''} value")
    return value


def read_value_sets(bundle: Path) -> dict[str, tuple[list[str], list[str]]]:
    """value set name -> (its RxNorm codes, the names of the value sets it includes)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for value_set in ET.parse(bundle).getroot().iter(f"{FHIR}ValueSet"):  # noqa: S314 - CC0 file
        name = fhir_value(value_set, "url").rsplit("valueset-", 1)[-1]
        codes: list[str] = []
        included: list[str] = []
        for include in value_set.iter(f"{FHIR}include"):
            included += [
                fhir_value(v).rsplit("valueset-", 1)[-1] for v in include.iter(f"{FHIR}valueSet")
            ]
            system = include.find(f"{FHIR}system")
            if system is not None and fhir_value(system).strip() == RXNORM_SYSTEM:
                codes += [fhir_value(c, "code") for c in include.iter(f"{FHIR}concept")]
        found.setdefault(name, (codes, included))
    return found


def value_set_ingredients(
    name: str, value_sets: dict[str, tuple[list[str], list[str]]], index: DrugIndex
) -> set[str]:
    """The ingredient every mapped code of a value set contains (so aspirin/caffeine products
    give aspirin, not caffeine); for a composite value set, the union over its members."""
    codes, included = value_sets[name]
    found: set[str] = set()
    for member in included:
        found |= value_set_ingredients(member, value_sets, index)
    per_code = [{i for i, _s in index.ingredient_rxcuis(c)} for c in codes]
    per_code = [s for s in per_code if s]
    if per_code:
        found |= set.intersection(*per_code)
    return found


def _statement(rule: str, data_dir: Path) -> Statement:
    path = (
        data_dir
        / "knowledge"
        / "hl7-pddi-cds"
        / "resources"
        / f"PlanDefinition-{rule}-cds-sign.json"
    )
    plan = json.loads(path.read_text(encoding="utf-8"))
    for action in plan["action"][0]["action"]:
        children = action.get("action", [])
        text = action.get("description", "")
        advised = [c for c in children if c.get("title") == BASE_ADVICE]
        if action.get("title", "").startswith("Potential Drug-Drug") and (
            BASE_ADVICE in text or advised
        ):
            # "unknown." fills the template's fields the rule leaves empty: not text to show
            lines = [
                ln.strip() for ln in text.split("\n") if ln.strip() and ln.strip() != "unknown."
            ]
            consequence = lines[0].replace(BASE_ADVICE, "").strip()
            options = [
                c["description"].strip().rstrip(".")
                for c in children
                if c.get("description") and c not in advised
            ]
            management = " ".join(
                [BASE_ADVICE]
                + [c["description"] for c in advised if c.get("description")]
                + (
                    [f"Options in the HL7 rule: {'; '.join(dict.fromkeys(options))}."]
                    if options
                    else []
                )
            )
            return Statement(
                source=HL7_PDDI,
                editions=HL7_PDDI,
                severity=GRADES[rule].value,
                monitor=MONITOR[rule],
                source_severity=BASE_ADVICE.rstrip("."),
                consequence=consequence,
                mechanism=" ".join(lines[1:]),
                management=management,
                management_derived=0,
                original_text="\n".join(lines),
                via=action["title"],
            )
    raise ValueError(f"{path}: no base PDDI card with {BASE_ADVICE!r}")


def compile_hl7_pddi(data_dir: Path, index: DrugIndex) -> dict[Pair, Statement]:
    records: dict[Pair, Statement] = {}
    artifacts = data_dir / "knowledge" / "hl7-pddi-cds" / "artifacts"
    for rule, (object_set, precipitant_set) in RULES.items():
        value_sets = read_value_sets(artifacts / rule / "valueset-bundle.xml")
        statement = _statement(rule, data_dir)
        objects = value_set_ingredients(object_set, value_sets, index)
        precipitants = value_set_ingredients(precipitant_set, value_sets, index)
        if not objects or not precipitants:
            raise ValueError(f"HL7 PDDI rule {rule}: a value set maps to no ingredient")
        for a in objects:
            for b in precipitants:
                if a != b:
                    records[(a, b) if int(a) < int(b) else (b, a)] = statement
    return records


def input_files(data_dir: Path) -> list[Path]:
    folder = data_dir / "knowledge" / "hl7-pddi-cds"
    return sorted(folder.glob("resources/PlanDefinition-*-sign.json")) + sorted(
        folder.glob("artifacts/*/valueset-bundle.xml")
    )
