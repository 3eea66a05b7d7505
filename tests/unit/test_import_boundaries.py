"""The dependency direction of DESIGN.md, checked on the source: ``evidence/`` (the core) imports
neither ``collectors`` nor Airflow and names no collector family; ``collectors/core`` imports no
family; a family imports no other family, nor ``dags/``, ``plugins/`` or Airflow; nothing imports
``dags/``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from evidence import registry

ROOT = Path(__file__).resolve().parents[2]
FAMILY_NAMES = sorted({*registry.families(), "widgets"})  # widgets: the test family, entry point only


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants that are not docstrings (what the code says, not what it explains)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docstrings.add(id(first.value))
    return [
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", _python_files("evidence"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_collector_and_no_airflow(path: Path) -> None:
    bad = {m for m in _imports(path) if _top(m) in ("collectors", "airflow", "dags", "plugins")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


# The core's own use of Vault is the Transit signer (the log's key store, not the vault collector
# family): its module may say "Vault", and the signing-key scheme ``vault:<mount>/<key>`` is a scheme.
CORE_VAULT_SIGNER = frozenset({"evidence/transit.py"})
SIGNING_KEY_SCHEME = re.compile(r"\bvault:", re.IGNORECASE)


@pytest.mark.parametrize(
    "path", _python_files("evidence", "collectors/core"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_core_file_names_a_family(path: Path) -> None:
    names = FAMILY_NAMES
    if path.relative_to(ROOT).as_posix() in CORE_VAULT_SIGNER:
        names = [n for n in names if n != "vault"]
    # A URL's scheme (https://, redis://) is not a family: the family "https" and a link differ.
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b(?!://)", re.IGNORECASE)
    named = [
        (line, text) for line, text in _code_strings(path) if pattern.search(SIGNING_KEY_SCHEME.sub("", text))
    ]
    assert not named, f"{path.relative_to(ROOT)} names a collector family: {named}"
    families = {
        m for m in _imports(path) if m.startswith("collectors.") and not m.startswith("collectors.core")
    }
    assert not families, f"{path.relative_to(ROOT)} imports {sorted(families)}"


def _family_packages() -> list[Path]:
    return sorted(p for p in (ROOT / "collectors").iterdir() if p.is_dir() and (p / "__init__.py").exists())


# Shared support packages (no entry point, not a family): any family may import them; they import
# only ``collectors.core`` and themselves.
SUPPORT_PACKAGES = ("pgscratch",)


def test_support_packages_are_not_families() -> None:
    for name in SUPPORT_PACKAGES:
        assert name not in registry.families(), name


@pytest.mark.parametrize("package", _family_packages(), ids=lambda p: p.name)
def test_a_family_imports_no_other_family_nor_airflow(package: Path) -> None:
    for path in sorted(package.rglob("*.py")):
        for module in _imports(path):
            parts = module.split(".")
            assert _top(module) not in ("airflow", "dags", "plugins"), f"{path.relative_to(ROOT)}: {module}"
            if parts[0] == "collectors" and len(parts) > 1 and package.name != "core":
                allowed = (package.name, "core", *SUPPORT_PACKAGES)
                assert parts[1] in allowed, f"{path.relative_to(ROOT)} imports {module}"
            if package.name == "core":
                assert parts[0] != "collectors" or parts[1] == "core", f"{path.relative_to(ROOT)}: {module}"


def test_nothing_imports_dags() -> None:
    for path in _python_files("evidence", "collectors", "plugins"):
        assert not {m for m in _imports(path) if _top(m) == "dags"}, path


def test_every_dag_file_passes_airflow_safe_mode() -> None:
    """Airflow's DAG discovery (safe mode) skips, silently, a file that does not contain both "airflow"
    and "dag": a thin DAG file that is one call must still say it."""
    for path in sorted((ROOT / "dags").glob("*.py")):
        text = path.read_text().lower()
        assert "airflow" in text and "dag" in text, f"{path.name}: Airflow's safe mode would skip it"
