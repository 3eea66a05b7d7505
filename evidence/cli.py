"""``evidence``: the command line. Scripted by auditors and CI, so it behaves like a Unix tool.

- one store per invocation: ``--store URL`` or ``EVIDENCE_STORE_URL``; else ``.evidence/`` here;
- ``--json`` on every command that reports; human tables (Rich) otherwise, on stdout;
- exit codes: 0 all good; 1 a check found a problem; 2 usage or configuration error;
- messages go to stderr and name the record, file or field at fault.

This is the only module that turns errors into exit codes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from evidence import __version__
from evidence.errors import (
    BlobError,
    EvidenceError,
    VerificationError,
)

if TYPE_CHECKING:
    from evidence.store import EvidenceStore

app = typer.Typer(
    name="evidence",
    help="Collect, store and verify compliance evidence (SOC 2, GDPR, DR drills).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
collect_app = typer.Typer(
    help="Collect evidence from a source and append it to the store.", no_args_is_help=True
)
app.add_typer(collect_app, name="collect")

# Piped output keeps whole lines (Rich would otherwise wrap tables at 80 columns); COLUMNS still wins.
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
out = Console(soft_wrap=True, width=_PIPE_WIDTH, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)

STATUS_STYLE = {
    "pass": "green",
    "passing": "green",
    "fail": "red",
    "failing": "red",
    "error": "magenta",
    "stale": "yellow",
    "missing": "yellow",
    "excepted": "cyan",
    "not_applicable": "dim",
}

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


class _State:
    store_url: str | None = None


state = _State()


class CheckFailed(Exception):
    """A check found a problem: exit 1 (the problem was already reported)."""


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, sort_keys=False) + "\n")


def _styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _add_row(table: Table, *values: object) -> None:
    """Cells from data are plain Text, so brackets in names are never read as Rich markup."""
    table.add_row(*(v if isinstance(v, Text) else Text(str(v)) for v in values))


@contextmanager
def _store(create: bool = True) -> Iterator[EvidenceStore]:
    from evidence.store import open_store

    store = open_store(state.store_url, create=create)
    try:
        yield store
    finally:
        store.close()


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date or time", param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version(value: bool) -> None:
    if value:
        out.print(f"evidence {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    store: Annotated[
        str | None,
        typer.Option("--store", envvar="EVIDENCE_STORE_URL", help="SQLAlchemy URL of the evidence store."),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    """Evidence store: the embedded default is .evidence/ in the working directory."""
    state.store_url = store


# --- catalog ----------------------------------------------------------------------------------------


@app.command()
def catalog(
    framework: Annotated[
        str | None, typer.Option(help="soc2, gdpr, dr, or soc2:CC6.1, gdpr:Art32...")
    ] = None,
    method: Annotated[str | None, typer.Option(help="automated, attestation or hybrid")] = None,
    evidence_type: Annotated[
        str | None, typer.Option("--type", help="controls served by this evidence type")
    ] = None,
    search: Annotated[str | None, typer.Option(help="text in the checklist lines")] = None,
    seed: Annotated[str | None, typer.Option(help="seed checklist: 000 or 003")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the control catalog (every seed checklist item is a control), with filters."""
    from evidence.catalog import load_catalog

    controls = load_catalog().filter(
        framework=framework, method=method, evidence_type=evidence_type, text=search, seed=seed
    )
    if as_json:
        _emit_json([c.model_dump(mode="json") for c in controls])
        return
    table = Table(title=f"{len(controls)} controls")
    for column in ("id", "title", "frameworks", "method", "freshness", "owner"):
        table.add_column(column, overflow="fold")
    for c in controls:
        fw = ", ".join([*c.frameworks.soc2, *c.frameworks.gdpr, *(["DR"] if c.frameworks.dr else [])])
        how = c.method.type + (": " + ", ".join(c.method.evidence_types) if c.method.evidence_types else "")
        _add_row(table, c.id, c.title, fw, how, str(c.freshness), c.owner_role)
    out.print(table)


@app.command("types")
def list_types(as_json: JsonOpt = False) -> None:
    """List the evidence types: who collects them, the permissions they need, their freshness."""
    from evidence import registry

    types = list(registry.all_types())
    if as_json:
        _emit_json(
            [
                {
                    "id": t.id,
                    "title": t.title,
                    "collector": t.collector,
                    "permissions": list(t.permissions),
                    "freshness_seconds": int(t.freshness.total_seconds()),
                }
                for t in types
            ]
        )
        return
    table = Table(title=f"{len(types)} evidence types")
    for column in ("id", "collector", "title", "permissions"):
        table.add_column(column, overflow="fold")
    for t in types:
        _add_row(table, t.id, t.collector, t.title, ", ".join(t.permissions))
    out.print(table)


# --- reading the store ------------------------------------------------------------------------------


def _record_summary(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "seq": record.seq,
        "evidence_type": record.evidence_type,
        "status": str(record.status),
        "target": record.target,
        "observed_at": record.observed_at.isoformat(),
        "recorded_at": record.recorded_at.isoformat(),
        "control_ids": list(record.control_ids),
        "reason": record.reason,
    }


@app.command("list")
def list_records(
    evidence_type: Annotated[str | None, typer.Option("--type", help="only this evidence type")] = None,
    status: Annotated[str | None, typer.Option(help="pass, fail, error or not_applicable")] = None,
    control: Annotated[str | None, typer.Option(help="only records serving this control id")] = None,
    since: Annotated[str | None, typer.Option(help="observed at or after (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="observed before (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many (newest first)")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List evidence records, newest first."""
    if status is not None and status not in ("pass", "fail", "error", "not_applicable"):
        raise typer.BadParameter("choose pass, fail, error or not_applicable", param_hint="--status")
    with _store(create=False) as store:
        records = list(
            store.iter_records(
                evidence_type=evidence_type,
                status=status,
                control_id=control,
                since=_parse_time(since, "--since"),
                until=_parse_time(until, "--until"),
                limit=limit,
                newest_first=True,
            )
        )
    if as_json:
        _emit_json([_record_summary(r) for r in records])
        return
    table = Table(title=f"{len(records)} records (newest first)")
    for column in ("seq", "id", "type", "target", "status", "observed (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for r in records:
        target = "/".join(r.target.values())
        _add_row(
            table,
            str(r.seq),
            r.id,
            r.evidence_type,
            target,
            _styled(str(r.status)),
            f"{r.observed_at:%Y-%m-%d %H:%M:%S}",
            r.reason,
        )
    out.print(table)


@app.command()
def show(
    record_id: Annotated[str, typer.Argument(help="record id (or a unique prefix)")],
    payload: Annotated[bool, typer.Option(help="include the payload (checked against its digest)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one record in full: status and reason, provenance, validation, digests."""
    with _store(create=False) as store:
        record = store.get(record_id)
        body = record.model_dump(mode="json")
        if payload:
            body["payload"] = json.loads(store.read_blob(record.payload_sha256))
    if as_json:
        _emit_json(body)
        return
    out.print(Text.assemble((record.id, "bold"), f"  seq {record.seq}  ", _styled(str(record.status))))
    for key in (
        "evidence_type",
        "control_ids",
        "collector",
        "collector_version",
        "target",
        "observed_at",
        "recorded_at",
        "period_start",
        "period_end",
        "reason",
        "error",
        "population",
        "payload_sha256",
        "payload_size",
        "validation",
        "idempotency_key",
        "attested_by",
        "leaf_hash",
    ):
        value = body.get(key)
        if value not in (None, [], {}):
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            out.print(Text.assemble("  ", (key, "bold"), ": ", text))
    prov = body["provenance"]
    calls = prov.pop("api_calls", [])
    out.print(
        Text.assemble("  ", ("provenance", "bold"), ": ", json.dumps({k: v for k, v in prov.items() if v}))
    )
    for call in calls:
        out.print(
            f"    {call['service']}:{call['operation']} x{call['count']} region={call['region']} "
            f"http={call['http_status']} error={call['error_code']} example_request_id={call['request_id']}",
            markup=False,
        )
    for att in body["attachments"]:
        out.print(f"  attachment {att['role']}: sha256:{att['sha256']} ({att['size']} bytes)", markup=False)
    if payload:
        out.print_json(data=body["payload"])


# --- writing: attestations and exceptions -----------------------------------------------------------


def _context(run_id: str) -> Any:
    from ulid import ULID

    from evidence.pipeline import RunContext

    return RunContext.from_env(f"{run_id}-{ULID()}")


@app.command()
def append(
    control: Annotated[list[str], typer.Option("--control", "-c", help="control id (repeat for several)")],
    statement: Annotated[str, typer.Option(help="what is attested, in words an auditor reads")],
    by: Annotated[str, typer.Option("--by", help="who attests (name, e-mail)")],
    role: Annotated[str | None, typer.Option(help="their role, e.g. 'Security Lead'")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="supporting document (PDF, report...)")
    ] = None,
    not_in_place: Annotated[
        bool, typer.Option("--not-in-place", help="attest that the control is NOT in place")
    ] = False,
    valid_until: Annotated[str | None, typer.Option(help="the attestation lapses then (ISO 8601)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Append an attestation: a statement (and optionally a document) for controls, with who attested."""
    from evidence.attestation import attest
    from evidence.records import Status

    prepared = attest(
        control,
        statement,
        by,
        context=_context("attest"),
        role=role,
        document=file,
        status=Status.FAIL if not_in_place else Status.PASS,
        valid_until=_parse_time(valid_until, "--valid-until"),
    )
    with _store() as store:
        result = store.append(prepared)
    _report_append([result], as_json)


@app.command("accept-risk")
def accept_risk_cmd(
    control: Annotated[list[str], typer.Option("--control", "-c", help="control id (repeat for several)")],
    reason: Annotated[str, typer.Option(help="why the gap is acceptable for now")],
    by: Annotated[str, typer.Option("--by", help="who accepts the risk")],
    until: Annotated[str, typer.Option(help="when the exception expires (ISO 8601, at most a year)")],
    role: Annotated[str | None, typer.Option(help="their role")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a control exception (risk acceptance). Posture shows it apart; it fails again on expiry."""
    from evidence.attestation import accept_risk

    expires = _parse_time(until, "--until")
    assert expires is not None
    prepared = accept_risk(control, reason, by, expires, context=_context("exception"), role=role)
    with _store() as store:
        result = store.append(prepared)
    _report_append([result], as_json)


def _report_append(results: list[Any], as_json: bool) -> None:
    if as_json:
        _emit_json([{**_record_summary(r.record), "created": r.created} for r in results])
        return
    for r in results:
        verb = "appended" if r.created else "already present"
        out.print(
            f"{verb}: {r.record.id} seq {r.record.seq} {r.record.evidence_type} "
            f"{_styled(str(r.record.status))}"
        )


# --- collecting ---------------------------------------------------------------------------------------


@collect_app.command("aws")
def collect_aws(
    region: Annotated[
        list[str] | None, typer.Option("--region", "-r", help="region (repeat); default EVIDENCE_AWS_REGIONS")
    ] = None,
    service: Annotated[
        list[str] | None, typer.Option("--service", "-s", help="collector, e.g. aws.s3 (repeat)")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(envvar="EVIDENCE_AWS_ENDPOINT_URL", help="emulator or private endpoint")
    ] = None,
    role_arn: Annotated[
        list[str] | None, typer.Option("--role-arn", help="account role to assume (repeat)")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=64, help="in-flight calls per service")
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="exit 1 if any record has one of these statuses, e.g. fail,error")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Collect AWS evidence (every service, every configured account and region) into the store."""
    from dataclasses import replace

    from collectors.aws.core import AwsAccount, AwsConfig
    from collectors.aws.runner import collect

    config = AwsConfig.from_env()
    if region:
        config = replace(config, regions=tuple(region))
    if endpoint_url:
        config = replace(config, endpoint_url=endpoint_url)
    if role_arn:
        config = replace(config, accounts=tuple(AwsAccount(name=a, role_arn=a) for a in role_arn))
    if concurrency:
        config = replace(config, concurrency=concurrency)
    with err.status("collecting AWS evidence..."):
        prepared = collect(config, _context("collect-aws"), service_names=service)
    with _store() as store:
        results = store.append_batch(prepared)
    _report_collection(results, as_json, fail_on)


def _report_collection(results: list[Any], as_json: bool, fail_on: str | None) -> None:
    records = [r.record for r in results]
    if as_json:
        _emit_json([{**_record_summary(r.record), "created": r.created} for r in results])
    else:
        table = Table(title=f"{len(records)} records (evidence list / show ID for the full reasons)")
        table.add_column("type", no_wrap=True)
        table.add_column("target", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("resources", justify="right", no_wrap=True)
        table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=70)
        for r in records:
            population = r.population.total if r.population else 0
            _add_row(
                table,
                r.evidence_type,
                "/".join(r.target.values()),
                _styled(str(r.status)),
                str(population),
                r.reason,
            )
        out.print(table)
    if fail_on:
        wanted = {s.strip() for s in fail_on.split(",") if s.strip()}
        hits = [r for r in records if str(r.status) in wanted]
        if hits:
            err.print(f"{len(hits)} record(s) with status in {sorted(wanted)}", markup=False)
            raise CheckFailed


# --- checking -----------------------------------------------------------------------------------------


@app.command()
def verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="trust only this Ed25519 public key (PEM); repeat"),
    ] = None,
    no_blobs: Annotated[
        bool, typer.Option("--no-blobs", help="skip re-hashing blobs (faster, weaker)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify the whole store: leaves, Merkle roots, signed tree heads, blobs. Exit 1 on any problem."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from evidence.signing import Verifier

    keys = [Verifier.from_file(p) for p in public_key] if public_key else None
    with _store(create=False) as store:
        total = store.count()
        show_bar = not as_json and sys.stderr.isatty()
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not show_bar,
            transient=True,
        ) as progress:
            task = progress.add_task("verify", total=total)
            report = store.verify(
                trusted_keys=keys,
                check_blobs=not no_blobs,
                progress=lambda done, _t: progress.update(task, completed=done),
            )
    if as_json:
        _emit_json(report.to_dict())
    else:
        out.print(
            f"checked {report.records} records, {report.blobs} blobs, {report.tree_heads} signed tree heads "
            f"(tree size {report.tree_size}, root {report.root_hash}) in {report.elapsed_seconds:.2f} s",
            markup=False,
        )
        out.print(f"trust: {report.trust}", markup=False)
        for notice in report.notices:
            out.print(f"notice [{notice.kind}] {notice.message}", markup=False)
    for problem in report.problems:
        err.print(f"PROBLEM [{problem.kind}] {problem.message}", markup=False)
    if not report.ok:
        err.print(f"verification FAILED: {len(report.problems)} problem(s)")
        raise CheckFailed
    if not as_json:
        out.print("[green]OK[/green]: every record, blob and signed tree head checks out")


@app.command()
def posture(
    framework: Annotated[str | None, typer.Option(help="soc2, gdpr or dr (default: all)")] = None,
    controls: Annotated[bool, typer.Option("--controls", help="list every control with its state")] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(help="exit 1 if any control is in one of these states, e.g. failing,error,stale"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Control posture per framework: passing / failing / error / stale / missing / excepted."""
    from evidence.catalog import load_catalog
    from evidence.posture import State, evaluate, load_payloads

    cat = load_catalog()
    selected = cat.filter(framework=framework) if framework else list(cat.controls)
    with _store(create=False) as store:
        latest = [r for r in store.latest() if r.collector not in ("attestation", "exception")]
        person = [
            *store.iter_records(evidence_type="attestation.statement"),
            *store.iter_records(evidence_type="control.exception"),
        ]
        payloads = load_payloads(person, store.read_blob)
    result = evaluate(cat, latest, person, payloads, datetime.now(UTC), controls=selected)
    if as_json:
        _emit_json(result.to_dict())
    else:
        table = Table(title=f"Posture at {result.at:%Y-%m-%d %H:%M} UTC")
        table.add_column("framework")
        for s in State:
            table.add_column(_styled(str(s)), justify="right")
        for name, counts in result.summary.items():
            if framework and name not in (framework.split(":")[0], "all"):
                continue
            _add_row(table, name, *(str(counts[str(s)]) for s in State))
        out.print(table)
        if controls:
            detail = Table(show_lines=False)
            for column in ("control", "state", "title", "why"):
                detail.add_column(column, overflow="fold")
            for item in result.controls:
                why = item.exception or "; ".join(
                    f"{p.need}: {p.detail}" for p in item.parts if p.state != "passing"
                )
                _add_row(detail, item.control.id, _styled(str(item.state)), item.control.title, why[:300])
            out.print(detail)
    if fail_on:
        wanted = {s.strip() for s in fail_on.split(",") if s.strip()}
        unknown = wanted - {str(s) for s in State}
        if unknown:
            raise typer.BadParameter(f"unknown state(s) {sorted(unknown)}", param_hint="--fail-on")
        hits = [c for c in result.controls if str(c.state) in wanted]
        if hits:
            err.print(
                f"{len(hits)} control(s) in {sorted(wanted)}: " + ", ".join(c.control.id for c in hits[:20]),
                markup=False,
            )
            raise CheckFailed


@app.command("tree-head")
def tree_head(as_json: JsonOpt = False) -> None:
    """Print the latest signed tree head (size, root hash, timestamp, key id, signature)."""
    with _store(create=False) as store:
        head = store.tree_head()
    body = head.to_dict() if head else None
    if as_json or body is None:
        _emit_json(body)
    else:
        for key, value in body.items():
            out.print(f"{key}: {value}", markup=False)


@app.command()
def prove(
    record_id: Annotated[str, typer.Argument(help="record id (or unique prefix)")],
    tree_size: Annotated[
        int | None, typer.Option(help="prove against this tree size (default latest)")
    ] = None,
) -> None:
    """Print an inclusion proof (JSON) for a record against a signed tree head, checked before printing."""
    with _store(create=False) as store:
        proof = store.inclusion_proof(record_id, tree_size)
        proof.verify([k.verifier() for k in store.public_keys()])
    _emit_json(proof.to_dict())


@app.command()
def consistency(
    old_size: Annotated[int, typer.Argument(min=0)],
    new_size: Annotated[int | None, typer.Argument(min=0)] = None,
) -> None:
    """Print a consistency proof (JSON) between two signed tree heads, checked before printing."""
    with _store(create=False) as store:
        proof = store.consistency_proof(old_size, new_size)
        proof.verify([k.verifier() for k in store.public_keys()])
    _emit_json(proof.to_dict())


@app.command("aws-policy")
def aws_policy() -> None:
    """Print the least-privilege IAM policy the AWS collectors need (generated from their declarations)."""
    from collectors.aws.policy import render

    sys.stdout.write(render())


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(help="keep the emulator up until Ctrl-C")] = False,
    regions: Annotated[
        str, typer.Option(help="comma-separated regions for the sample estate")
    ] = "us-east-1,eu-west-1",
) -> None:
    """The main job on an embedded default: start a local AWS emulator seeded with a sample estate,
    collect every AWS evidence type into the store, show posture and verify the store."""
    from collectors.aws.core import AwsConfig
    from collectors.aws.demo import seed_estate
    from collectors.aws.demo.emulator import MotoServer
    from collectors.aws.runner import collect

    region_list = tuple(r.strip() for r in regions.split(",") if r.strip())
    with MotoServer() as emulator:
        err.print(f"AWS emulator (moto server) on {emulator.url}; seeding the sample estate...")
        seed_estate(emulator.url, region_list)
        config = AwsConfig(endpoint_url=emulator.url, regions=region_list)
        import os

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
        with err.status("collecting AWS evidence (schema + GX checks on every payload)..."):
            prepared = collect(config, _context("demo"))
        from evidence.attestation import accept_risk, attest

        people = [
            attest(
                ["SEED003-SEC-01"],
                "Threat model for the payments API reviewed and signed off (demo attestation)",
                "Ada Lovelace",
                role="Security Lead",
                context=_context("demo-attest"),
            ),
            accept_risk(
                ["SEED003-SEC-11"],
                "External penetration test booked for next quarter (demo exception)",
                "Grace Hopper",
                datetime.now(UTC) + timedelta(days=90),
                role="Engineering Lead",
                context=_context("demo-exception"),
            ),
        ]
        with _store() as store:
            results = store.append_batch(prepared)
            store.append_batch(people)
            err.print(f"store: {store!r}", markup=False)
        _report_collection(results, False, None)
        err.print("plus one attestation (SEED003-SEC-01) and one risk acceptance (SEED003-SEC-11)")
        posture(framework=None, controls=False, fail_on=None, as_json=False)
        verify(public_key=None, no_blobs=False, as_json=False)
        if keep_running:
            err.print(f"emulator stays up on {emulator.url} (EVIDENCE_AWS_ENDPOINT_URL); Ctrl-C stops it")
            import time

            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def main() -> None:
    """Entry point: run the app, turning our errors into messages on stderr and exit codes."""
    try:
        app(standalone_mode=False)
    except CheckFailed:
        sys.exit(1)
    except (VerificationError, BlobError) as exc:
        err.print(f"evidence: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except EvidenceError as exc:
        err.print(f"evidence: {exc.diagnostics()}", markup=False, highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors (typer's vendored click) have show()
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show(file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
