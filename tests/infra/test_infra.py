"""Static checks of infra/: compose, Kubernetes manifests, Helm values and Dockerfile agree with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from embedforge.registry.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
PINS = dict(
    re.match(r"([A-Za-z0-9_.-]+)==(\S+)", d).groups() for d in PYPROJECT["project"]["dependencies"] if "==" in d
)
NAMESPACED = {"ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim", "Deployment"}


def compose() -> dict:
    return yaml.safe_load((INFRA / "compose.yaml").read_text())


def k8s_docs() -> list[dict]:
    return [d for p in sorted((INFRA / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def helm_values() -> dict:
    return yaml.safe_load((INFRA / "helm" / "prefect-worker-values.yaml").read_text())


def pinned(image: str) -> bool:
    """name:tag with a versioned tag (digits in it, never latest)."""
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and bool(re.search(r"\d", tag))


def defaults_filled(value: str) -> str:
    """What compose substitutes for ${VAR:-default} when VAR is unset (a required ${VAR:?...} gets a stand-in)."""
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "set-in-env", re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value))


def settings_from(env: dict[str, str]) -> Settings:
    """Every EMBEDFORGE_* variable must be a Settings field with a valid value."""
    fields = {}
    for key, value in env.items():
        if key.startswith("EMBEDFORGE_"):
            name = key.removeprefix("EMBEDFORGE_").lower()
            assert name in Settings.model_fields, f"{key} is not a Settings field"
            fields[name] = value
    return Settings(**fields)


def option(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


# -- compose -----------------------------------------------------------------------------------------------
def test_compose_has_the_stack_with_pinned_images():
    services = compose()["services"]
    assert {"postgres", "minio", "prefect-server", "mlflow", "worker"} <= set(services)
    for name, svc in services.items():
        assert pinned(svc["image"]), f"{name}: image {svc['image']} is not pinned to a version tag"
    assert services["prefect-server"]["image"].split(":")[1].startswith(PINS["prefect"] + "-")
    assert services["worker"]["image"] == services["mlflow"]["image"] == f"embedforge:{VERSION}"
    assert (ROOT / services["mlflow"]["build"]["dockerfile"]).exists()


def test_compose_ports_bind_loopback_and_match_the_commands():
    services = compose()["services"]
    published = {name: [p.rsplit(":", 1)[1] for p in svc.get("ports", [])] for name, svc in services.items()}
    assert "4200" in published["prefect-server"] and option(services["prefect-server"]["command"], "--port") == "4200"
    assert "5000" in published["mlflow"] and option(services["mlflow"]["command"], "--port") == "5000"
    assert "9000" in published["minio"]
    for svc in services.values():
        assert all(p.startswith("127.0.0.1:") for p in svc.get("ports", []))


def test_compose_dependencies_and_mounted_files_exist():
    services = compose()["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (INFRA / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose()["volumes"], f"{name} uses undeclared volume {source}"


def test_compose_worker_settings_point_at_the_compose_services():
    services = compose()["services"]
    worker = services["worker"]
    env = {k: defaults_filled(str(v)) for k, v in worker["environment"].items()}
    settings = settings_from(env)
    assert option(worker["command"], "--pool") == settings.work_pool == Settings.model_fields["work_pool"].default
    api = urlparse(env["PREFECT_API_URL"])
    assert api.hostname == "prefect-server" and str(api.port) == option(services["prefect-server"]["command"], "--port")
    tracking = urlparse(settings.tracking_uri)
    assert tracking.hostname == "mlflow" and str(tracking.port) == option(services["mlflow"]["command"], "--port")
    assert urlparse(settings.lancedb_uri).scheme == "s3" and urlparse(env["AWS_ENDPOINT"]).hostname == "minio"


def test_compose_databases_live_in_the_postgres_service():
    services = compose()["services"]
    pg_env = services["postgres"]["environment"]
    prefect_db = urlparse(
        defaults_filled(services["prefect-server"]["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"])
    )
    assert prefect_db.scheme == "postgresql+asyncpg" and prefect_db.hostname == "postgres"
    assert prefect_db.path.lstrip("/") == pg_env["POSTGRES_DB"] and prefect_db.username == pg_env["POSTGRES_USER"]
    assert "--backend-store-uri" not in services["mlflow"]["command"]  # a password on a command line is in `ps`
    mlflow_db = urlparse(defaults_filled(services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]))
    assert mlflow_db.hostname == "postgres"
    assert f"CREATE DATABASE {mlflow_db.path.lstrip('/')}" in (INFRA / "postgres-init.sql").read_text()
    assert (
        "${POSTGRES_PASSWORD:?" in services["prefect-server"]["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    )
    buckets = " ".join(services["minio-buckets"]["command"])
    assert urlparse(option(services["mlflow"]["command"], "--artifacts-destination")).hostname in buckets
    assert urlparse(settings_from(services["worker"]["environment"]).lancedb_uri).hostname in buckets


def test_dockerfile_base_is_pinned_and_installs_the_locked_project():
    text = (INFRA / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert pinned(base) and "python:3.11" in base
    assert "requirements.lock" in text and "pip install" in text
    for copied in re.findall(r"^COPY\s+(\S+)", text, re.M):
        assert (ROOT / copied).exists(), copied


# -- Kubernetes ----------------------------------------------------------------------------------------------
def k8s_secret_shapes() -> list[dict]:
    """The example Secrets (not applied by ``kubectl apply -f infra/k8s/``): what users fill from a secret store."""
    return [d for p in sorted((INFRA / "k8s").glob("*.yaml.example")) for d in yaml.safe_load_all(p.read_text()) if d]


def test_k8s_applies_no_secret_values():
    """Nothing applied from the repository holds a credential or a placeholder one could forget to change."""
    assert not [d["metadata"]["name"] for d in k8s_docs() if d["kind"] == "Secret"]
    for shape in k8s_secret_shapes():
        assert shape["kind"] == "Secret" and all(v == "" for v in shape["stringData"].values()), shape


def test_k8s_manifests_are_well_formed():
    docs = k8s_docs() + k8s_secret_shapes()
    assert {"Namespace", "ConfigMap", "Secret", "Deployment"} <= {d["kind"] for d in docs}
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
        if d["kind"] in NAMESPACED:
            assert d["metadata"].get("namespace") == "embedforge", d["metadata"]["name"]


def test_k8s_worker_references_resolve():
    docs = k8s_docs() + k8s_secret_shapes()
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    (dep,) = by_kind["Deployment"].values()
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert spec["serviceAccountName"] in by_kind["ServiceAccount"]
    for vol in spec["volumes"]:
        assert vol["persistentVolumeClaim"]["claimName"] in by_kind["PersistentVolumeClaim"]
    (container,) = spec["containers"]
    assert pinned(container["image"]) and container["image"] == f"embedforge:{VERSION}"
    for ref in container.get("envFrom", []):
        assert ref["configMapRef"]["name"] in by_kind["ConfigMap"]
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in by_kind["Secret"][ref["name"]]["stringData"]
    config = by_kind["ConfigMap"][container["envFrom"][0]["configMapRef"]["name"]]["data"]
    assert option(container["command"], "--pool") == settings_from(config).work_pool
    port = int(next(e["value"] for e in container["env"] if e["name"] == "PREFECT_WORKER_WEBSERVER_PORT"))
    assert "--with-healthcheck" in container["command"]
    assert {p["containerPort"] for p in container["ports"]} == {port}


@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_quiet_environment_everywhere(source):
    if source == "compose":
        envs = [
            svc.get("environment", {})
            for svc in compose()["services"].values()
            if svc["image"].startswith(("embedforge:", "prefecthq/"))
        ]
    else:
        envs = [d["data"] for d in k8s_docs() if d["kind"] == "ConfigMap"]
    for env in envs:
        assert str(env.get("DO_NOT_TRACK")) == "1" and str(env.get("MLFLOW_DISABLE_TELEMETRY")) == "true"


def test_helm_values_match_the_manifests():
    values = helm_values()["worker"]
    docs = {(d["kind"], d["metadata"]["name"]): d for d in k8s_docs() + k8s_secret_shapes()}
    assert ("ConfigMap", values["extraEnvVarsCM"]) in docs and ("Secret", values["extraEnvVarsSecret"]) in docs
    config = docs[("ConfigMap", values["extraEnvVarsCM"])]["data"]
    assert values["config"]["workPool"] == config["EMBEDFORGE_WORK_POOL"] and values["config"]["type"] == "process"
    assert pinned(f"{values['image']['repository']}:{values['image']['prefectTag']}")
    assert values["image"]["prefectTag"] == VERSION
    assert values["serverApiConfig"]["apiUrl"] == config["PREFECT_API_URL"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in values["extraVolumes"]}
    assert all(("PersistentVolumeClaim", c) in docs for c in claims)


# -- secrets -------------------------------------------------------------------------------------------------
def test_compose_has_no_default_passwords():
    text = (INFRA / "compose.yaml").read_text()
    refs = re.findall(r"\$\{([A-Z_]*PASSWORD)(:.)?", text)
    assert refs and all(op == ":?" for _, op in refs), refs  # required, never defaulted
    others = {k: v for k, v in compose()["services"].items() if k != "preflight"}  # only the check names them
    assert "change-me" not in yaml.safe_dump(others)


@pytest.mark.parametrize(
    ("postgres", "minio", "refused"),
    [
        ("change-me-postgres", "a-strong-one", True),
        ("a-strong-one", "change-me-minio", True),
        ("", "a-strong-one", True),
        ("pg-9f2c1e", "minio-77ab10", False),
    ],
)
def test_compose_preflight_refuses_placeholder_passwords(postgres, minio, refused):
    import subprocess

    services = compose()["services"]
    pre = services["preflight"]
    script = " ".join(pre["command"]).replace("$$", "$")  # compose's escaping of a literal $
    done = subprocess.run(
        [*pre["entrypoint"], script],
        env={"POSTGRES_PASSWORD": postgres, "MINIO_ROOT_PASSWORD": minio, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert (done.returncode != 0) == refused, done.stderr
    assert ("change-me-* placeholder" in done.stderr) == refused
    for name in ("postgres", "minio"):
        assert services[name]["depends_on"]["preflight"]["condition"] == "service_completed_successfully"
