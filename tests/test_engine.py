"""The hook pipeline without HTTP: which pairs are checked, and what the cards say."""

import copy
from dataclasses import replace

import pytest

from cds_service.config import NoMedicationDataPolicy, Settings
from cds_service.core.knowledge import Severity, default_knowledge_base
from cds_service.core.medication import READ_AS_LENIENT
from cds_service.protocol.current_medications import MedicationDataUnavailable
from cds_service.protocol.engine import CdsEngine
from cds_service.protocol.hook_request import RequestError
from cds_service.protocol.services import service_by_id
from cds_service.testing.hook_requests import (
    fhir_authorization,
    hook_request,
    medication_request,
    rxnorm,
)
from cds_service.testing.rxcui import (
    ACETAMINOPHEN,
    CYCLOSPORINE,
    DIGOXIN,
    IBUPROFEN_200MG,
    WARFARIN_1MG,
)

SIGN, SELECT = service_by_id("ddi-order-sign"), service_by_id("ddi-order-select")
EHR_FHIR = "https://ehr.example/fhir"  # never reached: the tests that name it fake the client


class ValidatingEngine(CdsEngine):
    """The engine, with every response it gives checked against the CDS Hooks schema."""

    validate = None

    def evaluate(self, service, body):
        outcome = super().evaluate(service, body)
        ValidatingEngine.validate("response", outcome.response)
        return outcome


@pytest.fixture(scope="module", autouse=True)
def _validate_responses(schema_validator):
    ValidatingEngine.validate = staticmethod(schema_validator)


@pytest.fixture(scope="module")
def engine(mapper):
    return ValidatingEngine(mapper, default_knowledge_base(), Settings())


def pairs(outcome) -> set[frozenset]:
    return {frozenset((p.ingredient_a.name, p.ingredient_b.name)) for p in outcome.result.pairs}


def test_order_sign_checks_drafts_against_each_other_and_current(engine):
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN_1MG, rid="w"), medication_request(DIGOXIN, rid="d")],
        current=[
            medication_request(IBUPROFEN_200MG, rid="i", status="active"),
            medication_request(CYCLOSPORINE, rid="c", status="active"),
        ],
    )
    outcome = engine.evaluate(SIGN, body)
    assert pairs(outcome) == {
        frozenset({"warfarin", "ibuprofen"}),
        frozenset({"digoxin", "cyclosporine"}),
    }
    assert len(outcome.response["cards"]) == 2


def test_order_select_advises_only_about_the_selection(engine):
    drafts = [medication_request(DIGOXIN, rid="d"), medication_request(WARFARIN_1MG, rid="w")]
    current = [
        medication_request(IBUPROFEN_200MG, rid="i", status="active"),
        medication_request(CYCLOSPORINE, rid="c", status="active"),
    ]
    outcome = engine.evaluate(SELECT, hook_request("order-select", drafts, current=current))
    # warfarin + ibuprofen is real but warfarin is not the selected order
    assert pairs(outcome) == {frozenset({"digoxin", "cyclosporine"})}


def test_a_pair_is_one_card_however_many_orders_carry_it(engine):
    drafts = [
        medication_request(WARFARIN_1MG, rid="w"),
        medication_request(IBUPROFEN_200MG, rid="i1"),
    ]
    current = [
        medication_request(IBUPROFEN_200MG, rid="i2", status="active"),
        medication_request("5640", rid="i3", status="active"),
    ]
    outcome = engine.evaluate(SIGN, hook_request("order-sign", drafts, current=current))
    (pair,) = outcome.result.pairs
    assert {m.reference for m in pair.medications} == {
        "MedicationRequest/w",
        "MedicationRequest/i1",
        "MedicationRequest/i2",
        "MedicationRequest/i3",
    }
    assert len(outcome.response["cards"]) == 1


def test_combination_product_ingredients_are_not_paired_with_each_other(engine):
    # lisinopril + hydrochlorothiazide is graded "précaution d'emploi", yet one tablet combines them
    combined = medication_request("197885", rid="s")  # hydrochlorothiazide 12.5 / lisinopril 10
    outcome = engine.evaluate(SIGN, hook_request("order-sign", [combined], current=[]))
    assert outcome.result.pairs == () and outcome.response == {"cards": []}
    lithium = medication_request("6448", rid="n", status="active")  # lithium IN
    outcome = engine.evaluate(SIGN, hook_request("order-sign", [combined], current=[lithium]))
    assert pairs(outcome) == {
        frozenset({"hydrochlorothiazide", "lithium"}),
        frozenset({"lisinopril", "lithium"}),
    }


def test_an_intended_combination_sold_as_one_product_makes_no_card_across_orders(engine):
    """Losartan and hydrochlorothiazide ordered apart: ANSM's precaution (moderate) stands, but
    the two are sold together (Hyzaar's generic), so it makes no card."""
    body = hook_request(
        "order-sign",
        [medication_request("979492", rid="l")],  # losartan potassium 50 MG Oral Tablet
        current=[medication_request("310798", rid="h", status="active")],  # HCTZ 25 MG
    )
    outcome = engine.evaluate(SIGN, body)
    assert outcome.response == {"cards": []}


def test_stopped_and_entered_in_error_medications_are_not_current(engine):
    current = [
        medication_request(IBUPROFEN_200MG, rid="i", status="stopped"),
        medication_request(IBUPROFEN_200MG, rid="j", status="entered-in-error"),
    ]
    body = hook_request("order-sign", [medication_request(WARFARIN_1MG, rid="w")], current=current)
    assert engine.evaluate(SIGN, body).response == {"cards": []}


def test_min_tier_is_configurable(mapper):
    strict = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(min_card_tier=Severity.MAJOR)
    )
    drafts = [medication_request(DIGOXIN, rid="d")]
    current = [medication_request(CYCLOSPORINE, rid="c", status="active")]
    body = hook_request("order-sign", drafts, current=current)
    assert strict.evaluate(SIGN, body).response == {"cards": []}  # moderate only
    everything = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(min_card_tier=Severity.MINOR)
    )
    body = hook_request(
        "order-sign",
        [medication_request(ACETAMINOPHEN, rid="a")],
        current=[medication_request(WARFARIN_1MG, rid="w", status="active")],
    )
    assert len(everything.evaluate(SIGN, body).response["cards"]) >= 1


@pytest.mark.parametrize(
    ("severity", "indicator"),
    [(Severity.MAJOR, "warning"), (Severity.MODERATE, "info")],
)
def test_indicator_follows_the_most_severe_record(engine, severity, indicator):
    pair = {
        Severity.MAJOR: (WARFARIN_1MG, IBUPROFEN_200MG),
        Severity.MODERATE: (DIGOXIN, CYCLOSPORINE),
    }
    a, b = pair[severity]
    body = hook_request(
        "order-sign",
        [medication_request(a, rid="a")],
        current=[medication_request(b, rid="b", status="active")],
    )
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert card["indicator"] == indicator


def test_contraindicated_pair_is_critical_with_one_recommended_removal(engine):
    # sildenafil + nitroglycerin: contraindicated in the ANSM thesaurus
    body = hook_request(
        "order-sign",
        [medication_request("136411", rid="s")],
        current=[medication_request("4917", rid="n", status="active")],
    )
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert card["indicator"] == "critical"
    assert [s.get("isRecommended") for s in card["suggestions"]] == [True]


def test_card_detail_traces_source_severity_management_and_mapping(engine):
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN_1MG, rid="w")],
        current=[medication_request(IBUPROFEN_200MG, rid="i", status="active")],
    )
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    detail = card["detail"]
    # the card speaks from the record with its own US advice; the other sources are named on
    # one line with their own grades (their texts are on the explanation page)
    assert card["source"]["label"].startswith("DDI CDS reviewed rules")
    assert card["source"]["url"].startswith("https://")
    assert "links" not in card  # no explanation page served: no link
    assert detail.startswith("**Major interaction:** ")
    assert "**What to do:** Avoid ibuprofen; use acetaminophen" in detail
    sources = next(line for line in detail.split("\n") if line.startswith("**Sources:**"))
    assert "ANSM thesaurus 2020: Not recommended" in sources  # "Association DECONSEILLEE"
    assert "DDI CDS rule anticoagulant-nsaid, from US labelling: major" in sources
    assert "*RxNorm 855288* (draft order MedicationRequest/w) → warfarin (RxNorm 11289)" in detail
    assert "*RxNorm 310965* (current medication MedicationRequest/i) → ibuprofen" in detail
    assert "read as" not in detail  # said only when not read as validated FHIR R4
    assert len(detail) < 1200
    assert {r["display"] for r in card["overrideReasons"]} and all(
        r["system"] and r["code"] for r in card["overrideReasons"]
    )


def test_ehr_text_cannot_inject_markdown(engine):
    draft = medication_request(WARFARIN_1MG, rid="w")
    draft["medicationCodeableConcept"]["text"] = "[click](http://evil.example) *x*"
    body = hook_request(
        "order-sign",
        [draft],
        current=[medication_request(IBUPROFEN_200MG, rid="i", status="active")],
    )
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert "\\[click\\](http://evil.example) \\*x\\*" in card["detail"]


def test_unmapped_medications_get_one_info_card(engine):
    unknown = medication_request("99999999", rid="u")
    weird = {
        "resourceType": "MedicationRequest",
        "id": "t",
        "status": "active",
        "medicationCodeableConcept": {"text": "grandma's herbal tea"},
    }
    body = hook_request("order-sign", [unknown], current=[weird])
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert card["indicator"] == "info"
    assert card["summary"].startswith("2 medications could not be checked")
    assert "RxNorm code 99999999 is not in" in card["detail"]
    assert "not checked" in card["detail"]


def test_non_medication_orders_are_ignored(engine):
    nutrition = {"resourceType": "NutritionOrder", "id": "n", "status": "draft"}
    body = hook_request("order-sign", [nutrition], current=[])
    assert engine.evaluate(SIGN, body).response == {"cards": []}


def test_contained_and_bundled_medications_are_followed(engine):
    contained = medication_request(
        None,
        rid="w",
        contained=[{"resourceType": "Medication", "id": "m", "code": rxnorm(WARFARIN_1MG)}],
        medicationReference={"reference": "#m"},
    )
    in_bundle = medication_request(
        None, rid="i", status="active", medicationReference={"reference": "Medication/ibu"}
    )
    body = hook_request("order-sign", [contained], current=[in_bundle])
    body["prefetch"]["medicationRequests"]["entry"].append(
        {"resource": {"resourceType": "Medication", "id": "ibu", "code": rxnorm(IBUPROFEN_200MG)}}
    )
    outcome = engine.evaluate(SIGN, body)
    assert pairs(outcome) == {frozenset({"warfarin", "ibuprofen"})}


def test_stu3_and_dstu2_shapes_are_read_leniently(engine):
    dstu2 = {
        "resourceType": "MedicationOrder",
        "id": "w",
        "status": "draft",
        "medicationCodeableConcept": rxnorm(WARFARIN_1MG),
        "dosageInstruction": [{"timing": {"repeat": {"periodUnits": "d"}}}],
    }
    body = hook_request(
        "order-sign",
        [dstu2],
        current=[medication_request(IBUPROFEN_200MG, rid="i", status="active")],
    )
    outcome = engine.evaluate(SIGN, body)
    (draft,) = outcome.advised
    assert draft.read_as == READ_AS_LENIENT and draft.reference == "MedicationOrder/w"
    assert pairs(outcome) == {frozenset({"warfarin", "ibuprofen"})}


def test_null_prefetch_means_no_current_medications(engine):
    body = hook_request("order-sign", [medication_request(WARFARIN_1MG, rid="w")])
    body["prefetch"] = {"medicationRequests": None, "medicationStatements": None}
    assert engine.evaluate(SIGN, body).response == {"cards": []}


def test_absent_prefetch_without_fhir_server_follows_the_policy(mapper, engine):
    body = hook_request("order-sign", [medication_request(WARFARIN_1MG, rid="w")])
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert card["summary"].startswith("Current medications not available")
    strict = ValidatingEngine(
        mapper,
        default_knowledge_base(),
        Settings(no_medication_data=NoMedicationDataPolicy.PRECONDITION_FAILED),
    )
    with pytest.raises(MedicationDataUnavailable, match="no fhirServer"):
        strict.evaluate(SIGN, body)


class RecordingClient:
    def __init__(self, results: dict[str, list] | Exception):
        self.results, self.queries, self.unread = results, [], []

    def search(self, query):
        self.queries.append(query)
        if isinstance(self.results, Exception):
            raise self.results
        return self.results[query.split("?")[0]]

    def read(self, reference):
        raise AssertionError("no read expected")


def test_operation_outcome_in_prefetch_is_not_data_and_is_fetched(mapper):
    client = RecordingClient(
        {
            "MedicationRequest": [medication_request(IBUPROFEN_200MG, rid="i", status="active")],
            "MedicationStatement": [],
        }
    )
    engine = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(), lambda request, deadline: client
    )
    body = hook_request(
        "order-sign", [medication_request(WARFARIN_1MG, rid="w")], fhir_server=EHR_FHIR
    )
    body["prefetch"] = {"medicationRequests": {"resourceType": "OperationOutcome", "issue": []}}
    outcome = engine.evaluate(SIGN, body)
    assert client.queries == [
        "MedicationRequest?patient=p1&status=active",
        "MedicationStatement?patient=p1&status=active",
    ]
    assert pairs(outcome) == {frozenset({"warfarin", "ibuprofen"})}


def test_failed_fetch_is_precondition_failed(mapper):
    client = RecordingClient(RuntimeError("the FHIR server answered HTTP 401"))
    engine = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(), lambda request, deadline: client
    )
    body = hook_request(
        "order-sign", [medication_request(WARFARIN_1MG, rid="w")], fhir_server=EHR_FHIR
    )
    with pytest.raises(MedicationDataUnavailable, match="HTTP 401"):
        engine.evaluate(SIGN, body)


def test_patient_id_is_url_encoded_into_the_template(mapper):
    client = RecordingClient({"MedicationRequest": [], "MedicationStatement": []})
    engine = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(), lambda request, deadline: client
    )
    body = hook_request(
        "order-sign", [medication_request(WARFARIN_1MG, rid="w")], fhir_server=EHR_FHIR
    )
    body["context"]["patientId"] = "a&b=c"
    engine.evaluate(SIGN, body)
    assert client.queries[0] == "MedicationRequest?patient=a%26b%3Dc&status=active"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("hook"), "hook must be a non-empty string"),
        (lambda b: b.update(hook="patient-view"), "answers the 'order-sign' hook"),
        (lambda b: b.pop("hookInstance"), "hookInstance must be"),
        (lambda b: b.update(context="x"), "context must be a JSON object"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].update(draftOrders=7), "context.draftOrders must be a FHIR Bundle"),
        (lambda b: b.update(fhirServer="ftp://x"), "fhirServer must be an http(s) URL"),
        (
            lambda b: b.update(fhirAuthorization=fhir_authorization("t")),
            "cds-r-1",
        ),
        (lambda b: b.update(prefetch=[]), "prefetch must be a JSON object"),
    ],
)
def test_bad_requests_say_what_is_wrong(engine, change, message):
    body = hook_request("order-sign", [medication_request(WARFARIN_1MG, rid="w")], current=[])
    change(body)
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.evaluate(SIGN, body)


def test_order_select_requires_selections(engine):
    body = hook_request("order-select", [medication_request(WARFARIN_1MG, rid="w")], current=[])
    body["context"].pop("selections")
    with pytest.raises(RequestError, match="selections"):
        engine.evaluate(SELECT, body)


def test_engine_never_mutates_the_request(engine):
    body = hook_request(
        "order-sign",
        [medication_request(WARFARIN_1MG, rid="w")],
        current=[medication_request(IBUPROFEN_200MG, rid="i", status="active")],
    )
    before = copy.deepcopy(body)
    engine.evaluate(SIGN, body)
    assert body == before


def test_medication_limit_is_applied(mapper):
    small = ValidatingEngine(
        mapper, default_knowledge_base(), replace(Settings(), max_medications=3)
    )
    drafts = [medication_request(WARFARIN_1MG, rid=f"w{n}") for n in range(10)]
    outcome = small.evaluate(SIGN, hook_request("order-sign", drafts, current=[]))
    assert len(outcome.advised) == 3


def test_an_empty_prefetched_bundle_means_no_current_medications(mapper):
    """The EHR prefetched its MedicationRequests (none) and left MedicationStatement out: the
    patient takes nothing else, so no FHIR query and no "check incomplete" card."""
    client = RecordingClient({"MedicationRequest": [], "MedicationStatement": []})
    engine = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(), lambda request, deadline: client
    )
    for fhir_server in ({"fhir_server": EHR_FHIR}, {}):
        body = hook_request(
            "order-sign", [medication_request(WARFARIN_1MG, rid="w")], **fhir_server
        )
        body["prefetch"] = {"medicationRequests": {"resourceType": "Bundle", "type": "searchset"}}
        outcome = engine.evaluate(SIGN, body)
        assert outcome.response == {"cards": []}
        assert client.queries == []
        assert any("medicationStatements not prefetched" in note for note in outcome.notes)


def test_an_operation_outcome_beside_a_bundle_is_still_fetched(mapper):
    client = RecordingClient({"MedicationRequest": [], "MedicationStatement": []})
    engine = ValidatingEngine(
        mapper, default_knowledge_base(), Settings(), lambda request, deadline: client
    )
    body = hook_request(
        "order-sign", [medication_request(WARFARIN_1MG, rid="w")], fhir_server=EHR_FHIR
    )
    body["prefetch"] = {
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset"},
        "medicationStatements": {"resourceType": "OperationOutcome", "issue": []},
    }
    engine.evaluate(SIGN, body)
    assert client.queries == ["MedicationStatement?patient=p1&status=active"]


def test_a_pack_component_with_no_known_ingredient_is_said_not_checked(engine):
    """{24 avutometinib / 42 defactinib} pack: defactinib is checked, avutometinib (no RxNorm
    ingredient in the index) is named on the "could not be checked" card."""
    pack = medication_request("2714921", rid="p")
    outcome = engine.evaluate(SIGN, hook_request("order-sign", [pack], current=[]))
    (card,) = outcome.response["cards"]
    assert card["summary"].startswith("1 medication could not be checked")
    assert "avutometinib 0.8 MG Oral Capsule" in card["detail"]
    assert "NOT checked" in card["detail"]
    (drug,) = outcome.advised
    assert [i.ingredient.name for i in drug.mapping.ingredients] == ["defactinib"]


def test_a_status_that_is_not_text_is_read_as_no_status(engine):
    """Found by the property tests: `"status": []` on a current medication was a 500."""
    current = medication_request(IBUPROFEN_200MG, rid="i", status="active")
    current["status"] = []
    body = hook_request(
        "order-sign", [medication_request(WARFARIN_1MG, rid="w")], current=[current]
    )
    assert pairs(engine.evaluate(SIGN, body)) == {frozenset({"warfarin", "ibuprofen"})}


@pytest.mark.parametrize(
    ("ketoconazole", "indicator"), [("197853", "critical"), ("203088", "info")]
)
def test_a_drug_applied_to_the_skin_does_not_interrupt(engine, ketoconazole, indicator):
    """Simvastatin + ketoconazole: contraindicated by mouth; the cream reaches the blood far
    less, so its card informs, says why, and keeps the grade."""
    body = hook_request(
        "order-sign",
        [medication_request(ketoconazole, rid="k")],
        current=[medication_request("312961", rid="s", status="active")],  # simvastatin 20 MG
    )
    (card,) = engine.evaluate(SIGN, body).response["cards"]
    assert card["indicator"] == indicator
    assert card["detail"].startswith("**Contraindicated interaction:**")
    local = "applied by the topical route, with little systemic exposure" in card["detail"]
    assert local is (indicator == "info")
