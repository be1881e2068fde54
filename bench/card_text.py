"""Measure: the cards the reference list produces, read as a prescriber reads them (issue 20).

    .venv/bin/python bench/card_text.py [--save card_text.json]

Each pair of `tests/data/reference_pairs.tsv` goes through the whole app in process as an
order-sign call (product A drafted, product B current), as tests/test_reference_pairs.py sends
it. Over the interaction cards answered (the notices about unmapped or unchecked medications
left out) it reports: how many; summaries cut short (ending "…") and the longest; the median and
90th-percentile detail length in characters (and for cards citing one source); cards with
French words; cards with the model's line and with the patient's context; the orders suggested
(ServiceRequest, MedicationRequest); cards whose only action is removing the draft, and
interruptive cards (critical, warning) without any action.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.hook_requests import order_sign_by_codes

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_pairs.tsv"
FRENCH = re.compile(
    r"[éèêàâçùûîïô]|\b(le|la|les|des|du|une|est|avec|pour|dans|par|selon|lors|chez)\b",
    re.IGNORECASE,
)
NOTICE_LABEL = "DDI CDS (curated interaction knowledge)"  # cards about the check itself


def _read(card: dict) -> str:
    """What a prescriber reads on a card ("torsades de pointes" is English usage)."""
    texts = [card["summary"], card.get("detail", ""), card["source"].get("label", "")]
    texts += [link.get("label", "") for link in card.get("links", [])]
    texts += [s.get("label", "") for s in card.get("suggestions", [])]
    return "\n".join(texts).replace("torsades de pointes", "")


def _sources(card: dict) -> int:
    """How many sources a card's "Sources:" line names."""
    line = next((x for x in card["detail"].splitlines() if x.startswith("**Sources:**")), "")
    return line.count(" · ") + 1 if line else 0


def measure() -> dict:
    settings = Settings(auth_disabled=True, data_dir=Path(tempfile.mkdtemp()), redis_url="")
    client = create_app(settings).test_client()
    cards = []
    with PAIRS.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader((r for r in rows if not r.startswith("#")), delimiter="\t"):
            body = order_sign_by_codes([row["rxcui_a"]], [row["rxcui_b"]])
            answer = client.post("/cds-services/ddi-order-sign", json=body)
            cards += [c for c in answer.get_json()["cards"] if " + " in c["summary"]]
    details = sorted(len(c.get("detail", "")) for c in cards)
    one_source = sorted(len(c["detail"]) for c in cards if _sources(c) == 1)
    actions = [[s.get("label", "") for s in c.get("suggestions", [])] for c in cards]
    interruptive = [c for c in cards if c["indicator"] in ("critical", "warning")]
    resources = [
        a["resource"]["resourceType"]
        for c in cards
        for s in c.get("suggestions", [])
        for a in s["actions"]
        if a["type"] == "create"
    ]
    return {
        "cards": len(cards),
        "summaries_cut": sum(c["summary"].endswith("…") for c in cards),
        "longest_summary": max(len(c["summary"]) for c in cards),
        "detail_median_chars": statistics.median(details),
        "detail_p90_chars": details[int(0.9 * (len(details) - 1))],
        "detail_median_chars_one_source": statistics.median(one_source) if one_source else None,
        "cards_one_source": len(one_source),
        "detail_median_lines": statistics.median(c["detail"].count("\n") + 1 for c in cards),
        "cards_with_model_line": sum("**Model signal:**" in c["detail"] for c in cards),
        "cards_with_patient_context": sum("**This patient:**" in c["detail"] for c in cards),
        "suggested_service_requests": resources.count("ServiceRequest"),
        "suggested_medication_requests": resources.count("MedicationRequest"),
        "cards_with_an_order_suggested": sum(
            any(a["type"] == "create" for s in c.get("suggestions", []) for a in s["actions"])
            for c in cards
        ),
        "cards_with_french": sum(bool(FRENCH.search(_read(c))) for c in cards),
        "only_action_remove": sum(
            bool(a) and all(label.lower().startswith("remove") for label in a) for a in actions
        ),
        "interruptive_without_action": sum(not c.get("suggestions") for c in interruptive),
        "interruptive": len(interruptive),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    report = {"cores": os.cpu_count(), **measure()}
    print(json.dumps(report, indent=2))
    if args.save:
        args.save.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
