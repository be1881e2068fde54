"""Interaction knowledge: read-only access to `data/interactions.sqlite`.

The file is compiled offline (`cds_service.index_build.interactions_writer`) from the curated
sources (ANSM thesaurus 2020 and 2016, DDInter 1.0, the ONC high-priority and non-interruptive
lists, CredibleMeds, HL7 PDDI), the project's reviewed rule tables (US labelling and
pharmacology over drug groups) and the DrugBank interaction types, all keyed by RxNorm
ingredient RXCUIs. A salt is keyed by its base moiety (lithium carbonate by lithium), so
knowledge written on either reaches both. At run time nothing else is read; every lookup is an
exact match on a pair of keys.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.core.codes import is_rxcui
from cds_service.core.drug_index import DATA_DIR, open_artifact
from cds_service.core.evidence import (
    DDI_PLACEHOLDER,
    EvidenceKind,
    Flag,
    KnownInteraction,
    SourceInfo,
    derived_management,
    render_ddi_template,
    render_rule_text,
)
from cds_service.core.medication import Ingredient, MappedIngredient
from cds_service.core.severity import Severity

__all__ = [
    "DDI_PLACEHOLDER",
    "DDI_SOURCE_ID",
    "DEFAULT_KNOWLEDGE_PATH",
    "KnowledgeBase",
    "KnownInteraction",
    "Severity",
    "render_ddi_template",
]

DEFAULT_KNOWLEDGE_PATH = DATA_DIR / "interactions.sqlite"

# The reader owns the format. RXCUIs are stored as integers (half the size of text keys) and
# every pair once, lowest key first; statements, templates and group memberships are shared by
# many pairs and read into memory once.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE ingredient (rxcui INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE ingredient_key (
    rxcui INTEGER PRIMARY KEY,
    key INTEGER NOT NULL,
    basis TEXT NOT NULL
);
CREATE TABLE drug_group (id TEXT PRIMARY KEY, label TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE group_member (
    group_id TEXT NOT NULL,
    rxcui INTEGER NOT NULL,
    basis TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (group_id, rxcui)
) WITHOUT ROWID;
CREATE TABLE statement (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    editions TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    source_severity TEXT NOT NULL,
    flag TEXT NOT NULL,
    consequence TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    management TEXT NOT NULL,
    management_derived INTEGER NOT NULL,
    monitor TEXT NOT NULL,
    original_text TEXT NOT NULL,
    via TEXT NOT NULL,
    group_a TEXT NOT NULL,
    group_b TEXT NOT NULL,
    rule TEXT NOT NULL,
    refs TEXT NOT NULL,
    harm TEXT NOT NULL,  -- the harm in a few plain words (a card's summary); "" when none
    action TEXT NOT NULL  -- the advice as an action in imperative words; "" when none
);
CREATE TABLE curated_pair (
    rxcui_low INTEGER NOT NULL,
    rxcui_high INTEGER NOT NULL,
    statement_id INTEGER NOT NULL REFERENCES statement (id),
    low_is_a INTEGER NOT NULL,
    PRIMARY KEY (rxcui_low, rxcui_high, statement_id, low_is_a)
) WITHOUT ROWID;
CREATE TABLE ddi_template (
    type INTEGER PRIMARY KEY,
    template TEXT NOT NULL,
    severity TEXT NOT NULL
);
CREATE TABLE ddi_pair (
    rxcui_low INTEGER NOT NULL,
    rxcui_high INTEGER NOT NULL,
    type INTEGER NOT NULL REFERENCES ddi_template (type),
    low_is_first INTEGER NOT NULL,
    PRIMARY KEY (rxcui_low, rxcui_high, type, low_is_first)
) WITHOUT ROWID;
CREATE TABLE reference (id TEXT PRIMARY KEY, citation TEXT NOT NULL, url TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE combination_pair (
    rxcui_low INTEGER NOT NULL,
    rxcui_high INTEGER NOT NULL,
    product TEXT NOT NULL,
    PRIMARY KEY (rxcui_low, rxcui_high)
) WITHOUT ROWID;
"""

DDI_SOURCE_ID = "DrugBank-DDI"
RULES_SOURCE_ID = "DDI-CDS-rules"
COMBINATIONS_SOURCE_ID = "RxNorm-combinations"


@dataclass(frozen=True, slots=True)
class _Statement:
    source: str
    editions: tuple[str, ...]
    kind: EvidenceKind
    severity: Severity | None
    source_severity: str
    flag: Flag
    consequence: str
    mechanism: str
    management: str
    management_derived: bool
    monitor: tuple[str, ...]
    original_text: str
    via: str
    group_a: str
    group_b: str
    rule: str
    references: tuple[str, ...]
    harm: str
    action: str


@dataclass(frozen=True, slots=True)
class _Member:
    basis: str
    note: str


RxcuisOrIngredients = Iterable[str] | Iterable[Ingredient] | Iterable[MappedIngredient]


def _rxcuis(items: RxcuisOrIngredients) -> set[int]:
    """Accept RXCUI strings or `(Mapped)Ingredient`s; what is not an RXCUI cannot match."""
    codes: set[int] = set()
    for item in items:
        if isinstance(item, MappedIngredient):
            item = item.ingredient
        code = (item.rxcui if isinstance(item, Ingredient) else str(item)).strip()
        if is_rxcui(code):
            codes.add(int(code))
    return codes


def _severity(text: str) -> Severity | None:
    return Severity(text) if text else None


class KnowledgeBase:
    """Exact pair lookups over the compiled knowledge. One read-only connection, shareable."""

    def __init__(self, path: Path | str = DEFAULT_KNOWLEDGE_PATH) -> None:
        self.path = Path(path)
        self._db, self.meta = open_artifact(self.path, "interaction knowledge")
        self.version = self.meta.get("version", "unknown")
        self.sources: dict[str, SourceInfo] = {
            entry["id"]: SourceInfo(**entry) for entry in json.loads(self.meta["sources"])
        }
        db = self._db
        self._names: dict[int, str] = dict(db.execute("SELECT rxcui, name FROM ingredient"))
        self._keys: dict[int, tuple[int, str]] = {
            rxcui: (key, basis)
            for rxcui, key, basis in db.execute("SELECT rxcui, key, basis FROM ingredient_key")
        }
        self._templates: dict[int, tuple[str, Severity | None]] = {
            number: (template, _severity(severity))
            for number, template, severity in db.execute(
                "SELECT type, template, severity FROM ddi_template"
            )
        }
        self.group_labels: dict[str, str] = dict(db.execute("SELECT id, label FROM drug_group"))
        self._members: dict[tuple[str, int], _Member] = {
            (group, rxcui): _Member(basis, note)
            for group, rxcui, basis, note in db.execute(
                "SELECT group_id, rxcui, basis, note FROM group_member"
            )
        }
        self._groups_by_key: dict[int, dict[str, str]] = {}
        for (group, key), member in self._members.items():
            self._groups_by_key.setdefault(key, {})[group] = member.basis
        references = {
            ref: f"{citation} {url}".strip()
            for ref, citation, url in db.execute("SELECT id, citation, url FROM reference")
        }
        self._statements: dict[int, _Statement] = {
            row[0]: _statement(row[1:], references)
            for row in db.execute(
                "SELECT id, source, editions, kind, severity, source_severity, flag, "
                "consequence, mechanism, management, management_derived, monitor, "
                "original_text, via, group_a, group_b, rule, refs, harm, action FROM statement"
            )
        }

    def close(self) -> None:
        self._db.close()

    def interactions_for(
        self, ingredients_a: RxcuisOrIngredients, ingredients_b: RxcuisOrIngredients
    ) -> list[KnownInteraction]:
        """Every known interaction between an ingredient of A and a different one of B.

        Symmetric: swapping A and B returns the same records with their two sides swapped.
        Sorted most severe first, credible before generalisations, then by source.
        """
        side_a, side_b = _rxcuis(ingredients_a), _rxcuis(ingredients_b)
        found: set[KnownInteraction] = set()
        for a in side_a:
            for b in side_b:
                if a != b and self.key(a) != self.key(b):
                    found.update(self._pair(a, b))
        return sorted(found, key=KnownInteraction.sort_key)

    def key(self, rxcui: int) -> int:
        """The ingredient knowledge is keyed by: its base moiety for a salt, else itself."""
        return self._keys.get(rxcui, (rxcui, ""))[0]

    def ingredient_name(self, rxcui: int) -> str:
        return self._names.get(rxcui, str(rxcui))

    def groups_of(self, rxcui: int) -> dict[str, str]:
        """The drug groups (classes, mechanistic roles) an ingredient belongs to, with how it
        joined each."""
        return dict(self._groups_by_key.get(self.key(rxcui), {}))

    def group_members(self, group_id: str) -> frozenset[str]:
        """The knowledge keys of a group's members (empty for an unknown group)."""
        return frozenset(
            str(key) for key, groups in self._groups_by_key.items() if group_id in groups
        )

    def _pair(self, a: int, b: int) -> list[KnownInteraction]:
        key_a, key_b = self.key(a), self.key(b)
        low, high = min(key_a, key_b), max(key_a, key_b)
        names = (self.ingredient_name(a), self.ingredient_name(b))
        matched = tuple(
            self.ingredient_name(key) if key != rxcui else ""
            for rxcui, key in ((a, key_a), (b, key_b))
        )
        sides = (str(a), names[0], str(b), names[1])
        results: list[KnownInteraction] = []
        for statement_id, low_is_a in self._db.execute(
            "SELECT statement_id, low_is_a FROM curated_pair "
            "WHERE rxcui_low = ? AND rxcui_high = ?",
            (low, high),
        ):
            oriented = (low, high) if low_is_a else (high, low)
            results.append(self._curated(sides, matched, self._statements[statement_id], oriented))
        for ddi_type, low_is_first in self._db.execute(
            "SELECT type, low_is_first FROM ddi_pair WHERE rxcui_low = ? AND rxcui_high = ?",
            (low, high),
        ):
            first_is_a = (key_a == low) == bool(low_is_first)
            results.append(self._ddi(sides, matched, ddi_type, first_is_a))
        combined = self._db.execute(
            "SELECT product FROM combination_pair WHERE rxcui_low = ? AND rxcui_high = ?",
            (low, high),
        ).fetchone()
        if combined is not None and results:
            results.append(self._combination(sides, matched, combined[0]))
        return results

    def _combination(
        self, sides: tuple[str, str, str, str], matched: tuple[str, ...], product: str
    ) -> KnownInteraction:
        """Not an interaction: the fact that the two are sold together
        (cds_service.core.grading)."""
        return self._uncurated(
            COMBINATIONS_SOURCE_ID,
            sides,
            matched,
            severity=None,
            source_severity="sold together",
            mechanism="",
            management="",
            management_derived=False,
            original_text=f"US combination product: {product}",
            flag=Flag.CO_FORMULATED,
        )

    def _uncurated(
        self,
        source: str,
        sides: tuple[str, str, str, str],
        matched: tuple[str, ...],
        **fields: Any,
    ) -> KnownInteraction:
        """A record of a source that grades nothing itself (DrugBank types, RxNorm products)."""
        info = self.sources[source]
        return KnownInteraction(
            *sides,
            consequence="",
            via="",
            source=source,
            editions=(source,),
            source_label=info.label,
            citation=info.citation,
            url=info.url,
            licence=info.licence,
            kind=EvidenceKind.TYPE,
            matched_a=matched[0],
            matched_b=matched[1],
            **fields,
        )

    def _curated(
        self,
        sides: tuple[str, str, str, str],
        matched: tuple[str, ...],
        statement: _Statement,
        keys_by_role: tuple[int, int],
    ) -> KnownInteraction:
        """`keys_by_role`: the keys of the record's side a and side b (rules have roles)."""
        info = self.sources[statement.source]
        a_is_first = keys_by_role[0] == self.key(int(sides[0]))
        roles = ((statement.group_a, keys_by_role[0]), (statement.group_b, keys_by_role[1]))
        joined = tuple(self._joined(group, key) for group, key in roles)
        if not a_is_first:
            joined = joined[::-1]
        consequence, mechanism, management = (
            statement.consequence,
            statement.mechanism,
            statement.management,
        )
        if statement.rule:
            names_by_role = (sides[1], sides[3]) if a_is_first else (sides[3], sides[1])
            notes = tuple(
                self._members.get((group, key), _Member("", "")).note
                for group, key in zip(
                    (statement.group_a, statement.group_b), keys_by_role, strict=True
                )
            )
            consequence, mechanism, management = (
                render_rule_text(text, names_by_role, (notes[0], notes[1]))
                for text in (consequence, mechanism, management)
            )
        return KnownInteraction(
            *sides,
            severity=statement.severity,
            source_severity=statement.source_severity,
            consequence=consequence,
            mechanism=mechanism,
            management=management,
            management_derived=statement.management_derived,
            original_text=statement.original_text,
            via=statement.via,
            source=statement.source,
            editions=statement.editions,
            source_label=info.label,
            citation=info.citation,
            url=info.url,
            licence=info.licence,
            kind=statement.kind,
            flag=statement.flag,
            monitor=statement.monitor,
            rule=statement.rule,
            references=statement.references,
            joined_a=joined[0],
            joined_b=joined[1],
            matched_a=matched[0],
            matched_b=matched[1],
            harm=statement.harm,
            action=statement.action,
        )

    def _joined(self, group: str, key: int) -> str:
        if not group:
            return ""
        member = self._members.get((group, key))
        if member is None or not member.basis:  # named by the source itself: nothing to add
            return ""
        label = self.group_labels.get(group, group)
        how = "" if member.basis.lower() == label.lower() else f" ({member.basis})"
        return f"{self.ingredient_name(key)}: {label}{how}"

    def _ddi(
        self,
        sides: tuple[str, str, str, str],
        matched: tuple[str, ...],
        ddi_type: int,
        first_is_a: bool,
    ) -> KnownInteraction:
        """Render a DrugBank sentence; its first DRUG slot is the template's subject drug."""
        _, name_a, _, name_b = sides
        first, second = (name_a, name_b) if first_is_a else (name_b, name_a)
        template, severity = self._templates[ddi_type]
        return self._uncurated(
            DDI_SOURCE_ID,
            sides,
            matched,
            severity=severity,
            source_severity="not graded by the source",
            mechanism=render_ddi_template(template, first, second),
            management=derived_management(severity) if severity else "",
            management_derived=True,
            original_text=f"{template} [DeepDDI interaction type {ddi_type}]",
        )


def _statement(row: tuple[Any, ...], references: dict[str, str]) -> _Statement:
    (source, editions, kind, severity, source_severity, flag, consequence, mechanism) = row[:8]
    (management, management_derived, monitor, original_text, via) = row[8:13]
    group_a, group_b, rule, refs, harm, action = row[13:]
    return _Statement(
        source=source,
        editions=tuple(editions.split(",")),
        kind=EvidenceKind(kind),
        severity=_severity(severity),
        source_severity=source_severity,
        flag=Flag(flag),
        consequence=consequence,
        mechanism=mechanism,
        management=management,
        management_derived=bool(management_derived),
        monitor=tuple(m for m in monitor.split(",") if m),
        original_text=original_text,
        via=via,
        group_a=group_a,
        group_b=group_b,
        rule=rule,
        references=tuple(references.get(r, r) for r in refs.split(",") if r),
        harm=harm,
        action=action,
    )


_default: KnowledgeBase | None = None
_default_lock = threading.Lock()


def default_knowledge_base() -> KnowledgeBase:
    """The packaged knowledge base, opened on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = KnowledgeBase()
        return _default


def interactions_for(
    ingredients_a: RxcuisOrIngredients,
    ingredients_b: RxcuisOrIngredients,
    kb: KnowledgeBase | None = None,
) -> list[KnownInteraction]:
    return (kb or default_knowledge_base()).interactions_for(ingredients_a, ingredients_b)
