"""Salt ingredients -> base moieties, from the reviewed table `moieties.tsv` beside this file.

RxNorm gives many salts an ingredient (IN) of their own: lithium carbonate beside lithium,
ferrous sulfate beside iron. The table names each base moiety with its RxNorm RXCUI, the cation
words that stand for a base, the counter-ions, the salts no rule can read, and the look-alikes
that keep no moiety (sodium bicarbonate acts as bicarbonate, not as sodium). The build checks
every row against the index and the sources; a row that does not check fails the build.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.core.codes import normalize_name

TABLE_PATH = Path(__file__).with_name("moieties.tsv")
SOURCE = "ddi-cds-moieties"  # the concept source of a base the prescribable tables lack
KINDS = ("base", "cation", "anion", "salt", "own")


class MoietyTableError(ValueError):
    """A row of moieties.tsv that does not hold against the sources or the index."""


@dataclass
class MoietyTable:
    bases: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (RXCUI, basis)
    cations: dict[str, tuple[str, str]] = field(default_factory=dict)  # word -> (base, basis)
    anions: set[str] = field(default_factory=set)
    salts: dict[str, tuple[str, str]] = field(default_factory=dict)  # salt -> (base, basis)
    own: dict[str, str] = field(default_factory=dict)  # look-alike -> why it keeps no moiety


@dataclass(frozen=True, slots=True)
class MoietyLink:
    salt_rxcui: str
    moiety_rxcui: str
    basis: str
    how: str  # "table" (a salt row) or "rule" (cation + anion)


def read_moiety_table(path: Path = TABLE_PATH) -> MoietyTable:
    table = MoietyTable()
    with path.open(encoding="utf-8", newline="") as handle:
        lines = (line for line in handle if line.strip() and not line.startswith("#"))
        for number, row in enumerate(csv.DictReader(lines, delimiter="\t"), start=2):
            kind, name = row["kind"].strip(), normalize_name(row["name"])
            moiety, basis = row["moiety"].strip(), row["basis"].strip()
            if kind not in KINDS or not name or not basis:
                raise MoietyTableError(f"moieties.tsv row {number}: needs a kind, name, basis")
            if kind == "base":
                table.bases[name] = (moiety, basis)
            elif kind == "cation":
                table.cations[name] = (normalize_name(moiety), basis)
            elif kind == "anion":
                table.anions.add(name)
            elif kind == "salt":
                table.salts[name] = (normalize_name(moiety), basis)
            else:
                table.own[name] = basis
    return table


def check_bases(table: MoietyTable, attested: Callable[[str, str], bool]) -> None:
    """Every base RXCUI must be what a source calls that name; a typo must not add a drug."""
    for name, (rxcui, _basis) in sorted(table.bases.items()):
        if not attested(name, rxcui):
            raise MoietyTableError(f"base {name!r} RXCUI {rxcui} is in no source under that name")
    for base, _basis in [*table.cations.values(), *table.salts.values()]:
        if base not in table.bases:
            raise MoietyTableError(f"moiety {base!r} has no base row")


def moiety_links(table: MoietyTable, ingredient_names: Mapping[str, str]) -> list[MoietyLink]:
    """Each salt ingredient of the index with its base: the table's salts, then the rule.

    `ingredient_names` maps IN RXCUI -> name and must already hold every base.
    """
    by_name: dict[str, str] = {}
    for rxcui, name in sorted(ingredient_names.items()):
        by_name.setdefault(normalize_name(name), rxcui)
    for name in [*table.salts, *table.own]:
        if name not in by_name:
            raise MoietyTableError(f"{name!r} is not an ingredient of the index")
    links: dict[str, MoietyLink] = {}
    for name, (base, basis) in sorted(table.salts.items()):
        links[by_name[name]] = MoietyLink(by_name[name], table.bases[base][0], basis, "table")
    for name, rxcui in sorted(by_name.items()):
        words = name.split()
        if len(words) != 2 or name in table.own or rxcui in links:
            continue
        cation, anion = words
        if cation in table.cations and anion in table.anions:
            base, basis = table.cations[cation]
            links[rxcui] = MoietyLink(rxcui, table.bases[base][0], basis, "rule")
    for link in links.values():
        if link.salt_rxcui == link.moiety_rxcui:
            raise MoietyTableError(f"{link.salt_rxcui} is named as a salt of itself")
    return sorted(links.values(), key=lambda link: link.salt_rxcui)
