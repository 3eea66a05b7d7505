"""The scaffold's worked example, on a copy of the checkout: a new family ("acme") with a new
source and type, and a new type in an existing source (aws.s3). Everything the meta-tests demand is
in place (schema, suite, catalog mapping, registration, demo seeding, unit test), the scaffolded code
is lint-clean, the scaffolded unit test passes, an unwritten fetch is an ``error`` record (never a
pass), and the scaffold refuses to overwrite anything."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
BIN = Path(sys.executable).parent


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("checkout")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("collectors", "evidence", "evidence_schemas", "scripts"):
        shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    (root / "tests" / "unit").mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "unit" / "__init__.py").write_text("")
    shutil.copy(REPO / "tests" / "unit" / "test_aws_s3.py", root / "tests" / "unit")
    shutil.copytree(REPO / "tests" / "support", root / "tests" / "support", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, root / name)
    return root


def scaffold(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, str(root / "scripts" / "scaffold.py"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_checkout(root: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    paths = [str(site)] if site else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(root)])}
    return subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True, timeout=300)


NEW_TYPE = (
    "type",
    "acme.users.mfa",
    "--title",
    "Acme users sign in with MFA",
    "--field",
    "mfa:bool",
    "--field",
    "user_name:string",
    "--pass-when",
    "mfa=true",
    "--control",
    "SEED000-SEC-AUTH-04",
    "--permission",
    "users:read",
    "--operation",
    "GET /users",
    "--resource-kind",
    "user",
)


def test_the_worked_example(checkout: Path, tmp_path: Path) -> None:
    family = scaffold(checkout, "family", "acme", "--title", "Acme Cloud", "--conn-type", "http")
    assert family.returncode == 0, family.stderr
    assert 'acme = "collectors.acme:FAMILY"' in (checkout / "pyproject.toml").read_text()
    assert 'family_dag("acme"' in (checkout / "dags" / "acme_evidence.py").read_text()

    created = scaffold(checkout, *NEW_TYPE)
    assert created.returncode == 0, created.stderr
    for path in (
        "collectors/acme/users.py",
        "evidence_schemas/schemas/acme.users.mfa.schema.json",
        "evidence_schemas/suites/acme.users.mfa.json",
        "tests/unit/test_acme_users.py",
    ):
        assert (checkout / path).exists(), path
    existing = scaffold(
        checkout,
        "type",
        "aws.s3.bucket_tagging",
        "--title",
        "S3 buckets carry an owner tag",
        "--field",
        "tagged:bool",
        "--pass-when",
        "tagged=true",
        "--control",
        "SEED003-SEC-01",
        "--permission",
        "s3:GetBucketTagging",
        "--operation",
        "get_bucket_tagging",
        "--resource-kind",
        "bucket",
    )
    assert existing.returncode == 0, existing.stderr
    catalog = (checkout / "evidence_schemas" / "catalog.yaml").read_text()
    assert "aws.iam.password_policy, aws.iam.user_mfa, acme.users.mfa]" in catalog

    # A new source in an existing family: its demo seeder is imported (in order) and listed.
    source = scaffold(
        checkout,
        "type",
        "aws.glacier.vault_lock",
        "--title",
        "Glacier vaults are locked",
        "--field",
        "locked:bool",
        "--pass-when",
        "locked=true",
        "--control",
        "SEED003-SEC-01",
        "--permission",
        "glacier:GetVaultLock",
        "--operation",
        "get_vault_lock",
        "--resource-kind",
        "vault",
    )
    assert source.returncode == 0, source.stderr
    seeders = in_checkout(
        checkout, PY, "-c", "from collectors.aws.demo import _seeders; print(sorted(_seeders()))"
    )
    assert seeders.returncode == 0, seeders.stderr
    assert "aws.glacier" in seeders.stdout and "aws.s3" in seeders.stdout

    # Refuses to overwrite, and writes nothing at all when it refuses.
    before = _tree_digest(checkout)
    again = scaffold(checkout, *NEW_TYPE)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert _tree_digest(checkout) == before

    # Lint-clean as written.
    lint = in_checkout(checkout, str(BIN / "ruff"), "check", "--no-cache", "collectors", "tests/unit")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # The new family through its entry point: registered, mapped to its control, collected.
    site = tmp_path / "site"
    info = site / "acme-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[evidence.collectors]\nacme = collectors.acme:FAMILY\n")
    check = in_checkout(
        checkout,
        PY,
        "-c",
        "import json; from evidence import registry; from evidence.catalog import load_catalog; "
        "cat = load_catalog(); t = registry.get('acme.users.mfa'); "
        "s = registry.get('aws.s3.bucket_tagging'); "
        "print(json.dumps([t.family, t.collector, [c.id for c in cat.controls_for_evidence_type(t.id)], "
        "[c.id for c in cat.controls_for_evidence_type(s.id)], cat.get('SEED003-SEC-01').method.type]))",
        site=site,
    )
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == [
        "acme",
        "acme.users",
        ["SEED000-SEC-AUTH-04"],
        ["SEED003-SEC-01"],
        "hybrid",
    ]
    tests = in_checkout(
        checkout,
        PY,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/unit/test_acme_users.py",
        "tests/unit/test_aws_s3.py",
        site=site,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "1 xfailed" in tests.stdout  # the aws.s3 mapping still to write, and its test says so
    collect = in_checkout(
        checkout,
        PY,
        "-m",
        "evidence.cli",
        "--store",
        f"sqlite:///{tmp_path}/ev.db",
        "collect",
        "acme",
        "--url",
        "http://127.0.0.1:9",
        "--json",
        site=site,
    )
    assert collect.returncode == 0, collect.stderr
    (record,) = json.loads(collect.stdout)
    assert record["status"] == "error" and "NotImplementedError" in record["reason"]
