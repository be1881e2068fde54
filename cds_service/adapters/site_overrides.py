"""Adapter: the site overrides file (`cds_service.core.overrides`) read against the drug index and
the knowledge, at start-up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cds_service.core.codes import is_rxcui, normalize_name
from cds_service.core.drug_index import DrugIndex
from cds_service.core.knowledge import KnowledgeBase
from cds_service.core.overrides import SiteOverrides, load_overrides

_SUBSTANCE_KINDS = frozenset({"ingredient", "synonym"})


def load_site_overrides(path: Path, index: DrugIndex, knowledge: KnowledgeBase) -> SiteOverrides:
    """Raises `OverridesError` (file, line, reason) on a malformed file."""

    def key(rxcui: str) -> str:
        return str(knowledge.key(int(rxcui))) if is_rxcui(rxcui) else rxcui

    def resolve_drug(text: str) -> str | None:
        """An ingredient by RXCUI or by its exact name (never a fuzzy guess), as a key."""
        text = text.strip()
        if is_rxcui(text):
            return key(text) if index.ingredient(text) is not None else None
        targets = {
            tuple(sorted(i for i, _ in index.ingredient_rxcuis(hit.rxcui)))
            for hit in index.names(normalize_name(text))
            if hit.kind in _SUBSTANCE_KINDS
        }
        if len(targets) != 1:
            return None
        (target,) = targets
        return key(target[0]) if len(target) == 1 else None

    def class_members(spec: str) -> frozenset[str] | None:
        kind, _, name = spec.partition(":")
        if kind == "group":
            return knowledge.group_members(name) or None
        prefix = name.strip().upper()
        if kind != "ATC" or not prefix.isalnum():
            return None
        with sqlite3.connect(f"file:{index.path}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT rxcui, atc_codes FROM ingredient WHERE atc_codes IS NOT NULL"
            ).fetchall()
        found = {
            key(rxcui)
            for rxcui, codes in rows
            if any(c.strip().startswith(prefix) for c in codes.replace("|", ",").split(","))
        }
        return frozenset(found) or None

    return load_overrides(path, resolve_drug, class_members, key)
