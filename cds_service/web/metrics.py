"""`GET /metrics`: Prometheus text format.

The counters and histograms of `cds_service.operations.metrics` (hook latency by service and
status, cards by
indicator and source, unmapped medications, incomplete checks, model time, cache lookups, Redis
errors, audit records), summed over gunicorn's workers when `PROMETHEUS_MULTIPROC_DIR` is set;
and two gauges read from the answering process at scrape time: whether Redis is up and which model
is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cds_service.adapters.prediction_cache import PredictionCache
from cds_service.web.runtime import runtime

blueprint = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ProcessGauges(Collector):
    def __init__(self, cache: PredictionCache, model_version: str | None) -> None:
        self.cache = cache
        self.model_version = model_version

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "ddi_cds_redis_up",
            "1 when the last Redis call succeeded and the breaker is closed",
            value=1.0 if self.cache.state().redis == "up" else 0.0,
        )
        model = GaugeMetricFamily(
            "ddi_cds_model_loaded", "1 when the DDI model is loaded", labels=["version"]
        )
        model.add_metric([self.model_version or ""], 1.0 if self.model_version else 0.0)
        yield model


@blueprint.get("/metrics")
def metrics() -> Response:
    state = runtime()
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(ProcessGauges(state.cache, state.model_version))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared)
    else:
        shared = REGISTRY
    return Response(generate_latest(shared) + generate_latest(gauges), content_type=CONTENT_TYPE)
