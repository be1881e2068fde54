"""Measure: how many of the most-prescribed US ingredients have graded interaction knowledge.

    .venv/bin/python bench/knowledge_coverage.py [--knowledge FILE] [--list TSV]

An ingredient is covered when at least one pair holding it is graded moderate or worse by a
record that names the harm (a curated source with text, a project rule, a DrugBank type that
grades moderate) or major or worse by any record: a pair that would make a card. Salts count
through their base moiety (potassium chloride through potassium). `--knowledge` takes any
build of `interactions.sqlite`, also the earlier ANSM-only format (before issue 18: severities
contraindicated / avoid / precaution / informational, DrugBank ungraded), so that before and
after are measured by one script:

    git show 4769705:cds_service/data/interactions.sqlite > /tmp/before.sqlite
    .venv/bin/python bench/knowledge_coverage.py --knowledge /tmp/before.sqlite
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LIST = ROOT / "bench" / "data" / "top300_us_ingredients.tsv"
DEFAULT_KNOWLEDGE = ROOT / "cds_service" / "data" / "interactions.sqlite"
CARD_GRADES = ("contraindicated", "major", "moderate", "avoid", "precaution")
STRONG_GRADES = ("contraindicated", "major", "avoid")


def read_list(path: Path) -> list[tuple[str, str]]:
    """(ingredient name, RXCUI) in rank order."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [line for line in handle if line.strip() and not line.startswith("#")]
    return [(row["ingredient"], row["rxcui"]) for row in csv.DictReader(rows, delimiter="\t")]


def covered_keys(db: sqlite3.Connection) -> set[int]:
    columns = {row[1] for row in db.execute("PRAGMA table_info(statement)")}
    marks = ",".join("?" * len(CARD_GRADES))
    if "kind" in columns:  # the one-scale format (issue 18)
        strong = ",".join("?" * len(STRONG_GRADES))
        query = (
            "SELECT DISTINCT p.rxcui_low, p.rxcui_high FROM curated_pair p "  # noqa: S608
            "JOIN statement s ON s.id = p.statement_id "
            f"WHERE s.severity IN ({strong}) OR (s.severity IN ({marks}) AND "
            "(s.consequence != '' OR s.mechanism != ''))"
        )
        rows = db.execute(query, (*STRONG_GRADES, *CARD_GRADES)).fetchall()
        rows += db.execute(
            "SELECT DISTINCT p.rxcui_low, p.rxcui_high FROM ddi_pair p "
            "JOIN ddi_template t ON t.type = p.type WHERE t.severity = 'moderate'"
        ).fetchall()
    else:
        query = (
            "SELECT DISTINCT p.rxcui_low, p.rxcui_high FROM curated_pair p "  # noqa: S608
            f"JOIN statement s ON s.id = p.statement_id WHERE s.severity IN ({marks})"
        )
        rows = db.execute(query, CARD_GRADES).fetchall()
    return {rxcui for row in rows for rxcui in row}


def key_of(db: sqlite3.Connection) -> dict[int, int]:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    if "ingredient_key" not in tables:
        return {}
    return dict(db.execute("SELECT rxcui, key FROM ingredient_key"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST)
    args = parser.parse_args()
    ingredients = read_list(args.list)
    with sqlite3.connect(f"file:{args.knowledge}?mode=ro", uri=True) as db:
        covered = covered_keys(db)
        keys = key_of(db)
        version = dict(db.execute("SELECT key, value FROM meta")).get("version")
    missing = [
        name for name, rxcui in ingredients if keys.get(int(rxcui), int(rxcui)) not in covered
    ]
    report = {
        "knowledge": version,
        "ingredients": len(ingredients),
        "covered": len(ingredients) - len(missing),
        "share": round((len(ingredients) - len(missing)) / len(ingredients), 4),
        "not_covered": missing,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
