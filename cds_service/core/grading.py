"""A pair's grade and card indicator from all the evidence about it. Pure.

The policy (docs/knowledge.md):
1. The pair takes the most severe grade of a credible record: a curated source, or a project
   rule written from US labelling or restating a curated list. Every source keeps its own
   grade on the card.
2. A generalisation (a pharmacology rule, a DrugBank interaction type) grades a pair only when
   no credible record does; it never outranks a credible grade that says otherwise.
3. A bare grade (DDInter gives a grade and nothing else) below major makes no card on its own:
   a card must name a harm and an action, and DDInter grades 81% of its pairs Moderate.
4. An ONC high-priority pair is at least major and always interrupts. An ONC non-interruptive
   pair never interrupts unless its grade is contraindicated.
5. Two ingredients sold together as one US product (losartan / hydrochlorothiazide) are an
   intended combination: a moderate grade, or any grade only a generalisation gives, makes no
   card; a credible major or contraindicated grade still does.
6. A drug applied to the skin, the eye or the ear reaches the blood far less than by mouth: a
   pair where every order of one of the two drugs is applied so is shown without interrupting
   (topical ketoconazole with simvastatin), the route said on the card (`applied_locally`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from cds_service.core.evidence import Flag, KnownInteraction
from cds_service.core.severity import INDICATOR, Indicator, Severity, most_severe


@dataclass(frozen=True, slots=True)
class PairGrade:
    severity: Severity | None  # None: no record grades the pair
    indicator: Indicator | None  # the card's indicator at this grade; None with no grade
    reasons: tuple[str, ...] = ()  # how the grade and indicator were reached, for the card
    override: str = ""  # the site override applied, said on the card

    @property
    def interrupts(self) -> bool:
        return self.indicator is not None and self.indicator.interrupts


NOT_GRADED = PairGrade(None, None)


def _names(records: Sequence[KnownInteraction]) -> str:
    return ", ".join(dict.fromkeys(r.rule or r.source for r in records))


def _names_a_harm(record: KnownInteraction) -> bool:
    """A credible record with words, or an uncredible one specific enough to grade moderate
    (a DrugBank type such as "risk or severity of adverse effects" names nothing)."""
    specific = record.credible or (
        record.severity is not None and not Severity.MODERATE.is_more_severe_than(record.severity)
    )
    return specific and bool(record.consequence or record.mechanism)


def _more_severe(grade: Severity | None, than: Severity) -> bool:
    return grade is not None and grade.is_more_severe_than(than)


def grade_pair(records: Sequence[KnownInteraction]) -> PairGrade:
    graded = [r for r in records if r.severity is not None]
    credible = [r for r in graded if r.credible]
    reasons: list[str] = []
    severity = most_severe([r.severity for r in credible if r.severity is not None])
    if severity is not None:
        overruled = [r for r in graded if not r.credible and _more_severe(r.severity, severity)]
        if overruled:
            reasons.append(
                f"{_names(overruled)} would grade it more severely; not applied, because "
                f"{_names([r for r in credible if r.severity is severity])} grades the pair "
                f"{severity.value} (a generalisation never outranks a curated grade)"
            )
    else:
        severity = most_severe([r.severity for r in graded if r.severity is not None])
    if severity is Severity.MODERATE and graded and not any(_names_a_harm(r) for r in records):
        reasons.append(
            f"{_names(graded)} grades the pair {severity.value} but names no harm or action; "
            "with no second source it is not shown"
        )
        severity = Severity.MINOR
    flags = {r.flag for r in records}
    if (
        Flag.CO_FORMULATED in flags
        and severity is not None
        and severity is not Severity.MINOR
        and Flag.ALWAYS_INTERRUPTIVE not in flags
    ):
        credible_severity = most_severe([r.severity for r in credible if r.severity is not None])
        if credible_severity is None or not credible_severity.is_more_severe_than(
            Severity.MODERATE
        ):
            product = next(r.original_text for r in records if r.flag is Flag.CO_FORMULATED)
            reasons.append(
                f"the two are sold together ({product.split(': ', 1)[-1]}): an intended "
                f"combination, so its {severity.value} grade makes no card"
            )
            severity = Severity.MINOR
    if Flag.ALWAYS_INTERRUPTIVE in flags:
        if severity is None or Severity.MAJOR.is_more_severe_than(severity):
            severity = Severity.MAJOR
        reasons.append("ONC high-priority interaction: every US EHR should interrupt on it")
        return PairGrade(severity, max_indicator(INDICATOR[severity]), tuple(reasons))
    if severity is None:
        return PairGrade(None, None, tuple(reasons))
    indicator = INDICATOR[severity]
    if Flag.NON_INTERRUPTIVE in flags and severity is not Severity.CONTRAINDICATED:
        if indicator.interrupts:
            reasons.append("ONC non-interruptive list: shown without interrupting the prescriber")
        indicator = Indicator.INFO
    return PairGrade(severity, indicator, tuple(reasons))


# Routes by which a drug is applied where it acts, with little systemic exposure. Nasal, vaginal
# and rectal are left out: midazolam, fentanyl or sumatriptan sprays and rectal diazepam are
# given for their systemic effect, and vaginal miconazole raises the INR of warfarin.
APPLIED_LOCALLY = frozenset({"topical", "ophthalmic", "otic"})


def applied_locally(grade: PairGrade, drug: str, route: str) -> PairGrade:
    """The grade when every order of `drug` is applied by `route` (one of APPLIED_LOCALLY)."""
    if grade.indicator is None or not grade.indicator.interrupts:
        return grade
    reason = (
        f"{drug} is applied by the {route} route, with little systemic exposure: shown without "
        "interrupting"
    )
    return replace(grade, indicator=Indicator.INFO, reasons=(*grade.reasons, reason))


def max_indicator(indicator: Indicator) -> Indicator:
    """At least a warning: the indicator an always-interruptive pair gets."""
    return indicator if indicator.interrupts else Indicator.WARNING
