"""One hook call, end to end, without HTTP: request body in, CDS Hooks response body out.

This is the seam HAPI's CDS Hooks module draws: the web layer does the protocol (routing,
status codes, CORS, errors), the engine does the clinical work through the pure core
(`protocol` -> `orders` -> `interaction_check` -> `cards`). The FHIR client is an adapter
the web layer passes in (`cds_service.adapters.fhir_client.client_factory`), so the engine is tested
without a network and imports no HTTP library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from cds_service.config import Settings
from cds_service.core.card_detail import LOCAL_ROUTES
from cds_service.core.cards import CardOptions, cards_for
from cds_service.core.deadline import Deadline
from cds_service.core.interaction_check import (
    CheckLimits,
    CheckResult,
    InteractionSource,
    PairOverrides,
    check_interactions,
)
from cds_service.core.mapping import MedicationMapper
from cds_service.core.medication import PrescribedMedication, Role
from cds_service.core.patient_context import read_patient_context
from cds_service.core.predictions import InteractionPredictionSource, PredictionSource, pair_key
from cds_service.protocol.current_medications import gather_current_medications
from cds_service.protocol.fhir_servers import (
    FhirFetchError,
    FhirReader,
    FhirServerPolicy,
    RefusedFhirServer,
)
from cds_service.protocol.hook_request import HookRequest, parse_hook_request
from cds_service.protocol.orders import (
    NOT_TAKEN_STATUSES,
    ORDER_TYPES,
    MedicationReader,
    medication_index,
    relative_reference,
    resources_in,
)
from cds_service.protocol.services import ORDER_SELECT, ORDER_SIGN, ServiceDefinition

if TYPE_CHECKING:  # an adapter over Redis, passed in by the web layer
    from cds_service.adapters.repeat_cards import ShownPairs

FhirClientFactory = Callable[[HookRequest, Deadline], FhirReader]
# Kept back from every budget for what comes after it: curated lookups and the cards
FINISHING_RESERVE_S = 0.1
# The curated lookups stop at the call's deadline, but always have this long: a call that
# queued past its deadline still gets its curated warnings (a few pairs take microseconds),
# while one that carries thousands of pairs stays bounded
CURATED_FLOOR_S = 0.25


@dataclass(frozen=True, slots=True)
class HookOutcome:
    response: dict[str, Any]  # the CDS Hooks response body
    request: HookRequest
    advised: tuple[PrescribedMedication, ...]
    others: tuple[PrescribedMedication, ...]
    result: CheckResult | None
    notes: tuple[str, ...]
    medications_missing: str | None = None  # why not all current medications were read


class CdsEngine:
    def __init__(
        self,
        mapper: MedicationMapper,
        knowledge: InteractionSource,
        settings: Settings,
        fhir_client_factory: FhirClientFactory | None = None,
        card_options: CardOptions | None = None,
        predictions: PredictionSource | None = None,
        shown_pairs: ShownPairs | None = None,
        overrides: PairOverrides | None = None,
        interaction_model: InteractionPredictionSource | None = None,
    ) -> None:
        self.mapper = mapper
        self.interaction_model = interaction_model if settings.interaction_model_cards else None
        self.overrides = overrides
        self.knowledge = knowledge
        self.predictions = predictions
        self.shown_pairs = shown_pairs
        self.settings = settings
        # None: no FHIR server is read (each read fails as a refused server's would)
        self.fhir_client_factory = fhir_client_factory
        self.card_options = card_options or CardOptions(
            max_predicted_cards=settings.prediction_max_cards,
            max_interaction_cards=settings.max_cards,
            interaction_model_indicator="warning" if settings.interaction_model_warning else "info",
        )

    def evaluate(
        self,
        service: ServiceDefinition,
        body: Any,
        explain_url: str | None = None,
        deadline: Deadline | None = None,
        fhir_servers: FhirServerPolicy | None = None,
    ) -> HookOutcome:
        """Raises `RequestError` (400) or `MedicationDataUnavailable` (412). `explain_url`:
        where predicted cards link for the model's explanation (the web layer knows it).
        `deadline`: when the answer is due (default: the settings' deadline from now); what
        cannot be done by then is left out and said on a card. `fhir_servers`: the FHIR servers
        this call may read (the web layer passes the verified token's issuer's); default: any
        https server, and http on loopback in `--no-auth` development."""
        deadline = deadline or Deadline(self.settings.request_deadline_s)
        request = parse_hook_request(body, service)
        limit = self.settings.max_medications
        order_resources = list(resources_in(request.context[service.orders_field], limit + 1))
        truncated = len(order_resources) > limit
        del order_resources[limit:]
        fhir_deadline = deadline.budget(self.settings.fhir_budget_s, FINISHING_RESERVE_S)
        client = (
            self._fhir_client(request, fhir_deadline, fhir_servers) if request.fhir_server else None
        )
        current = gather_current_medications(
            request,
            service,
            client.search if client else None,
            self.settings.no_medication_data,
            limit,
        )
        if client is not None and client.unread and current.complete:
            current = replace(current, complete=False, missing_because="; ".join(client.unread))
        reader = MedicationReader(
            self.mapper,
            medication_index(order_resources + list(current.other_resources)),
            client.read if client else None,
        )
        origin = f"context.{service.orders_field}"
        drafts = [
            reader.read(r, Role.DRAFT, origin)
            for r in order_resources
            if r.get("resourceType") in ORDER_TYPES
        ]
        draft_refs = {d.reference for d in drafts if d.reference}
        room = max(0, limit - len(drafts))
        truncated = truncated or current.truncated or len(current.medications) > room
        current_meds = [
            reader.read(resource, Role.CURRENT, where)
            for resource, where in current.medications[:room]
            if _status(resource) not in NOT_TAKEN_STATUSES
            and _reference(resource) not in draft_refs
        ]
        advised = _advised(drafts, request, service)
        notes = request.notes + current.notes
        if not advised:
            return HookOutcome({"cards": []}, request, (), (), None, notes)
        advised_ids = {id(d) for d in advised}  # identity: equality of records is O(n) each
        others = [d for d in drafts if id(d) not in advised_ids] + current_meds
        result = check_interactions(
            advised,
            others,
            self.knowledge,
            self.settings.min_card_tier,
            self.predictions,
            deadline.budget(self.settings.model_budget_s, FINISHING_RESERVE_S),
            self.overrides,
            CheckLimits(
                max_ingredients=self.settings.max_ingredients,
                max_pairs=self.settings.max_pairs,
                deadline=Deadline(max(deadline.remaining() - FINISHING_RESERVE_S, CURATED_FLOOR_S)),
            ),
            self.interaction_model,
        )
        if self.shown_pairs is not None:
            result = self._without_repeats(request, result)
        if result.model is not None and result.model.not_scored:
            # Not a card (it is no warning): the audit trail and the explanation page say it
            notes += (
                "not scored by the prediction model: "
                + "; ".join(
                    f"{ingredient.name} ({reason})"
                    for ingredient, reason in result.model.not_scored.values()
                ),
            )
        cards = cards_for(
            result,
            medications_checked=current.complete,
            medications_missing_because=current.missing_because,
            medications_dropped_beyond=limit if truncated else None,
            options=replace(
                self.card_options, explain_url=explain_url, patient=_patient_reference(request)
            ),
            context=read_patient_context(
                [*request.prefetch.values(), *request.legacy_prefetch.values()],
                _systemic_ingredients(drafts + current_meds),
                current.complete,
                date.today(),
            ),
        )
        return HookOutcome(
            {"cards": cards},
            request,
            tuple(advised),
            tuple(others),
            result,
            notes,
            current.missing_because,
        )

    def _without_repeats(self, request: HookRequest, result: CheckResult) -> CheckResult:
        """At order-select, remember the pairs shown; at order-sign, drop those shown already."""
        assert self.shown_pairs is not None
        keys = [
            self.shown_pairs.key(request, pair_key(p.ingredient_a, p.ingredient_b))
            for p in result.pairs
        ]
        if request.hook == ORDER_SELECT:
            self.shown_pairs.mark(keys)
            return result
        if request.hook != ORDER_SIGN:
            return result
        seen = self.shown_pairs.seen(keys)
        kept = tuple(p for p, key in zip(result.pairs, keys, strict=True) if key not in seen)
        return replace(result, pairs=kept)

    def _fhir_client(
        self, request: HookRequest, deadline: Deadline, policy: FhirServerPolicy | None
    ) -> FhirReader:
        """The client for the request's `fhirServer`, once the policy allows it; else one that
        fails every read as an unreachable server does (the same answer, and no connection)."""
        if policy is None:
            policy = FhirServerPolicy(http_loopback=self.settings.auth_disabled)
        try:
            policy.check(request.fhir_server or "")
        except FhirFetchError:
            return RefusedFhirServer()
        if self.fhir_client_factory is None:
            return RefusedFhirServer()
        return self.fhir_client_factory(request, deadline)


def _advised(
    drafts: list[PrescribedMedication], request: HookRequest, service: ServiceDefinition
) -> list[PrescribedMedication]:
    if not service.requires_selections:
        return drafts
    selections = {relative_reference(s) for s in request.context.get("selections", [])}
    return [d for d in drafts if d.reference in selections]


def _status(resource: Mapping[str, Any]) -> str | None:
    """The resource's status when it is text (an EHR may send anything there)."""
    status = resource.get("status")
    return status if isinstance(status, str) else None


def _reference(resource: Mapping[str, Any]) -> str | None:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else None


def _patient_reference(request: HookRequest) -> str:
    """ "Patient/123" from context.patientId (some EHRs send the reference itself)."""
    patient = request.patient_id
    return patient if patient.startswith("Patient/") else f"Patient/{patient}"


def _systemic_ingredients(medications: list[PrescribedMedication]) -> dict[str, str]:
    """What the patient takes by a route that reaches the blood (a rule asking whether a
    proton-pump inhibitor or a corticosteroid is taken means a systemic one)."""
    found: dict[str, str] = {}
    for medication in medications:
        if medication.route in LOCAL_ROUTES:
            continue
        for item in medication.mapping.ingredients:
            found[item.ingredient.rxcui] = item.ingredient.name
            if item.moiety is not None:
                found[item.moiety.rxcui] = item.moiety.name
    return found
