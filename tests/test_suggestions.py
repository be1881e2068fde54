""" "Did you mean" for people (the command line, the try-it page), never for the hook: the pure
matcher on small lists, the suggester on the committed drug index, the page, and the hook's
refusal to guess."""

import json
import re
from html import unescape

import pytest

from cds_service.core.suggestions import NameSuggester, Suggestion, describe, similar_names
from cds_service.testing.hook_requests import hook_request, medication_request
from tests.test_pages import Page, try_it

NAMES = ["warfarin", "warfarine", "afrin", "ibuprofen", "aspirin", "lithium carbonate"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("warfrin", ["warfarin", "warfarine"]),
        ("WARFARN", ["warfarin", "warfarine"]),  # case and spelling folded like the lookup
        ("ibuprofin", ["ibuprofen"]),
        ("asprin", ["aspirin"]),
        ("warfarin 5mg", ["warfarin", "warfarine"]),  # the words before the strength count
        ("lithium carbonat 300 mg", ["lithium carbonate"]),
        ("xyz", []),
        ("ab", []),  # too short to suggest anything
        ("---", []),
    ],
)
def test_similar_names_are_close_spellings_best_first(typed, expected):
    assert similar_names(typed, NAMES, limit=2) == expected


def test_similar_names_respects_the_cutoff_and_the_limit():
    assert similar_names("warfrin", NAMES, limit=1) == ["warfarin"]
    assert "afrin" not in similar_names("warfrin", NAMES, cutoff=0.85)


def test_describe_names_the_ingredient_only_when_the_name_is_another():
    suggestions = [
        Suggestion("warfarin", ("warfarin",)),
        Suggestion("eliquis", ("apixaban",)),
        Suggestion("paxlovid", ("nirmatrelvir", "ritonavir")),
    ]
    assert describe(suggestions) == (
        "warfarin; eliquis (apixaban); paxlovid (nirmatrelvir + ritonavir)"
    )


@pytest.fixture(scope="module")
def suggester(mapper):
    return NameSuggester(mapper)


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("warfrin", Suggestion("warfarin", ("warfarin",))),
        ("eliqis", Suggestion("eliquis", ("apixaban",))),
        ("paxlovd", Suggestion("paxlovid", ("nirmatrelvir", "ritonavir"))),
        ("lipitr", Suggestion("lipitor", ("atorvastatin",))),
        ("amoxicilin", Suggestion("amoxicillin", ("amoxicillin",))),
    ],
)
def test_the_suggester_offers_names_that_map_each_drug_once(mapper, suggester, typed, first):
    suggestions = suggester.suggest(typed)
    assert suggestions[0] == first
    assert len({s.ingredients for s in suggestions}) == len(suggestions)
    for suggestion in suggestions:  # typed back, each suggestion maps exactly
        assert mapper.map_concept({"text": suggestion.name}).is_mapped


def test_the_suggester_offers_nothing_for_what_is_no_drug(suggester):
    assert suggester.suggest("notadrug") == []


def test_the_try_it_page_shows_did_you_mean_for_a_medication_it_could_not_map(client):
    response = try_it(client, [("warfrin", "new"), ("ibuprofen", "current")])
    assert response.status_code == 200
    page = Page(response.text)
    section = page.by_id("unmapped")
    assert section is not None and section["aria-labelledby"] == "unmapped-heading"
    text = page.plain
    assert "Not checked: 1 medication could not be recognised" in text
    assert "“warfrin”" in text or "warfrin" in text
    assert "did you mean warfarin" in text
    assert "no card below is an all-clear" in text
    shown = json.loads(unescape(re.search(r'<pre id="raw-response">(.*?)</pre>', response.text,
                                          re.S).group(1)))  # fmt: skip
    assert any("could not be checked" in c["summary"] for c in shown["cards"])


def test_the_try_it_page_says_nothing_of_the_kind_when_every_medication_maps(client):
    response = try_it(client, [("warfarin", "new"), ("ibuprofen", "current")])
    page = Page(response.text)
    assert page.by_id("unmapped") is None
    assert "did you mean" not in page.plain


def test_the_try_it_page_says_when_no_name_is_close(client):
    page = Page(try_it(client, [("no such drug xyz", "new"), ("warfarin", "current")]).text)
    assert "no known name is close to it" in page.plain


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_the_hook_never_maps_a_misspelt_medication_by_a_guess(client, hook):
    draft = medication_request("1", rid="d1") | {"medicationCodeableConcept": {"text": "warfrin"}}
    current = medication_request("1", rid="c1", status="active") | {
        "medicationCodeableConcept": {"text": "ibuprofen"}
    }
    response = client.post(
        f"/cds-services/ddi-{hook}", json=hook_request(hook, [draft], current=[current])
    )
    assert response.status_code == 200
    cards = response.json["cards"]
    (unchecked,) = [c for c in cards if "could not be checked" in c["summary"]]
    assert "warfrin" in unchecked["summary"]
    assert "matches no ingredient, brand or product name exactly" in unchecked["detail"]
    assert "warfarin" not in json.dumps(cards).lower()  # no guessed drug, no guessed warning
