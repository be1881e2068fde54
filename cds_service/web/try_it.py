"""The try-it page (`GET /`, `POST /`): type medications, mark new orders and current ones, and
see the cards exactly as the service returns them, with the raw request and response.

The form is built into an order-sign request (`cds_service.web.try_it_requests`) and sent through
the same
engine as an EHR's hook call; no EHR token is asked for, because the page carries no patient
(it is off under `--production` unless `DDI_CDS_TRY_IT_PAGE=true`). It runs the engine for
anyone who reaches it, so its requests share the open endpoints' rate limit, a check takes at
most `try_it_max_entries` medications, and at most `try_it_max_concurrent` run at once
(`cds_service.web.open_limits`). `GET /medication-names?q=` feeds the autocomplete from the drug
index.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from cds_service.core.codes import normalize_name
from cds_service.core.deadline import Deadline
from cds_service.core.suggestions import Suggestion, suggester_for
from cds_service.protocol.services import ORDER_SIGN, SERVICES
from cds_service.web.open_limits import busy, limits, rate_limited
from cds_service.web.pages import page_response
from cds_service.web.runtime import runtime
from cds_service.web.try_it_requests import (
    Entry,
    EntryError,
    concept,
    entries_from_form,
    order_sign_request,
    picked_label,
)

blueprint = Blueprint("try_it", __name__)
log = logging.getLogger("cds_service.web")
ROWS = 6  # empty rows on a new form (JavaScript adds more)
ROWS_KEPT = 100  # rows of a refused form shown back
MAX_SUGGESTIONS = 15
ORDER_SIGN_SERVICE = next(s for s in SERVICES if s.hook == ORDER_SIGN)  # what an EHR signing calls
EXAMPLE = [("warfarin [RxNorm 11289]", "new"), ("ibuprofen [RxNorm 5640]", "current")]


@blueprint.before_request
def switched_on() -> Response | None:
    if not runtime().settings.try_it_enabled:
        abort(404)
    return rate_limited()


@blueprint.get("/")
def form() -> Response:
    rows = EXAMPLE if request.args.get("example") else []
    return _page(rows=_padded(rows))


@blueprint.post("/")
def check() -> Response:
    texts, roles = request.form.getlist("medication"), request.form.getlist("role")
    rows = list(zip(texts, roles, strict=False))
    most = runtime().settings.try_it_max_entries
    try:
        entries = entries_from_form(texts, roles)
        if len(entries) > most:
            raise EntryError(f"the try-it page checks at most {most} medications at a time")
    except EntryError as error:
        return _page(rows=_padded(rows[:ROWS_KEPT]), error=str(error), status=400)
    if not limits().try_it_checks.acquire(blocking=False):
        return busy()
    try:
        return _checked(entries, rows)
    finally:
        limits().try_it_checks.release()


def _checked(entries: list[Entry], rows: list[tuple[str, str]]) -> Response:
    body = order_sign_request(entries)
    deadline = Deadline(runtime().settings.request_deadline_s)
    outcome = runtime().engine.evaluate(
        ORDER_SIGN_SERVICE,
        body,
        explain_url=url_for("explain.explain", _external=True),
        deadline=deadline,
    )
    log.info("try-it page: %d medications, %d cards", len(entries), len(outcome.response["cards"]))
    return _page(
        rows=_padded(rows),
        unmapped=_unmapped_with_suggestions(entries),
        cards=outcome.response["cards"],
        request_json=json.dumps(body, indent=2, ensure_ascii=False),
        response_json=json.dumps(outcome.response, indent=2, ensure_ascii=False),
    )


@blueprint.get("/medication-names")
def medication_names() -> Response:
    """Autocomplete: names starting with `q`, each with the label the form reads back."""
    prefix = normalize_name(request.args.get("q", "")[:100])
    if len(prefix) < 2:
        return jsonify([])
    index = runtime().index
    suggestions, seen = [], set()
    for _, rxcui, kind in index.names_starting(prefix, limit=MAX_SUGGESTIONS * 3):
        concept = index.concept(rxcui)
        if concept is None or rxcui in seen:
            continue
        seen.add(rxcui)
        suggestions.append(
            {"label": picked_label(concept.name, rxcui), "kind": kind, "tty": concept.tty}
        )
        if len(suggestions) == MAX_SUGGESTIONS:
            break
    return jsonify(suggestions)


def _unmapped_with_suggestions(entries: list[Entry]) -> list[tuple[str, list[Suggestion]]]:
    """Each line the service could not map, with the known names closest to it: for the person
    at the form only; the hook's answer (the cards) never guesses."""
    mapper = runtime().engine.mapper
    return [
        (entry.text, suggester_for(mapper).suggest(entry.text))
        for entry in entries
        if not mapper.map_concept(concept(entry.text)).is_mapped
    ]


def _padded(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What was typed, then blank rows up to ROWS (at least one): the first a new order when
    nothing typed is, the rest current medications."""
    filled = [(text, role) for text, role in rows if text.strip()]
    blanks = max(1, ROWS - len(filled))
    first = "new" if all(role != "new" for _, role in filled) else "current"
    return filled + [("", first)] + [("", "current")] * (blanks - 1)


def _page(status: int = 200, **values: object) -> Response:
    return page_response(render_template("try_it.html", **values), status)
