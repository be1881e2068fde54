"""The ANSM thesaurus 2016 in English, RxNorm-coded (WorldVistA conversion, public-PDDI-analysis).

`eng_tables2016-xml-v3.tsv` holds the interactions, one side each being a substance (name and
RxCUI) or a class (name and code); `eng_groups2016_xml-v3.tsv` lists each class's members.
The conversion is hand-made: class names carry typos and "OTHER ..." variants, and the
severity column has some thirty spellings, so both are normalised here explicitly.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from cds_service.core.codes import normalize_name
from cds_service.core.severity import Severity
from cds_service.index_build.ansm_entry import ANSM_2016, AnsmEntry, AnsmSide
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog

FOLDER = "knowledge/ansm-thesaurus-english-2016"
TABLE_FILE = "eng_tables2016-xml-v3.tsv"
GROUPS_FILE = "eng_groups2016_xml-v3.tsv"

# Every severity wording of the file, normalised (normalize_name). None: the conversion kept
# a condition or a pointer instead of the level; such rows only lend their English text.
SEVERITY_WORDINGS: dict[str, Severity | None] = {
    "contraindication": Severity.CONTRAINDICATED,
    "contraindicaton": Severity.CONTRAINDICATED,
    "contrandication": Severity.CONTRAINDICATED,
    "c0ntraindication": Severity.CONTRAINDICATED,
    "contraindicatioin": Severity.CONTRAINDICATED,
    "contraindication with": Severity.CONTRAINDICATED,
    "contraindication not recommended precaution for use": Severity.CONTRAINDICATED,
    "not recommended": Severity.MAJOR,
    "not recommended with": Severity.MAJOR,
    "not recommeded": Severity.MAJOR,
    "nor recommended": Severity.MAJOR,
    "association not recommended": Severity.MAJOR,
    "precaution for use": Severity.MODERATE,
    "precautions for use": Severity.MODERATE,
    "precaution of use": Severity.MODERATE,
    "take into account": Severity.MINOR,
    "tale into account": Severity.MINOR,
    "to be taken into account": Severity.MINOR,
    "": None,  # four loop-diuretic rows lost their level
    "with doses of methotrexate 20 mg week": None,  # the condition of a contraindication
    # Sildenafil-class + strong CYP3A4 inhibitors: "consult each product's AMM".
    "to know the risks and the levels of constraint for each type 5 phosphodiesterase "
    "inhibitor with the strong inhibitors of cyp3a4 consult the amm authorisation de la mise "
    "au marche a french document for all medications authorized to be marketed in france with "
    "information about them specific for each one of them": None,
}

# Class names in the interaction table that match no class of the groups file by name or code.
CLASS_ALIASES: dict[str, str] = {
    "acetyl cholinesterase inhibitors": "acetylcholinesterase inhibitors",
    "catechol o methyltransferase inhibitors comt": (
        "inhibitors of catechol o methyltransferase comt"
    ),
    "platinum based antineoplastic cancer drugs": "platinum based antineoplastic drugs",
    "selective serotonin reuptake inhibitors ssr1s": (
        "selective serotonin reuptake inhibitors ssris"
    ),
}

_TRAILING_PARENTHESIS = re.compile(r"^(?P<effect>.+?)\s*\((?P<why>[^()]+)\)\s*\.?\s*$")
_DUE_TO = re.compile(r"^(?P<effect>.+?),?\s+due to\s+(?P<why>.+?)\.?\s*$")
# A bracket or "due to" clause is a mechanism only when it names one: ANSM brackets also hold
# conditions ("pregnancy"), symptoms ("severe headaches") or durations ("several months").
_MECHANISM_WORDS = re.compile(
    r"\b(metabol|inhibit|decreas|increas|addition|additive|synerg|antagon|excretion|clearance|"
    r"absorption|elimination|induction|competition|irritation|formation|suppression|release|"
    r"freeing|acidification|alkalini)",
    re.IGNORECASE,
)


def severity_of(wording: str) -> Severity | None:
    key = normalize_name(wording)
    if key not in SEVERITY_WORDINGS:
        raise ValueError(f"ANSM 2016: unknown severity wording {wording!r}; map it explicitly")
    return SEVERITY_WORDINGS[key]


def split_consequence(text: str) -> tuple[str, str]:
    """(consequence, mechanism): ANSM puts the mechanism in final brackets or after "due to"."""
    for pattern in (_TRAILING_PARENTHESIS, _DUE_TO):
        found = pattern.match(text)
        if found and _MECHANISM_WORDS.search(found["why"]):
            why = found["why"].strip()
            return found["effect"].strip(), why[:1].upper() + why[1:]
    return text.strip(), ""


class ClassDirectory:
    """Class → member ingredients, looked up by name, by code, by "OTHER X" and by alias."""

    def __init__(self, groups_path: Path, resolver: IngredientResolver, log: UnmappedLog) -> None:
        self._by_name: dict[str, set[str]] = defaultdict(set)
        self._by_code: dict[str, set[str]] = defaultdict(set)
        with groups_path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                name = row["Drug Name"].strip()
                found = resolver.resolve([row["RxNorm"]], name)
                if not found:
                    log.add(f"ANSM-2016 class member: {name}")
                self._by_name[normalize_name(row["Class Name"])].update(found)
                self._by_code[row["Class Code"].strip()].update(found)

    def members(self, class_name: str, class_code: str) -> tuple[str, ...] | None:
        """The class's ingredients, or None when the class is unknown."""
        key = normalize_name(class_name)
        for candidate in (key, CLASS_ALIASES.get(key)):
            if candidate in self._by_name:
                return tuple(sorted(self._by_name[candidate]))
        if class_code.strip() in self._by_code:
            return tuple(sorted(self._by_code[class_code.strip()]))
        if key.startswith("other "):
            return self.members(class_name.strip()[len("other ") :], "")
        return None


def read_entries(data_dir: Path, resolver: IngredientResolver, log: UnmappedLog) -> list[AnsmEntry]:
    folder = data_dir / FOLDER
    classes = ClassDirectory(folder / GROUPS_FILE, resolver, log)
    entries: list[AnsmEntry] = []
    with (folder / TABLE_FILE).open(encoding="utf-8", newline="") as handle:
        for position, row in enumerate(
            csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ):
            sides = [_side(row, i, classes, resolver) for i in ("1", "2")]
            if not all(side.label for side in sides):
                continue  # an empty separator row of the conversion
            severity = severity_of(row["Severity"])
            text = " ".join(row["Description"].split())
            entries.append(
                AnsmEntry(
                    edition=ANSM_2016,
                    position=position,
                    first=sides[0],
                    second=sides[1],
                    severity=severity,
                    source_severity=" ".join(row["Severity"].split()).rstrip(":. "),
                    text_en=text,
                    management_en=" ".join(row["Comment"].split()),
                    original_text=f"{sides[0].label} + {sides[1].label}: {text}",
                )
            )
            for side in sides:
                if not side.ingredients:
                    log.add(f"ANSM-2016 {'class' if side.is_class else 'drug'}: {side.label}")
    return entries


def _side(
    row: dict[str, str], i: str, classes: ClassDirectory, resolver: IngredientResolver
) -> AnsmSide:
    class_name = " ".join(row[f"Drug {i} Class Name"].split())
    if class_name:
        members = classes.members(class_name, row[f"Drug {i} Code"])
        return AnsmSide(class_name, True, members or ())
    name = " ".join(row[f"Drug {i} Name"].split())
    return AnsmSide(name, False, resolver.resolve([row[f"Drug {i} RxCUI"]], name))


def input_files(data_dir: Path) -> list[Path]:
    return [data_dir / FOLDER / TABLE_FILE, data_dir / FOLDER / GROUPS_FILE]
