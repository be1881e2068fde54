"""The reviewer's tool for the English translation of the ANSM 2020 thesaurus
(`ansm_english`): every text of the thesaurus as the build reads it, with its translation.

    python -m cds_service.index_build.ansm_translate --missing   # untranslated texts, as TSV
    python -m cds_service.index_build.ansm_translate --show      # French beside English, to review
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator

from cds_service.index_build import ansm_2020
from cds_service.index_build.ansm_english import text_key, translations


def thesaurus_texts() -> Iterator[tuple[str, str, str]]:
    """(kind, French text, where) for every text of the thesaurus, as the build reads them."""
    raw = json.loads((ansm_2020.package_dir() / ansm_2020.THESAURUS_FILE).read_text("utf-8"))
    for item in raw:
        where = f"{item['main_drug'].strip()} + {item['plus_drug'].strip()}"
        for level in item["severity_levels"]:
            advice = ansm_2020.repair_from_description(level["info"], item["description"])
            if advice:
                yield "advice", advice, f"{where} [{level['level'].strip()}]"
        consequence = ansm_2020.clean_text(item["interaction_mechanism"])
        if consequence:
            yield "consequence", consequence, where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--missing", action="store_true", help="untranslated texts, as TSV")
    mode.add_argument("--show", action="store_true", help="French beside English")
    args = parser.parse_args(argv)
    table = translations()
    seen: set[str] = set()
    out = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    out.writerow(["key", "kind", "where", "french"] + ([] if args.missing else ["english"]))
    for kind, french, where in thesaurus_texts():
        key = text_key(french)
        if key in seen or (args.missing and key in table):
            continue
        seen.add(key)
        found = table.get(key)
        extra = [] if args.missing else [found.english if found else "(none)"]
        out.writerow([key, kind, where, french, *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main())
