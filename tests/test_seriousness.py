"""The seriousness tiers of the 963 TWOSIDES/Decagon side effects (model/seriousness.py)."""

from pathlib import Path

import pytest

from model import seriousness
from model.seriousness import (
    DEFAULT_OUT,
    OVERRIDES,
    RULES,
    SIDE_EFFECT_CSV,
    Tier,
    classify,
    main,
    normalise,
    read_side_effects,
    render_markdown,
    tier_table,
)
from tests.conftest import SHARED_DATA, require_shared_data

CSV = SHARED_DATA / SIDE_EFFECT_CSV
requires_data = pytest.mark.shared


@pytest.fixture(scope="module")
def side_effects() -> list[tuple[str, str]]:
    require_shared_data()
    return read_side_effects(CSV)


@pytest.fixture(scope="module")
def by_name(side_effects) -> dict[str, str]:
    return {name: cui for cui, name in side_effects}


def test_tier_order_and_labels():
    assert Tier.LIFE_THREATENING > Tier.SERIOUS > Tier.OTHER
    assert [t.label for t in Tier] == ["life-threatening", "serious", "other"]


def test_normalise_folds_british_spelling():
    assert normalise("Haemorrhage  intracranial") == "hemorrhage intracranial"
    assert normalise("anaemia") == "anemia"
    assert normalise("Dyspnoea paroxysmal nocturnal") == "dyspnea paroxysmal nocturnal"
    assert normalise("leucopenia") == "leukopenia"
    assert normalise("Stevens-Johnson syndrome") == "stevens johnson syndrome"


@pytest.mark.parametrize(
    "name",
    [
        "torsade de pointes",
        "QT prolongation",
        "serotonin syndrome",
        "neuroleptic malignant syndrome",
        "Stevens-Johnson syndrome",
        "toxic epidermal necrolysis",
        "cardiac arrest",
        "myocardial infarction",
        "acute renal failure",
        "hepatitis fulminant",
        "pancytopenia",
        "febrile neutropenia",
        "lactic acidosis",
        "intracerebral haemorrhage",
    ],
)
def test_life_threatening_terms_outside_the_benchmark(name):
    tier, reason = classify(name)
    assert tier is Tier.LIFE_THREATENING, reason


@requires_data
@pytest.mark.parametrize(
    "name",
    [
        "gastrointestinal bleed",
        "upper gastrointestinal bleeding",
        "lower GI bleeding",
        "duodenal ulcer haemorrhage",
        "haematemesis",
        "Bleeding",
        "cerebral haemorrhage",
        "haemorrhage intracranial",
        "subarachnoid haemorrhage",
        "hematoma subdural",
        "tachycardia ventricular",
        "ventricular fibrillation",
        "Atrioventricular block complete",
        "asystole",
        "heart attack",
        "cardiac failure",
        "cerebral infarct",
        "Embolism pulmonary",
        "anaphylactic reaction",
        "angioedema",
        "respiratory failure",
        "rhabdomyolysis",
        "acute kidney failure",
        "Hepatic failure",
        "hepatic necrosis",
        "hypoglycaemia",
        "Excess potassium",
        "agranulocytoses",
        "Anemia aplastic",
        "thrombocytopenia",
        "sepsis",
        "septic shock",
        "Lyell",
        "status epilepticus",
        "coma",
        "acute pancreatitis",
        "diabetic acidosis",
    ],
)
def test_life_threatening(by_name, name):
    assert name in by_name, f"{name!r} is not a benchmark side effect"
    tier, reason = classify(name, by_name[name])
    assert tier is Tier.LIFE_THREATENING, reason


@requires_data
@pytest.mark.parametrize(
    "name",
    [
        "arterial pressure NOS decreased",
        "Hypotension Orthostatic",
        "Fainting",
        "convulsion",
        "hepatitis",
        "disorder Renal",
        "neumonia",
        "deep vein thromboses",
        "anaemia",
        "hypokalaemia",
        "blood sodium decreased",
        "bradycardia",
        "AFIB",
        "Supraventricular tachycardia",
        "Aseptic meningitis",
        "aseptic necrosis bone",
        "Bleeding gums",
        "Bleeding hemorrhoids",
        "epistaxis",
        "adrenal insufficiency",
    ],
)
def test_serious(by_name, name):
    assert name in by_name, f"{name!r} is not a benchmark side effect"
    tier, reason = classify(name, by_name[name])
    assert tier is Tier.SERIOUS, reason


@requires_data
@pytest.mark.parametrize(
    "name",
    [
        "alopecia",
        "abdominal distension",
        "nausea",
        "haemorrhoids",
        "bruise",
        "ecchymoses",
        "Easy bruisability",
        "Breakthrough bleeding",
        "Extrasystoles Ventricular",
        "psychosexual disorder",
        "Burns Second Degree",
        "Atrioventricular block first degree",
        "Near Syncope",
        "sleep apnea",
        "bone marrow transplant",
        "Breast cancer",
        "fib",
    ],
)
def test_other(by_name, name):
    assert name in by_name, f"{name!r} is not a benchmark side effect"
    tier, reason = classify(name, by_name[name])
    assert tier is Tier.OTHER, reason


def test_override_wins_over_rules_and_is_cited():
    tier, reason = classify("ild", "C0206062")
    assert tier is Tier.SERIOUS
    assert reason.endswith("[override C0206062]")
    assert classify("ild")[0] is Tier.OTHER  # without the CUI the abbreviation is unknown


def test_reasons_name_their_rule():
    assert classify("rhabdomyolysis")[1].endswith("[rule lt.rhabdomyolysis]")
    assert classify("hiccough")[1].endswith("[default]")


def test_rule_ids_unique():
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert all(rule.id.split(".")[0] in {"lt", "serious", "other"} for rule in RULES)
    prefix = {Tier.LIFE_THREATENING: "lt", Tier.SERIOUS: "serious", Tier.OTHER: "other"}
    assert all(rule.id.startswith(prefix[rule.tier] + ".") for rule in RULES)


def test_every_side_effect_gets_a_tier_and_reason(side_effects):
    assert len(side_effects) == 963
    assert len({cui for cui, _ in side_effects}) == 963
    rows = tier_table(side_effects)
    assert len(rows) == 963
    labels = {t.label for t in Tier}
    for row, (cui, name) in zip(rows, side_effects, strict=True):
        assert set(row) == {"cui", "name", "tier", "reason"}
        assert (row["cui"], row["name"]) == (cui, name)
        assert row["tier"] in labels
        assert row["reason"].strip()


def test_overrides_refer_to_benchmark_side_effects(side_effects):
    cuis = {cui for cui, _ in side_effects}
    assert set(OVERRIDES) <= cuis
    assert all(reason.strip() for _, reason in OVERRIDES.values())


def test_tier_sizes_are_plausible(side_effects):
    counts = {t: 0 for t in Tier}
    for cui, name in side_effects:
        counts[classify(name, cui)[0]] += 1
    assert 60 <= counts[Tier.LIFE_THREATENING] <= 150
    assert 150 <= counts[Tier.SERIOUS] <= 300


def test_render_markdown_lists_serious_tiers_and_counts_other():
    rows = tier_table([("C1", "rhabdomyolysis"), ("C2", "hypokalaemia"), ("C3", "alopecia")])
    text = render_markdown(rows)
    assert "| life-threatening | 1 |" in text
    assert "| C1 | rhabdomyolysis |" in text
    assert "| C2 | hypokalaemia |" in text
    assert "C3" not in text and "alopecia" not in text
    assert "## Other (1)" in text


def test_committed_table_is_in_sync(side_effects, tmp_path, capsys):
    out = tmp_path / "tiers.md"
    assert main([str(SHARED_DATA), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    committed = Path(seriousness.__file__).with_name("SIDE_EFFECT_TIERS.md")
    assert committed == DEFAULT_OUT
    assert committed.read_text(encoding="utf-8") == out.read_text(encoding="utf-8"), (
        "model/SIDE_EFFECT_TIERS.md is stale: run "
        "`python -m model.seriousness ../shared/data` and commit the result"
    )


def test_main_rejects_a_folder_without_the_table(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "x.md")])
