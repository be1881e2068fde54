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
    assert "[AVOID] warfarin + ibuprofen: warfarin + ibuprofen — ANSM" in out
    assert "ANSM" in out


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


def test_check_reports_unmapped_and_unrelated_drugs_plainly():
    result = check("notadrug", "acetaminophen")
    assert result.returncode == 0
    assert "NOT MAPPED" in result.stdout
    assert "matches no ingredient, brand or product name exactly" in result.stdout
    assert "No known interaction" in result.stdout
