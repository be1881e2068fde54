"""`GET /openapi.json`: the service's OpenAPI 3.1 description
(cds_service/protocol/schemas/openapi.json).

The file refers to the CDS Hooks JSON Schemas kept beside it (`"$ref": "response.json"`) so that
they are written once; a client fetching the description over HTTP cannot follow such a relative
reference (it would ask this server for /response.json), so the served document has each of them
bundled in under `components/schemas`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from flask import Blueprint, Response

from cds_service.protocol.schemas import SCHEMA_DIR, load_schema

blueprint = Blueprint("openapi", __name__)
SOURCE = SCHEMA_DIR / "openapi.json"
COMPONENTS_PREFIX = "#/components/schemas/"


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return Response(_served_text(), mimetype="application/json")


def openapi_document() -> dict[str, Any]:
    """The description as served: self-contained, every `$ref` local to the document."""
    document: dict[str, Any] = json.loads(_served_text())
    return document


@cache
def _served_text() -> str:
    document = json.loads(SOURCE.read_text(encoding="utf-8"))
    schemas: dict[str, Any] = document["components"]["schemas"]
    for component, schema in list(schemas.items()):
        target = schema.get("$ref", "")
        if target.endswith(".json") and "/" not in target and len(schema) == 1:
            schemas.update(_bundled(component, load_schema(target.removesuffix(".json"))))
    return json.dumps(document, ensure_ascii=False)


def _bundled(component: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A 2020-12 schema file as OpenAPI components: the root under `component`, each of its
    `$defs` under `component.Name`. `$id` must go: kept, it would make the rewritten
    `#/components/...` references resolve against the schema's URN instead of the document."""
    definitions: dict[str, Any] = schema.pop("$defs", {})
    for keyword in ("$schema", "$id"):
        schema.pop(keyword, None)

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    f"{COMPONENTS_PREFIX}{component}.{item[len('#/$defs/') :]}"
                    if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/")
                    else rewrite(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    bundled = {component: rewrite(schema)}
    bundled.update({f"{component}.{name}": rewrite(d) for name, d in definitions.items()})
    return bundled
