"""Measure: how often the rules speak on pairs that no source lists (noise), and how often
the service cards or interrupts at all on pairs of common drugs.

    .venv/bin/python -m bench.unlisted_pairs [--list bench/data/top300_us_ingredients.tsv]

(from the repository root, as a module: it imports bench/knowledge_coverage.py)

Every pair of two different ingredients of the list (the most-prescribed US ingredients) is
looked up in the compiled knowledge. A pair is *unlisted* when no source lists it at all: no
ANSM entry, no DDInter pair (whatever its level, "Unknown" included), no DrugBank type, no ONC
or CredibleMeds or HL7 PDDI record; only the project's rules can then speak. Reported for the
unlisted pairs and for all pairs: the share the service would card (grade moderate or worse
after `cds_service.core.grading`, the default card policy) and the share it would interrupt on.
Goal (issue 18), on pairs no source lists: at most 3% carded and 2% interruptive. This is the
knowledge layer alone (no HTTP).

With `--model`, the clinical head is asked too, as the service asks it: a pair with no record
at all (no source, no rule) gets a predicted card (info) when P(major or worse) reaches the
artifact's card threshold. Reported: how many of those pairs would, and the likeliest ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

from bench.knowledge_coverage import DEFAULT_LIST, read_list
from cds_service.core.grading import grade_pair
from cds_service.core.knowledge import COMBINATIONS_SOURCE_ID, RULES_SOURCE_ID, KnowledgeBase
from cds_service.core.severity import DEFAULT_MIN_CARD_SEVERITY

NOT_A_LISTING = frozenset({RULES_SOURCE_ID, COMBINATIONS_SOURCE_ID})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST)
    parser.add_argument("--model", action="store_true", help="also the clinical head's cards")
    args = parser.parse_args()
    kb = KnowledgeBase()
    rxcuis = sorted({rxcui for _, rxcui in read_list(args.list)}, key=int)
    counts: Counter[str] = Counter()
    examples: list[str] = []
    silent: list[tuple[str, str]] = []  # no record at all: the model's turn
    for a, b in combinations(rxcuis, 2):
        if kb.key(int(a)) == kb.key(int(b)):
            continue
        records = kb.interactions_for([a], [b])
        if not records:
            silent.append((a, b))
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
    if args.model:
        report["model"] = _model_cards(kb, silent)
    print(json.dumps(report, indent=2))
    return 0


def _model_cards(kb: KnowledgeBase, pairs: list[tuple[str, str]]) -> dict[str, object]:
    from model.clinical.inference import ClinicalPredictor

    predictor = ClinicalPredictor.load()
    threshold = float(predictor.artifact.meta["card_threshold"]["probability_major"])
    known = [(a, b) for a, b in pairs if predictor.knows(a) and predictor.knows(b)]
    major = predictor.probabilities_major(known)
    order = sorted(range(len(known)), key=lambda i: -major[i])
    carded = int((major >= threshold).sum())
    return {
        "version": predictor.version,
        "threshold": round(threshold, 4),
        "pairs_without_any_record": len(pairs),
        "scored": len(known),
        "carded": carded,
        "carded_share": round(carded / len(pairs), 4) if pairs else None,
        "likeliest": [
            f"{kb.ingredient_name(int(known[i][0]))} + {kb.ingredient_name(int(known[i][1]))}: "
            f"{major[i]:.3f}"
            for i in order[:15]
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
