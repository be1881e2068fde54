"""The project's English translation of the ANSM 2020 thesaurus texts (`translations/`).

The October 2020 thesaurus is French only; a US prescriber reads English. Each distinct text of
it (an entry's consequence and mechanism, each level's advice) has a reviewed translation in
`translations/ansm_2020_en.tsv`, keyed by a hash of the French text as the build reads it, with a
short form for card summaries (the harm in a few words; the action in imperative words). The
French stays the source's original text (the explanation page, the audit of a card); cards show
the English. A text without a translation stops the build: a new edition of the thesaurus must be
translated before it ships.

The reviewer's tool is `cds_service.index_build.ansm_translate` (`--missing`, `--show`).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cds_service.core.codes import normalize_name

TABLE = Path(__file__).parent / "translations" / "ansm_2020_en.tsv"
CLASS_TABLE = Path(__file__).parent / "translations" / "ansm_2020_classes_en.tsv"
KINDS = ("consequence", "advice")
SHORT_LIMIT = 60
# The thesaurus' level wordings, in the ANSM's own English (the 2016 English edition)
LEVELS_EN = {
    "contre indication": "Contraindication",
    "association deconseillee": "Not recommended",
    "precaution d emploi": "Precaution for use",
    "a prendre en compte": "Take into account",
    "il convient de prendre en compte": "Take into account",
}


class MissingTranslation(LookupError):
    """French text of the thesaurus with no English in the table."""


@dataclass(frozen=True, slots=True)
class Translation:
    english: str
    short: str  # consequence: the harm in plain words; advice: the action, imperative


def text_key(french: str) -> str:
    return hashlib.sha256(french.encode("utf-8")).hexdigest()[:16]


@cache
def translations(table: Path = TABLE) -> dict[str, Translation]:
    with table.open(encoding="utf-8", newline="") as rows:
        return {
            row["key"]: Translation(row["english"], row["short"])
            for row in csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE)
        }


def english(french: str) -> Translation:
    """The translation of one text as the build reads it (`ansm_2020.clean_text`)."""
    found = translations().get(text_key(french))
    if found is None:
        raise MissingTranslation(
            f"ANSM 2020 text without an English translation ({text_key(french)}): "
            f"{french[:80]!r}; list them all with "
            "`python -m cds_service.index_build.ansm_translate --missing`"
        )
    return found


def level(wordings: str) -> str:
    """A level wording, or several joined with " / ", in the ANSM's English."""
    parts = [part.strip() for part in wordings.split(" / ")]
    try:
        return " / ".join(LEVELS_EN[normalize_name(part)] for part in parts)
    except KeyError as unknown:
        raise MissingTranslation(f"ANSM 2020 level wording without English: {unknown}") from None


@cache
def _classes(table: Path = CLASS_TABLE) -> dict[str, str]:
    with table.open(encoding="utf-8", newline="") as rows:
        return {
            normalize_name(row["french"]): row["english"]
            for row in csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE)
        }


def class_label(french: str) -> str:
    """A class of the thesaurus ("ANTIVITAMINES K") in English ("vitamin K antagonists")."""
    found = _classes().get(normalize_name(french))
    if found is None:
        raise MissingTranslation(f"ANSM 2020 class without an English name: {french!r}")
    return found
