"""Which level of a multi-level ANSM 2020 entry applies to which pair.

An entry can carry several levels, each for a case its text describes. "MÉDICAMENTS SÉDATIFS +
AUTRES MÉDICAMENTS SÉDATIFS" is a contraindication "entre l'oxybate de sodium et les opiacés ou
les barbituriques", advised against "avec l'oxybate de sodium", and to be taken into account "pour
tous les médicaments sédatifs entre eux". Giving every pair the most severe level made tramadol +
gabapentin (and every pair of sedatives) a contraindication: a critical card that the source does
not give, and alert fatigue for every other.

A level is narrowed to the pairs that hold one of the substances it names only where that is
safe, i.e. where it can only remove a level the source does not give:
- the entry has a catch-all level ("avec les autres ...", "pour tous les ...", or a level with
  no condition), so every pair keeps at least that one;
- the narrowed level names substances of the entry's sides, and either names no class of the
  thesaurus (a class beside the substances, "avec la rifampicine - avec les anticonvulsivants
  inducteurs enzymatiques", would be lost) or reads "entre <substance> et ...", where the named
  substance is required anyway.
Everything else keeps the former, conservative reading: each level applies to every pair, so
the most severe wins. Conditions on dose, route, indication or patient (most multi-level
entries) cannot be decided from codes and are left to the text the card quotes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cds_service.core.codes import normalize_name

MIN_NAME = 4  # shorter substance names ("or", "fer") match ordinary words


@dataclass(frozen=True, slots=True)
class LevelScope:
    level: str  # the source's wording
    requires_any: tuple[str, ...]  # a pair must hold one of these ingredients; (): every pair
    catch_all: bool


def _padded(text: str) -> str:
    return f" {normalize_name(text)} "


def is_catch_all(text: str) -> bool:
    """A level for the other cases: "avec les autres ...", "pour tous les ...", or a level with
    no condition at all beside one that has ("CONTRE-INDICATION : entre sacubitril et IEC",
    then "Association DECONSEILLEE" alone)."""
    padded = _padded(text)
    return not padded.strip() or " autres " in padded or " tous les " in padded


def level_scopes(
    levels: Sequence[tuple[str, str]],
    members: set[str],
    substances: Mapping[str, Sequence[str]],
    class_names: set[str],
) -> list[LevelScope]:
    """`levels`: (wording, advice text) in the source's order; `members`: the ingredients of both
    sides; `substances`: normalised substance name → its ingredients; `class_names`: the
    thesaurus's class names, normalised."""
    unconditional = [LevelScope(level, (), is_catch_all(text)) for level, text in levels]
    if len(levels) < 2 or not any(scope.catch_all for scope in unconditional):
        return unconditional
    scopes = []
    for (level, text), plain in zip(levels, unconditional, strict=True):
        padded = _padded(text)
        named = {
            rxcui
            for name, rxcuis in substances.items()
            if len(name) >= MIN_NAME and f" {name} " in padded
            for rxcui in rxcuis
            if rxcui in members
        }
        names_a_class = any(f" {name} " in padded for name in class_names)
        conjunction = padded.lstrip().startswith("entre ")
        if plain.catch_all or not named or (names_a_class and not conjunction):
            scopes.append(plain)
        else:
            scopes.append(LevelScope(level, tuple(sorted(named, key=int)), catch_all=False))
    return scopes
