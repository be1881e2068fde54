"""The service's Prometheus metrics, defined once; `GET /metrics` (cds_service.web.metrics)
serves them.

Counters and histograms are prometheus-client objects, so that under gunicorn they add up over
the workers (multi-process mode: `PROMETHEUS_MULTIPROC_DIR`, set by `ddi-cds serve
--production` before any worker starts). Labels are kept to small fixed sets: a label per drug or
per card text would make a time series per value.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
AUDIT_RECORDS = Counter("ddi_cds_audit_records", "Hook calls written to the audit trail")
AUDIT_FAILURES = Counter(
    "ddi_cds_audit_failures", "Hook calls the audit trail could not store (logged instead)"
)
