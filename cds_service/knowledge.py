"""Curated drug-drug interaction knowledge: read-only access to `data/interactions.sqlite`.

The file is compiled offline (`cds_service.index_build.interactions_writer`) from the ANSM
thesaurus (2020 French edition and the 2016 RxNorm-coded English translation) and from the
DrugBank interaction types of the DeepDDI data set, all keyed by RxNorm ingredient (IN) RXCUIs.
At run time nothing else is read, and every lookup is an exact match on an ingredient pair.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cds_service.codes import is_rxcui
from cds_service.drug_index import DATA_DIR, open_artifact
from cds_service.medication import Ingredient, MappedIngredient

DEFAULT_KNOWLEDGE_PATH = DATA_DIR / "interactions.sqlite"

# The reader owns the format. RXCUIs are stored as integers (half the size of text keys) and
# every pair once, lowest RXCUI first; statements and templates are shared by many pairs.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE ingredient (rxcui INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE statement (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    editions TEXT NOT NULL,
    severity TEXT NOT NULL,
    source_severity TEXT NOT NULL,
    consequence TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    management TEXT NOT NULL,
    management_derived INTEGER NOT NULL,
    original_text TEXT NOT NULL,
    via TEXT NOT NULL
);
CREATE TABLE curated_pair (
    rxcui_low INTEGER NOT NULL,
    rxcui_high INTEGER NOT NULL,
    statement_id INTEGER NOT NULL REFERENCES statement (id),
    PRIMARY KEY (rxcui_low, rxcui_high, statement_id)
) WITHOUT ROWID;
CREATE TABLE ddi_template (type INTEGER PRIMARY KEY, template TEXT NOT NULL);
CREATE TABLE ddi_pair (
    rxcui_low INTEGER NOT NULL,
    rxcui_high INTEGER NOT NULL,
    type INTEGER NOT NULL REFERENCES ddi_template (type),
    low_is_first INTEGER NOT NULL,
    PRIMARY KEY (rxcui_low, rxcui_high, type, low_is_first)
) WITHOUT ROWID;
"""

DDI_SOURCE_ID = "DrugBank-DDI"
DDI_PLACEHOLDER = "DRUG"


class Severity(StrEnum):
    """Severity tiers, most severe first (the declaration order is the ranking)."""

    CONTRAINDICATED = "contraindicated"
    AVOID = "avoid"
    PRECAUTION = "precaution"
    INFORMATIONAL = "informational"

    @property
    def rank(self) -> int:
        """0 for the most severe tier; sort ascending to put the worst first."""
        return _SEVERITY_ORDER.index(self)

    def is_more_severe_than(self, other: Severity) -> bool:
        return self.rank < other.rank


_SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)

# What a prescriber should do, by tier, for sources that give no English management advice.
DERIVED_MANAGEMENT: dict[Severity, str] = {
    Severity.CONTRAINDICATED: (
        "Do not co-prescribe: the combination is contraindicated. Choose an alternative to one "
        "of the two drugs."
    ),
    Severity.AVOID: (
        "Avoid the combination. If it cannot be avoided, weigh benefit against risk and monitor "
        "the patient closely."
    ),
    Severity.PRECAUTION: (
        "The combination may be used with precautions: adapt the dose and monitor the patient "
        "(clinically and, where relevant, biologically) while the drugs are taken together."
    ),
    Severity.INFORMATIONAL: (
        "Take the interaction into account when prescribing; the source requires no specific "
        "action."
    ),
}
DERIVED_MANAGEMENT_NOTE = "(Derived from the severity tier: the source gives no English advice.)"


def derived_management(severity: Severity) -> str:
    return f"{DERIVED_MANAGEMENT[severity]} {DERIVED_MANAGEMENT_NOTE}"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: str
    label: str
    citation: str
    url: str
    licence: str


@dataclass(frozen=True, slots=True)
class KnownInteraction:
    """One documented interaction between an ingredient of A and an ingredient of B."""

    rxcui_a: str  # the ingredient from the first argument of `interactions_for`
    name_a: str
    rxcui_b: str  # the ingredient from the second argument
    name_b: str
    severity: Severity
    source_severity: str  # the source's own level wording(s), " / "-joined when several
    consequence: str  # clinical consequence in English, "" when the source has none
    mechanism: str  # English mechanism, "" when the source states none
    management: str  # English management advice (see `management_derived`)
    management_derived: bool  # True when `management` was derived from the tier
    original_text: str  # the source's own text (French for ANSM 2020)
    via: str  # the classes whose expansion produced the pair, "" for a direct entry
    source: str  # short id: ANSM-2020, ANSM-2016, DrugBank-DDI
    editions: tuple[str, ...]  # every edition supporting the record, e.g. ANSM-2020, ANSM-2016
    source_label: str
    citation: str
    url: str
    licence: str

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (self.severity.rank, self.source, self.rxcui_a, self.rxcui_b, self.mechanism)


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


class KnowledgeBase:
    """Exact pair lookups over the compiled knowledge. One read-only connection, shareable."""

    def __init__(self, path: Path | str = DEFAULT_KNOWLEDGE_PATH) -> None:
        self.path = Path(path)
        self._db, self.meta = open_artifact(self.path, "interaction knowledge")
        self.version = self.meta.get("version", "unknown")
        self.sources: dict[str, SourceInfo] = {
            entry["id"]: SourceInfo(**entry) for entry in json.loads(self.meta["sources"])
        }
        self._templates: dict[int, str] = dict(
            self._db.execute("SELECT type, template FROM ddi_template")
        )

    def close(self) -> None:
        self._db.close()

    def interactions_for(
        self, ingredients_a: RxcuisOrIngredients, ingredients_b: RxcuisOrIngredients
    ) -> list[KnownInteraction]:
        """Every known interaction between an ingredient of A and a different one of B.

        Symmetric: swapping A and B returns the same records with their two sides swapped.
        Sorted most severe first, then by source.
        """
        side_a, side_b = _rxcuis(ingredients_a), _rxcuis(ingredients_b)
        found: set[KnownInteraction] = set()
        for a in side_a:
            for b in side_b:
                if a != b:
                    found.update(self._pair(a, b))
        return sorted(found, key=KnownInteraction.sort_key)

    def ingredient_name(self, rxcui: int) -> str:
        row = self._db.execute("SELECT name FROM ingredient WHERE rxcui = ?", (rxcui,)).fetchone()
        return row[0] if row else str(rxcui)

    def _pair(self, a: int, b: int) -> list[KnownInteraction]:
        low, high = min(a, b), max(a, b)
        name_a, name_b = self.ingredient_name(a), self.ingredient_name(b)
        sides = (str(a), name_a, str(b), name_b)
        results = [
            self._curated(sides, row)
            for row in self._db.execute(
                "SELECT s.source, s.editions, s.severity, s.source_severity, s.consequence, "
                "s.mechanism, s.management, s.management_derived, s.original_text, s.via "
                "FROM curated_pair p JOIN statement s ON s.id = p.statement_id "
                "WHERE p.rxcui_low = ? AND p.rxcui_high = ?",
                (low, high),
            )
        ]
        for ddi_type, low_is_first in self._db.execute(
            "SELECT type, low_is_first FROM ddi_pair WHERE rxcui_low = ? AND rxcui_high = ?",
            (low, high),
        ):
            first_is_a = (a == low) == bool(low_is_first)
            results.append(self._ddi(sides, ddi_type, first_is_a))
        return results

    def _curated(self, sides: tuple[str, str, str, str], row: tuple) -> KnownInteraction:
        source, editions, severity, source_severity, consequence, mechanism = row[:6]
        management, management_derived, original_text, via = row[6:]
        info = self.sources[source]
        return KnownInteraction(
            *sides,
            severity=Severity(severity),
            source_severity=source_severity,
            consequence=consequence,
            mechanism=mechanism,
            management=management,
            management_derived=bool(management_derived),
            original_text=original_text,
            via=via,
            source=source,
            editions=tuple(editions.split(",")),
            source_label=info.label,
            citation=info.citation,
            url=info.url,
            licence=info.licence,
        )

    def _ddi(
        self, sides: tuple[str, str, str, str], ddi_type: int, first_is_a: bool
    ) -> KnownInteraction:
        """Render a DrugBank sentence; its first DRUG slot is the template's subject drug."""
        _, name_a, _, name_b = sides
        first, second = (name_a, name_b) if first_is_a else (name_b, name_a)
        template = self._templates[ddi_type]
        info = self.sources[DDI_SOURCE_ID]
        return KnownInteraction(
            *sides,
            severity=Severity.INFORMATIONAL,
            source_severity="not graded",
            consequence="",
            mechanism=render_ddi_template(template, first, second),
            management=derived_management(Severity.INFORMATIONAL),
            management_derived=True,
            original_text=f"{template} [DeepDDI interaction type {ddi_type}]",
            via="",
            source=DDI_SOURCE_ID,
            editions=(DDI_SOURCE_ID,),
            source_label=info.label,
            citation=info.citation,
            url=info.url,
            licence=info.licence,
        )


def render_ddi_template(template: str, first: str, second: str) -> str:
    """Fill the DRUG slots: every slot but the last names the first drug, the last the second.

    Two templates have three slots ("... of the active metabolites of DRUG can be increased
    when DRUG is used in combination with DRUG"): the first two are the same drug.
    """
    parts = template.split(DDI_PLACEHOLDER)
    slots = len(parts) - 1
    names = [first] * (slots - 1) + [second]
    text = parts[0]
    for name, tail in zip(names, parts[1:], strict=True):
        text += name + tail
    return text[:1].upper() + text[1:]


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
