"""`GET /explain?a=<rxcui>&b=<rxcui>[&effect=<side effect>]`: why the model scores a pair as it
does, as JSON (the page for people comes with the try-it pages). Every predicted card links here.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from cds_service.codes import is_rxcui
from cds_service.protocol import RequestError
from cds_service.web import runtime

blueprint = Blueprint("explain", __name__)
MAX_PARAMETER = 200


@blueprint.get("/explain")
def explain() -> Response:
    state = runtime()
    predictions = state.engine.predictions
    if predictions is None:
        raise RequestError("the prediction model is switched off on this server", status=404)
    ingredients = []
    for name in ("a", "b"):
        rxcui = request.args.get(name, "")
        if not is_rxcui(rxcui):
            raise RequestError(
                f"parameter {name!r} must be an RxNorm ingredient code (RXCUI), got {rxcui[:40]!r}",
                expression=name,
            )
        ingredient = state.index.ingredient(rxcui)
        if ingredient is None:
            raise RequestError(f"RxNorm {rxcui} is not an ingredient the service knows", status=404)
        ingredients.append(ingredient)
    effect = request.args.get("effect") or None
    if effect is not None and len(effect) > MAX_PARAMETER:
        raise RequestError("parameter 'effect' is too long", expression="effect")
    try:
        return jsonify(predictions.explain(*ingredients, side_effect=effect))
    except LookupError as error:
        raise RequestError(str(error), status=404) from None
