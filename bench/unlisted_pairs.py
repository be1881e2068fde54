"""Measure: how often the rules speak on pairs that no source lists (noise), and how often
the service cards or interrupts at all on pairs of common drugs.

    .venv/bin/python bench/unlisted_pairs.py [--list bench/data/top300_us_ingredients.tsv]

Every pair of two different ingredients of the list (the most-prescribed US ingredients) is
looked up in the compiled knowledge. A pair is *unlisted* when no source lists it at all: no
ANSM entry, no DDInter pair (whatever its level, "Unknown" included), no DrugBank type, no ONC
or CredibleMeds or HL7 PDDI record; only the project's rules can then speak. Reported for the
unlisted pairs and for all pairs: the share the service would card (grade moderate or worse
after `cds_service.grading`, the default card policy) and the share it would interrupt on.
Goal (issue 18), on pairs no source lists: at most 3% carded and 2% interruptive. This is the
knowledge layer alone (no HTTP, no model: model-only cards are off by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench.knowledge_coverage import DEFAULT_LIST, read_list
from cds_service.grading import grade_pair
from cds_service.knowledge import COMBINATIONS_SOURCE_ID, RULES_SOURCE_ID, KnowledgeBase
from cds_service.severity import DEFAULT_MIN_CARD_SEVERITY

NOT_A_LISTING = frozenset({RULES_SOURCE_ID, COMBINATIONS_SOURCE_ID})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST)
    args = parser.parse_args()
    kb = KnowledgeBase()
    rxcuis = sorted({rxcui for _, rxcui in read_list(args.list)}, key=int)
    counts: Counter[str] = Counter()
    examples: list[str] = []
    for a, b in combinations(rxcuis, 2):
        if kb.key(int(a)) == kb.key(int(b)):
            continue
        records = kb.interactions_for([a], [b])
        unlisted = not any(r.source not in NOT_A_LISTING for r in records)
        grade = grade_pair(records)
        carded = grade.severity is not None and not DEFAULT_MIN_CARD_SEVERITY.is_more_severe_than(
            grade.severity
        )
        for population in ("all", "unlisted") if unlisted else ("all",):
            counts[f"{population}_pairs"] += 1
            counts[f"{population}_carded"] += carded
            counts[f"{population}_interruptive"] += grade.interrupts
        if unlisted and carded and len(examples) < 40:
            rules = ", ".join(sorted({r.rule for r in records if r.rule}))
            examples.append(
                f"{kb.ingredient_name(int(a))} + {kb.ingredient_name(int(b))}: "
                f"{grade.severity.value if grade.severity else ''} ({rules})"
            )
    report: dict[str, object] = {"knowledge": kb.version, "ingredients": len(rxcuis)}
    for population in ("all", "unlisted"):
        pairs = counts[f"{population}_pairs"]
        report[population] = {
            "pairs": pairs,
            "carded": counts[f"{population}_carded"],
            "interruptive": counts[f"{population}_interruptive"],
            "carded_share": round(counts[f"{population}_carded"] / pairs, 4) if pairs else None,
            "interruptive_share": (
                round(counts[f"{population}_interruptive"] / pairs, 4) if pairs else None
            ),
        }
    report["unlisted_carded_examples"] = examples
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
