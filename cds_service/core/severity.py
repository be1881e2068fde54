"""One severity scale for every source of interaction evidence, and the card policy over it. Pure.

The scale is the one US drug-interaction references use: contraindicated / major / moderate /
minor. Every source's own wording is mapped onto it here, once, so that a reviewer can read
the whole mapping in one place (docs/knowledge.md prints it as a table):

- ANSM thesaurus (2020, 2016): contre-indication → contraindicated; association déconseillée
  (not recommended) → major; précaution d'emploi (precaution for use) → moderate; à prendre en
  compte (to be taken into account) → minor.
- DDInter 1.0: Major / Moderate / Minor → major / moderate / minor; Unknown → not graded.
- ONC high-priority list (2012): major, and always interruptive.
- ONC non-interruptive list (2013): moderate, and never interruptive unless another source
  grades the pair contraindicated.
- CredibleMeds interactions: "usually avoid" → major; "take precautions" → moderate.
- HL7 PDDI rules (warfarin + NSAIDs, digoxin + cyclosporine): their base warning → major.
- The project's rules (US labelling, curated lists, pharmacology): the grade each rule states.
- DrugBank interaction types (ungraded): the pair's grade from another source or rule; alone,
  moderate for the types that name a specific clinical harm, else minor.

Card policy (CDS Hooks indicators): contraindicated → critical, major → warning, moderate →
info, minor → no card unless a site lowers `DDI_CDS_MIN_CARD_TIER`. The ONC flags can only move
an indicator between warning and info, never create or hide a card.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """Severity grades, most severe first (the declaration order is the ranking)."""

    CONTRAINDICATED = "contraindicated"
    MAJOR = "major"
    MODERATE = "moderate"
    MINOR = "minor"

    @property
    def rank(self) -> int:
        """0 for the most severe grade; sort ascending to put the worst first."""
        return _SEVERITY_ORDER.index(self)

    def is_more_severe_than(self, other: Severity) -> bool:
        return self.rank < other.rank

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A grade by name; the names of the earlier ANSM-only scale are still understood
        (a site's DDI_CDS_MIN_CARD_TIER=precaution keeps meaning what it meant)."""
        key = text.strip().lower()
        key = LEGACY_NAMES.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}: use one of {names}") from None


_SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)

# The ANSM-shaped scale of earlier releases, by the ANSM level each name stood for.
LEGACY_NAMES = {"avoid": "major", "precaution": "moderate", "informational": "minor"}


class Indicator(StrEnum):
    """CDS Hooks card indicators, the ones an EHR interrupts on first."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def interrupts(self) -> bool:
        return self is not Indicator.INFO


INDICATOR: dict[Severity, Indicator] = {
    Severity.CONTRAINDICATED: Indicator.CRITICAL,
    Severity.MAJOR: Indicator.WARNING,
    Severity.MODERATE: Indicator.INFO,
    Severity.MINOR: Indicator.INFO,
}

DEFAULT_MIN_CARD_SEVERITY = Severity.MODERATE


def most_severe(grades: list[Severity]) -> Severity | None:
    return min(grades, key=lambda grade: grade.rank) if grades else None
