"""`GET /metrics`: Prometheus text format.

This first set covers the prediction cache and the model: cache hits (local, Redis) and misses,
Redis errors, whether Redis is up, and the loaded model version; and the audit trail's records
written and failed (a failed record is in the error log instead). Values are read from the
process's own state at scrape time (a custom collector), so nothing is counted twice; with
several workers each reports its own (gunicorn's multi-process set-up is the deployment's).
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cds_service.audit import AuditTrail
from cds_service.prediction_cache import PredictionCache
from cds_service.web import runtime

blueprint = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceCollector(Collector):
    def __init__(
        self, cache: PredictionCache, model_version: str | None, audit: AuditTrail
    ) -> None:
        self.cache = cache
        self.model_version = model_version
        self.audit = audit

    def collect(self) -> Iterator[Metric]:
        state = self.cache.state()
        hits = CounterMetricFamily(
            "ddi_cds_prediction_cache_hits", "Pair predictions found in a cache", labels=["level"]
        )
        hits.add_metric(["local"], state.hits_local)
        hits.add_metric(["redis"], state.hits_redis)
        yield hits
        yield CounterMetricFamily(
            "ddi_cds_prediction_cache_misses",
            "Pair predictions the model had to compute",
            value=state.misses,
        )
        yield CounterMetricFamily(
            "ddi_cds_redis_errors", "Redis calls that failed or timed out", value=state.redis_errors
        )
        yield GaugeMetricFamily(
            "ddi_cds_redis_up",
            "1 when the last Redis call succeeded and the breaker is closed",
            value=1.0 if state.redis == "up" else 0.0,
        )
        model = GaugeMetricFamily(
            "ddi_cds_model_loaded", "1 when the DDI model is loaded", labels=["version"]
        )
        model.add_metric([self.model_version or ""], 1.0 if self.model_version else 0.0)
        yield model
        yield CounterMetricFamily(
            "ddi_cds_audit_records", "Hook calls written to the audit trail", self.audit.appended
        )
        yield CounterMetricFamily(
            "ddi_cds_audit_failures",
            "Hook calls the audit trail could not store (logged instead)",
            self.audit.failed,
        )


@blueprint.get("/metrics")
def metrics() -> Response:
    state = runtime()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(state.cache, state.model_version, state.audit))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE)
