"""Liveness and readiness for load balancers and Kubernetes probes."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify

from cds_service.web import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready when the drug index and the knowledge are loaded; Redis is reported, not required
    (without it the service answers from its in-process cache)."""
    state = runtime()
    body = {
        "status": "ready",
        "drugIndex": {"loaded": True, "version": state.index.version},
        "knowledge": {"loaded": True, "version": state.knowledge.version},
        "model": {
            "loaded": False,
            "detail": "no predictive model in this release: cards carry curated evidence only",
        },
        "redis": _redis_state(state.settings.redis_url, state.settings.redis_timeout_s),
    }
    return jsonify(body)


def _redis_state(url: str, timeout_s: float) -> dict:
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return {"state": "down", "detail": f"{type(error).__name__}: using the in-process cache"}
    finally:
        client.close()
    return {"state": "up"}
