"""Map the 645 TWOSIDES/Decagon drugs (the DDI model's vocabulary) to RxNorm ingredients.

PubChem CIDs first (through DrugBank and PharmGKB), then the exact name. The name step is what
catches Decagon's warfarin, whose CID 6691 is a tautomer PubChem no longer uses (54678486).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from cds_service.index_build.crossrefs import DrugBankDrug, PharmGkbChemical


def read_twosides_drugs(benchmark: Path) -> list[tuple[str, str, str]]:
    """(STITCH id, name, PubChem CID) of the DeSIDE-DDI drug list."""
    path = benchmark / "DeSIDE-DDI" / "data" / "twosides_drug_info.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["STITCH_id"], r["name"], r["pubchemID"]) for r in csv.DictReader(handle)]


def map_twosides(
    drugs_645: list[tuple[str, str, str]],
    drugbank: dict[str, DrugBankDrug],
    drugbank_to_ingredients: dict[str, set[str]],
    pharmgkb: list[PharmGkbChemical],
    base_ingredient: Callable[[str], set[str]],
    name_to_ingredients: Callable[[str], set[str]],
) -> list[tuple[str, str, str, str | None, str]]:
    """Rows for the `model_drug` table: stitch id, CID, name, ingredient RXCUI or None, how."""
    cid_to_drugbank: dict[str, set[str]] = defaultdict(set)
    for drugbank_id, drug in drugbank.items():
        for cid in drug.pubchem_cids:
            cid_to_drugbank[cid].add(drugbank_id)
    cid_to_rxcuis: dict[str, set[str]] = defaultdict(set)
    for chemical in pharmgkb:
        for cid in chemical.pubchem_cids:
            for rxcui in chemical.rxcuis:
                cid_to_rxcuis[cid] |= base_ingredient(rxcui)

    rows = []
    for stitch_id, name, cid in drugs_645:
        via_drugbank = set().union(
            *(drugbank_to_ingredients.get(d, set()) for d in sorted(cid_to_drugbank.get(cid, ())))
        )
        attempts = (
            ("pubchem->drugbank->rxnorm", via_drugbank),
            ("pubchem->pharmgkb->rxnorm", cid_to_rxcuis.get(cid, set())),
            ("exact-name", name_to_ingredients(name)),
        )
        chosen: tuple[str | None, str] = (None, "unmapped: no CID or exact-name match")
        for how, candidates in attempts:
            if len(candidates) == 1:
                chosen = (next(iter(candidates)), how)
                break
            if len(candidates) > 1:
                chosen = (None, f"unmapped: {how} is ambiguous ({len(candidates)} ingredients)")
        rows.append((stitch_id, cid, name, chosen[0], chosen[1]))
    return rows
