"""The pages for people (issue 8), through the app's test client on the real index, knowledge and
model: the try-it page, the explanation page, their autocomplete and errors. The same pages in a
real browser: tests/test_browser.py."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.testing.rxcui import ADALIMUMAB, IBUPROFEN, WARFARIN
from cds_service.web.charts import EffectBar, GeneBar, gene_chart, side_effect_chart
from cds_service.web.pages import CONTENT_SECURITY_POLICY, markdown
from cds_service.web.try_it_requests import (
    EntryError,
    concept,
    entries_from_form,
    order_sign_request,
    picked_label,
)

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # as a browser asks


class Page(HTMLParser):
    """What the assertions look at: elements with their attributes, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.elements if t == tag]

    def by_id(self, element_id: str) -> dict[str, str] | None:
        return next((a for _, a in self.elements if a.get("id") == element_id), None)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def assert_self_contained(page: Page) -> None:
    """Nothing the page loads comes from elsewhere (links to sources are for the reader)."""
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        for attrs in page.all(tag):
            assert not re.match(r"(https?:)?//", attrs.get(attribute, "")), (tag, attrs)


def assert_labelled(page: Page) -> None:
    labelled = {a["for"] for a in page.all("label")}
    for tag in ("input", "select", "textarea"):
        for attrs in page.all(tag):
            if attrs.get("type") != "hidden":
                assert attrs.get("id") in labelled or attrs.get("aria-label"), (tag, attrs)


def try_it(client, rows: list[tuple[str, str]]):
    return client.post(
        "/",
        data={"medication": [t for t, _ in rows], "role": [r for _, r in rows]},
        headers=HTML,
    )


def test_the_try_it_form_is_labelled_self_contained_and_locked_down(client):
    response = client.get("/", headers=HTML)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = Page(response.text)
    assert_labelled(page)
    assert_self_contained(page)
    assert len(page.all("input")) == 6 and page.by_id("medication-names") is not None
    example = Page(client.get("/?example=1", headers=HTML).text)
    assert example.by_id("medication-1")["value"] == picked_label("warfarin", WARFARIN)


def test_the_try_it_page_shows_the_cards_the_hook_returns_for_the_same_request(client):
    response = try_it(
        client, [(picked_label("warfarin", WARFARIN), "new"), ("ibuprofen", "current"), ("", "new")]
    )
    assert response.status_code == 200
    page = Page(response.text)
    sent = json.loads(_pre(response.text, "raw-request"))
    shown = json.loads(_pre(response.text, "raw-response"))
    assert [e["resource"]["status"] for e in sent["context"]["draftOrders"]["entry"]] == ["draft"]
    assert sent["prefetch"]["medicationRequests"]["entry"][0]["resource"][
        "medicationCodeableConcept"] == {"text": "ibuprofen"}  # fmt: skip

    hook = client.post("/cds-services/ddi-order-sign", json=sent)
    assert hook.status_code == 200

    def comparable(value: object) -> object:  # uuids are new on every answer
        if isinstance(value, dict):
            return {k: comparable(v) for k, v in value.items() if k != "uuid"}
        if isinstance(value, list):
            return [comparable(v) for v in value]
        return value

    assert comparable(shown["cards"]) == comparable(hook.json["cards"])
    warfarin_ibuprofen = next(
        c for c in shown["cards"] if c["summary"].lower().startswith("warfarin + ibuprofen")
    )
    assert warfarin_ibuprofen["indicator"] in {"warning", "critical"}
    cards = page.all("article")
    assert len(cards) == len(shown["cards"])
    assert f"card card-{warfarin_ibuprofen['indicator']}" in [a["class"] for a in cards]
    assert warfarin_ibuprofen["summary"] in page.plain
    explain = [a["href"] for a in page.all("a") if "/explain?" in a.get("href", "")]
    assert explain, "the predicted section links to its explanation"


def _pre(html: str, element_id: str) -> str:
    found = re.search(rf'<pre id="{element_id}">(.*?)</pre>', html, re.S)
    assert found, element_id
    return unescape(found.group(1))


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([("warfarin", "current")], "mark at least one medication as a new order"),
        ([("warfarin", "sometimes")], "line 1: choose 'new order' or 'current'"),
        ([("x" * 201, "new")], "line 1: a medication is at most 200 characters"),
    ],
)
def test_a_form_that_cannot_be_checked_says_why_and_keeps_what_was_typed(client, rows, says):
    response = try_it(client, rows)
    assert response.status_code == 400
    page = Page(response.text)
    assert says in page.plain
    assert page.by_id("medication-1")["value"] == rows[0][0]


def test_unknown_medications_are_checked_and_reported_not_refused(client):
    response = try_it(client, [("warfarin", "new"), ("no such drug xyz", "current")])
    assert response.status_code == 200
    shown = json.loads(_pre(response.text, "raw-response"))
    assert any("no such drug xyz" in (c.get("detail") or "") for c in shown["cards"])


def test_autocomplete_offers_labels_the_form_reads_back(client):
    names = client.get("/medication-names?q=Warfa").json
    labels = [n["label"] for n in names]
    assert picked_label("warfarin", WARFARIN) in labels
    assert concept(labels[labels.index(picked_label("warfarin", WARFARIN))])["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": WARFARIN,
        "display": "warfarin",
    }
    assert client.get("/medication-names?q=w").json == []
    assert len(client.get("/medication-names?q=" + "a" * 5000).json) <= 15


def test_the_try_it_page_can_be_switched_off(tmp_path):
    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path, try_it_page=False))
    client = app.test_client()
    assert client.get("/", headers=HTML).status_code == 404
    assert client.get("/medication-names?q=warf").status_code == 404
    assert client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}", headers=HTML).status_code == 200


def test_the_explanation_page_shows_both_evidences_apart_with_charts(client):
    response = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}", headers=HTML)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    page = Page(response.text)
    assert_self_contained(page)
    assert not page.all("script"), "the explanation page needs no JavaScript"
    charts = {a["id"]: a for a in page.all("svg")}
    assert set(charts) == {"side-effects", "genes"}
    assert all(a["role"] == "img" and a["aria-labelledby"] for a in charts.values())
    assert len(page.all("rect")) == 20  # 10 side effects, 10 genes
    text = page.plain
    curated = text.index("Known interactions (curated sources and reviewed rules)")
    predicted = text.index("Predicted by the model deside-")
    assert curated < predicted
    assert "ANSM" in text[curated:predicted] and "Bleeding" in text[predicted:]
    assert "not an established interaction" in text
    # The model reports bleeding as often for warfarin with any partner: marked, and the genes
    # shown are those of a side effect neither drug explains alone
    assert "reported as often with warfarin and ibuprofen and any partner" in text
    assert "Genes behind" in text and "Genes behind “Bleeding”" not in text
    assert re.search(r"random/test \d\.\d+", text), "the model's published accuracy"
    json_answer = client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}")
    assert json_answer.mimetype == "application/json" and json_answer.json["genes"]


def test_choosing_another_side_effect_explains_that_one(client):
    page = Page(client.get(f"/explain?a={WARFARIN}&b={IBUPROFEN}", headers=HTML).text)
    other = next(a["href"] for a in page.all("a") if "effect=" in a.get("href", "")
                 and "Bleeding" not in a["href"])  # fmt: skip
    again = client.get(f"/explain{other}", headers=HTML)
    assert again.status_code == 200
    assert 'aria-current="true"' in again.text


def test_a_drug_the_model_cannot_score_still_gets_its_curated_page(client):
    response = client.get(f"/explain?a={WARFARIN}&b={ADALIMUMAB}", headers=HTML)
    assert response.status_code == 200
    text = Page(response.text).plain
    assert "No prediction: adalimumab is not scored by the model" in text
    assert "Known interactions (curated sources and reviewed rules)" in text
    # JSON: the side-effect model says why it has nothing; the interaction model reads
    # adalimumab by its targets
    body = client.get(f"/explain?a={WARFARIN}&b={ADALIMUMAB}").json
    assert "adalimumab is not scored by the model" in body["sideEffectsUnavailable"]
    assert body["predicted_interaction"]["probability"] > 0


def test_a_bad_explanation_link_gets_an_error_page_in_a_browser(client):
    response = client.get("/explain?a=11289&b=nope", headers=HTML)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "parameter 'b' must be an RxNorm ingredient code" in Page(response.text).plain
    assert client.get("/explain?a=11289&b=nope").json["resourceType"] == "OperationOutcome"


def test_card_markdown_cannot_carry_script_or_javascript_links():
    rendered = str(markdown("**bold** <script>alert(1)</script> [x](javascript:alert(1))"))
    assert "<strong>bold</strong>" in rendered
    assert "<script" not in rendered and 'href="javascript:' not in rendered


def test_charts_escape_what_they_draw_and_scale_bars():
    svg = side_effect_chart([EffectBar("<b>x</b>", 0.5, "serious"), EffectBar("y", 1.0, "other")])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [150.0, 300.0]
    genes = gene_chart([GeneBar("TP53", 0.2), GeneBar("MYC", -0.1)], "Bleeding")
    assert "TP53 raises the score" in genes and "MYC lowers the score" in genes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "warfarin [RxNorm 11289]",
            {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "11289",
                        "display": "warfarin",
                    }
                ],
                "text": "warfarin",
            },
        ),
        (
            "855288",
            {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855288"}
                ],
                "text": "855288",
            },
        ),
        (
            "RxNorm: 855288",
            {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855288"}
                ],
                "text": "RxNorm: 855288",
            },
        ),
        (
            "0093-1712-01",
            {
                "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "0093-1712-01"}],
                "text": "0093-1712-01",
            },
        ),
        (
            "00093171201",
            {
                "coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00093171201"}],
                "text": "00093171201",
            },
        ),
        ("Advil 200 mg", {"text": "Advil 200 mg"}),
    ],
)
def test_each_kind_of_line_becomes_the_coding_an_ehr_would_send(text, expected):
    assert concept(text) == expected


def test_the_request_puts_new_orders_in_drafts_and_current_ones_in_the_prefetch():
    body = order_sign_request(
        entries_from_form(["a", "b", "", "c"], ["new", "current", "new", "new"])
    )
    drafts = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    current = [e["resource"] for e in body["prefetch"]["medicationRequests"]["entry"]]
    assert [d["medicationCodeableConcept"]["text"] for d in drafts] == ["a", "c"]
    assert [c["medicationCodeableConcept"]["text"] for c in current] == ["b"]
    assert "entry" not in body["prefetch"]["medicationStatements"]  # FHIR has no empty arrays
    with pytest.raises(EntryError, match="each medication needs"):
        entries_from_form(["a"], [])


def test_the_explanation_page_shows_the_french_original_beside_the_english(client):
    """ANSM 2020 is French: cards carry the project's translation; the page keeps the original,
    marked as French, beside it."""
    page = client.get("/explain?a=11289&b=5640", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "bleeding risk of the oral anticoagulant" in html  # the English
    assert "Source text (the French original)" in html
    assert '<dd lang="fr">' in html and "risque hémorragique" in html
    assert "(the source's own level: Not recommended)" in html
    assert "https://ansm.sante.fr/" in html  # the thesaurus, not a package index
