"""FHIR medication -> ingredients, with the trail of how each was found.

Input is FHIR JSON as EHRs send it (a CodeableConcept, or a Medication resource), already parsed
into dicts. Codes are tried before text, RxNorm before NDC; text must match a known name exactly
after normalisation and is flagged low confidence. Nothing here raises on bad input: the result
says what could not be mapped and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.core.codes import (
    NDC_SYSTEMS,
    RXNORM_SYSTEMS,
    NdcFormatError,
    clinical_drug_ingredient_names,
    is_rxcui,
    ndc_11_candidates,
    normalize_name,
    without_salt,
)
from cds_service.core.drug_index import DrugIndex
from cds_service.core.medication import (
    Confidence,
    Ingredient,
    MappedIngredient,
    MappingStep,
    MedicationMapping,
)

MOIETY_TABLE = "ddi-cds-moieties:salt->moiety"  # the index table behind a salt's trail step
MAX_CODINGS = 50  # an EHR sends a handful; beyond this the input is abuse, not a medication
MAX_TEXT_LENGTH = 300
_SHOWN = 80  # how much of a hostile string to echo back in a reason


def _clip(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"


@dataclass(frozen=True, slots=True)
class _Found:
    ingredients: tuple[tuple[str, str], ...]  # (ingredient RXCUI, concept_ingredient source)
    step: MappingStep
    confidence: Confidence
    label: str
    notes: tuple[str, ...] = ()  # e.g. a pack's component that could not be checked


class MedicationMapper:
    def __init__(self, index: DrugIndex) -> None:
        self.index = index

    def map_medication(self, medication: Any) -> MedicationMapping:
        """A FHIR Medication resource: its `code`, else its `ingredient[].item*`."""
        if not isinstance(medication, Mapping):
            return MedicationMapping(unmapped_reasons=(_not_an_object("Medication", medication),))
        by_code = self.map_concept(medication.get("code"))
        if by_code.is_mapped:
            return by_code
        parts = medication.get("ingredient")
        if not isinstance(parts, list) or not parts:
            return by_code
        mapped: list[MedicationMapping] = []
        reasons = list(by_code.unmapped_reasons)
        for part in parts[:MAX_CODINGS]:
            item = part.get("itemCodeableConcept") if isinstance(part, Mapping) else None
            if item is None and isinstance(part, Mapping):  # R5: ingredient.item.concept
                item = (
                    (part.get("item") or {}).get("concept")
                    if isinstance(part.get("item"), Mapping)
                    else None
                )
            result = self.map_concept(item)
            (mapped if result.is_mapped else []).append(result)
            reasons.extend(f"Medication.ingredient: {r}" for r in result.unmapped_reasons)
        if not mapped:
            return MedicationMapping(unmapped_reasons=tuple(reasons), label=by_code.label)
        return _merge(mapped, by_code.label or " / ".join(m.label for m in mapped))

    def map_concept(self, concept: Any) -> MedicationMapping:
        """A FHIR CodeableConcept (as a dict). Never raises."""
        if concept is None:
            return MedicationMapping(unmapped_reasons=("no medication code or text was sent",))
        if not isinstance(concept, Mapping):
            return MedicationMapping(unmapped_reasons=(_not_an_object("CodeableConcept", concept),))
        codings = concept.get("coding", [])
        reasons: list[str] = []
        if "text" in concept and not isinstance(concept["text"], str):
            reasons.append(f"CodeableConcept.text is a {type(concept['text']).__name__}, not text")
        if not isinstance(codings, list):
            reasons.append(f"CodeableConcept.coding is a {type(codings).__name__}, not a list")
            codings = []
        if len(codings) > MAX_CODINGS:
            reasons.append(f"only the first {MAX_CODINGS} of {len(codings)} codings were read")
            codings = codings[:MAX_CODINGS]

        found: list[_Found] = []
        ordered = sorted(codings, key=_coding_priority)
        for coding in ordered:
            result = self._map_coding(coding)
            if isinstance(result, _Found):
                found.append(result)
            else:
                reasons.append(result)
        label = _label(concept, codings)
        if found:
            return self._result(found, label or found[0].label, reasons)
        texts = _texts(concept, codings)
        for text in texts:
            result = self._map_text(text)
            if isinstance(result, _Found):
                return self._result([result], label or result.label, reasons)
            reasons.append(result)
        if not codings and not texts:
            reasons.append("the CodeableConcept has neither a coding nor a text")
        return MedicationMapping(unmapped_reasons=tuple(dict.fromkeys(reasons)), label=label)

    def _map_coding(self, coding: Any) -> _Found | str:
        if not isinstance(coding, Mapping):
            return _not_an_object("Coding", coding)
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(code, str) or not code.strip():
            where = f"of system {_clip(system)!r} " if isinstance(system, str) and system else ""
            return f"a coding {where}has no code"
        if not isinstance(system, str) or not system:
            return f"code {_clip(code)!r} has no code system"
        if system in RXNORM_SYSTEMS:
            return self._map_rxcui(code.strip(), system)
        if system in NDC_SYSTEMS:
            return self._map_ndc(code.strip(), system)
        return f"code system {_clip(system)!r} is not supported (RxNorm and NDC are)"

    def _map_rxcui(self, code: str, system: str) -> _Found | str:
        if not is_rxcui(code):
            return f"RxNorm code {_clip(code)!r} is not an RXCUI (digits only)"
        concept = self.index.concept(code)
        if concept is None:
            return f"RxNorm code {code} is not in the prescribable RxNorm or RxTerms tables"
        ingredients = self.index.ingredient_rxcuis(code)
        if not ingredients:
            return f"RxNorm {concept.tty} {code} ({concept.name}) has no known ingredient"
        confidence = Confidence.CODE_RESOLVED if concept.tty == "PIN" else Confidence.CODE
        step = MappingStep(system, code, concept.source, f"{concept.tty} {concept.name}")
        return _Found(tuple(ingredients), step, confidence, concept.name, self._pack_notes(code))

    def _map_ndc(self, code: str, system: str) -> _Found | str:
        try:
            candidates = ndc_11_candidates(code)
        except NdcFormatError as error:
            return str(error)
        products = sorted({p for c in candidates if (p := self.index.product_for_ndc(c))})
        if not products:
            return f"NDC {_clip(code)} is not in the RxNorm 2025 NDC table"
        if len(products) > 1:
            return f"NDC {code} has no dashes and matches several packages: {', '.join(products)}"
        concept = self.index.concept(products[0])
        ingredients = self.index.ingredient_rxcuis(products[0])
        if concept is None or not ingredients:
            return f"NDC {code} names product {products[0]}, which has no known ingredient"
        confidence = Confidence.CODE if len(candidates) == 1 else Confidence.CODE_RESOLVED
        detail = f"NDC-11 -> {concept.tty} {concept.rxcui} {concept.name}"
        step = MappingStep(system, code, "rxnorm-2025:NDC", detail)
        notes = self._pack_notes(concept.rxcui)
        return _Found(tuple(ingredients), step, confidence, concept.name, notes)

    def _pack_notes(self, rxcui: str) -> tuple[str, ...]:
        """A pack's components whose ingredient is unknown: said, never silently dropped."""
        return tuple(
            f"pack {rxcui}: its component {_clip(component)!r} has no known ingredient, "
            "so it was NOT checked"
            for component, found in self.index.pack_components(rxcui)
            if not found
        )

    def _map_text(self, text: str) -> _Found | str:
        normalized = normalize_name(text)
        if not normalized:
            return f"text {_clip(text)!r} has no letters or digits"
        if not self.index.names(normalized):
            return self._map_clinical_drug_name(text)
        found = self._exact_name(normalized)
        if isinstance(found, int):
            return f"text {_clip(text)!r} is ambiguous: it names {found} different drugs"
        target, how = found
        step = MappingStep("text", _clip(text), "name-index", "exact name: " + "; ".join(how))
        ingredients = tuple((i, "name-index") for i in target)
        return _Found(ingredients, step, Confidence.TEXT, text)

    def _exact_name(self, normalized: str) -> tuple[tuple[str, ...], list[str]] | int:
        """The ingredients a normalised name stands for, or how many drugs it could be (0, 2+)."""
        by_target: dict[tuple[str, ...], list[str]] = {}
        for hit in self.index.names(normalized):
            target = tuple(sorted(i for i, _src in self.index.ingredient_rxcuis(hit.rxcui)))
            by_target.setdefault(target, []).append(f"{hit.kind} {hit.rxcui} ({hit.source})")
        if len(by_target) != 1:
            return len(by_target)
        ((target, how),) = by_target.items()
        return target, how

    def _map_clinical_drug_name(self, text: str) -> _Found | str:
        """A retired or foreign code's display in RxNorm form: each component named exactly."""
        unmatched = f"text {_clip(text)!r} matches no ingredient, brand or product name exactly"
        components = clinical_drug_ingredient_names(text)
        if not components:
            return unmatched
        targets: list[str] = []
        how: list[str] = []
        for component in components:
            found = self._exact_name(normalize_name(component))
            if isinstance(found, int):  # "clavulanate potassium" is not a name; "clavulanate" is
                found = self._exact_name(without_salt(component))
            if isinstance(found, int):
                return unmatched
            targets.extend(t for t in found[0] if t not in targets)
            how.append(f"{component!r} = " + "; ".join(found[1]))
        detail = "clinical drug name, ingredients named exactly: " + " + ".join(how)
        step = MappingStep("text", _clip(text), "name-index", detail)
        return _Found(tuple((i, "name-index") for i in targets), step, Confidence.TEXT, text)

    def _result(self, found: list[_Found], label: str, reasons: list[str]) -> MedicationMapping:
        mapped: dict[str, MappedIngredient] = {}
        for item in found:
            for rxcui, table in item.ingredients:
                if rxcui in mapped:
                    continue
                ingredient = self.index.ingredient(rxcui) or Ingredient(rxcui, rxcui)
                trail = (item.step, MappingStep("rxnorm", rxcui, table, f"IN {ingredient.name}"))
                moiety, moiety_step = self._moiety(ingredient)
                mapped[rxcui] = MappedIngredient(
                    ingredient, item.confidence, trail + moiety_step, moiety
                )
        unchecked = tuple(dict.fromkeys(n for item in found for n in item.notes))
        notes = list(dict.fromkeys([*reasons, *unchecked]))
        sets = {frozenset(r for r, _t in item.ingredients) for item in found}
        if len(sets) > 1:
            notes.append("the codings name different ingredients; all of them are checked")
        return MedicationMapping(
            ingredients=tuple(mapped.values()),
            label=label,
            notes=tuple(notes),
            unchecked=unchecked,
        )

    def _moiety(self, salt: Ingredient) -> tuple[Ingredient | None, tuple[MappingStep, ...]]:
        """The base of a salt ingredient, and the trail step a card can show for it."""
        found = self.index.moiety(salt.rxcui)
        moiety = self.index.ingredient(found[0]) if found else None
        if found is None or moiety is None:
            return None, ()
        detail = f"{salt.name}: salt of {moiety.name} (RxNorm IN {moiety.rxcui}); {found[1]}"
        return moiety, (MappingStep("rxnorm", moiety.rxcui, MOIETY_TABLE, detail),)


def _merge(results: list[MedicationMapping], label: str) -> MedicationMapping:
    seen: dict[str, MappedIngredient] = {}
    for result in results:
        for item in result.ingredients:
            seen.setdefault(item.ingredient.rxcui, item)
    notes = tuple(n for r in results for n in r.notes)
    unchecked = tuple(n for r in results for n in r.unchecked)
    return MedicationMapping(
        ingredients=tuple(seen.values()), label=label, notes=notes, unchecked=unchecked
    )


def _coding_priority(coding: Any) -> int:
    system = _system(coding)
    return 0 if system in RXNORM_SYSTEMS else 1 if system in NDC_SYSTEMS else 2


def _system(coding: Any) -> str | None:
    """The coding's system when it is text (an EHR may send anything there)."""
    system = coding.get("system") if isinstance(coding, Mapping) else None
    return system if isinstance(system, str) else None


def _texts(concept: Mapping[str, Any], codings: list[Any]) -> list[str]:
    texts = [concept.get("text")]
    texts.extend(c.get("display") for c in codings if isinstance(c, Mapping))
    usable = []
    for text in texts:
        if isinstance(text, str) and text.strip() and text not in usable:
            usable.append(text if len(text) <= MAX_TEXT_LENGTH else text[:MAX_TEXT_LENGTH])
    return usable


def _label(concept: Mapping[str, Any], codings: list[Any]) -> str:
    for text in _texts(concept, codings):
        return _clip(text)
    for coding in codings:  # no text at all: name the medication by its code
        if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
            system = _system(coding)
            kind = (
                "RxNorm" if system in RXNORM_SYSTEMS else "NDC" if system in NDC_SYSTEMS else "code"
            )
            return _clip(f"{kind} {coding['code']}")
    return ""


def _not_an_object(expected: str, value: Any) -> str:
    return f"expected a FHIR {expected} object, got {type(value).__name__}"
