"""Brand names that RxNorm's brand (BN) concepts miss: PharmGKB trade names and brand mixtures,
and the brands of RxNorm's branded packs.

The 2025 prescribable content lacks `A.json`, and RxTerms 2023 carries no names, so apixaban's
"Eliquis" is in neither; PharmGKB lists it, under a chemical that has no RxNorm code. Paxlovid is
only ever a pack ("... Pack [Paxlovid 5-Day]"), never a BN. A name here is attached to an
existing concept whose ingredients are exactly the brand's, so the name lookup keeps working on
concepts; a brand whose ingredients no concept holds is left out (and counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from cds_service.core.codes import bracketed_brand, normalize_name, pack_brand_stem, split_top_level
from cds_service.index_build.crossrefs import PharmGkbChemical

# Which concept names an ingredient set, best first: the ingredient itself, then the
# multi-ingredient concept, the brand, the drugs and the packs.
_TTY_ORDER = {"IN": 0, "MIN": 1, "BN": 2, "SCD": 3, "SBD": 4, "GPCK": 5, "BPCK": 6}


def parse_brand_mixtures(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """PharmGKB "Brand Mixtures": 'Lotrel (amlodipine + benazepril), "Yaz 28 (A + B)"' ->
    [("Lotrel", ("amlodipine", "benazepril")), ...]; an item without its parts is skipped."""
    mixtures = []
    for item in split_top_level(text, ", "):
        if not item.endswith(")"):
            continue
        depth = 0
        for at in range(len(item) - 1, -1, -1):  # the bracket that closes at the end
            depth += {")": 1, "(": -1}.get(item[at], 0)
            if depth == 0:
                break
        brand, parts = item[:at].strip(), split_top_level(item[at + 1 : -1], " + ")
        if brand and len(parts) > 1:
            mixtures.append((brand, tuple(parts)))
    return mixtures


def concepts_by_ingredients(
    concepts: Mapping[str, tuple[str, str, str]], links: Mapping[str, Mapping[str, str]]
) -> dict[frozenset[str], str]:
    """Ingredient set -> the one concept that best names exactly that set."""
    best: dict[frozenset[str], tuple[int, int, str]] = {}
    for rxcui, found in links.items():
        tty = concepts.get(rxcui, ("",))[0]
        if not found or tty not in _TTY_ORDER:
            continue
        key, rank = frozenset(found), (_TTY_ORDER[tty], int(rxcui), rxcui)
        if key not in best or rank < best[key]:
            best[key] = rank
    return {key: rank[2] for key, rank in best.items()}


def pharmgkb_brands(
    chemicals: list[PharmGkbChemical],
    resolve: Callable[[str], frozenset[str]],
    concept_for: Mapping[frozenset[str], str],
    skipped: Counter[str],
) -> Iterator[tuple[str, str]]:
    """(brand, concept RXCUI) for PharmGKB trade names of chemicals without an RxNorm code
    ("apixaban": Eliquis; "nirmatrelvir / ritonavir": paxlovid) and for every brand mixture.

    `resolve` gives a substance name's ingredient set, empty when it is unknown or ambiguous.
    """

    def ingredients(parts: list[str] | tuple[str, ...]) -> frozenset[str]:
        found = [resolve(part) for part in parts]
        return frozenset().union(*found) if found and all(found) else frozenset()

    for chemical in chemicals:
        if chemical.rxcuis or not chemical.trade_names:
            continue  # coded chemicals' trade names are indexed with their code
        target = ingredients([p for p in chemical.name.split("/") if p.strip()])
        concept = concept_for.get(target)
        if not chemical.is_drug or concept is None:  # metabolites, classes, unknown names
            skipped["pharmgkb_trade_names_without_a_concept"] += len(chemical.trade_names)
            continue
        for brand in chemical.trade_names:
            yield brand, concept
    mixtures = sorted({m for c in chemicals for m in parse_brand_mixtures(c.brand_mixtures)})
    for brand, parts in mixtures:
        concept = concept_for.get(ingredients(parts))
        if concept is None:
            skipped["pharmgkb_brand_mixtures_without_a_concept"] += 1
            continue
        yield brand, concept


def pack_brands(
    concepts: Mapping[str, tuple[str, str, str]],
    links: Mapping[str, Mapping[str, str]],
    targets_of: Callable[[str], set[frozenset[str]]],
    skipped: Counter[str],
) -> Iterator[tuple[str, str]]:
    """(brand, pack RXCUI) for RxNorm's branded packs: the bracketed name as written
    ("Paxlovid 5-Day") and its stem ("Paxlovid").

    A stem is used only when every pack it stems from holds the same ingredients and no other
    name already says it means something else: "Voquezna 14 Day DualPak" must not turn the
    brand Voquezna (vonoprazan alone) into an ambiguous name.
    """
    stems: dict[str, dict[frozenset[str], str]] = {}
    for rxcui, (tty, name, _source) in sorted(concepts.items()):
        brand = bracketed_brand(name) if tty == "BPCK" else None
        if not brand or not links.get(rxcui):
            continue
        yield brand, rxcui
        stem = pack_brand_stem(brand)
        if stem and normalize_name(stem) != normalize_name(brand):
            stems.setdefault(stem, {}).setdefault(frozenset(links[rxcui]), rxcui)
    for stem, packs in sorted(stems.items()):
        if len(packs) > 1 or targets_of(normalize_name(stem)) - set(packs):
            skipped["pack_brand_stems_that_would_be_ambiguous"] += 1
            continue
        yield stem, next(iter(packs.values()))
