""" "Did you mean": names of the drug index close to what a person typed.

Offered only to a person who can read and choose (the command line, the try-it page). The hook
never maps by a guess: a misspelt medication there stays "could not be checked" (mapping.py
matches names exactly), because a guessed drug could hide the real one's interactions.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from cds_service.core.codes import normalize_name
from cds_service.core.mapping import MedicationMapper

SUGGESTED_KINDS = ("ingredient", "brand", "synonym")  # names a person would type
CUTOFF = 0.8  # difflib ratio: "warfrin" / "warfarin" is 0.93, "warfarin" / "afrin" 0.77


@dataclass(frozen=True, slots=True)
class Suggestion:
    name: str  # a name the index knows exactly (normalised): typed as is, it maps
    ingredients: tuple[str, ...]  # the ingredient names it maps to

    @property
    def label(self) -> str:
        """ "warfarin", or "afrin (oxymetazoline)" when the name is not its ingredient's own."""
        if [normalize_name(i) for i in self.ingredients] == [self.name]:
            return self.name
        return f"{self.name} ({' + '.join(self.ingredients)})"


def similar_names(
    text: str, names: Sequence[str], limit: int = 8, cutoff: float = CUTOFF
) -> list[str]:
    """The `names` (normalised) most like `text`, best first; [] when none is close.

    "warfarin 5mg" also tries its words before the first number ("warfarin"): people type
    strengths the name table never holds.
    """
    query = normalize_name(text)
    if len(query) < 3:
        return []
    words = query.split()
    stem = " ".join(words[: next((i for i, w in enumerate(words) if w[0].isdigit()), None)])
    found: list[str] = []
    for candidate in (query, stem) if stem and stem != query else (query,):
        found.extend(difflib.get_close_matches(candidate, names, n=limit, cutoff=cutoff))
    return list(dict.fromkeys(found))[:limit]


class NameSuggester:
    """Suggestions over one drug index: each name maps, and each drug is offered once."""

    def __init__(self, mapper: MedicationMapper) -> None:
        self.mapper = mapper
        self.names = mapper.index.names_of_kinds(SUGGESTED_KINDS)

    def suggest(self, text: str, limit: int = 5) -> list[Suggestion]:
        suggestions: dict[tuple[str, ...], Suggestion] = {}
        for name in similar_names(text, self.names, limit=3 * limit):
            mapping = self.mapper.map_concept({"text": name})
            if not mapping.is_mapped:  # ambiguous: it would not help
                continue
            ingredients = tuple(sorted(m.ingredient.name for m in mapping.ingredients))
            suggestions.setdefault(ingredients, Suggestion(name, ingredients))
        return list(suggestions.values())[:limit]


@functools.cache
def suggester_for(mapper: MedicationMapper) -> NameSuggester:
    """One suggester per mapper (its name list is read once per process)."""
    return NameSuggester(mapper)


def describe(suggestions: Sequence[Suggestion]) -> str:
    """ "warfarin; afrin (oxymetazoline)" for a line of text."""
    return "; ".join(s.label for s in suggestions)
