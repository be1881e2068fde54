"""What a FHIR medication was mapped to, and how: the types the clinical core passes around.

Every ingredient carries the trail of steps that produced it, so that a card can show a
clinician or a regulator exactly which code, which table and which confidence led to a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Confidence(StrEnum):
    """How far a mapping can be trusted, best first."""

    CODE = "code"  # an RxNorm code or a unique NDC found in the RxNorm tables
    CODE_RESOLVED = "code-resolved"  # a code needing a resolution step (10-digit NDC, salt)
    TEXT = "text"  # exact (normalised) name match: low confidence, the EHR sent no usable code


@dataclass(frozen=True, slots=True)
class MappingStep:
    """One hop from what the EHR sent towards an ingredient."""

    system: str  # code system URI, or "text" for CodeableConcept.text / display
    code: str  # the code or text as received (truncated when huge)
    table: str  # which index table answered, e.g. "rxnorm-2025:SCD->IN"
    detail: str = ""  # e.g. the concept's RxNorm name and term type

    def describe(self) -> str:
        what = f"{self.system}|{self.code}" if self.system != "text" else f'text "{self.code}"'
        return f"{what} via {self.table}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class Ingredient:
    """An active ingredient as the service knows it, keyed by its RxNorm IN RXCUI."""

    rxcui: str
    name: str
    drugbank_id: str | None = None
    smiles: str | None = None
    inchikey: str | None = None
    unii: str | None = None


@dataclass(frozen=True, slots=True)
class MappedIngredient:
    ingredient: Ingredient
    confidence: Confidence
    trail: tuple[MappingStep, ...]
    # For a salt that RxNorm makes an ingredient of its own (lithium carbonate): its base
    # (lithium), so that knowledge written on either applies to both. None for any other.
    moiety: Ingredient | None = None


@dataclass(frozen=True, slots=True)
class MedicationMapping:
    """The result of mapping one FHIR medication. Never raises; an empty mapping says why."""

    ingredients: tuple[MappedIngredient, ...] = ()
    unmapped_reasons: tuple[str, ...] = field(default=())
    label: str = ""  # what to call the medication on a card (display/text/RxNorm name)
    notes: tuple[str, ...] = field(default=())  # caveats of a mapping that did succeed
    # Parts of a mapped medication that could not be checked (a pack's component with no known
    # ingredient): said on the "could not be checked" card, never dropped silently
    unchecked: tuple[str, ...] = field(default=())

    @property
    def is_mapped(self) -> bool:
        return bool(self.ingredients)

    @property
    def is_complete(self) -> bool:
        """Mapped, and nothing of it left unchecked."""
        return self.is_mapped and not self.unchecked

    @property
    def ingredient_rxcuis(self) -> tuple[str, ...]:
        return tuple(m.ingredient.rxcui for m in self.ingredients)


READ_AS_R4 = "FHIR R4 (validated)"
READ_AS_LENIENT = "lenient (not valid R4: an STU3/DSTU2 shape or extra elements)"


class Role(StrEnum):
    DRAFT = "draft order"
    CURRENT = "current medication"


@dataclass(frozen=True, slots=True)
class PrescribedMedication:
    role: Role
    resource_type: str
    resource_id: str | None
    status: str | None
    mapping: MedicationMapping
    route: str | None  # "oral", "topical", ... from the dosage route or the dose form
    origin: str  # where in the request it was found, e.g. "prefetch medicationRequests"
    read_as: str

    @property
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.resource_id}" if self.resource_id else None

    @property
    def label(self) -> str:
        return self.mapping.label or f"{self.resource_type} without a medication name"
