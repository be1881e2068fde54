import os
from pathlib import Path

import pytest

from cds_service.core.drug_index import DrugIndex
from cds_service.core.mapping import MedicationMapper

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def drug_index() -> DrugIndex:
    return DrugIndex()


@pytest.fixture(scope="session")
def mapper(drug_index: DrugIndex) -> MedicationMapper:
    return MedicationMapper(drug_index)


def require_shared_data() -> None:
    """Skip a test that reads ../shared/data where it is absent; fail instead under CI.

    CI always runs with ../shared beside the clone, so there a missing copy is a broken set-up
    that must not pass as a row of skips.
    """
    if (SHARED_DATA / "drug-vocabulary").is_dir():
        return
    message = f"needs the reference data at {SHARED_DATA} (../shared/data)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: the test reads the reference data in ../shared")
    config.addinivalue_line(
        "markers",
        "slow: builds or trains something, or drives a browser (tens of seconds or more); "
        '`pytest -m "not slow"` is the quick loop, CI runs everything',
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared"):
        require_shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    require_shared_data()
    return SHARED_DATA


EXAMPLES = SHARED_DATA / "cds-hooks" / "examples"


@pytest.fixture
def app(tmp_path, schema_validator):
    """The app on test settings. Every 200 it gives to a discovery or hook call through the test
    client is checked against the CDS Hooks JSON Schemas; a breach fails the test at teardown."""
    from flask import request

    from cds_service.app import create_app
    from cds_service.config import Settings

    app = create_app(Settings(auth_disabled=True, data_dir=tmp_path))
    breaches: list[str] = []

    @app.after_request
    def conforms(response):
        path = request.path.rstrip("/")
        if response.status_code == 200 and response.is_json and path.startswith("/cds-services"):
            kind = "discovery" if path == "/cds-services" else None
            if kind is None and not path.endswith("/feedback"):
                kind = "response"
            if kind:
                try:
                    schema_validator(kind, response.get_json())
                except AssertionError as error:
                    breaches.append(f"{path}: {error}")
        return response

    yield app
    assert not breaches, breaches


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def schema_validator():
    """validate(name, instance): raise if `instance` breaks the project's CDS Hooks schema."""
    from jsonschema import Draft202012Validator, FormatChecker

    from cds_service.protocol.schemas import load_schema

    validators = {
        name: Draft202012Validator(load_schema(name), format_checker=FormatChecker())
        for name in ("discovery", "response", "feedback")
    }

    def validate(name: str, instance) -> None:
        errors = [e.message for e in validators[name].iter_errors(instance)]
        assert not errors, errors

    return validate
