"""ATC codes from the WHO ATC index (2026) for ingredients DrugBank and PharmGKB leave uncoded.

Other parts of the service put drugs into classes by ATC code, so a wrong code is worse than a
missing one: a code is taken only when a WHO substance (level 5) name is exactly the name of
one ingredient, after folding case and punctuation and writing three US spellings the WHO way.
International names reach US ones only through RxNorm's own names and DrugBank's synonyms
(paracetamol -> acetaminophen), never through the weaker PharmGKB or FDA synonyms, and never
by a fuzzy match. A salt ingredient takes only the codes WHO gives its base by the base's name.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from cds_service.core.codes import normalize_name

WHO_ATC = "who-atc-2026"
ATC_FILE = "drug-vocabulary/who-atc-2026/who_atc_ddd_2026-04-25.csv"
# US spelling -> the WHO's, word for word ("aluminum hydroxide" is A02AB01 "aluminium hydroxide")
_WHO_SPELLINGS = {
    "aluminum": "aluminium",
    "bicarbonate": "hydrogencarbonate",
    "glycerophosphate": "glycerylphosphate",
}
# Reviewed: every code this module gave through a name other than the ingredient's own was
# read, and these were wrong for the US ingredient (the same chemical for another use, or
# another substance), so they take no WHO code.
NOT_FROM_WHO = {
    "camphor": "C01EB02 is camphor as a heart stimulant; US camphor is a topical counter-irritant",
    "karaya gum allergenic extract": "an allergen extract, not the laxative sterculia (A06AC03)",
    "aminolevulinate": "reached only through hexaminolevulinate (V04CX06), a diagnostic ester",
    "histamine": "L03AX14 is an immunostimulant for leukaemia; US histamine is a skin-test control",
    "lactate": "G01AD01 is vaginal lactic acid; US lactate is mostly infused or a skin lotion",
}


def read_who_substances(path: Path) -> dict[str, set[str]]:
    """Normalised level-5 (substance) name -> its ATC codes (a substance can have several)."""
    codes: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            code = row["atc_code"].strip()
            if len(code) == 7:
                codes[normalize_name(row["atc_name"])].add(code)
    return dict(codes)


def who_spelling(name: str) -> str:
    return " ".join(_WHO_SPELLINGS.get(word, word) for word in normalize_name(name).split())


def atc_from_who(
    who: Mapping[str, set[str]],
    uncoded: Mapping[str, str],
    ingredient_for_name: Callable[[str], tuple[str, str] | None],
    moieties: Mapping[str, str],
    base_names: Mapping[str, str],
) -> dict[str, tuple[str, str]]:
    """IN RXCUI -> ("|"-joined codes, how) for the `uncoded` ingredients (RXCUI -> name).

    `ingredient_for_name(normalised name)` gives the one ingredient a trusted name stands for
    and the family that says so, or None; `moieties` maps a salt's RXCUI to its base's, and
    `base_names` a base's RXCUI to its name.
    """
    uncoded = {r: n for r, n in uncoded.items() if normalize_name(n) not in NOT_FROM_WHO}
    found: dict[str, set[str]] = defaultdict(set)
    how: dict[str, str] = {}
    for rxcui, name in sorted(uncoded.items()):  # the ingredient's own name, WHO-spelt
        codes = who.get(who_spelling(name), set()) | who.get(normalize_name(name), set())
        if codes:
            found[rxcui] |= codes
            how[rxcui] = f"{WHO_ATC}:ingredient-name"
    named = set(found)
    for who_name, codes in sorted(who.items()):  # another trusted name: paracetamol
        hit = ingredient_for_name(who_name)
        if hit is None or hit[0] not in uncoded or hit[0] in named:
            continue
        found[hit[0]] |= codes
        how[hit[0]] = f"{WHO_ATC}:{hit[1]}-name"
    for salt, base in sorted(moieties.items()):  # lithium carbonate <- "lithium" N05AN01
        base_codes = who.get(normalize_name(base_names.get(base, "")))
        if salt in uncoded and salt not in found and base_codes:
            found[salt] |= base_codes
            how[salt] = f"{WHO_ATC}:base-moiety"
    return {rxcui: ("|".join(sorted(codes)), how[rxcui]) for rxcui, codes in found.items()}
