"""The deployment files: Kubernetes manifests valid for the API (offline schemas of
kubernetes-validate), the compose file valid for the Compose spec, and all of them consistent
with the service (its settings, its probes, its console script). The container image itself
cannot be built here (no registry for the base image): deploy/README.md says so."""

from __future__ import annotations

import json
import os
import re
import runpy
import secrets
import shutil
import socket
import subprocess
import time
import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import numpy as np
import pytest
import redis
import yaml
from jsonschema import Draft7Validator
from redis.connection import parse_url

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


def named(kind: str, name: str) -> dict:
    (found,) = [d for d in by_kind(kind) if d["metadata"]["name"] == name]
    return found


def service_container() -> dict:
    return named("StatefulSet", "ddi-cds")["spec"]["template"]["spec"]["containers"][0]


def test_configured_settings_are_settings_the_service_reads():
    config = named("ConfigMap", "ddi-cds-config")
    secret = named("Secret", "ddi-cds-secrets")
    env = {e["name"] for e in service_container()["env"] if e["name"].startswith("DDI_CDS_")}
    names = set(config["data"]) | set(secret["stringData"]) | env
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
    from cds_service.app import create_app

    secret = named("Secret", "ddi-cds-secrets")["stringData"]
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
    binds = options["bind"] if isinstance(options["bind"], list) else [options["bind"]]
    assert options["preload_app"] is True and binds[0] == "0.0.0.0:8080"


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


# Security of the deployment: TLS at the edge, nothing reachable that need not be, no token for
# the Kubernetes API in the pods, Redis behind a password that only a Secret holds.


def pod_specs() -> list[tuple[str, dict]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for kind in ("StatefulSet", "Deployment")
        for d in by_kind(kind)
    ]


def test_no_pod_mounts_a_service_account_token():
    accounts = {d["metadata"]["name"]: d for d in by_kind("ServiceAccount")}
    assert pod_specs()
    for name, spec in pod_specs():
        assert spec.get("automountServiceAccountToken") is False, name
        account = accounts[spec["serviceAccountName"]]
        assert account.get("automountServiceAccountToken") is False, name


def test_the_ingress_terminates_tls_and_limits_the_rate():
    (ingress,) = by_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    assert int(annotations["nginx.ingress.kubernetes.io/limit-rps"]) > 0
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    spec = ingress["spec"]
    covered = {host for tls in spec["tls"] for host in tls["hosts"]}
    assert all(tls["secretName"] for tls in spec["tls"])
    hosts = {rule["host"] for rule in spec["rules"]}
    assert hosts and hosts <= covered  # no host served without TLS
    public = urlsplit(named("ConfigMap", "ddi-cds-config")["data"]["DDI_CDS_PUBLIC_BASE_URL"])
    assert public.scheme == "https" and hosts == {public.hostname}
    ports = {p["name"] for p in named("Service", "ddi-cds")["spec"]["ports"]}
    for rule in spec["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "ddi-cds" and backend["port"]["name"] in ports


def policies_for(app: str) -> list[dict]:
    return [
        p["spec"]
        for p in by_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": app}
    ]


def peers_and_ports(specs: list[dict], direction: str) -> list[tuple[list[dict], set[int]]]:
    side = "from" if direction == "ingress" else "to"
    rules = [rule for spec in specs for rule in spec.get(direction, [])]
    for rule in rules:  # a rule without peers or ports would allow everyone or every port
        assert rule.get(side) and rule.get("ports"), rule
    return [(rule[side], {p["port"] for p in rule["ports"]}) for rule in rules]


def test_network_policies_deny_by_default_and_open_only_what_is_used():
    (deny,) = [p["spec"] for p in by_kind("NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    container = service_container()
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    into_service = peers_and_ports(policies_for("ddi-cds"), "ingress")
    by_namespace = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: ports
        for peers, ports in into_service
        for peer in peers
    }
    assert by_namespace == {"ingress-nginx": {port["http"]}, "monitoring": {port["metrics"]}}

    out_of_service = peers_and_ports(policies_for("ddi-cds"), "egress")
    redis_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ddi-cds-redis"}}}
    assert ([redis_peer], {6379}) in out_of_service
    dns = [ports for peers, ports in out_of_service if "kube-dns" in str(peers)]
    assert dns == [{53}]
    for peers, ports in out_of_service:
        for peer in peers:
            if "ipBlock" in peer:  # the EHRs' FHIR servers and key sets, HTTPS only
                assert ports == {443} and peer["ipBlock"]["cidr"] != "0.0.0.0/0"

    into_redis = peers_and_ports(policies_for("ddi-cds-redis"), "ingress")
    service_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ddi-cds"}}}
    assert into_redis == [([service_pods], {6379})]


def test_metrics_are_scraped_on_their_own_port():
    template = named("StatefulSet", "ddi-cds")["spec"]["template"]
    port = {p["name"]: p["containerPort"] for p in service_container()["ports"]}
    assert port == {"http": 8080, "metrics": 9464}
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port["metrics"])


def test_the_try_it_page_is_off():
    config = named("ConfigMap", "ddi-cds-config")["data"]
    assert config["DDI_CDS_TRY_IT_PAGE"] == "false"
    assert Settings.from_env(config).try_it_page is False


def test_the_redis_url_and_its_password_come_from_a_secret():
    assert "DDI_CDS_REDIS_URL" not in named("ConfigMap", "ddi-cds-config")["data"]
    env = {e["name"]: e for e in service_container()["env"]}
    url = env["DDI_CDS_REDIS_URL"]["value"]
    (reference,) = re.findall(r"\$\((\w+)\)", url)
    secret_ref = env[reference]["valueFrom"]["secretKeyRef"]
    secret = named("Secret", secret_ref["name"])
    assert secret_ref["key"] in secret["stringData"]
    parsed = parse_url(url.replace(f"$({reference})", "0" * 64))
    assert (parsed["username"], parsed["password"]) == ("ddi-cds", "0" * 64)
    # Redis reads the same key of the same Secret
    (redis_container,) = named("Deployment", "ddi-cds-redis")["spec"]["template"]["spec"][
        "containers"
    ]
    redis_env = {e["name"]: e for e in redis_container["env"]}
    assert redis_env["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == secret_ref

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert "DDI_CDS_REDIS_URL" not in compose["ddi-cds"]["environment"]
    assert (
        "redis://ddi-cds:$$(cat /run/secrets/redis.password)@redis"
        in (compose["ddi-cds"]["command"])
    )


def test_compose_publishes_only_on_loopback_but_the_tls_proxy():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["ddi-cds"]["ports"] == ["127.0.0.1:8080:8080"]
    for name, service in services.items():
        if "tls" in service.get("profiles", []):
            assert service["ports"] == ["443:443"]  # the TLS endpoint is the public one
            continue
        assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
    assert "reverse_proxy ddi-cds:8080" in (DEPLOY / "caddy" / "Caddyfile").read_text()
    tls = services["tls"]
    assert "./caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in tls["volumes"]


def redis_scripts(tmp_path: Path, port: int, password_file: Path) -> dict[str, str]:
    """The shell scripts that start Redis in the manifest and in the compose file, made to run
    here: on a free port, without the image's entrypoint, reading the password from a file."""
    (container,) = named("Deployment", "ddi-cds-redis")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "-c"]
    kubernetes = f'REDISCLI_AUTH="$(cat {password_file})"\n' + container["args"][0]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["redis"]
    assert compose["command"][:2] == ["sh", "-c"]
    composed = (
        compose["command"][2]
        .replace("$$", "$")
        .replace("/run/secrets/redis.password", str(password_file))
        .replace("exec docker-entrypoint.sh redis-server", "exec redis-server")
    )
    scripts = {"kubernetes": kubernetes, "compose": composed}
    for name, script in scripts.items():
        assert script.count("--port 6379") == 1, name
        scripts[name] = script.replace("--port 6379", f"--port {port} --dir {tmp_path}")
    return scripts


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
@pytest.mark.parametrize("where", ["kubernetes", "compose"])
def test_redis_requires_the_password_and_allows_the_service_only_its_keys(tmp_path, where):
    from cds_service.adapters.prediction_cache import PredictionCache, cache_key

    password_file = tmp_path / "redis.password"
    placeholder = named("Secret", "ddi-cds-redis")["stringData"]["password"]
    password_file.write_text(placeholder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = redis_scripts(tmp_path, port, password_file)[where]
    refused = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)
    assert refused.returncode == 1 and "openssl rand -hex 32" in refused.stderr

    password = secrets.token_hex(32)
    password_file.write_text(password)
    server = subprocess.Popen(["sh", "-c", script], stdout=subprocess.DEVNULL)
    try:
        anonymous = redis.Redis(port=port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                anonymous.ping()
            except redis.ConnectionError as error:
                if "Authentication required" in str(error):
                    break  # up, and refusing a client without the password
                time.sleep(0.05)
        else:
            raise AssertionError("Redis did not start, or answered without a password")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, username="ddi-cds", password="0" * 64).ping()

        url = f"redis://ddi-cds:{password}@127.0.0.1:{port}/0"
        service = redis.Redis.from_url(url)
        key = cache_key("deploy-test", "a", "b")  # what the service does: pipelined SET, MGET
        cache = PredictionCache(url, key=bytes(32))
        cache.put_many({key: np.zeros(963, dtype=np.float32)})
        assert set(PredictionCache(url, key=bytes(32)).get_many([key])) == {key}
        assert service.set("ddi-cds:jti:x", b"1", nx=True, ex=60)  # the token replay ids
        for forbidden in (
            lambda: service.set("elsewhere", b"1"),
            lambda: service.keys("*"),
            lambda: service.flushall(),
            lambda: service.config_get("*"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                forbidden()
        if where == "kubernetes":  # the readiness probe, against this server
            (container,) = named("Deployment", "ddi-cds-redis")["spec"]["template"]["spec"][
                "containers"
            ]
            probe = container["readinessProbe"]["exec"]["command"]
            probe = [*probe[:2], probe[2].replace("redis-cli", f"redis-cli -p {port}")]
            environment = {**os.environ, "REDISCLI_AUTH": password}
            assert subprocess.run(probe, env=environment, timeout=10).returncode == 0
            environment["REDISCLI_AUTH"] = "0" * 64
            failed = subprocess.run(probe, env=environment, capture_output=True, timeout=10)
            assert failed.returncode != 0
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.skipif(shutil.which("caddy") is None, reason="needs caddy (Debian: apt install caddy)")
def test_the_caddyfile_is_valid(tmp_path):
    environment = {
        **os.environ,
        "DDI_CDS_TLS_HOST": "cds.hospital.example",
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    command = ["caddy", "adapt", "--config", str(DEPLOY / "caddy" / "Caddyfile")]
    adapted = subprocess.run(
        [*command, "--adapter", "caddyfile"], env=environment, capture_output=True, timeout=30
    )
    assert adapted.returncode == 0, adapted.stderr
    server = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"] == [{"host": ["cds.hospital.example"]}]
    handlers = str(server["routes"][0]["handle"])
    assert "'max_size': 1048576" in handlers and "'dial': 'ddi-cds:8080'" in handlers
