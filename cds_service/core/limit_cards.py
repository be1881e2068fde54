"""Cards about what a call's limits left out (docs/security.md, "one call's cost"). Pure.

A call may carry more than the service checks or shows in one answer: past the card limit the
remaining interactions share one card, most severe first, whose indicator is the most severe
among them (so a critical pair is never hidden behind the limit); past the ingredient or pair
limit, or the call's deadline, a card says what was not checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cds_service.core.card_text import SERVICE_LABEL, clip, escape
from cds_service.core.interaction_check import InteractingPair, LeftUnchecked
from cds_service.core.severity import Indicator

LISTED = 40  # lines named on one of these cards; the rest are counted
_RANK = {Indicator.CRITICAL.value: 0, Indicator.WARNING.value: 1, Indicator.INFO.value: 2}


def more_interactions_card(
    pairs: Sequence[InteractingPair], new_id: Callable[[], str]
) -> dict[str, Any]:
    """The interacting pairs past the card limit, one line each (they are sorted most severe
    first), on one card as urgent as the most severe of them."""
    lines = [
        "More interacting pairs than one answer shows in full. Each is listed with its grade; "
        "review them in the interaction reference before signing:",
        "",
    ]
    for pair in pairs[:LISTED]:
        grade = pair.severity.value if pair.severity else "predicted"
        lines.append(
            f"- **{escape(pair.ingredient_a.name)} + {escape(pair.ingredient_b.name)}**: {grade}"
        )
    if len(pairs) > LISTED:
        lines.append(f"- and {len(pairs) - LISTED} more")
    indicators = [
        (pair.grade.indicator or Indicator.INFO).value if pair.interactions else "info"
        for pair in pairs
    ]
    count = len(pairs)
    first = pairs[0]
    return {
        "uuid": new_id(),
        "summary": clip(
            f"{count} more interaction{'s' if count > 1 else ''}, the first "
            f"{first.ingredient_a.name} + {first.ingredient_b.name}"
        ),
        "indicator": min(indicators, key=_RANK.__getitem__),
        "detail": "\n".join(lines),
        "source": {"label": SERVICE_LABEL},
    }


def left_unchecked_card(left: LeftUnchecked, new_id: Callable[[], str]) -> dict[str, Any]:
    """What the call's limits kept from being checked: the check is incomplete."""
    lines = []
    if left.ingredients:
        names = [escape(i.name) for i in left.ingredients[:LISTED]]
        more = len(left.ingredients) - len(names)
        lines.append(
            "These ingredients were **not checked** against anything: the call carried more "
            "distinct ingredients than the service checks in one call: "
            + ", ".join(names)
            + (f" and {more} more" if more > 0 else "")
            + "."
        )
    if left.pairs:
        why = (
            "the check ran out of the time allowed for the call"
            if left.out_of_time
            else "the call held more pairs than the service checks in one call"
        )
        lines.append(f"{left.pairs} ingredient pairs were **not checked**: {why}.")
    lines.append("Check these medications by other means, or in smaller orders.")
    # Both counts when both apply: the pairs may be the larger gap (the call ran out of time)
    parts = []
    if left.ingredients:
        count = len(left.ingredients)
        parts.append(f"{count} ingredient{'s' if count > 1 else ''}")
    if left.pairs:
        parts.append(f"{left.pairs} pair{'s' if left.pairs > 1 else ''}")
    summary = f"Check incomplete: {' and '.join(parts)} not checked"
    return {
        "uuid": new_id(),
        "summary": clip(summary),
        "indicator": Indicator.WARNING.value,
        "detail": "\n\n".join(lines),
        "source": {"label": SERVICE_LABEL},
    }
