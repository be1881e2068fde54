"""Liveness and readiness for load balancers and Kubernetes probes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from cds_service.web.runtime import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready when the drug index, the knowledge and (when switched on) the model are loaded;
    Redis is reported, not required: without it the service answers from its in-process cache
    and the model."""
    state = runtime()
    cache = state.cache.ping()
    body = {
        "status": "ready",
        "drugIndex": {"loaded": True, "version": state.index.version},
        "knowledge": {"loaded": True, "version": state.knowledge.version},
        "model": (
            {"loaded": True, "version": state.model_version}
            if state.model_version
            else {"loaded": False, "detail": "switched off (DDI_CDS_MODEL_ENABLED=false)"}
        ),
        "redis": {"state": cache.redis, **({"detail": cache.detail} if cache.detail else {})},
        "cache": {
            "hitsLocal": cache.hits_local,
            "hitsRedis": cache.hits_redis,
            "misses": cache.misses,
            "redisErrors": cache.redis_errors,
            "rejected": cache.rejected,  # values from Redis that failed their HMAC
        },
    }
    return jsonify(body)
