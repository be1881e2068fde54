"""The service's Prometheus metrics, defined once; `GET /metrics` (cds_service.web.metrics)
serves them.

Counters and histograms are prometheus-client objects, so that under gunicorn they add up over
the workers (multi-process mode: `PROMETHEUS_MULTIPROC_DIR`, set by `ddi-cds serve
--production` before any worker starts). Labels are kept to small fixed sets: a label per drug or
per card text would make a time series per value.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Hook calls take 5–50 ms warm and up to the 2 s deadline when the FHIR server is slow.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

HOOK_SECONDS = Histogram(
    "ddi_cds_hook_seconds",
    "Time from the hook handler's start to the answer, by service and status",
    ["service", "status"],
    buckets=LATENCY_BUCKETS,
)
CARDS = Counter(
    "ddi_cds_cards",
    "Cards served, by indicator and kind of source (curated, model, notice)",
    ["indicator", "source"],
)
UNMAPPED = Counter(
    "ddi_cds_unmapped_medications", "Medications that could not be mapped to ingredients"
)
INCOMPLETE = Counter(
    "ddi_cds_incomplete_checks",
    "Answers that said a check was incomplete, by reason",
    ["reason"],  # fhir (current medications not all read), model (pairs not scored in time)
)
MODEL_SECONDS = Histogram(
    "ddi_cds_model_seconds",
    "Time the model spent scoring the pairs a request did not find cached",
    buckets=LATENCY_BUCKETS,
)
MODEL_PAIRS = Counter("ddi_cds_model_pairs", "Pairs scored by the model (cache misses)")
CACHE_LOOKUPS = Counter(
    "ddi_cds_prediction_cache_lookups",
    "Pair predictions looked up, by where they were found (local, redis, miss)",
    ["result"],
)
REDIS_ERRORS = Counter("ddi_cds_redis_errors", "Redis calls that failed or timed out")
# Nonzero means someone writes into the service's Redis (or its key changed): worth an alert
CACHE_REJECTED = Counter(
    "ddi_cds_cache_rejected",
    "Values read from Redis whose MAC did not verify, ignored, by store",
    ["store"],  # prediction (pair predictions), shown_card (repeat-card marks)
)
AUDIT_RECORDS = Counter("ddi_cds_audit_records", "Hook calls written to the audit trail")
AUDIT_FAILURES = Counter(
    "ddi_cds_audit_failures", "Hook calls the audit trail could not store (logged instead)"
)
UNAUTHORIZED = Counter(
    "ddi_cds_unauthorized",
    "Calls refused with 401 (counted here, not stored in the audit trail), by endpoint",
    ["endpoint"],  # hook, feedback
)
# The audit chain's head, so that a trail rewritten on its volume (rows dropped, or the chain
# recomputed) is found against values kept elsewhere. A hash is no label (a series per value):
# its first 48 bits are a number, exact in a float; the log line has the whole hash.
AUDIT_CHAIN_ROWS = Gauge(
    "ddi_cds_audit_chain_rows",
    "Rows in the audit trail's chain, as last written or read by the service",
    multiprocess_mode="max",
)
AUDIT_CHAIN_HEAD_ROW = Gauge(
    "ddi_cds_audit_chain_head_row",
    "Row of the audit chain's last exported head (at start, then every DDI_CDS_AUDIT_HEAD_EVERY)",
    multiprocess_mode="mostrecent",
)
AUDIT_CHAIN_HEAD_HASH48 = Gauge(
    "ddi_cds_audit_chain_head_hash48",
    "First 48 bits of that row's chain hash as an integer (printf %012x gives its hex prefix)",
    multiprocess_mode="mostrecent",
)
REPLAY_FALLBACKS = Counter(
    "ddi_cds_replay_store_fallbacks",
    "Calls whose token replay check used the process's memory: Redis did not answer",
)
