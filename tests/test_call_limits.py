"""One call's cost is bounded whatever it carries (docs/security.md): distinct ingredients,
pairs and cards per answer, and the curated lookups inside the call's deadline. What a limit
leaves out is said on a card, and a severe pair is never hidden behind the card limit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.deadline import Deadline
from cds_service.core.interaction_check import CheckLimits, check_interactions
from cds_service.core.medication import PrescribedMedication, Role
from cds_service.core.severity import Severity
from cds_service.testing.hook_requests import order_sign_by_codes, rxnorm
from cds_service.testing.rxcui import (
    AMIODARONE,
    ASPIRIN,
    CLARITHROMYCIN,
    DIGOXIN,
    FLUCONAZOLE,
    IBUPROFEN,
    SIMVASTATIN,
    WARFARIN,
)

INDEX = Path(__file__).resolve().parent.parent / "cds_service" / "data" / "drug_index.sqlite"
SIGN = "/cds-services/ddi-order-sign"


def _client(tmp_path: Path, **limits: int):
    settings = Settings(auth_disabled=True, data_dir=tmp_path, redis_url="", **limits)
    return create_app(settings).test_client()


def _cards(client, drafts: list[str], current: list[str] = ()) -> list[dict]:
    answer = client.post(SIGN, json=order_sign_by_codes(drafts, list(current)))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["cards"]


def test_past_the_card_limit_the_rest_share_one_card_as_urgent_as_the_worst_of_them(tmp_path):
    drafts = [WARFARIN, CLARITHROMYCIN, SIMVASTATIN, IBUPROFEN, FLUCONAZOLE, AMIODARONE]
    everything = _cards(_client(tmp_path / "all"), drafts)
    interactions = [c for c in everything if " + " in c["summary"]]
    assert len(interactions) >= 4

    limited = _cards(_client(tmp_path / "limited", max_cards=1), drafts)
    assert limited[0]["summary"] == interactions[0]["summary"]  # the most severe, in full
    more = next(c for c in limited if "more interaction" in c["summary"])
    assert more["summary"].startswith(f"{len(interactions) - 1} more interactions")
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert more["indicator"] == min((c["indicator"] for c in interactions[1:]), key=rank.get)
    for card in interactions[1:]:  # each pair left out of the full cards is still named
        pair = card["summary"].split(":")[0]
        first, second = (name.strip().lower() for name in pair.split(" + "))
        assert first in more["detail"].lower() and second in more["detail"].lower()


def test_ingredients_past_the_limit_are_named_as_not_checked_and_paired_with_nothing(tmp_path):
    cards = _cards(_client(tmp_path, max_ingredients=2), [WARFARIN, IBUPROFEN, CLARITHROMYCIN])
    summaries = [c["summary"] for c in cards]
    assert any(s.lower().startswith("warfarin + ibuprofen") for s in summaries)
    assert not any("clarithromycin +" in s.lower() or "+ clarithromycin" in s.lower()
                   for s in summaries)  # fmt: skip
    notice = next(c for c in cards if c["summary"].startswith("Check incomplete"))
    assert notice["indicator"] == "warning"
    assert "1 ingredient not checked" in notice["summary"]
    assert "clarithromycin" in notice["detail"].lower()


def test_pairs_past_the_limit_are_counted_on_a_card(tmp_path):
    cards = _cards(_client(tmp_path, max_pairs=1), [WARFARIN, IBUPROFEN, CLARITHROMYCIN])
    notice = next(c for c in cards if c["summary"].startswith("Check incomplete"))
    assert notice["summary"] == "Check incomplete: 2 pairs not checked"
    assert "more pairs than the service checks" in notice["detail"]


def _medication(mapper, rxcui: str, role: Role) -> PrescribedMedication:
    mapping = mapper.map_concept(rxnorm(rxcui))
    return PrescribedMedication(
        role, "MedicationRequest", rxcui, None, mapping, None, "test", "medicationCodeableConcept"
    )


def test_curated_lookups_stop_at_the_deadline_and_say_so(mapper):
    from cds_service.core.knowledge import KnowledgeBase

    advised = [_medication(mapper, WARFARIN, Role.DRAFT)]
    others = [_medication(mapper, code, Role.CURRENT) for code in (IBUPROFEN, ASPIRIN, DIGOXIN)]
    knowledge = KnowledgeBase()
    in_time = check_interactions(advised, others, knowledge, Severity.MODERATE)
    assert in_time.ingredient_pairs_checked == 3 and not in_time.left_unchecked

    late = check_interactions(
        advised, others, knowledge, Severity.MODERATE, limits=CheckLimits(deadline=Deadline(0.0))
    )
    assert late.pairs == () and late.ingredient_pairs_checked == 0
    assert late.left_unchecked.pairs == 3 and late.left_unchecked.out_of_time


@pytest.mark.parametrize("with_structure", [False, True], ids=["distinct", "model-drugs"])
def test_a_thousand_distinct_drafts_get_a_bounded_answer_and_audit_record(tmp_path, with_structure):
    """Before the limits such a call answered 30-72 MB with 8,700-19,000 cards and wrote a
    65-152 MB audit record (bench/worst_call.py)."""
    where = "smiles IS NOT NULL AND smiles != ''" if with_structure else "drugbank_id IS NOT NULL"
    db = sqlite3.connect(f"file:{INDEX}?mode=ro", uri=True)
    codes = [r for (r,) in db.execute(f"SELECT rxcui FROM ingredient WHERE {where} ORDER BY rxcui")]
    db.close()
    client = _client(tmp_path)
    answer = client.post(SIGN, json=order_sign_by_codes(codes[:1000], []))
    assert answer.status_code == 200
    cards = answer.get_json()["cards"]
    assert len(answer.data) < 200_000
    assert len(cards) <= Settings().max_cards + 5  # the full cards, "more", and the notices
    notice = next(c for c in cards if c["summary"].startswith("Check incomplete"))
    assert "200 ingredients not checked" in notice["summary"]  # 300 read, 100 checked
    assert any(c["summary"].startswith("Not all medications were checked") for c in cards)
    audit = tmp_path / "audit.sqlite"
    stored = sum(p.stat().st_size for p in (audit, Path(f"{audit}-wal")) if p.exists())
    assert stored < 2_000_000
