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
    assert env["EVIDENCE_STORE_URL"].startswith("postgresql+psycopg://")
    assert env["EVIDENCE_BLOB_URL"].startswith("${EVIDENCE_BLOB_URL")
    # The signing key must come from outside the repository, and compose must refuse to start without it.
    assert re.fullmatch(r"\$\{EVIDENCE_SIGNING_KEY:\?.+\}", env["EVIDENCE_SIGNING_KEY"])
    assert "BEGIN PRIVATE KEY" not in (ROOT / "docker-compose.yml").read_text()


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
