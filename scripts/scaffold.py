"""Scaffold a new collector family, or a new evidence type, in every place it needs.

    scripts/scaffold.py family NAME --title TITLE --conn-type TYPE
    scripts/scaffold.py type FAMILY.SOURCE.CHECK --title TITLE --field NAME:KIND [--field ...]
        --pass-when FIELD=VALUE --control CONTROL_ID [--control ...] --permission PERMISSION
        [--operation OPERATION] [--resource-kind KIND]

A family gets its package (``collectors/NAME/``: the Family subclass with its connection settings and
permission model, a demo hook) and its entry point in pyproject.toml. A type gets its JSON Schema and
GX suite (``evidence_schemas/``), its catalog mapping (the controls it serves), its mapping function
(in the source's module, created with a fetch to fill in when the source is new), the source's demo
seeding module and a unit test. Nothing is ever overwritten: an existing file, type id, entry point
or catalog mapping stops the scaffold before it writes anything (exit 2). ``--root`` writes into
another checkout (the tests use a copy).

Field kinds: string, bool, int, number (nullable: a field that could not be read is null). What the
scaffold cannot know is marked ``TODO(scaffold)``: the fetch of a new source raises
NotImplementedError until it is written (the collect loop records that as an ``error`` record, never
as a pass), and a mapping added to an existing source does the same, with its unit test marked as an
expected failure until the mapping is written.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

COMMON = "https://evidence-collector.dev/schemas/common"
KINDS = {"string": "str", "bool": "bool", "int": "int", "number": "float"}
_ID = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ScaffoldError(Exception):
    pass


@dataclass
class Plan:
    """Files to create and files to edit, checked in full before anything is written."""

    root: Path
    create: dict[Path, str] = field(default_factory=dict)
    edit: dict[Path, str] = field(default_factory=dict)

    def new(self, relative: str, text: str) -> None:
        path = self.root / relative
        if path.exists() or path in self.create:
            raise ScaffoldError(f"{relative} exists: the scaffold never overwrites")
        self.create[path] = text

    def change(self, relative: str, text: str) -> None:
        self.edit[self.root / relative] = text

    def current(self, relative: str) -> str:
        path = self.root / relative
        if path in self.edit:
            return self.edit[path]
        if path in self.create:
            return self.create[path]
        return path.read_text()

    def write(self) -> list[str]:
        done = []
        for path, text in {**self.create, **self.edit}.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            done.append(str(path.relative_to(self.root)))
        # The house style's formatter, so the scaffolded code passes `ruff format --check` as written.
        ruff = Path(sys.executable).with_name("ruff")
        python = [str(p) for p in {**self.create, **self.edit} if p.suffix == ".py"]
        if python and ruff.exists():
            subprocess.run([str(ruff), "format", "--quiet", *python], check=False)
            subprocess.run(
                [str(ruff), "check", "--quiet", "--fix", "--select", "I,F401", *python], check=False
            )
        return sorted(done)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


# --- family ---------------------------------------------------------------------------------------


def scaffold_family(plan: Plan, name: str, title: str, conn_type: str) -> None:
    if not _NAME.fullmatch(name) or name == "core":
        raise ScaffoldError(f"family name {name!r}: lower-case letters, digits and underscores, not 'core'")
    upper, camel = name.upper(), _camel(name)
    plan.new(
        f"dags/{name}_evidence.py",
        f'''"""{title} evidence, daily (an Airflow DAG from the family DAG factory; the
``{name}_default`` connection says what to collect)."""

from plugins.orchestration.family_dags import family_dag

dag = family_dag("{name}", schedule="@daily", doc_md=__doc__)
''',
    )
    plan.new(
        f"collectors/{name}/__init__.py",
        f'''"""The {title} collector family (entry point ``{name} = "collectors.{name}:FAMILY"``)."""

from collectors.{name}.family import {upper} as FAMILY

__all__ = ["FAMILY"]
''',
    )
    plan.new(
        f"collectors/{name}/family.py",
        f'''"""The {title} collector family.

TODO(scaffold): say what one unit covers, how ``connect`` reaches the source, and what the
permission model grants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from collectors.core import CallRecorder
from collectors.core.family import Family
from evidence.errors import ConfigError
from evidence.family import ConnectionSpec, Setting, Unit

_PERMISSION = re.compile(r"[a-z0-9_.-]+:[a-z_]+")  # TODO(scaffold): the form of one permission


class {camel}Permissions:
    """TODO(scaffold): the permissions of {title} and the least-privilege policy built from them."""

    name = "{title} permissions"
    media_type = "application/json"

    def check(self, permission: str) -> str | None:
        return None if _PERMISSION.fullmatch(permission) else "not a permission of the form resource:verb"

    def render(self, permissions: Sequence[str]) -> str:
        return json.dumps({{"permissions": sorted(set(permissions))}}, indent=2) + "\\n"


@dataclass(frozen=True)
class {camel}Config:
    url: str
    concurrency: int = 8


class {camel}Family(Family[{camel}Config]):
    name = "{name}"
    title = "{title}"
    connection = ConnectionSpec(
        conn_type="{conn_type}",
        default_conn_id="{name}_default",
        description="TODO(scaffold): how to reach {title}",
        settings=(
            Setting("url", "where {title} answers", env="EVIDENCE_{upper}_URL", flags=("--url",)),
            Setting("concurrency", "calls in flight per unit", env="EVIDENCE_{upper}_CONCURRENCY",
                    flags=("--concurrency",), kind="int"),
        ),
    )
    permission_model = {camel}Permissions()
    modules: ClassVar[tuple[str, ...]] = ()  # the source modules (the type scaffold adds them here)

    def configure(self, settings: Mapping[str, Any]) -> {camel}Config:
        if not settings.get("url"):
            raise ConfigError("{name}: set --url or EVIDENCE_{upper}_URL")
        return {camel}Config(url=str(settings["url"]), concurrency=int(settings.get("concurrency") or 8))

    def plan(
        self, config: {camel}Config, *, sources: Collection[str] | None = None,
        types: Collection[str] | None = None,
    ) -> list[Unit]:
        chosen, only = self.resolve_sources(sources, types)
        return [Unit(self.name, source.name, (("url", config.url),), only) for source in chosen]

    def recorder(self) -> CallRecorder:
        return CallRecorder()  # TODO(scaffold): a recorder whose call() sorts the source's answers

    def connect(self, opened: {camel}Config, unit: Unit, recorder: Any) -> tuple[{camel}Config, dict[str, str]]:
        return opened, {{"url": opened.url}}


{upper} = {camel}Family()
''',
    )
    pyproject = plan.current("pyproject.toml")
    group = '[project.entry-points."evidence.collectors"]'
    if group not in pyproject:
        raise ScaffoldError('pyproject.toml has no [project.entry-points."evidence.collectors"] table')
    if re.search(rf"^{re.escape(name)}\s*=", pyproject, re.M):
        raise ScaffoldError(f"pyproject.toml already has an entry point named {name!r}")
    head, tail = pyproject.split(group, 1)
    lines = tail.split("\n")
    end = 1
    while end < len(lines) and lines[end].strip() and not lines[end].startswith("["):
        end += 1
    lines.insert(end, f'{name} = "collectors.{name}:FAMILY"')
    plan.change("pyproject.toml", head + group + "\n".join(lines))


# --- type -----------------------------------------------------------------------------------------


def _schema(type_id: str, title: str, fields: dict[str, str]) -> str:
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://evidence-collector.dev/schemas/{type_id}",
        "title": title,
        "allOf": [{"$ref": f"{COMMON}#/$defs/payload"}],
        "properties": {
            "evidence_type": {"const": type_id},
            "rows": {
                "type": "array",
                "items": {
                    "allOf": [{"$ref": f"{COMMON}#/$defs/row"}],
                    "required": sorted(fields),
                    "properties": {n: {"$ref": f"{COMMON}#/$defs/nullable_{k}"} for n, k in fields.items()},
                    "unevaluatedProperties": False,
                },
            },
        },
    }
    return json.dumps(doc, indent=2) + "\n"


def _suite(type_id: str, pass_field: str, pass_value: object) -> str:
    doc = {
        "name": type_id,
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "resource"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "resource"}},
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": pass_field},
                "meta": {"why": "a setting that could not be read is not compliance (GX ignores nulls)"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": pass_field, "value_set": [pass_value]},
                "meta": {"why": "TODO(scaffold): what this proves"},
            },
        ],
        "meta": {},
    }
    return json.dumps(doc, indent=2) + "\n"


def _catalog(text: str, controls: list[str], type_id: str) -> str:
    """Add ``type_id`` to each control's ``method.evidence_types`` (an attestation control becomes a
    hybrid one: machine evidence plus the attestation it had), editing lines, not re-dumping YAML."""
    lines = text.split("\n")
    for control in controls:
        start = next((i for i, line in enumerate(lines) if line.strip() == f"- id: {control}"), None)
        if start is None:
            raise ScaffoldError(f"no control {control!r} in evidence_schemas/catalog.yaml")
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("- id: ")), len(lines)
        )
        block = lines[start:end]
        method = next((i for i, line in enumerate(block) if line.strip() == "method:"), None)
        if method is None:
            raise ScaffoldError(f"control {control} has no method block")
        indent = " " * (len(block[method]) - len(block[method].lstrip()) + 2)
        kinds = [i for i in range(method + 1, len(block)) if block[i].startswith(indent + "type: ")]
        types_at = [
            i for i in range(method + 1, len(block)) if block[i].startswith(indent + "evidence_types: ")
        ]
        freshness = next(
            (line.split(":", 1)[1].strip() for line in block if line.strip().startswith("freshness:")),
            "P365D",
        )
        if types_at:
            listed = block[types_at[0]].split(":", 1)[1].strip().strip("[]")
            names = [n.strip() for n in listed.split(",") if n.strip()]
            if type_id in names:
                raise ScaffoldError(f"control {control} already names {type_id}")
            block[types_at[0]] = f"{indent}evidence_types: [{', '.join([*names, type_id])}]"
        elif kinds and block[kinds[0]].strip() == "type: attestation":
            block[kinds[0]] = f"{indent}type: hybrid"
            block.insert(kinds[0] + 1, f"{indent}evidence_types: [{type_id}]")
            block.insert(kinds[0] + 2, f"{indent}attestation_freshness: {freshness}")
        else:
            raise ScaffoldError(f"control {control}: cannot find where its evidence types go")
        lines[start:end] = block
    return "\n".join(lines)


def _family_object(plan: Plan, family: str) -> str:
    init = plan.current(f"collectors/{family}/__init__.py")
    found = re.search(rf"from collectors\.{family}\.family import (\w+) as FAMILY", init)
    if not found:
        raise ScaffoldError(f"collectors/{family}/__init__.py does not expose FAMILY from its family module")
    return found.group(1)


def _register_module(plan: Plan, family: str, module: str) -> None:
    relative = f"collectors/{family}/family.py"
    text = plan.current(relative)
    short = re.search(r"SERVICE_MODULES = \(\n((?:\s+\"\w+\",\n)+)\)", text)
    if short:
        names = [*re.findall(r"\"(\w+)\"", short.group(1)), module]
        body = "".join(f'    "{n}",\n' for n in sorted(names))
        plan.change(relative, text.replace(short.group(0), f"SERVICE_MODULES = (\n{body})"))
        return
    full = re.search(r"modules: ClassVar\[tuple\[str, \.\.\.\]\] = \(([^)]*)\)", text)
    if full:
        names = [*re.findall(r"\"([\w.]+)\"", full.group(1)), f"collectors.{family}.{module}"]
        listed = ", ".join(f'"{n}"' for n in sorted(names))
        plan.change(
            relative, text.replace(full.group(0), f"modules: ClassVar[tuple[str, ...]] = ({listed},)")
        )
        return
    raise ScaffoldError(f"{relative}: cannot find the family's module list to register {module}")


def scaffold_type(
    plan: Plan,
    type_id: str,
    *,
    title: str,
    fields: dict[str, str],
    pass_when: tuple[str, object],
    controls: list[str],
    permission: str,
    operation: str,
    resource_kind: str,
) -> None:
    if not _ID.fullmatch(type_id):
        raise ScaffoldError(f"{type_id!r}: an evidence type id is family.source.check (lower case)")
    family, source, check = type_id.split(".")
    if not (plan.root / "collectors" / family).is_dir():
        raise ScaffoldError(f"no family {family!r}: run `scripts/scaffold.py family {family}` first")
    if not controls:
        raise ScaffoldError("name at least one control the type serves (--control ID)")
    for name, kind in fields.items():
        if kind not in KINDS or not _NAME.fullmatch(name):
            raise ScaffoldError(f"field {name}:{kind}: kinds are {', '.join(KINDS)}")
    pass_field, pass_value = pass_when
    if pass_field not in fields:
        raise ScaffoldError(f"--pass-when names {pass_field!r}, which is not a --field")
    family_object = _family_object(plan, family)
    plan.new(f"evidence_schemas/schemas/{type_id}.schema.json", _schema(type_id, title, fields))
    plan.new(f"evidence_schemas/suites/{type_id}.json", _suite(type_id, pass_field, pass_value))
    plan.change(
        "evidence_schemas/catalog.yaml",
        _catalog(plan.current("evidence_schemas/catalog.yaml"), controls, type_id),
    )

    module_rel = f"collectors/{family}/{source}.py"
    snapshot = f"{_camel(source)}Snapshot"
    new_source = not (plan.root / module_rel).exists()
    api = f"{check.upper()}_CALL"
    if new_source:
        module = f'''"""{family}.{source}: TODO(scaffold): what this source reads, once per unit.

``fetch`` reads the source into a snapshot; each evidence type below maps it to rows with a pure
function that the unit tests feed recorded answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.core import Failed, Found, Outcome, Snapshot, failed_reason
from collectors.core.family import FetchContext
from collectors.{family}.family import {family_object}
from evidence.registry import ApiPermission, Row

COLLECTOR = "{family}.{source}"


@dataclass
class {snapshot}(Snapshot):
    items: dict[str, Outcome] = field(default_factory=dict)  # resource -> its settings, or why unread


def fetch(ctx: FetchContext[Any]) -> {snapshot}:
    """TODO(scaffold): list the resources and read each one's settings into ``items`` through
    ``ctx.recorder`` (a listing that fails: ``snapshot.fail(API, outcome.error)``)."""
    raise NotImplementedError("the fetch of {family}.{source} is not written yet (scripts/scaffold.py)")


SOURCE = {family_object}.source(COLLECTOR, scope="target")(fetch)
'''
        _register_module(plan, family, source)
    else:
        module = plan.current(module_rel)
        if f'"{type_id}"' in module:
            raise ScaffoldError(f"{module_rel} already declares {type_id}")
        source_var = re.search(r"^(\w+) = \w+\.source\(", module, re.M)
        if not source_var:
            raise ScaffoldError(f"{module_rel}: cannot find the source it registers")
    source_var_name = "SOURCE" if new_source else source_var.group(1)  # type: ignore[union-attr]
    nulls = ", ".join(f'"{n}": None' for n in fields)
    value = repr(pass_value)
    module += f'''

{api} = ApiPermission("{source}", "{operation}", "{permission}")


@{source_var_name}.evidence_type(
    "{type_id}",
    title="{title}",
    api_calls=({api},),
    resource_kind="{resource_kind}",
)
def {check}(snapshot: {snapshot if new_source else "Any"}) -> list[Row]:
    """{title}"""
'''
    if new_source:
        module += f'''    rows: list[Row] = []
    for resource, outcome in sorted(snapshot.items.items()):
        fields: dict[str, Any] = {{{nulls}}}
        if isinstance(outcome, Failed):
            reason = failed_reason(outcome)
            rows.append({{"resource": resource, "region": None, "status": "error", "reason": reason, **fields}})
            continue
        if isinstance(outcome, Found):
            fields.update({{k: outcome.value.get(k) for k in fields}})
        ok = fields["{pass_field}"] {"is" if isinstance(pass_value, bool) else "=="} {value}
        reason = "{pass_field} is {value}"
        if not ok:
            reason = f"{pass_field} is {{fields['{pass_field}']!r}}, not {value}"
        status = "pass" if ok else "fail"
        rows.append({{"resource": resource, "region": None, "status": status, "reason": reason, **fields}})
    return rows
'''
    else:
        module += f"""    raise NotImplementedError("TODO(scaffold): map the snapshot to {type_id} rows")
"""
    if new_source:
        plan.new(module_rel, module)
    else:
        plan.change(module_rel, module)

    demo_rel = f"collectors/{family}/demo/{source}.py"
    if (plan.root / f"collectors/{family}/demo").is_dir() and not (plan.root / demo_rel).exists():
        plan.new(
            demo_rel,
            f'''"""Demo seeding for {family}.{source}: TODO(scaffold) create a compliant and a non-compliant
resource in the demo source and say which must pass and which must fail."""

from __future__ import annotations

from typing import Any

from collectors.{family}.demo import Expected, Expectations


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    return {{"{type_id}": Expected()}}
''',
        )
        demo_init = plan.current(f"collectors/{family}/demo/__init__.py")
        if re.search(r"    return \{\n", demo_init) and "def _seeders" in demo_init:
            head = "    from collectors." + family + ".demo import (\n"
            start = demo_init.index(head) + len(head)
            end = demo_init.index("    )\n", start)
            names = sorted({n.strip().rstrip(",") for n in demo_init[start:end].splitlines()} | {source})
            demo_init = demo_init[:start] + "".join(f"        {n},\n" for n in names if n) + demo_init[end:]
            # Found again after the import was added: an offset from before would land inside it.
            anchor = re.search(r"    return \{\n", demo_init)
            assert anchor is not None
            demo_init = (
                demo_init[: anchor.end()]
                + f'        "{family}.{source}": {source}.seed,\n'
                + demo_init[anchor.end() :]
            )
            plan.change(f"collectors/{family}/demo/__init__.py", demo_init)

    test_rel = f"tests/unit/test_{family}_{source}.py"
    if new_source:
        good = {"bool": True, "int": 1, "number": 1.0, "string": "x"}
        sample = {n: (pass_value if n == pass_field else good[k]) for n, k in fields.items()}
        wrong = {"bool": False, "int": 0, "number": 0.0, "string": f"not-{pass_value}"}[fields[pass_field]]
        test = f"""

def test_{check}_judges_each_resource() -> None:
    snapshot = {snapshot}(
        target={{"scope": "test"}},
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
        items={{
            "good": Found({sample!r}),
            "bad": Found({ ({**sample, pass_field: wrong})!r}),
            "unread": Failed("access_denied", SourceError(code="AccessDenied", message="no", operation="x")),
        }},
    )
    rows = {{r["resource"]: r for r in {check}(snapshot)}}
    assert rows["good"]["status"] == "pass"
    assert rows["bad"]["status"] == "fail" and "{pass_field}" in rows["bad"]["reason"]
    assert rows["unread"]["status"] == "error"
    payload = {{"evidence_type": "{type_id}", "target": {{"scope": "test"}}, "rows": list(rows.values())}}
    assert schema_errors("{type_id}", payload) == []
"""
        header = f'''"""Unit tests of the {family}.{source} mappings (recorded answers, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

from collectors.core import Failed, Found
from collectors.{family}.{source} import {snapshot}, {check}
from evidence.records import SourceError
from evidence.validation import schema_errors
'''
    else:
        test = f"""

@pytest.mark.xfail(raises=NotImplementedError, strict=True, reason="scaffolded: write the mapping")
def test_{check}_judges_each_resource() -> None:
    from collectors.{family}.{source} import {check}

    # TODO(scaffold): feed a recorded snapshot; assert a compliant resource passes, a non-compliant
    # one fails and is named, an unreadable one is an error row; then remove the xfail mark.
    {check}(None)
"""
        header = f'''"""Unit tests of the {family}.{source} mappings (recorded answers, no server)."""

from __future__ import annotations

import pytest
'''
    if (plan.root / test_rel).exists():
        existing = plan.current(test_rel)
        if not new_source and "import pytest" not in existing:
            raise ScaffoldError(f"{test_rel} does not import pytest; add the test by hand")
        plan.change(test_rel, existing + test)
    else:
        plan.new(test_rel, header + test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/scaffold.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    sub = parser.add_subparsers(dest="what", required=True)
    fam = sub.add_parser("family", help="a new collector family package and its entry point")
    fam.add_argument("name")
    fam.add_argument("--title", required=True)
    fam.add_argument("--conn-type", default="http", help="the Airflow connection type it uses")
    typ = sub.add_parser("type", help="a new evidence type: schema, suite, catalog, mapping, demo, test")
    typ.add_argument("type_id", metavar="FAMILY.SOURCE.CHECK")
    typ.add_argument("--title", required=True)
    typ.add_argument("--field", action="append", default=[], metavar="NAME:KIND", required=True)
    typ.add_argument("--pass-when", required=True, metavar="FIELD=VALUE")
    typ.add_argument("--control", action="append", default=[], required=True)
    typ.add_argument("--permission", required=True, help="in the family's permission model")
    typ.add_argument("--operation", default="read", help="the API operation the permission allows")
    typ.add_argument("--resource-kind", default="resource")
    args = parser.parse_args(argv)
    plan = Plan(root=args.root.resolve())
    try:
        if args.what == "family":
            scaffold_family(plan, args.name, args.title, args.conn_type)
        else:
            fields = dict(spec.split(":", 1) if ":" in spec else (spec, "string") for spec in args.field)
            name, _, raw = args.pass_when.partition("=")
            kind = fields.get(name, "string")
            value: object = {
                "bool": raw.lower() == "true",
                "int": int(raw) if raw.lstrip("-").isdigit() else raw,
                "number": raw,
                "string": raw,
            }[kind]
            if kind == "number":
                value = float(raw)
            scaffold_type(
                plan,
                args.type_id,
                title=args.title,
                fields=fields,
                pass_when=(name, value),
                controls=args.control,
                permission=args.permission,
                operation=args.operation,
                resource_kind=args.resource_kind,
            )
    except (ScaffoldError, ValueError) as exc:
        print(f"scaffold: {exc}", file=sys.stderr)
        return 2
    for path in plan.write():
        print(f"wrote {path}")
    if args.what == "family":
        print("next: scripts/bootstrap (re-installs the entry points), then scripts/scaffold.py type ...")
    else:
        print("next: fill in every TODO(scaffold), then scripts/test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
