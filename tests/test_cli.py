"""`ddi-cds check` through the installed console script, on the committed artifacts."""

import subprocess
import sys
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).with_name("ddi-cds")


def check(*drugs: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "check", *drugs],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_script_is_installed():
    assert CONSOLE_SCRIPT.is_file(), "run `pip install -e .` first"


def test_check_names_prints_mapping_and_graded_interactions():
    result = check("warfarin", "ibuprofen")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "warfarin (RxNorm IN 11289; DrugBank DB00682, structure known)" in out
    assert "ibuprofen (RxNorm IN 5640" in out
    assert 'text "warfarin" via name-index' in out
    assert "[MAJOR] warfarin + ibuprofen (warning card)" in out  # the one scale, the card
    assert "  harm: Gastrointestinal and other serious bleeding." in out
    assert "  what to do: Avoid ibuprofen; use acetaminophen for pain." in out
    assert "ANSM national drug-interaction thesaurus" in out
    assert "Not recommended (grade: major)" in out  # the ANSM's "Association DECONSEILLEE"
    assert "DDInter 1.0 (graded drug-drug interactions): Major (grade: major)" in out
    assert "Derived from the grade" not in out  # generic advice is not repeated per source


def test_check_verbose_adds_each_sources_texts_and_references():
    out = check("-v", "warfarin", "ibuprofen").stdout
    assert "references: " in out and "citation: " in out
    assert "consequence: " in out


@pytest.mark.parametrize(
    ("drugs", "expected"),
    [
        (("855288", "00113-0074-71"), ["RxNorm IN 11289", "RxNorm IN 5640", "NDC-11"]),
        (("rxnorm:11289", "ndc:00113007471"), ["RxNorm IN 11289", "RxNorm IN 5640"]),
    ],
)
def test_check_accepts_codes(drugs, expected):
    result = check(*drugs)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout


def test_check_of_unrelated_drugs_says_no_known_interaction_and_exits_0():
    result = check("dimethicone", "lanolin")  # two skin protectants
    assert result.returncode == 0, result.stdout
    assert "No interaction between these medications that would make a card" in result.stdout
    assert "INCOMPLETE" not in result.stdout


@pytest.mark.parametrize(
    ("drugs", "unmapped", "suggested"),
    [
        (("warfrin", "ibuprofen"), "warfrin", "warfarin"),  # the issue's own example
        (("notadrug", "acetaminophen"), "notadrug", None),
        (("warfarin 5mg", "ibuprofen"), "warfarin 5mg", "warfarin"),
    ],
)
def test_an_unmapped_medication_makes_the_check_incomplete_never_an_all_clear(
    drugs, unmapped, suggested
):
    result = check(*drugs)
    out = result.stdout
    assert result.returncode == 1, out
    assert "NOT MAPPED" in out
    assert "matches no ingredient, brand or product name exactly" in out
    assert "CHECK INCOMPLETE: 1 of 2 medications could not be mapped" in out
    assert f"  - {unmapped}: text " in out  # which medication, and why
    assert "No known interaction" not in out
    assert "NOT an all-clear" in out
    if suggested:
        assert f"did you mean: {suggested}" in out
        assert f"Did you mean: {suggested}" in out


def test_interactions_of_the_mapped_medications_are_still_shown_when_one_is_unmapped():
    result = check("warfarin", "ibuprofen", "warfrin")
    assert result.returncode == 1
    assert "[MAJOR] warfarin + ibuprofen (warning card)" in result.stdout
    assert "CHECK INCOMPLETE: 1 of 3" in result.stdout


@pytest.mark.parametrize("drugs", [("warfarin",), ()])
def test_fewer_than_two_medications_check_nothing_and_exit_1(drugs):
    result = check(*drugs)
    assert result.returncode == 1
    assert "give two or more medications" in result.stdout
    assert "No interaction" not in result.stdout


def test_help_documents_the_exit_statuses():
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "check", "--help"], capture_output=True, text=True, check=True
    )
    assert "exit status:" in result.stdout
    for status in ("0  every medication was mapped", "1  the check is incomplete", "2  bad"):
        assert status in result.stdout


def test_us_brands_and_packs_map_on_the_command_line():
    result = check("Eliquis", "Paxlovid")
    assert result.returncode == 0, result.stdout
    assert "apixaban (RxNorm IN 1364430" in result.stdout
    assert "nirmatrelvir (RxNorm IN 2587892" in result.stdout
    assert "ritonavir (RxNorm IN 85762" in result.stdout


def test_version_is_printed():
    from cds_service.cli import main

    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0
