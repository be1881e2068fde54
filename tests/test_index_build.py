"""`ddi-cds build-index` is deterministic and the committed artifacts are what it builds."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.core.drug_index import DATA_DIR

pytestmark = [pytest.mark.shared, pytest.mark.slow]

ARTIFACTS = ("drug_index.sqlite", "interactions.sqlite")


def build_index(data: Path, out: Path, timeout: int) -> subprocess.CompletedProcess:
    command = ["build-index", "--data", str(data), "--out", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "cds_service", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def rebuilt(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    result = build_index(shared_data, out, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[1/2]" in result.stdout and "[2/2]" in result.stdout  # progress is shown
    return out


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_committed_artifact_is_byte_identical_to_a_fresh_build(rebuilt, artifact):
    assert (rebuilt / artifact).read_bytes() == (DATA_DIR / artifact).read_bytes(), (
        f"{artifact} is stale or the build is not deterministic: run `ddi-cds build-index`"
    )


def test_committed_build_report_matches(rebuilt):
    assert json.loads((rebuilt / "build_report.json").read_text()) == json.loads(
        (DATA_DIR / "build_report.json").read_text()
    )


def test_coverage_report(rebuilt):
    report = json.loads((rebuilt / "build_report.json").read_text())["drug_index"]
    assert report["twosides_drugs"] == 645
    assert report["twosides_share_mapped"] >= 0.95
    assert report["rxterms_products"] == 20094
    assert report["rxterms_products_all_ingredients_drugbank"] >= 0.95
    assert report["rxterms_products_all_ingredients_structure"] >= 0.75


def test_bad_data_folder_is_a_clear_error(tmp_path):
    result = build_index(tmp_path, tmp_path / "out", timeout=60)
    assert result.returncode == 2
    assert "has no drug-vocabulary/" in result.stderr
    assert "Traceback" not in result.stderr
