"""The request deadline: each part works against its budget, and what is left undone is said.

The slow-FHIR cases run over real HTTP in test_e2e.py; here, the budgets themselves, the model
running out of time on the committed artifact, and the EHR's key set fetched from a stalled
server.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.deadline import Deadline, queued_seconds
from cds_service.core.drug_index import DEFAULT_INDEX_PATH
from cds_service.protocol.auth import JwksCache, TokenRejected
from cds_service.testing.fhir_standin import Fault, FhirStandIn
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import ASPIRIN, WARFARIN
from model.artifact import PACKAGED


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_budget_ends_at_its_length_or_before_the_reserve_whichever_is_sooner():
    clock = FakeClock()
    request = Deadline(2.0, clock)
    fhir = request.budget(1.2, reserve_s=0.1)
    assert fhir.remaining() == pytest.approx(1.2)
    clock.now += 1.0
    assert not fhir.expired()
    model = request.budget(0.6, reserve_s=0.1)  # 1.0 s left, 0.1 kept back: 0.6 fits
    assert model.remaining() == pytest.approx(0.6)
    clock.now += 0.5
    late = request.budget(0.6, reserve_s=0.1)  # 0.5 s left: only 0.4 to give
    assert late.remaining() == pytest.approx(0.4) and late.seconds == pytest.approx(0.4)
    assert fhir.expired() and not model.expired()
    clock.now += 1.0
    assert request.expired() and late.expired() and request.remaining() == 0.0
    assert request.timeout(2.0) > 0  # a socket timeout of 0 would mean "don't block"
    assert Deadline.unlimited().timeout(2.0) == 2.0


def model_app(tmp_path, **settings):
    # No Redis and a new app: nothing is cached, so the model has every pair to score.
    return create_app(
        Settings(auth_disabled=True, data_dir=tmp_path, redis_url="", **settings)
    ).test_client()


def sign(client, drafts: list[str], current: list[str]) -> tuple[int, list[dict]]:
    response = client.post(
        "/cds-services/ddi-order-sign", json=order_sign_by_codes(drafts, current)
    )
    return response.status_code, response.json.get("cards", [])


def test_a_model_with_no_time_left_leaves_the_curated_card_and_says_what_it_did_not_score(
    tmp_path,
):
    status, cards = sign(model_app(tmp_path, model_budget_s=0.0), [WARFARIN], [ASPIRIN])

    assert status == 200
    curated, incomplete = cards
    assert curated["summary"].startswith("Warfarin + aspirin")
    assert curated["indicator"] == "critical"
    assert "**Model signal:**" not in curated["detail"]
    assert (
        incomplete["summary"]
        == "Check incomplete: 1 pair not scored by the prediction model in time"
    )
    assert incomplete["indicator"] == "info"
    assert "- warfarin + aspirin" in incomplete["detail"]
    assert "**were** checked against the curated sources" in incomplete["detail"]


def test_the_same_call_with_time_scores_the_pair(tmp_path):
    # warfarin + aspirin: a gastrointestinal bleed neither drug explains alone (model.drug_alone)
    status, cards = sign(model_app(tmp_path), [WARFARIN], [ASPIRIN])

    assert status == 200
    (card,) = cards
    assert "**Model signal:**" in card["detail"]


def structured_ingredients(count: int) -> list[str]:
    """Ingredient RXCUIs with a structure in the drug index: each one the model must featurise
    (about 20 ms each) before it can score a pair."""
    db = sqlite3.connect(f"file:{DEFAULT_INDEX_PATH}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT rxcui FROM ingredient WHERE smiles IS NOT NULL ORDER BY rxcui LIMIT ?",
            (count,),
        ).fetchall()
    finally:
        db.close()
    return [rxcui for (rxcui,) in rows]


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        ("t=1763999998.250", 1.75),  # nginx: seconds with a fraction
        ("1763999998250", 1.75),  # milliseconds
        ("t=1763999998250000", 1.75),  # microseconds
        (None, 0.0),
        ("t=soon", 0.0),
        ("t=1764000003", 0.0),  # in the future (a skewed clock): never lengthens the deadline
        ("t=1763990000", 0.0),  # hours ago: a wrong clock, not a queue
    ],
)
def test_time_queued_in_front_of_the_service_is_read_from_the_proxys_header(header, waited):
    assert queued_seconds(header, now_epoch=1_764_000_000.0) == pytest.approx(waited)


def test_a_call_that_queued_past_its_deadline_still_answers_its_curated_card(tmp_path):
    client = model_app(tmp_path)
    response = client.post(
        "/cds-services/ddi-order-sign",
        json=order_sign_by_codes([WARFARIN], [ASPIRIN]),
        headers={"X-Request-Start": f"t={time.time() - 5:.3f}"},  # 5 s in a proxy's queue
    )
    assert response.status_code == 200
    curated, incomplete = response.json["cards"]
    assert curated["summary"].startswith("Warfarin + aspirin")
    assert "not scored by the prediction model in time" in incomplete["summary"]


def cold_model_dir(tmp_path) -> Path:
    """The model is loaded once per artifact directory per process, with its per-drug state:
    an earlier test may have featurised the drugs already. A directory of its own (a link to
    the committed artifact) gives a call the cold model a newly started worker has."""
    link = tmp_path / "model"
    link.symlink_to(PACKAGED, target_is_directory=True)
    return link


def test_a_call_too_big_for_the_model_budget_stops_the_model_and_lists_its_pairs(tmp_path):
    """5 drafts and 300 current medications, nothing cached: about 500 pairs (the ingredient
    limit keeps 100) and 100 drugs to featurise, about 2 s of one core. With the call's own
    deadline out of the way, the model's 0.3 s budget is what stops it, however slow the
    machine is; the curated check is complete."""
    client = model_app(
        tmp_path, model_budget_s=0.3, request_deadline_s=60, model_dir=cold_model_dir(tmp_path)
    )
    codes = structured_ingredients(305)

    status, cards = sign(client, codes[:5], codes[5:])

    assert status == 200
    late = [c["summary"] for c in cards if c["summary"].startswith("Check incomplete:")]
    assert late[0] == "Check incomplete: 200 ingredients not checked"  # only the limit's
    (model_late,) = late[1:]
    assert model_late.endswith("pairs not scored by the prediction model in time"), late
    assert int(model_late.split()[2]) > 400  # of the 485: the model scored almost none


def test_a_call_too_big_for_its_deadline_answers_in_time_with_what_was_left_said(tmp_path):
    """The same call under the default 2 s deadline. Where the time goes depends on the machine:
    on a loaded one, reading the 305 resources takes most of it and the curated lookups stop at
    their floor; on a fast one the model stops at its budget. Either way the answer comes in
    time and a card says what was not done."""
    client = model_app(tmp_path, model_budget_s=0.3, model_dir=cold_model_dir(tmp_path))
    codes = structured_ingredients(305)

    started = time.monotonic()
    status, cards = sign(client, codes[:5], codes[5:])
    elapsed = time.monotonic() - started

    assert status == 200
    late = [c["summary"] for c in cards if c["summary"].startswith("Check incomplete:")]
    assert any(
        s.endswith("pairs not scored by the prediction model in time")
        or (
            s.startswith("Check incomplete: 200 ingredients and ")
            and s.endswith("pairs not checked")
        )
        for s in late
    ), late
    # The deadline is 2 s; the rest of the call (reading 305 resources) is not budgeted, so
    # allow for a slow machine without letting the model's seconds through.
    assert elapsed < 2.0 + 1.5, f"{elapsed:.2f} s"


def test_fetching_the_key_set_from_a_stalled_server_stops_at_the_deadline():
    with FhirStandIn(stall_s=10) as stalled:
        stalled.fault = Fault.STALL
        cache = JwksCache(timeout_s=5.0)
        started = time.monotonic()
        with pytest.raises(TokenRejected, match="key set could not be read"):
            cache.key(stalled.base_url + "/jwks.json", "any-kid", Deadline(0.3))
        assert time.monotonic() - started < 1.5
