"""Measure the mapping against the HL7 PDDI CDS value sets (RxNorm codes per drug).

`python -m cds_service.index_build.valuesets [--data ../shared/data]` prints the share of each
value set's codes that map to the value set's own ingredient.
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET  # CC0 files in ../shared, not user input
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.core.codes import RXNORM_SYSTEMS
from cds_service.core.drug_index import DrugIndex
from cds_service.core.mapping import MedicationMapper
from cds_service.index_build.hl7_pddi import FHIR, fhir_value

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# value set -> the ingredient every one of its codes must contain
EXPECTED_INGREDIENT = {
    "warfarin": "warfarin",
    "digoxin": "digoxin",
    "cyclosporine": "cyclosporine",
    "aspirin": "aspirin",
    "bromfenac": "bromfenac",
    "celecoxib": "celecoxib",
    "diclofenac": "diclofenac",
    "topicaldiclofenac": "diclofenac",
    "diflunisal": "diflunisal",
    "etodolac": "etodolac",
    "fenoprofen": "fenoprofen",
    "flurbiprofen": "flurbiprofen",
    "ibuprofen": "ibuprofen",
    "indomethacin": "indomethacin",
    "ketoprofen": "ketoprofen",
    "ketorolac": "ketorolac",
    "mefenamate": "mefenamate",  # RxNorm's IN name for mefenamic acid
    "meloxicam": "meloxicam",
    "nabumetone": "nabumetone",
    "naproxen": "naproxen",
    "nepafenac": "nepafenac",
    "oxaprozin": "oxaprozin",
    "piroxicam": "piroxicam",
    "sulindac": "sulindac",
    "tolmetin": "tolmetin",
}
TARGET_TTYS = ("SCD", "SBD", "IN", "product")


@dataclass
class ValueSetCoverage:
    name: str
    expected: str
    codes: int = 0
    in_sources: int = 0
    mapped_right: int = 0
    target_codes: int = 0  # SCD, SBD, IN (and RxTerms products) present in the sources
    target_mapped_right: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def target_share(self) -> float:
        return self.target_mapped_right / self.target_codes if self.target_codes else 1.0


def read_value_sets(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """value set name -> [(RXCUI, display)] from the HL7 PDDI CDS bundles."""
    found: dict[str, list[tuple[str, str]]] = {}
    folder = data_dir / "knowledge" / "hl7-pddi-cds" / "artifacts"
    for path in sorted(folder.glob("*/valueset-bundle.xml")):
        for value_set in ET.parse(path).getroot().iter(f"{FHIR}ValueSet"):  # noqa: S314
            name = fhir_value(value_set, "url").rsplit("valueset-", 1)[-1]
            if name not in EXPECTED_INGREDIENT or name in found:
                continue
            codes: list[tuple[str, str]] = []
            for include in value_set.iter(f"{FHIR}include"):
                system = include.find(f"{FHIR}system")
                if system is None or fhir_value(system).strip() not in RXNORM_SYSTEMS:
                    continue
                for concept in include.iter(f"{FHIR}concept"):
                    display = concept.find(f"{FHIR}display")
                    codes.append(
                        (
                            fhir_value(concept, "code"),
                            display.get("value", "") if display is not None else "",
                        )
                    )
            found[name] = codes
    return found


def measure(data_dir: Path, index: DrugIndex) -> list[ValueSetCoverage]:
    mapper = MedicationMapper(index)
    results = []
    for name, codes in read_value_sets(data_dir).items():
        row = ValueSetCoverage(name, EXPECTED_INGREDIENT[name])
        for code, display in codes:
            row.codes += 1
            concept = index.concept(code)
            mapping = mapper.map_concept({"coding": [{"system": RXNORM, "code": code}]})
            right = row.expected in {m.ingredient.name for m in mapping.ingredients}
            row.in_sources += concept is not None
            row.mapped_right += right
            if concept is not None and concept.tty in TARGET_TTYS:
                row.target_codes += 1
                row.target_mapped_right += right
                if not right:
                    row.failures.append(f"{code} {concept.tty} {display}")
        results.append(row)
    return results


def render_table(rows: list[ValueSetCoverage]) -> str:
    lines = [
        "| value set | codes | in RxNorm sources | mapped to the ingredient | "
        "SCD/SBD/IN in sources | of those mapped right |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.codes} | {r.in_sources} | {r.mapped_right} "
            f"({r.mapped_right / r.codes:.0%}) | {r.target_codes} | "
            f"{r.target_mapped_right} ({r.target_share:.0%}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    rows = measure(Path(args.data), DrugIndex())
    print(render_table(rows))
    for row in rows:
        for failure in row.failures:
            print(f"  {row.name}: not mapped right: {failure}")


if __name__ == "__main__":
    main()
