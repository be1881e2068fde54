"""Resolve the drugs named by the knowledge sources to RxNorm ingredient (IN) RXCUIs.

The sources give RxCUIs that may be salts (PIN), multi-ingredient concepts or retired codes,
and names in international or French spelling. Everything goes through the drug index so the
knowledge is keyed exactly like the medications the service maps at run time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cds_service.core.codes import is_rxcui, normalize_name
from cds_service.core.drug_index import DrugIndex

# Name kinds precise enough to identify a substance (brands and products are not).
_SUBSTANCE_NAME_KINDS = frozenset({"ingredient", "synonym"})

# French or ANSM-specific names with no spelling rule to English; a few important drugs only.
# None refuses a name whose index synonym is wrong (a PharmGKB synonym makes clodronic acid
# chlorthalidone; DrugBank's synonym makes trastuzumab emtansine plain trastuzumab).
_NAME_ALIASES: dict[str, str | None] = {
    "clodronic acid": None,
    "acide clodronique": None,
    "trastuzumab emtansine": None,
    "bleu de methylene": "methylene blue",
    "millepertuis": "st john s wort",
    "st johns wort": "st john s wort",
    "trinitrine": "nitroglycerin",
    "paracetamol": "acetaminophen",
    "estrogenes conjugues": "estrogens conjugated usp",
    "reglisse": "licorice",
    "alcool": "alcohol",
    "fer": "iron",  # ANSM names iron in French; the index knows the base ingredient iron
    "hydroxyde d aluminium": "aluminum hydroxide",
}
# Foods the thesaurus names: RxNorm only has them as allergenic extracts, a different thing.
_FOODS = ("grapefruit", "gragefruit", "pamplemousse")
# Names that stand for a whole family of RxNorm ingredients (ANSM "INSULINE": every insulin).
_FAMILY_NAMES: dict[str, str] = {"insulin": "insulin", "insuline": "insulin"}
_PARENTHESIS = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*")
_FRENCH_ACID = re.compile(r"^acide (\w+)ique$")
_FRENCH_SALT = re.compile(r"^(\w+) \((\w+) de\)$")  # "sodium (nitroprussiate de)"


def name_variants(name: str) -> list[str]:
    """Normalised spellings to try, most literal first; French rules only as fallbacks."""
    raw = " ".join(name.split()).lower()
    base = normalize_name(raw)
    salt = _FRENCH_SALT.match(raw)
    if salt:  # the brackets hold the identity: "sodium" alone would be another substance
        variants = [base, normalize_name(f"{salt.group(2)} {salt.group(1)}")]
    else:  # the brackets qualify: "ALCOOL (BOISSON OU EXCIPIENT)"
        variants = [base, normalize_name(_PARENTHESIS.sub(" ", raw))]
    for candidate in variants:  # an alias replaces every spelling rule
        if candidate in _NAME_ALIASES:
            alias = _NAME_ALIASES[candidate]
            return [alias] if alias else []
    for candidate in list(variants):
        acid = _FRENCH_ACID.match(candidate)
        if acid:
            variants.append(f"{acid.group(1)}ic acid")
        words = candidate.split()
        if words and words[0].endswith("ine"):  # colistine -> colistin, spiramycine -> ...
            variants.append(" ".join([words[0][:-1], *words[1:]]))
        if candidate.endswith("e"):  # ibuprofene -> ibuprofen, warfarine -> warfarin
            variants.append(candidate[:-1])
    return list(dict.fromkeys(v for v in variants if v))


@dataclass
class UnmappedLog:
    """What could not be resolved, for the build report."""

    names: Counter[str] = field(default_factory=Counter)

    def add(self, what: str) -> None:
        self.names[what] += 1

    def examples(self, limit: int = 25) -> list[str]:
        return [name for name, _ in self.names.most_common(limit)]


class IngredientResolver:
    """Memoised RXCUI / name → ingredient RXCUIs over one drug index."""

    def __init__(self, drug_index: DrugIndex) -> None:
        self.index = drug_index
        self._by_rxcui: dict[str, tuple[str, ...]] = {}
        self._by_name: dict[str, tuple[str, ...]] = {}

    def from_rxcui(self, rxcui: str) -> tuple[str, ...]:
        """Ingredients of any concept: an IN is itself, a PIN its base, an MIN its parts."""
        code = rxcui.strip()
        if not is_rxcui(code):
            return ()
        if code not in self._by_rxcui:
            found = {ingredient for ingredient, _ in self.index.ingredient_rxcuis(code)}
            if not found and self.index.ingredient(code) is not None:
                found = {code}
            self._by_rxcui[code] = tuple(sorted(found))
        return self._by_rxcui[code]

    def from_name(self, name: str) -> tuple[str, ...]:
        """Ingredients named by an exact (normalised) substance name, or () when ambiguous.

        "A + B" names a combination: each part must resolve.
        """
        key = " ".join(name.split()).lower()
        if key not in self._by_name:
            unbracketed = _PARENTHESIS.sub(" ", key)
            if " + " in key:
                resolved = [self._single_name(part) for part in key.split(" + ")]
                found = () if not all(resolved) else tuple(sorted({i for r in resolved for i in r}))
            elif " or " in unbracketed:  # "METHYLENE BLUE OR METHYLTHIONINIUM CHLORIDE"
                synonyms = unbracketed.split(" or ")
                found = next((r for r in map(self._single_name, synonyms) if r), ())
            else:
                found = self._single_name(key)
            self._by_name[key] = found
        return self._by_name[key]

    def resolve(self, rxcuis: list[str], name: str) -> tuple[str, ...]:
        """The coded RXCUIs first; the name only when no code resolves (retired or missing).

        A code for a combination (drospirenone coded as drospirenone / ethinyl estradiol)
        gives way to the name when the name picks out part of it.
        """
        family = _FAMILY_NAMES.get(normalize_name(name))
        if family:  # ANSM codes "INSULINE" as regular human insulin, but means every insulin
            return self._family(family)
        coded = {ingredient for code in rxcuis for ingredient in self.from_rxcui(code)}
        if not coded:
            return self.from_name(name)
        if len(coded) > 1:
            named = set(self.from_name(name))
            if named and named < coded:
                return tuple(sorted(named))
        return tuple(sorted(coded))

    def _single_name(self, name: str) -> tuple[str, ...]:
        if any(normalize_name(name).startswith(food) for food in _FOODS):
            return ()
        for variant in name_variants(name):
            candidates = {
                tuple(self.from_rxcui(hit.rxcui))
                for hit in self.index.names(variant)
                if hit.kind in _SUBSTANCE_NAME_KINDS
            }
            candidates.discard(())
            if len(candidates) == 1:  # several different answers: ambiguous, never guess
                return candidates.pop()
        family = _FAMILY_NAMES.get(normalize_name(name))
        if family:
            return self._family(family)
        for variant in name_variants(name):  # "dabigatran": RxNorm knows "dabigatran etexilate"
            extended = self._family(variant)
            if len(extended) == 1:
                return extended
        return ()

    def _family(self, prefix: str) -> tuple[str, ...]:
        """Every single ingredient whose name starts with the family name ("insulin ...")."""
        members = {
            rxcui
            for _, rxcui, kind in self.index.names_starting(prefix + " ", limit=500)
            if kind == "ingredient" and self.from_rxcui(rxcui) == (rxcui,)
        }
        return tuple(sorted(members))
