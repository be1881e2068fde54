"""An independent clinical reference list of drug pairs, sent through the real app.

`tests/data/reference_pairs.tsv` (see `reference_pairs.md`) grades each pair on the service's one
severity scale from pharmacology references, written without reading the service's rule tables.
Each row becomes an order-sign call: product_a as the draft order, product_b as the patient's
current medication. The clinical expectation is checked on the cards about that pair:

- contraindicated, major: at least one interruptive card (indicator critical or warning);
- moderate: a card for the pair (any indicator);
- none: no card about the pair at all, not even an info card.

Cards that are not about an interaction (could not be checked, not checked by the prediction
model, check incomplete...) are ignored. A failing row is a clinical mismatch between the list and
the service, not a bug in this file: `test_reference_codes_name_their_drugs` checks the list's own
codes against the drug index, so a wrong code fails there, and every call must answer 200.
`test_reference_summary` prints the share of each grade met.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from cds_service.testing.hook_requests import order_sign_by_codes, rxnorm

DATA = Path(__file__).resolve().parent / "data" / "reference_pairs.tsv"
SERVICE = "/cds-services/ddi-order-sign"
COLUMNS = [
    "drug_a", "rxcui_a", "product_a", "drug_b", "rxcui_b", "product_b",
    "expected", "harm", "reference",
]  # fmt: skip
GRADES = ("contraindicated", "major", "moderate", "none")
SEVERE = frozenset({"contraindicated", "major"})
INTERRUPTIVE = frozenset({"critical", "warning"})
PRODUCT_TTYS = frozenset({"SCD", "SBD", "BPCK", "GPCK", "product"})
# How an interaction card's detail opens: the curated grade, or the model's prediction
_CURATED_OPENING = re.compile(
    r"^\*\*(contraindicated|major|moderate|minor|not graded) interaction:\*\*", re.IGNORECASE
)
_PREDICTED_OPENING = "**Predicted by model "
_MORE_PREDICTIONS = "the prediction model flags"


@dataclass(frozen=True, slots=True)
class Pair:
    drug_a: str
    rxcui_a: str
    product_a: str
    drug_b: str
    rxcui_b: str
    product_b: str
    expected: str
    harm: str
    reference: str

    @property
    def names_a(self) -> frozenset[str]:
        """The ingredient(s) the expectation is about ("x/y": either)."""
        return frozenset(name.strip().lower() for name in self.drug_a.split("/"))

    @property
    def names_b(self) -> frozenset[str]:
        return frozenset(name.strip().lower() for name in self.drug_b.split("/"))


def load_pairs() -> list[Pair]:
    lines = [
        line
        for line in DATA.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader)
    assert header == COLUMNS, header
    pairs = []
    for number, row in enumerate(reader, start=2):
        assert len(row) == len(COLUMNS), f"data row {number}: {len(row)} fields"
        pairs.append(Pair(*(field.strip() for field in row)))
    return pairs


def pair_ids(pairs: list[Pair]) -> list[str]:
    """Ids such as tranylcypromine+sumatriptan; a repeated pair of names gets its codes."""
    ids: list[str] = []
    for pair in pairs:
        base = f"{pair.drug_a}+{pair.drug_b}".replace(", ", ",").replace(" ", "_")
        ids.append(base if base not in ids else f"{base}[{pair.rxcui_a}+{pair.rxcui_b}]")
    return ids


PAIRS = load_pairs()


def _unescape(text: str) -> str:
    return text.replace("\\", "")


def _names_pair(text: str, names_a: frozenset[str], names_b: frozenset[str]) -> bool:
    """Whether `text` is "x + y" (either order) for x in names_a and y in names_b."""
    left, sep, right = text.partition(" + ")
    if not sep:
        return False
    left, right = left.strip().lower(), right.strip().lower()
    return (left in names_a and right in names_b) or (left in names_b and right in names_a)


def is_interaction_card(card: dict) -> bool:
    """A card about some drug pair: curated or predicted, or the model's "flags N more" card."""
    summary = card.get("summary", "").lower()
    detail = card.get("detail", "")
    opens = _CURATED_OPENING.match(detail) or detail.startswith(_PREDICTED_OPENING)
    return bool(opens) or summary.startswith(_MORE_PREDICTIONS)


def is_about(card: dict, names_a: frozenset[str], names_b: frozenset[str]) -> bool:
    """Whether the card concerns an ingredient of names_a with one of names_b: its summary
    opens with the pair ("Warfarin + ibuprofen: ..."), a section heading of its detail names it,
    or it is the model's card listing further pairs ("- warfarin + ibuprofen: ...")."""
    summary = card.get("summary", "")
    if _names_pair(summary.split(":", 1)[0], names_a, names_b):
        return True
    detail = _unescape(card.get("detail", ""))
    if summary.lower().startswith(_MORE_PREDICTIONS):
        for line in detail.splitlines():
            if line.startswith("- ") and _names_pair(line[2:].split(":", 1)[0], names_a, names_b):
                return True
    return False


def is_curated(card: dict) -> bool:
    return _CURATED_OPENING.match(card.get("detail", "")) is not None


def grade_of(card: dict) -> str:
    """The grade a curated card opens with ("major"); "" for any other card."""
    opening = _CURATED_OPENING.match(card.get("detail", ""))
    return opening.group(1).lower() if opening else ""


@dataclass(frozen=True, slots=True)
class Outcome:
    met: bool
    answer: str  # what the service said about the pair, for the report
    model_only: bool  # the pair's only cards are the prediction model's


def describe(cards: list[dict]) -> str:
    if not cards:
        return "no card"
    return "; ".join(
        f"{card.get('indicator')}{'' if is_curated(card) else ' (model only)'}: "
        f"{card.get('summary')}"
        for card in cards
    )


def evaluate(client, pair: Pair, ingredient_names) -> Outcome:
    response = client.post(SERVICE, json=order_sign_by_codes([pair.rxcui_a], [pair.rxcui_b]))
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True))
    cards = response.get_json()["cards"]
    if pair.expected == "none":
        # Any ingredient of one product with any of the other: a combination product's other
        # ingredients count too, and so does any interaction card at all in a one-pair call.
        all_a = ingredient_names(pair.rxcui_a) | pair.names_a
        all_b = ingredient_names(pair.rxcui_b) | pair.names_b
        about = [c for c in cards if is_about(c, all_a, all_b) or is_interaction_card(c)]
        return Outcome(not about, describe(about), bool(about) and not any(map(is_curated, about)))
    about = [c for c in cards if is_about(c, pair.names_a, pair.names_b)]
    model_only = bool(about) and not any(map(is_curated, about))
    if pair.expected in SEVERE:
        met = any(card.get("indicator") in INTERRUPTIVE for card in about)
    else:
        met = bool(about)
    return Outcome(met, describe(about), model_only)


@pytest.fixture(scope="module")
def reference_client(tmp_path_factory, schema_validator):
    """One app for the whole list (an app per row would cost a minute), every answer checked
    against the CDS Hooks response schema; outcomes are kept for the summary."""
    from cds_service.app import create_app
    from cds_service.config import Settings

    settings = Settings(auth_disabled=True, data_dir=tmp_path_factory.mktemp("reference"))
    client = create_app(settings).test_client()
    outcomes: dict[Pair, Outcome] = {}

    class Client:
        def __init__(self) -> None:
            self.cards: list[dict] = []  # every card answered, for checks across the list

        def post(self, path, json):
            response = client.post(path, json=json)
            if response.status_code == 200:
                schema_validator("response", response.get_json())
                self.cards.extend(response.get_json()["cards"])
            return response

        def outcome(self, pair: Pair, ingredient_names) -> Outcome:
            if pair not in outcomes:
                outcomes[pair] = evaluate(self, pair, ingredient_names)
            return outcomes[pair]

    return Client()


@pytest.fixture(scope="module")
def ingredient_names(drug_index):
    """rxcui -> the lower-case names of its ingredients in the drug index."""

    def names(rxcui: str) -> frozenset[str]:
        found = set()
        for ingredient_rxcui, _source in drug_index.ingredient_rxcuis(rxcui):
            ingredient = drug_index.ingredient(ingredient_rxcui)
            if ingredient is not None:
                found.add(ingredient.name.lower())
        return frozenset(found)

    return names


def test_reference_list_shape():
    counts = Counter(pair.expected for pair in PAIRS)
    assert set(counts) <= set(GRADES), counts
    assert len(PAIRS) >= 150, len(PAIRS)
    assert counts["contraindicated"] + counts["major"] >= 60, counts
    assert counts["moderate"] >= 40, counts
    assert counts["none"] >= 40, counts
    keys = Counter(frozenset((p.rxcui_a, p.rxcui_b)) for p in PAIRS)
    assert not [k for k, n in keys.items() if n > 1], "a pair of codes is listed twice"
    assert all(pair.reference for pair in PAIRS)
    assert len(set(pair_ids(PAIRS))) == len(PAIRS)


def test_reference_codes_name_their_drugs(drug_index, mapper, ingredient_names):
    """Every code is a product concept of the drug index holding the drug the row names, the
    service's own mapping reads it as that ingredient (the name its cards use), and the product
    name is the index's where the index has one: a wrong code fails here, not as a clinical
    mismatch."""
    problems = []
    for pair in PAIRS:
        for drug_names, rxcui, product in (
            (pair.names_a, pair.rxcui_a, pair.product_a),
            (pair.names_b, pair.rxcui_b, pair.product_b),
        ):
            concept = drug_index.concept(rxcui)
            if concept is None:
                problems.append(f"{rxcui} ({product}): not in the drug index")
                continue
            if concept.tty not in PRODUCT_TTYS:
                problems.append(f"{rxcui} ({product}): tty {concept.tty}, not a product")
            if concept.tty != "product" and concept.name != product:
                problems.append(f"{rxcui}: index names it {concept.name!r}, the list {product!r}")
            missing = drug_names - ingredient_names(rxcui)
            if missing:
                problems.append(f"{rxcui} ({product}): no ingredient {sorted(missing)}")
            mapped = {
                item.ingredient.name.lower()
                for item in mapper.map_concept(rxnorm(rxcui)).ingredients
            }
            if not drug_names <= mapped:
                problems.append(f"{rxcui} ({product}): the service maps it to {sorted(mapped)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("pair", PAIRS, ids=pair_ids(PAIRS))
def test_reference_pair(reference_client, ingredient_names, pair: Pair):
    outcome = reference_client.outcome(pair, ingredient_names)
    wanted = {
        "contraindicated": "an interruptive card (critical or warning)",
        "major": "an interruptive card (critical or warning)",
        "moderate": "a card for the pair",
        "none": "no card about the pair",
    }[pair.expected]
    assert outcome.met, (
        f"{pair.drug_a} ({pair.product_a}) + {pair.drug_b} ({pair.product_b}) is "
        f"{pair.expected} ({pair.harm}; {pair.reference}): expected {wanted}; the service "
        f"answered: {outcome.answer}"
    )


# Letters and words of French that English clinical text never has ("torsades de pointes" is
# English usage and is taken out first)
_FRENCH = re.compile(
    r"[éèêàâçùûîïô]|\b(le|la|les|des|du|une|est|avec|pour|dans|par|selon|lors|chez)\b",
    re.IGNORECASE,
)


def test_no_french_on_any_card(reference_client, ingredient_names):
    """The ANSM 2020 thesaurus is French: cards carry the project's English translation, and the
    French original only on the explanation page (issue 20)."""
    for pair in PAIRS:
        reference_client.outcome(pair, ingredient_names)
    assert reference_client.cards
    found = []
    for card in reference_client.cards:
        texts = [card.get("summary", ""), card.get("detail", ""), card["source"].get("label", "")]
        texts += [link.get("label", "") for link in card.get("links", [])]
        texts += [s.get("label", "") for s in card.get("suggestions", [])]
        for text in texts:
            match = _FRENCH.search(text.replace("torsades de pointes", ""))
            if match:
                start = max(0, match.start() - 60)
                found.append(f"{card['summary'][:60]!r}: …{text[start : match.end() + 40]}…")
    assert not found, "\n".join(found[:20])


def test_only_cards_graded_contraindicated_or_major_offer_to_remove_the_draft(
    reference_client, ingredient_names
):
    for pair in PAIRS:
        reference_client.outcome(pair, ingredient_names)
    graded = [c for c in reference_client.cards if grade_of(c)]
    removals = {
        card["uuid"]: [s for s in card.get("suggestions", []) if s["label"].startswith("Remove")]
        for card in graded
    }
    assert any(removals.values())
    for card in graded:
        severe = grade_of(card) in SEVERE
        assert bool(removals[card["uuid"]]) is severe, card["summary"]


def test_reference_summary(reference_client, ingredient_names, capsys):
    """Prints the share of each grade met (for the lead's report); fails only on a bad call."""
    met: Counter[str] = Counter()
    model_only: Counter[str] = Counter()
    total = Counter(pair.expected for pair in PAIRS)
    failing: dict[str, list[str]] = {grade: [] for grade in GRADES}
    for pair, pair_id in zip(PAIRS, pair_ids(PAIRS), strict=True):
        outcome = reference_client.outcome(pair, ingredient_names)
        if outcome.met:
            met[pair.expected] += 1
            model_only[pair.expected] += outcome.model_only
        else:
            failing[pair.expected].append(f"{pair_id}: {outcome.answer}")
    lines = ["", f"Reference pairs met ({DATA.name}, {len(PAIRS)} pairs):"]
    for grade in GRADES:
        share = met[grade] / total[grade] if total[grade] else 0.0
        note = f" ({model_only[grade]} of them by a model-only card)" if model_only[grade] else ""
        lines.append(f"  {grade:<16} {met[grade]:>3} / {total[grade]:<3} {share:6.1%}{note}")
    severe_met = met["contraindicated"] + met["major"]
    severe_total = total["contraindicated"] + total["major"]
    lines.append(
        f"  {'severe (c + m)':<16} {severe_met:>3} / {severe_total:<3} "
        f"{severe_met / severe_total:6.1%}"
    )
    for grade in GRADES:
        if failing[grade]:
            lines.append(f"Not met, {grade}:")
            lines.extend(f"  - {entry}" for entry in failing[grade])
    with capsys.disabled():
        print("\n".join(lines))
