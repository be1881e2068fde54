"""`GET /explain?a=<rxcui>&b=<rxcui>[&effect=<side effect>]`: why a pair is flagged. Every
predicted card links here.

A browser (asking for HTML) gets the page for clinicians: both drugs and how they map, the
curated evidence with its sources, and the model's side effects and driving genes as server-drawn
SVG charts. It works with JavaScript off and loads nothing from elsewhere. An API client (JSON
preferred, or `format=json`) gets the model's explanation as JSON, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, render_template, request
from markupsafe import Markup

from cds_service.core.codes import is_rxcui
from cds_service.core.medication import Ingredient
from cds_service.core.prediction_cards import CAUTION
from cds_service.protocol.hook_request import RequestError
from cds_service.web.charts import EffectBar, GeneBar, gene_chart, side_effect_chart
from cds_service.web.open_limits import limits, rate_limited
from cds_service.web.pages import page_response, wants_html
from cds_service.web.runtime import Runtime, runtime

if TYPE_CHECKING:
    from cds_service.adapters.model_predictions import ModelPredictions

blueprint = Blueprint("explain", __name__)
blueprint.before_request(rate_limited)  # open to anyone: see cds_service.web.open_limits
MAX_PARAMETER = 200


@blueprint.get("/explain")
def explain() -> Response:
    state = runtime()
    html = wants_html() and request.args.get("format") != "json"
    ingredients = [_ingredient(name) for name in ("a", "b")]
    effect = request.args.get("effect") or None
    if effect is not None and len(effect) > MAX_PARAMETER:
        raise RequestError("parameter 'effect' is too long", expression="effect")
    predictions = state.explanations
    model: dict[str, Any] | None = None
    model_missing = ""
    if predictions is None:
        model_missing = "the prediction model is switched off on this server"
    else:
        model, model_missing = limits().explanations.get_or_compute(
            (predictions.version, *(i.rxcui for i in ingredients), effect),
            lambda: _explained(predictions, ingredients, effect),
        )
    if not html:
        if effect is not None and model is None:  # that side effect was asked for by name
            raise RequestError(model_missing, status=404)
        return jsonify(_json_answer(state, ingredients, model, model_missing))
    a, b = ingredients
    curated = state.knowledge.interactions_for([a.rxcui], [b.rxcui])
    predicted, predicted_missing = _predicted_interaction(state, ingredients)
    return page_response(
        render_template(
            "explain.html",
            a=a,
            b=b,
            curated=curated,
            model=model,
            model_missing=model_missing,
            predicted=predicted,
            predicted_missing=predicted_missing,
            charts=_charts(model) if model else None,
            effect_links=_effect_links(a, b, model) if model else [],
            caution=CAUTION,
        )
    )


def _json_answer(
    state: Runtime, ingredients: list[Ingredient], model: dict[str, Any] | None, model_missing: str
) -> dict[str, Any]:
    """The side-effect model's explanation and the interaction model's prediction, each with
    why it is absent; 404 when neither model can describe the pair."""
    predicted, predicted_missing = _predicted_interaction(state, ingredients)
    if model is None and predicted is None:
        raise RequestError(f"{model_missing}; {predicted_missing}", status=404)
    answer: dict[str, Any] = (
        dict(model) if model is not None else {"sideEffectsUnavailable": model_missing}
    )
    answer["predicted_interaction"] = predicted
    if predicted is None:
        answer["predicted_interaction_unavailable"] = predicted_missing
    return answer


def _predicted_interaction(
    state: Runtime, ingredients: list[Ingredient]
) -> tuple[dict[str, Any] | None, str]:
    if state.interactions is None:
        return None, "the interaction model is switched off on this server"
    a, b = ingredients
    return state.interactions.predict(a, b)


def _explained(
    predictions: ModelPredictions, ingredients: list[Ingredient], effect: str | None
) -> tuple[dict[str, Any] | None, str]:
    """The model's explanation, or why there is none (both kept: a pair it cannot score costs
    as much to find out again)."""
    try:
        a, b = ingredients
        return predictions.explain(a, b, side_effect=effect), ""
    except LookupError as error:
        return None, str(error)


def _ingredient(name: str) -> Ingredient:
    rxcui = request.args.get(name, "")
    if not is_rxcui(rxcui):
        raise RequestError(
            f"parameter {name!r} must be an RxNorm ingredient code (RXCUI), got {rxcui[:40]!r}",
            expression=name,
        )
    ingredient = runtime().index.ingredient(rxcui)
    if ingredient is None:
        raise RequestError(f"RxNorm {rxcui} is not an ingredient the service knows", status=404)
    return ingredient


def _charts(model: dict[str, Any]) -> dict[str, Markup]:
    serious = model["seriousSideEffects"]
    effects = [EffectBar(e["name"], e["probability"], e["tier"]) for e in serious]
    genes = [GeneBar(g["symbol"] or g["entrez"], g["contribution"]) for g in model["genes"]]
    return {  # the chart module escapes every text it draws
        "effects": Markup(side_effect_chart(effects)),  # noqa: S704
        "genes": Markup(gene_chart(genes, model["sideEffect"]["name"])),  # noqa: S704
    }


def _effect_links(a: Ingredient, b: Ingredient, model: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**effect, "href": "?" + urlencode({"a": a.rxcui, "b": b.rxcui, "effect": effect["name"]}),
         "current": effect["name"] == model["sideEffect"]["name"]}
        for effect in model["seriousSideEffects"]
    ]  # fmt: skip
