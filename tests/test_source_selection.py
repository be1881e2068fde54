"""DDI_CDS_KNOWLEDGE_SOURCES: a site (or an evaluation) uses only the curated sources it names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.knowledge import KnowledgeBase
from cds_service.core.source_selection import SelectedSources, select_sources
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import IBUPROFEN, WARFARIN


def test_only_the_named_sources_are_read():
    knowledge = KnowledgeBase()
    everything = {r.source for r in knowledge.interactions_for([WARFARIN], [IBUPROFEN])}
    assert {"DDInter-1.0", "DDI-CDS-rules"} <= everything
    selected = select_sources(knowledge, "DDInter-1.0")
    assert {r.source for r in selected.interactions_for([WARFARIN], [IBUPROFEN])} == {"DDInter-1.0"}
    assert selected.version.endswith("+DDInter-1.0")  # the audit trail records the choice
    assert select_sources(knowledge, "") is knowledge


def test_an_unknown_source_stops_the_start_with_the_list_of_sources():
    with pytest.raises(ValueError, match="unknown source Lexicomp; the sources are ANSM-2016"):
        SelectedSources(KnowledgeBase(), ["Lexicomp"])


def test_a_site_without_curated_sources_sees_what_the_rules_say_alone(tmp_path):
    settings = replace(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url=""),
        knowledge_sources="DDI-CDS-rules",
    )
    client = create_app(settings).test_client()
    body = order_sign_by_codes([WARFARIN], [IBUPROFEN])
    (card,) = [
        c
        for c in client.post("/cds-services/ddi-order-sign", json=body).get_json()["cards"]
        if c["summary"].startswith("Warfarin + ibuprofen")
    ]
    sources = next(x for x in card["detail"].splitlines() if x.startswith("**Sources:**"))
    assert "DDI CDS rule" in sources and "DDInter" not in sources and "ANSM" not in sources
