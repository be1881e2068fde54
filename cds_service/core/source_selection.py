"""The curated sources a site uses (`DDI_CDS_KNOWLEDGE_SOURCES`): all by default; a named subset
otherwise, so that a site can leave out a source it has no licence for, and an evaluation can
see what the rules or the interaction model add on their own. Pure: a filter over any
`interactions_for` source."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from cds_service.core.evidence import KnownInteraction


class SelectedSources:
    """The knowledge with only the named sources' records; everything else is the knowledge's
    own (names, groups, metadata)."""

    def __init__(self, knowledge: Any, sources: Collection[str]) -> None:
        known = set(knowledge.sources)
        unknown = sorted(set(sources) - known)
        if unknown or not sources:
            raise ValueError(
                f"DDI_CDS_KNOWLEDGE_SOURCES: unknown source {', '.join(unknown) or '(none named)'};"
                f" the sources are {', '.join(sorted(known))}"
            )
        self._knowledge = knowledge
        self.selected = frozenset(sources)
        self.version = f"{knowledge.version}+{'+'.join(sorted(self.selected))}"

    def interactions_for(
        self, ingredients_a: Iterable[Any], ingredients_b: Iterable[Any]
    ) -> list[KnownInteraction]:
        return [
            record
            for record in self._knowledge.interactions_for(ingredients_a, ingredients_b)
            if record.source in self.selected
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._knowledge, name)


def select_sources(knowledge: Any, setting: str) -> Any:
    """The knowledge itself for an empty setting (all sources), else `SelectedSources`."""
    names = [name.strip() for name in setting.split(",") if name.strip()]
    return SelectedSources(knowledge, names) if setting.strip() else knowledge
