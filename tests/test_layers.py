"""The house's layering, checked against the tree: the clinical core imports no framework or
adapter library, and no module imports another that imports it back (lazy imports included,
type-only imports not)."""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.testing import hook_requests

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cds_service", "model", "bench", "tests")
# The pure clinical core (every module of cds_service/core), with the settings and the FHIR
# server policy that the core's callers hand it
CORE = (
    *sorted(f"cds_service.core.{p.stem}" for p in (ROOT / "cds_service" / "core").glob("*.py")),
    "cds_service.config",
    "cds_service.protocol.fhir_servers",
)
# The sub-packages, lowest first: a module may import its own layer and those below it
LAYERS = ("core", "protocol", "adapters", "operations", "web")
# Counting and rate-limited logging, imported from any layer above the core; they import nothing
# of the project
INSTRUMENTATION = ("cds_service.operations.metrics", "cds_service.operations.log_sampler")
NOT_IN_THE_CORE = ("fhir", "pydantic", "requests", "redis", "flask", "werkzeug", "torch", "rdkit")


def test_the_core_imports_no_framework_or_adapter_library():
    """In a fresh interpreter: what importing the core loads."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", script], cwd=ROOT)))
    assert not loaded & set(NOT_IN_THE_CORE)


def test_the_core_is_every_module_of_its_package():
    assert "cds_service.core.interaction_check" in CORE and "cds_service.core.cards" in CORE


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its body (functions too), except under
    `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {module for module in found if module in known} - {name}


@functools.cache
def import_graph() -> dict[str, set[str]]:
    paths = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if ".venv" not in path.parts
    }
    known = set(paths)
    return {
        name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
        for name, path in paths.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                connect(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_another_that_imports_it_back(package):
    graph = import_graph()
    assert [c for c in cycles(graph) if any(m.split(".")[0] == package for m in c)] == []


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "cds_service" or len(parts) < 3 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def test_each_layer_imports_only_itself_and_the_layers_below():
    """core < protocol < adapters < operations < web; the settings (`cds_service.config`) are
    read from the protocol up; the app factory, CLI and index builder sit above them all."""
    graph = import_graph()
    breaches = []
    for module, imported in sorted(graph.items()):
        own = _layer(module)
        if own is None:
            continue
        for target in sorted(imported):
            theirs = _layer(target)
            if target.count(".") < 2 and target != "cds_service.config":
                continue  # a package itself (`from cds_service.operations import metrics`)
            if target in INSTRUMENTATION and own > 0:
                continue
            if target == "cds_service.config" and own > 0:
                continue
            if (theirs is None and target.startswith("cds_service")) or (theirs or 0) > own:
                breaches.append(f"{module} -> {target}")
    assert breaches == []


def test_the_instrumentation_imports_nothing_of_the_project():
    graph = import_graph()
    assert all(graph[m] == set() for m in INSTRUMENTATION)


def test_every_layer_says_what_lives_there_and_what_it_may_import():
    for layer in LAYERS:
        readme = ROOT / "cds_service" / layer / "README.md"
        text = readme.read_text()
        assert text.startswith(f"# `cds_service.{layer}`") and "import" in text, readme


def test_blueprints_never_import_the_app_factory():
    graph = import_graph()
    blueprints = [m for m in graph if m.startswith("cds_service.web.")]
    assert blueprints and all("cds_service.app" not in graph[m] for m in blueprints)


# --- the test support: one package, found by name ------------------------------------------------

TEST_SUPPORT = "cds_service.testing"


def _is_test_support(module: str) -> bool:
    return module == TEST_SUPPORT or module.startswith(TEST_SUPPORT + ".")


def _sources(*folders: str) -> dict[str, str]:
    """Path (from the root) -> text, for every Python file under `folders`."""
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def test_no_test_or_benchmark_puts_a_folder_on_the_import_path():
    """Tests and benchmarks import the project and its test support by name (a bench script that
    imports another bench module runs as `python -m bench.<name>`)."""
    path_trick = re.compile(r"sys\.path\.(insert|append)\(")
    sources = _sources("tests", "bench")
    assert [name for name, text in sources.items() if path_trick.search(text)] == []


def test_only_tests_and_benchmarks_import_the_test_support():
    """`cds_service.testing` ships with the service (as `flask.testing` does), but nothing of the
    service or the model uses it."""
    graph = import_graph()
    importers = {m for m, imported in graph.items() if any(map(_is_test_support, imported))}
    assert "tests.test_e2e" in importers and "bench.load_faults" in importers
    outside = {m for m in importers if m.split(".")[0] not in ("tests", "bench")}
    assert sorted(m for m in outside if not _is_test_support(m)) == []


def test_the_test_support_needs_no_test_runner_and_no_test_or_bench_module():
    for name, text in _sources(TEST_SUPPORT.replace(".", "/")).items():
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
        assert not imported & {"pytest", "hypothesis", "tests", "bench"}, name


def test_tests_and_benchmarks_build_requests_with_the_one_set_of_builders():
    """MedicationRequests, Bundles and hook calls come from `cds_service.testing.hook_requests`:
    no test or benchmark defines a builder of the same name."""
    builders = sorted(
        name
        for name, value in vars(hook_requests).items()
        if inspect.isfunction(value) and value.__module__ == hook_requests.__name__
    )
    assert {"medication_request", "bundle", "hook_request"} <= set(builders)
    own = re.compile(rf"^\s*def ({'|'.join(builders)})\(", re.MULTILINE)
    found = {name: own.findall(text) for name, text in _sources("tests", "bench").items()}
    assert {name: defined for name, defined in found.items() if defined} == {}
