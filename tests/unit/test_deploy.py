"""docker-compose.yml and the Dockerfile, validated by a parser (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_ROLES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


def test_every_node_of_a_celery_deployment_is_there() -> None:
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_ROLES} <= set(SERVICES)
    for name, command in AIRFLOW_ROLES.items():
        service = SERVICES[name]
        assert service["command"] == command
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "healthcheck" in service, f"{name} has no healthcheck"
    assert SERVICES["airflow-worker"]["deploy"]["replicas"] >= 2


def test_dependencies_point_at_real_services_with_conditions() -> None:
    for name, service in SERVICES.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
            assert spec["condition"] in {
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            }


def test_evidence_store_settings_and_no_committed_secrets() -> None:
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["EVIDENCE_STORE_URL"].startswith("postgresql+psycopg://evidence:${EVIDENCE_DB_APP_PASSWORD:?")
    assert env["EVIDENCE_BLOB_URL"].startswith("${EVIDENCE_BLOB_URL:?")
    # The signing key must come from outside the repository, and compose must refuse to start without it.
    assert re.fullmatch(r"\$\{EVIDENCE_SIGNING_KEY:\?.+\}", env["EVIDENCE_SIGNING_KEY"])
    text = (ROOT / "docker-compose.yml").read_text()
    assert "BEGIN PRIVATE KEY" not in text


SECRET_NAMES = re.compile(r"(PASSWORD|FERNET|JWT_SECRET|SIGNING_KEY)")


def test_every_secret_comes_from_env_and_every_variable_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    example = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    for name, default in re.findall(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}", text):
        assert name in example or default is not None, f"${{{name}}} is neither in .env.example nor defaulted"
        if SECRET_NAMES.search(name):
            assert name in example, f"secret {name} is not in .env.example"
    # No literal secret anywhere: every secret-looking setting is a ${...} reference.
    for service in SERVICES.values():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAMES.search(key) and key != "EVIDENCE_SIGNING_KEY":
                assert str(value).startswith("${"), f"{key} has a literal value"
    assert "PASSWORD '" not in (ROOT / "deploy" / "postgres-init.sql").read_text()
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_every_airflow_node_shares_the_jwt_secret_and_fernet_key() -> None:
    for name in (*AIRFLOW_ROLES, "airflow-init"):
        env = SERVICES[name]["environment"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?"), name
        assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?"), name


def test_the_auth_manager_is_installed_and_celery_preloads() -> None:
    env = SERVICES["airflow-worker"]["environment"]
    if "FabAuthManager" in env["AIRFLOW__CORE__AUTH_MANAGER"]:
        assert 'name = "apache-airflow-providers-fab"' in (ROOT / "uv.lock").read_text()
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "plugins.orchestration.preload.CELERY_CONFIG"


def test_init_fails_loudly_and_creates_the_store_as_its_owner() -> None:
    init = SERVICES["airflow-init"]
    script = "\n".join(init["command"])
    assert "|| true" not in script and "pipefail" in script
    assert "evidence_owner" in script and "evidence init" in script
    assert "airflow db migrate" in script


def test_code_and_dags_are_mounted_and_the_image_installs_the_locked_set() -> None:
    mounts = " ".join(SERVICES["airflow-scheduler"]["volumes"])
    for folder in ("/dags:", "/plugins:", "/collectors:", "/evidence:", "/evidence_schemas:"):
        assert folder in mounts, folder
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv export --frozen" in dockerfile and "-e /opt/evidence" in dockerfile


def test_the_demo_profile_points_every_node_at_the_emulator() -> None:
    import subprocess

    generated = subprocess.run(
        [str(ROOT / "scripts" / "compose-env"), "--demo"], capture_output=True, text=True, check=True
    ).stdout
    values = {
        k: v.strip("'")
        for k, v in (line.split("=", 1) for line in generated.splitlines() if line and line[0] != "#")
    }
    conn = __import__("json").loads(values["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"]["endpoint_url"] == "http://moto:5000" and conn["login"]
    assert "endpoint_url=http://moto:5000" in values["EVIDENCE_BLOB_URL"]
    assert values["EVIDENCE_EVENTS_SQS_URL"].startswith("http://moto:5000/")
    assert len(values["AIRFLOW_FERNET_KEY"]) == 44
    assert len(values["AIRFLOW_JWT_SECRET"]) >= 86  # 64 random bytes, base64url: HS512 wants 64 or more
    seed = " ".join(SERVICES["demo-seed"]["command"])
    assert "collectors.aws.demo.compose" in seed  # estate, Object Lock bucket and events queue


def test_docker_compose_config_passes_where_docker_exists(tmp_path) -> None:
    import shutil
    import subprocess

    import pytest

    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no docker compose here (the parser tests above stand in)")
    env_file = tmp_path / ".env"
    env_file.write_text(
        subprocess.run(
            [str(ROOT / "scripts" / "compose-env"), "--demo"], capture_output=True, text=True
        ).stdout
    )
    result = subprocess.run(
        [
            docker,
            "compose",
            "--env-file",
            str(env_file),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_demo_emulators_only_under_the_demo_profile() -> None:
    for name in ("moto", "demo-seed"):
        assert SERVICES[name]["profiles"] == ["demo"]
    assert all("profiles" not in SERVICES[n] for n in ("postgres", "redis", *AIRFLOW_ROLES))


def test_images_match_the_lock_file() -> None:
    lock = (ROOT / "uv.lock").read_text()
    airflow = re.search(r'name = "apache-airflow"\nversion = "([^"]+)"', lock)
    moto = re.search(r'name = "moto"\nversion = "([^"]+)"', lock)
    assert airflow and moto
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"apache/airflow:{airflow.group(1)}-python3.11" in dockerfile
    assert SERVICES["moto"]["image"] == f"motoserver/moto:{moto.group(1)}"
    assert (ROOT / "deploy" / "postgres-init.sql").exists()
