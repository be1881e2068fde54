"""RxNorm Current Prescribable Content (2025) and RxTerms (2023): concepts, ingredients, NDCs.

The 2025 content is one JSON tree per ingredient (IN, PIN or MIN) down to SCDC, SCD, SBD, BN,
GPCK, BPCK with their NDCs. Its `A.json` is missing, so ingredients starting with "A" (aspirin,
amiodarone, ...) and their single-ingredient products come from RxTerms 2023 only, and their
links are cross-checked against it where both exist.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds_service.core.codes import (
    clinical_drug_ingredient_names,
    component_ingredient_name,
    normalize_name,
    pack_component_names,
    product_name_components,
)

RXNORM_2025 = "rxnorm-2025"
RXTERMS_2023 = "rxterms-2023"
_STRENGTH_TAIL = re.compile(r"\s+[0-9.]+\s+\S+$")
# Packs list placebo tablets as an "ingredient"; no interaction check wants it.
INERT_INGREDIENT = "748794"


@dataclass
class RxNormTables:
    concepts: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # rxcui->tty,name,src
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # rxcui -> {IN rxcui: source}
    ndcs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ingredient_unii: dict[str, str] = field(default_factory=dict)  # IN rxcui -> UNII
    pin_unii: dict[str, str] = field(default_factory=dict)
    issues: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add_concept(self, rxcui: str, tty: str, name: str, source: str) -> None:
        self.concepts.setdefault(rxcui, (tty, name, source))

    def link(self, rxcui: str, ingredient: str, source: str) -> None:
        if ingredient == INERT_INGREDIENT and rxcui != ingredient:
            return
        self.links.setdefault(rxcui, {}).setdefault(ingredient, source)

    def ingredient_names(self) -> dict[str, str]:
        return {r: name for r, (tty, name, _s) in self.concepts.items() if tty == "IN"}


def _walk_products(scdc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every SCD under an SCDC, and the SBDs, GPCKs and BPCKs that contain each SCD."""
    for scd in scdc.get("SCDs", []):
        yield scd
        for kind in ("SBDs", "GPCKs", "BPCKs"):
            yield from scd.get(kind, [])


def load_rxnorm_2025(
    folder: Path, tables: RxNormTables, fallback_ingredient_names: dict[str, str]
) -> None:
    entries = []
    for path in sorted((folder / "web" / "data").glob("*.json")):
        entries.extend(json.loads(path.read_text(encoding="utf-8")))
    entries.sort(key=lambda e: (e["TTY"], e["RXCUI"]))

    scdc_ingredient: dict[str, str] = {}
    for entry in entries:
        tables.add_concept(entry["RXCUI"], entry["TTY"], entry["Name"], RXNORM_2025)
        if entry["TTY"] == "IN":
            tables.link(entry["RXCUI"], entry["RXCUI"], f"{RXNORM_2025}:IN")
            if entry.get("UNII"):
                tables.ingredient_unii[entry["RXCUI"]] = entry["UNII"]
            for scdc in entry.get("SCDCs", []):
                scdc_ingredient[scdc["RXCUI"]] = entry["RXCUI"]
        elif entry["TTY"] == "PIN" and entry.get("UNII"):
            tables.pin_unii[entry["RXCUI"]] = entry["UNII"]

    names_to_in = {normalize_name(n): r for r, n in sorted(fallback_ingredient_names.items())}
    names_to_in.update({normalize_name(n): r for r, n in tables.ingredient_names().items()})
    for entry in entries:
        for scdc in entry.get("SCDCs", []):
            tables.add_concept(scdc["RXCUI"], "SCDC", scdc["Name"], RXNORM_2025)
            ingredient = scdc_ingredient.get(scdc["RXCUI"])
            how = f"{RXNORM_2025}:SCDC->IN"
            if ingredient is None:  # its IN is in the missing A.json: read it off the SCDC name
                ingredient = _ingredient_from_scdc_name(scdc["Name"], names_to_in)
                how = f"{RXNORM_2025}:SCDC-name->IN"
            if ingredient is None:
                tables.issues["scdc_without_ingredient"].append(scdc["RXCUI"])
                continue
            tables.link(scdc["RXCUI"], ingredient, how)
            if entry["TTY"] == "PIN":
                tables.link(entry["RXCUI"], ingredient, f"{RXNORM_2025}:PIN->IN")
            elif entry["TTY"] == "MIN":
                tables.link(entry["RXCUI"], ingredient, f"{RXNORM_2025}:MIN->IN")
            for product in _walk_products(scdc):
                tables.add_concept(product["RXCUI"], product["TTY"], product["Name"], RXNORM_2025)
                tables.link(product["RXCUI"], ingredient, f"{RXNORM_2025}:{product['TTY']}->IN")
                for ndc in product.get("NDCs", []):
                    tables.ndcs[ndc].add(product["RXCUI"])
                for brand in product.get("BNs", []):
                    tables.add_concept(brand["RXCUI"], "BN", brand["Name"], RXNORM_2025)
    _fill_from_product_names(tables, names_to_in)
    _link_brands(entries, tables)


def _ingredient_from_scdc_name(name: str, names_to_in: dict[str, str]) -> str | None:
    """ "aspirin 81 MG" -> aspirin; "amlodipine besylate 5 MG" -> amlodipine (salt dropped).

    Only for SCDCs whose IN lives in the missing A.json; the IN names come from RxTerms.
    """
    words = normalize_name(_STRENGTH_TAIL.sub("", name)).split()
    while words:
        found = names_to_in.get(" ".join(words))
        if found:
            return found
        words.pop()
    return None


def _fill_from_product_names(tables: RxNormTables, names_to_in: dict[str, str]) -> None:
    """Add the ingredients whose SCDC hangs only under the missing A.json.

    "amlodipine 5 MG / hydrochlorothiazide 25 MG / olmesartan medoxomil 40 MG Oral Tablet" is
    listed under hydrochlorothiazide and olmesartan, never under amlodipine: read it off the name.
    """
    for rxcui, (tty, name, _source) in sorted(tables.concepts.items()):
        if tty not in ("SCD", "SBD"):
            continue
        components = product_name_components(name)
        linked = tables.links.get(rxcui, {})
        if len(components) <= len(linked):
            continue
        for component in components:
            ingredient = component_ingredient_name(component)
            found = ingredient and _ingredient_from_scdc_name(ingredient + " 1 MG", names_to_in)
            if found and found not in linked:
                tables.link(rxcui, found, f"{RXNORM_2025}:{tty}-name->IN")


def _link_brands(entries: list[dict[str, Any]], tables: RxNormTables) -> None:
    """A brand's ingredients are those common to all its branded products.

    RxNorm's BN is the tradename of specific ingredients; a union over SBDs would let one
    combination product widen every other product of the brand.
    """
    brand_products: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for scdc in entry.get("SCDCs", []):
            for product in _walk_products(scdc):
                for brand in product.get("BNs", []):
                    brand_products[brand["RXCUI"]].add(product["RXCUI"])
    for brand, products in sorted(brand_products.items()):
        sets = [set(tables.links.get(p, {})) for p in sorted(products)]
        common = set.intersection(*sets) if sets else set()
        source = f"{RXNORM_2025}:BN->SBD->IN"
        if not common:
            common = set.union(*sets) if sets else set()
            source = f"{RXNORM_2025}:BN->SBD->IN(union)"
        for ingredient in sorted(common):
            tables.link(brand, ingredient, source)


def read_rxterms(path: Path) -> tuple[dict[str, set[str]], dict[str, str]]:
    """RxTerms: product RXCUI -> ingredient IN RXCUIs, and IN RXCUI -> ingredient name."""
    product_ingredients: dict[str, set[str]] = defaultdict(set)
    ingredient_names: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="|"):
            product_ingredients[row["RXCUI"]].add(row["ING_RXCUI"])
            ingredient_names.setdefault(row["ING_RXCUI"], row["INGREDIENT"])
    return product_ingredients, ingredient_names


def merge_rxterms(
    product_ingredients: dict[str, set[str]], ingredient_names: dict[str, str], tables: RxNormTables
) -> None:
    """Add RxTerms' INs and products that the 2025 content lacks, and flag disagreements."""

    def base(ingredient: str) -> set[str]:
        # RxTerms names a few salts (PIN) as ingredients; the 2025 content knows their base.
        if tables.concepts.get(ingredient, ("",))[0] == "PIN":
            return set(tables.links.get(ingredient, {})) or {ingredient}
        return {ingredient}

    names_to_in = {normalize_name(n): r for r, n in tables.ingredient_names().items()}
    for ingredient, name in sorted(ingredient_names.items()):
        if ingredient not in tables.concepts:
            tables.add_concept(ingredient, "IN", name, RXTERMS_2023)
            tables.link(ingredient, ingredient, f"{RXTERMS_2023}:IN")
    for product, listed in sorted(product_ingredients.items()):
        ingredients = set().union(*(base(i) for i in listed))
        known = set(tables.links.get(product, {}))
        if known and known != ingredients:
            tables.issues["rxterms_disagrees_with_2025"].append(product)
            # RxTerms 2023 still names some salts as ingredients ("erythromycin lactobionate")
            # where 2025 has the base; keep the 2025 base rather than list the drug twice.
            ingredients = {
                i
                for i in ingredients
                if _ingredient_from_scdc_name(ingredient_names.get(i, "") + " 1 MG", names_to_in)
                not in known
            }
        if product not in tables.concepts:
            names = sorted(tables.concepts[i][1] for i in ingredients if i in tables.concepts)
            tables.add_concept(product, "product", " / ".join(names) + " product", RXTERMS_2023)
        for ingredient in sorted(ingredients - known):
            tables.link(product, ingredient, f"{RXTERMS_2023}:product->IN")


@dataclass(frozen=True, slots=True)
class PackComponent:
    pack: str  # GPCK or BPCK RXCUI
    name: str  # the component's clinical drug name, as the pack's name gives it
    ingredients: tuple[str, ...]  # IN RXCUIs; () when no ingredient could be found


def link_pack_components(tables: RxNormTables) -> list[PackComponent]:
    """Link every pack to the ingredients of each clinical drug its name lists.

    The 2025 content hangs a pack under each of its component drugs, so a component whose
    ingredient lives in the missing A.json (acetaminophen in a cold-remedy day/night pack,
    amoxicillin in Omeclamox) was never linked: the pack silently lost an ingredient. Each
    component is found by its exact RxNorm name, else read as a clinical drug name; one that
    neither finds is kept with no ingredient, so the mapping can say it was not checked.
    Placebo days resolve to the inert ingredient, which `link` never links.
    """
    names_to_in = {normalize_name(n): r for r, n in sorted(tables.ingredient_names().items())}
    drugs_by_name = {
        normalize_name(name): rxcui
        for rxcui, (tty, name, _source) in sorted(tables.concepts.items())
        if tty in ("SCD", "SBD")
    }
    components: list[PackComponent] = []
    for rxcui, (tty, name, _source) in sorted(tables.concepts.items()):
        if tty not in ("GPCK", "BPCK"):
            continue
        for component in dict.fromkeys(pack_component_names(name)):
            drug = drugs_by_name.get(normalize_name(component))
            found = set(tables.links.get(drug, {})) if drug else set()
            if not found:
                parts = [
                    _ingredient_from_scdc_name(part + " 1 MG", names_to_in)
                    for part in clinical_drug_ingredient_names(component)
                ]
                named = [part for part in parts if part is not None]
                found = set(named) if parts and len(named) == len(parts) else set()
            for ingredient in sorted(found - set(tables.links.get(rxcui, {}))):
                tables.link(rxcui, ingredient, f"{RXNORM_2025}:{tty}-component->IN")
            components.append(PackComponent(rxcui, component, tuple(sorted(found))))
            if not found:
                tables.issues["pack_component_without_ingredient"].append(rxcui)
    return components
