"""The README's two set-up commands stay true: CI runs the test command verbatim."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up on a new machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    run_command, test_command = readme_commands()
    assert "ddi-cds" in run_command
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_run_command_entry_point_works():
    """The run command ends in `ddi-cds check`: the installed entry point answers."""
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "drug index drugindex-" in result.stdout
