"""The deployment files: Kubernetes manifests valid for the API (offline schemas of
kubernetes-validate), the compose file valid for the Compose spec, and all of them consistent
with the service (its settings, its probes, its console script). The container image itself
cannot be built here (no registry for the base image): deploy/README.md says so."""

from __future__ import annotations

import json
import runpy
import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

from cds_service.config import NOT_FROM_ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported when this was written
SETTING_NAMES = {
    f"DDI_CDS_{f.name.upper()}" for f in fields(Settings) if f.name not in NOT_FROM_ENVIRONMENT
}


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            found.append(
                (f"{path.name}:{document['kind']}/{document['metadata']['name']}", document)
            )
    return found


@pytest.mark.parametrize(("where", "document"), manifests(), ids=[w for w, _ in manifests()])
def test_each_manifest_is_valid_for_the_kubernetes_api(where, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(on_disk)


def by_kind(kind: str) -> list[dict]:
    return [d for _, d in manifests() if d["kind"] == kind]


def test_configured_settings_are_settings_the_service_reads():
    config = next(d for d in by_kind("ConfigMap") if d["metadata"]["name"] == "ddi-cds-config")
    secret = by_kind("Secret")[0]
    names = set(config["data"]) | set(secret["stringData"])
    assert names <= SETTING_NAMES, names - SETTING_NAMES
    Settings.from_env(config["data"])  # every value converts


def test_probes_and_ports_match_the_service(app):
    (stateful,) = by_kind("StatefulSet")
    container = stateful["spec"]["template"]["spec"]["containers"][0]
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in routes
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["args"][:3] == ["ddi-cds", "serve", "--production"]
    workers = next(d for d in by_kind("ConfigMap") if d["metadata"]["name"] == "ddi-cds-config")
    assert int(workers["data"]["DDI_CDS_WORKERS"]) == int(container["resources"]["limits"]["cpu"])
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == stateful["metadata"]["name"]
    issuers = next(d for d in by_kind("ConfigMap") if d["metadata"]["name"] == "ddi-cds-issuers")
    json.loads(issuers["data"]["trusted-issuers.json"])


def test_the_placeholder_pseudonym_key_stops_the_service_from_starting(tmp_path):
    from cds_service.web import create_app

    secret = by_kind("Secret")[0]["stringData"]
    settings = Settings.from_env({**secret, "DDI_CDS_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match="hexadecimal"):
        create_app(settings)


def test_compose_file_is_valid_for_the_compose_spec():
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    errors = [e.message for e in Draft7Validator(schema).iter_errors(compose)]
    assert not errors, errors
    names = set(compose["services"]["ddi-cds"]["environment"])
    assert names <= SETTING_NAMES, names - SETTING_NAMES


def test_gunicorn_file_gives_the_production_options(monkeypatch):
    monkeypatch.setenv("DDI_CDS_WORKERS", "3")
    options = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert options["workers"] == 3 and options["worker_class"] == "gthread"
    assert options["preload_app"] is True and options["bind"] == "0.0.0.0:8080"


def test_the_image_pins_the_projects_torch_and_runs_as_a_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (torch,) = [d for d in project["dependencies"] if d.startswith("torch")]
    assert f"pip install --no-cache-dir {torch} " in dockerfile
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile
    assert '"/healthz"' not in dockerfile and "/healthz" in dockerfile


def test_every_setting_is_in_the_documented_table():
    documented = (ROOT / "docs" / "service.md").read_text()
    missing = [name for name in sorted(SETTING_NAMES) if f"`{name}`" not in documented]
    assert not missing, missing


def test_token_checks_cannot_be_turned_off_from_the_environment():
    assert Settings.from_env({"DDI_CDS_AUTH_DISABLED": "true"}).auth_disabled is False
