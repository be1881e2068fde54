"""A site's own decisions on interactions: raise, lower or silence a pair, an ingredient or a
class (`DDI_CDS_OVERRIDES_FILE`, JSON or YAML). Pure once loaded.

    overrides:
      - pair: [warfarin, acetaminophen]     # two drugs: RxNorm ingredient names or RXCUIs
        lower: minor                        # at most this grade (minor: no card by default)
        reason: P&T committee 2026-03: INR checks are routine here
      - ingredient: tramadol                # every pair holding the drug
        raise: major                        # at least this grade
        reason: local serotonin-syndrome cases
      - class: "ATC:N06AB"                  # an ATC prefix, or "group:<id>" of the knowledge
        with: "group:opioid"                # optional: the other drug's class (or ingredient)
        silence: true                       # no card at all
        reason: ...

Every entry needs exactly one action (`raise`, `lower`, `silence`) and a `reason`. A file that
breaks these rules stops the service at start-up with the file, the line and what is wrong.
Where several entries match a pair they apply from the least to the most specific (class,
ingredient, pair), so a pair entry has the last word; the card says which entry decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from cds_service.core.grading import PairGrade
from cds_service.core.severity import INDICATOR, Severity

# Resolve a drug as written in the file to an ingredient RXCUI, or None.
ResolveDrug = Callable[[str], str | None]
# The ingredient RXCUIs of a class ("ATC:N06AB", "group:opioid"), or None when unknown.
ClassMembers = Callable[[str], frozenset[str] | None]

ACTIONS = ("raise", "lower", "silence")
SELECTORS = ("pair", "ingredient", "class")
KNOWN_KEYS = frozenset({*ACTIONS, *SELECTORS, "with", "reason"})
SPECIFICITY = {"class": 0, "ingredient": 1, "pair": 2}


class OverridesError(ValueError):
    """The overrides file is malformed: `<file>, line <n>: <reason>`."""


@dataclass(frozen=True, slots=True)
class Override:
    selector: str  # pair | ingredient | class
    side_a: frozenset[str]  # RXCUIs one drug of the pair must be among
    side_b: frozenset[str] | None  # RXCUIs the other must be among; None: any drug
    action: str  # raise | lower | silence
    severity: Severity | None  # the grade raised or lowered to
    reason: str
    where: str  # "<file> line <n>", said on the card

    def matches(self, a: str, b: str) -> bool:
        if self.side_b is None:
            return a in self.side_a or b in self.side_a
        return (a in self.side_a and b in self.side_b) or (b in self.side_a and a in self.side_b)

    def describe(self) -> str:
        what = {"silence": "silenced", "raise": "raised to", "lower": "lowered to"}[self.action]
        grade = f" {self.severity.value}" if self.severity else ""
        return f"{what}{grade} by the site ({self.where}): {self.reason}"


def _same(rxcui: str) -> str:
    return rxcui


class SiteOverrides:
    """`key`: the knowledge key of an ingredient (a salt's base moiety), so that an entry on
    potassium also covers potassium chloride; the entries' RXCUIs are keys already."""

    def __init__(self, entries: list[Override], key: Callable[[str], str] = _same) -> None:
        self.entries = sorted(entries, key=lambda o: SPECIFICITY[o.selector])
        self.key = key

    def apply(self, rxcui_a: str, rxcui_b: str, grade: PairGrade) -> PairGrade | None:
        """The pair's grade after the site's entries; None when silenced."""
        current: PairGrade | None = grade
        a, b = self.key(rxcui_a), self.key(rxcui_b)
        for entry in self.entries:
            if not entry.matches(a, b):
                continue
            if entry.action == "silence":
                current = None
                continue
            base = current or grade
            severity = _moved(base.severity, entry)
            current = replace(
                base,
                severity=severity,
                indicator=INDICATOR[severity] if severity else None,
                override=entry.describe(),
            )
        return current


def _moved(severity: Severity | None, entry: Override) -> Severity | None:
    """The grade after a raise (at least the entry's) or a lower (at most the entry's)."""
    assert entry.severity is not None
    if entry.action == "raise":
        stronger = severity is None or entry.severity.is_more_severe_than(severity)
        return entry.severity if stronger else severity
    weaker = severity is not None and severity.is_more_severe_than(entry.severity)
    return entry.severity if weaker else severity


def load_overrides(
    path: Path,
    resolve_drug: ResolveDrug,
    class_members: ClassMembers,
    key: Callable[[str], str] = _same,
) -> SiteOverrides:
    """Read and check the file; raise `OverridesError` naming the line of the first fault.
    `resolve_drug` and `class_members` answer in knowledge keys (see `SiteOverrides`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise OverridesError(f"{path}: cannot be read: {error}") from None
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            raise OverridesError(f"{path}, line {error.lineno}: not JSON: {error.msg}") from None
        text = text.replace("\t", " ")  # JSON allows tabs between tokens, YAML does not
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise OverridesError(f"{path}{line}: not YAML: {error}") from None
    return SiteOverrides(_entries(path, root, resolve_drug, class_members), key)


def _entries(
    path: Path, root: Any, resolve_drug: ResolveDrug, class_members: ClassMembers
) -> list[Override]:
    def fail(node: Any, reason: str) -> OverridesError:
        line = node.start_mark.line + 1 if node is not None else 1
        return OverridesError(f"{path}, line {line}: {reason}")

    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise fail(root, "the file must be a mapping with an `overrides` list")
    top = {key.value: value for key, value in root.value}
    if set(top) - {"overrides"}:
        raise fail(root, f"unknown top-level key(s): {', '.join(sorted(set(top) - {'overrides'}))}")
    items = top.get("overrides")
    if items is None:
        return []
    if not isinstance(items, yaml.SequenceNode):
        raise fail(items, "`overrides` must be a list")
    entries = []
    for node in items.value:
        entries.append(
            _entry(
                node,
                f"{path.name} line {node.start_mark.line + 1}",
                fail,
                resolve_drug,
                class_members,
            )
        )
    return entries


def _entry(
    node: Any,
    where: str,
    fail: Callable[[Any, str], OverridesError],
    resolve_drug: ResolveDrug,
    class_members: ClassMembers,
) -> Override:
    if not isinstance(node, yaml.MappingNode):
        raise fail(node, "each override must be a mapping")
    fields = {key.value: value for key, value in node.value}
    unknown = set(fields) - KNOWN_KEYS
    if unknown:
        raise fail(node, f"unknown key(s) {', '.join(sorted(unknown))}")
    selectors = [s for s in SELECTORS if s in fields]
    actions = [a for a in ACTIONS if a in fields]
    if len(selectors) != 1:
        raise fail(node, "say exactly one of pair, ingredient, class")
    if len(actions) != 1:
        raise fail(node, "say exactly one action: raise, lower or silence")
    reason = fields.get("reason")
    if not isinstance(reason, yaml.ScalarNode) or not str(reason.value).strip():
        raise fail(node, "every override needs a `reason`")
    selector, action = selectors[0], actions[0]

    def drug(value: Any) -> frozenset[str]:
        if not isinstance(value, yaml.ScalarNode) or not str(value.value).strip():
            raise fail(value, "a drug must be a name or an RXCUI")
        rxcui = resolve_drug(str(value.value))
        if rxcui is None:
            raise fail(value, f"{value.value!r} is not an ingredient of the drug index")
        return frozenset({rxcui})

    def drug_or_class(value: Any) -> frozenset[str]:
        text = str(value.value) if isinstance(value, yaml.ScalarNode) else ""
        if text.startswith(("ATC:", "group:")):
            members = class_members(text)
            if not members:
                raise fail(value, f"class {text!r} is unknown or has no ingredient")
            return members
        return drug(value)

    side_b: frozenset[str] | None = None
    if selector == "pair":
        pair = fields["pair"]
        if not isinstance(pair, yaml.SequenceNode) or len(pair.value) != 2:
            raise fail(pair, "`pair` must list two drugs")
        side_a, side_b = drug(pair.value[0]), drug(pair.value[1])
    elif selector == "ingredient":
        side_a = drug(fields["ingredient"])
    else:
        side_a = drug_or_class(fields["class"])
    if "with" in fields:
        if selector == "pair":
            raise fail(fields["with"], "`with` goes with ingredient or class, not pair")
        side_b = drug_or_class(fields["with"])
    severity = None
    value = fields[action]
    if action == "silence":
        if not (isinstance(value, yaml.ScalarNode) and value.value.lower() == "true"):
            raise fail(value, "`silence` takes true")
    else:
        try:
            severity = Severity.parse(
                str(value.value) if isinstance(value, yaml.ScalarNode) else ""
            )
        except ValueError as error:
            raise fail(value, str(error)) from None
    return Override(selector, side_a, side_b, action, severity, str(reason.value).strip(), where)
