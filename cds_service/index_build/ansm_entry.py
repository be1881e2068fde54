"""One ANSM thesaurus entry with both sides resolved to RxNorm ingredients (either edition)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cds_service.core.severity import Severity

ANSM_2020 = "ANSM-2020"
ANSM_2016 = "ANSM-2016"


@dataclass(frozen=True, slots=True)
class AnsmSide:
    label: str  # the substance or class as the source writes it
    is_class: bool
    ingredients: tuple[str, ...]  # RxNorm IN RXCUIs; () when nothing could be mapped


@dataclass(frozen=True, slots=True)
class AnsmEntry:
    edition: str  # ANSM_2020 or ANSM_2016
    position: int  # order in the source file: breaks ties deterministically
    first: AnsmSide
    second: AnsmSide
    severity: Severity | None  # None: the English 2016 conversion lost the level
    source_severity: str  # the source's level wording(s), " / "-joined
    text_en: str  # English consequence text (2016 edition), "" for the French edition
    management_en: str  # English management advice, "" when the source gives none
    original_text: str  # the edition's own full text
    has_own_advice: bool = False  # the original text carries management advice (in French)
    # One level of a multi-level entry that names its substances (ansm_levels): the pairs it
    # covers hold one of these ingredients. (): every pair of the two sides.
    requires_any: tuple[str, ...] = ()
    # For card summaries (ANSM 2020, from the project's translation): the harm in a few plain
    # words, and the advice as an action in imperative words; "" when there is none
    harm_short: str = ""
    action_short: str = ""

    @property
    def via(self) -> str:
        """The classes that expand to the pair; "" for a substance-to-substance entry."""
        return " + ".join(side.label for side in (self.first, self.second) if side.is_class)

    @property
    def class_sides(self) -> int:
        return sum(side.is_class for side in (self.first, self.second))

    def ingredient_pairs(self) -> Iterator[tuple[str, str]]:
        """Every (low, high) ingredient pair the entry covers; an ingredient never with itself."""
        required = set(self.requires_any)
        for a in self.first.ingredients:
            for b in self.second.ingredients:
                if a != b and (not required or a in required or b in required):
                    yield (a, b) if int(a) < int(b) else (b, a)

    def preference(self) -> tuple[int, int, int]:
        """Sort key, best first: most severe, then the most specific entry, then file order."""
        rank = self.severity.rank if self.severity is not None else len(Severity)
        return (rank, self.class_sides, self.position)
