"""The README's two set-up commands stay true: CI runs the test command verbatim."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

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


def test_run_command_starts_the_service_on_its_defaults_without_redis(tmp_path):
    """The run command ends in `ddi-cds serve`: run exactly that (a free port instead of 8080,
    Redis pointed at a closed port) and wait until it is ready and answers discovery."""
    run_command, _ = readme_commands()
    serve = run_command.rsplit("&&", 1)[1].split()
    assert serve[0] == ".venv/bin/ddi-cds" and serve[1] == "serve"
    env = {
        **os.environ,
        "DDI_CDS_REDIS_URL": "redis://127.0.0.1:1/0",
        "DDI_CDS_DATA_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service", *serve[1:], "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"(http://\S+)/cds-services", line).group(1)
        ready = requests.get(f"{url}/readyz", timeout=10).json()
        assert ready["status"] == "ready" and ready["redis"]["state"] == "down"
        services = requests.get(f"{url}/cds-services", timeout=10).json()["services"]
        assert len(services) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def _layout_paths() -> set[str]:
    """The paths the README's layout table names in its first column."""
    rows = [
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")
    ]
    return {path for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])}


def test_the_layout_table_names_every_module_and_nothing_that_is_gone():
    named = _layout_paths()
    modules = [
        path
        for package in ("cds_service", "model")
        for path in [*(ROOT / package).glob("*.py"), *(ROOT / package).iterdir()]
        if path.name not in {"__init__.py", "__main__.py", "__pycache__"}
        and (path.suffix == ".py" or path.is_dir())
    ]
    unnamed = [
        str(path.relative_to(ROOT)) + ("/" if path.is_dir() else "")
        for path in modules
        if str(path.relative_to(ROOT)) + ("/" if path.is_dir() else "") not in named
    ]
    assert unnamed == []
    gone = [p for p in named if "/" in p and "*" not in p and not (ROOT / p.rstrip("/")).exists()]
    assert gone == []
