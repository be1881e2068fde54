"""`GET /metrics`: what a hook call adds to the service-wide metrics."""

from __future__ import annotations

from cds_service.testing.hook_requests import hook_request, medication_request
from cds_service.testing.rxcui import IBUPROFEN, UNKNOWN_RXCUI, WARFARIN


def value(client, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    found = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0].split()[-1]) if found else 0.0


def test_a_hook_call_is_timed_and_its_cards_and_unmapped_medications_counted(client):
    timed = 'ddi_cds_hook_seconds_count{service="ddi-order-sign",status="200"}'
    curated = 'ddi_cds_cards_total{indicator="warning",source="curated"}'
    notice = 'ddi_cds_cards_total{indicator="info",source="notice"}'
    before = {name: value(client, name) for name in (timed, curated, notice)}
    unmapped_before = value(client, "ddi_cds_unmapped_medications_total")
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN, rid="d1"), medication_request(UNKNOWN_RXCUI, rid="d2")],
        current=[medication_request(IBUPROFEN, rid="c1", status="active")],
    )

    assert client.post("/cds-services/ddi-order-sign", json=body).status_code == 200

    assert value(client, timed) == before[timed] + 1
    assert value(client, curated) == before[curated] + 1  # warfarin + ibuprofen
    assert value(client, notice) == before[notice] + 1  # the medication that was not mapped
    assert value(client, "ddi_cds_unmapped_medications_total") == unmapped_before + 1


def test_a_refused_call_is_timed_under_its_status(client):
    refused = 'ddi_cds_hook_seconds_count{service="ddi-order-sign",status="400"}'
    unknown = 'ddi_cds_hook_seconds_count{service="unknown",status="404"}'
    before = value(client, refused), value(client, unknown)

    assert client.post("/cds-services/ddi-order-sign", json={}).status_code == 400
    assert client.post("/cds-services/no-such", json={}).status_code == 404

    assert (value(client, refused), value(client, unknown)) == (before[0] + 1, before[1] + 1)
