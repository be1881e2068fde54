"""A site's overrides file (DDI_CDS_OVERRIDES_FILE): raise, lower, silence; checked at start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cds_service.adapters.site_overrides import load_site_overrides
from cds_service.app import create_app
from cds_service.config import Settings
from cds_service.core.drug_index import DrugIndex
from cds_service.core.grading import PairGrade
from cds_service.core.knowledge import default_knowledge_base
from cds_service.core.overrides import OverridesError
from cds_service.core.severity import Indicator, Severity
from cds_service.testing.hook_requests import order_sign_by_codes
from cds_service.testing.rxcui import (
    ACETAMINOPHEN,
    FLUOXETINE,
    IBUPROFEN,
    SERTRALINE,
    TRAMADOL,
    WARFARIN,
)

POTASSIUM, POTASSIUM_CHLORIDE, SPIRONOLACTONE = "8588", "8591", "9997"
MAJOR = PairGrade(Severity.MAJOR, Indicator.WARNING)


def load(tmp_path, text: str, suffix: str = ".yaml"):
    path = tmp_path / f"overrides{suffix}"
    path.write_text(text, encoding="utf-8")
    return load_site_overrides(path, DrugIndex(), default_knowledge_base())


def test_a_pair_is_lowered_and_the_card_says_by_whom(tmp_path):
    overrides = load(
        tmp_path,
        "overrides:\n"
        "  - pair: [warfarin, ibuprofen]\n"
        "    lower: moderate\n"
        "    reason: P&T committee 2026-03\n",
    )
    grade = overrides.apply(WARFARIN, IBUPROFEN, MAJOR)
    assert grade is not None and grade.severity is Severity.MODERATE
    assert grade.indicator is Indicator.INFO
    assert grade.override == (
        "lowered to moderate by the site (overrides.yaml line 2): P&T committee 2026-03"
    )
    assert overrides.apply(IBUPROFEN, WARFARIN, MAJOR) == grade  # either order
    assert overrides.apply(WARFARIN, ACETAMINOPHEN, MAJOR) == MAJOR  # another pair


def test_an_ingredient_is_raised_and_a_class_silenced_most_specific_last(tmp_path):
    overrides = load(
        tmp_path,
        """{"overrides": [
  {"pair": ["tramadol", "fluoxetine"], "lower": "major", "reason": "seen"},
  {"ingredient": "tramadol", "raise": "contraindicated", "reason": "local cases"},
  {"class": "ATC:N06AB", "with": "ibuprofen", "silence": true, "reason": "bleeding known"}
]}
""",
        suffix=".json",
    )
    moderate = PairGrade(Severity.MODERATE, Indicator.INFO)
    raised = overrides.apply(TRAMADOL, SERTRALINE, moderate)
    assert raised is not None and raised.severity is Severity.CONTRAINDICATED
    assert raised.indicator is Indicator.CRITICAL
    pair = overrides.apply(FLUOXETINE, TRAMADOL, moderate)  # the pair entry comes last
    assert pair is not None and pair.severity is Severity.MAJOR
    assert overrides.apply(SERTRALINE, IBUPROFEN, moderate) is None  # SSRI class + ibuprofen
    assert overrides.apply(SERTRALINE, ACETAMINOPHEN, moderate) == moderate


def test_an_entry_on_a_base_moiety_covers_its_salts(tmp_path):
    overrides = load(
        tmp_path,
        "overrides:\n  - pair: [potassium, spironolactone]\n    silence: true\n"
        "    reason: monitored in clinic\n",
    )
    assert default_knowledge_base().key(int(POTASSIUM_CHLORIDE)) == int(POTASSIUM)
    assert overrides.apply(POTASSIUM_CHLORIDE, SPIRONOLACTONE, MAJOR) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("overrides:\n  - pair: [warfarin, ibuprofen]\n    lower: moderate\n", "line 2: every"),
        ("overrides:\n  - pair: [warfarin]\n    lower: minor\n    reason: x\n", "line 2: `pair`"),
        (
            "overrides:\n  - ingredient: warfrin\n    silence: true\n    reason: x\n",
            "line 2: 'warfrin' is not an ingredient",
        ),
        (
            "overrides:\n  - ingredient: warfarin\n    lower: low\n    reason: x\n",
            "line 3: unknown severity 'low'",
        ),
        ("overrides:\n  - ingredient: warfarin\n    reason: x\n", "exactly one action"),
        (
            "overrides:\n  - ingredient: warfarin\n    lower: minor\n    raise: major\n"
            "    reason: x\n",
            "exactly one action",
        ),
        (
            "overrides:\n  - class: 'ATC:Z99'\n    silence: true\n    reason: x\n",
            "line 2: class 'ATC:Z99' is unknown",
        ),
        (
            "overrides:\n  - class: 'group:nope'\n    silence: true\n    reason: x\n",
            "class 'group:nope' is unknown",
        ),
        (
            "overrides:\n  - ingredient: warfarin\n    silence: yes please\n    reason: x\n",
            "`silence` takes true",
        ),
        ("overrides:\n  - ingredient: warfarin\n    colour: red\n", "unknown key(s) colour"),
        ("overrides: [\n", "not YAML"),
        ("rules: []\n", "line 1: unknown top-level key(s): rules"),
    ],
)
def test_a_malformed_file_names_its_line_and_reason(tmp_path, text, says):
    with pytest.raises(OverridesError, match=r"overrides\.yaml") as error:
        load(tmp_path, text)
    assert says in str(error.value)


def test_malformed_json_names_its_line(tmp_path):
    with pytest.raises(OverridesError, match=r"overrides.json, line 3: not JSON"):
        load(tmp_path, '{"overrides": [\n  {"pair": ["a", "b"]},\n  oops\n]}', suffix=".json")


def test_the_service_applies_the_file_to_its_cards(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(
        "overrides:\n  - pair: [warfarin, ibuprofen]\n    lower: moderate\n"
        "    reason: P&T committee\n"
    )
    settings = Settings(
        auth_disabled=True, data_dir=tmp_path, overrides_file=path, model_enabled=False
    )
    client = create_app(settings).test_client()
    response = client.post(
        "/cds-services/ddi-order-sign", json=order_sign_by_codes([WARFARIN], [IBUPROFEN])
    )
    (card,) = response.json["cards"]
    assert card["indicator"] == "info"
    assert "**Site override:** lowered to moderate by the site (site.yaml line 2)" in card["detail"]


def test_a_malformed_file_stops_the_service_at_start_with_the_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("overrides:\n  - ingredient: warfarin\n    lower: minor\n")
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "serve", "--no-auth", "--port", "0"],
        env={"DDI_CDS_OVERRIDES_FILE": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert f"{path}, line 2: every override needs a `reason`" in result.stderr
    assert "Traceback" not in result.stderr
