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
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from evidence import __version__, gx_process, warmup
from evidence.errors import (
    BlobError,
    BlobWriteError,
    EvidenceError,
    VerificationError,
)
from evidence.terminal import SafeConsole, neutralise

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
# Every human line goes through these two consoles, which neutralise control characters (evidence.terminal).
out: Console = SafeConsole(soft_wrap=True, width=_PIPE_WIDTH, emoji=False, highlight=False)
err: Console = SafeConsole(stderr=True, soft_wrap=True, emoji=False, highlight=False)

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
    return Text(neutralise(status), style=STATUS_STYLE.get(status, ""))


def _add_row(table: Table, *values: object) -> None:
    """Cells from data are plain Text, so brackets in names are never read as Rich markup, and
    neutralised, so a newline or an escape sequence in a name can neither forge a line nor reach the
    terminal."""
    table.add_row(*(v if isinstance(v, Text) else Text(neutralise(v)) for v in values))


def _line(*parts: object) -> None:
    """One line of human output on stdout; every part from data is neutralised (newlines too)."""
    out.print(Text.assemble(*(p if isinstance(p, Text | tuple) else neutralise(p) for p in parts)))


def _say(message: object) -> None:
    """One line on stderr (a message, a problem), neutralised: data in it cannot forge a second line."""
    err.print(Text(neutralise(message)))


@contextmanager
def _store(create: bool = True, must_exist: bool = False) -> Iterator[EvidenceStore]:
    """The store; ``create=False`` opens it for reading (no private key), ``must_exist`` opens an existing
    store for appending (with its key) and never creates one."""
    from evidence.store import open_store

    if must_exist:
        open_store(state.store_url, create=False).close()  # names a missing store instead of making one
    store = open_store(state.store_url, create=create)
    try:
        yield store
    finally:
        store.close()


# Bounds for numbers and times from the command line: SQLite and PostgreSQL integers are 64-bit, and
# dates keep a margin from datetime's limits so the arithmetic done with them (clock skew, a year of
# validity) cannot overflow.
MAX_INT = 2**63 - 1
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date or time", param_hint=option) from None
    except OverflowError:
        moment = LATEST + timedelta(days=1)  # out of range: refused below
    if not EARLIEST <= moment <= LATEST:
        raise typer.BadParameter(
            f"{value!r} is out of range ({EARLIEST.date().isoformat()} to {LATEST.date().isoformat()})",
            param_hint=option,
        )
    return moment


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
def list_types(
    family: Annotated[str | None, typer.Option(help="only this collector family's types")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the evidence types: family, collector, the permissions they need, the freshness the catalog
    asks of them (the strictest of the controls they serve)."""
    from evidence import registry
    from evidence.catalog import format_duration, load_catalog

    cat = load_catalog()
    types = registry.for_family(registry.family(family).name) if family else list(registry.all_types())

    def freshness(type_id: str) -> timedelta | None:
        windows = [c.freshness for c in cat.controls_for_evidence_type(type_id)]
        return min(windows) if windows else None

    if as_json:
        _emit_json(
            [
                {
                    "id": t.id,
                    "title": t.title,
                    "family": t.family,
                    "collector": t.collector,
                    "permissions": list(t.permissions),
                    "freshness_seconds": int(f.total_seconds()) if (f := freshness(t.id)) else None,
                    "controls": [c.id for c in cat.controls_for_evidence_type(t.id)],
                }
                for t in types
            ]
        )
        return
    table = Table(title=f"{len(types)} evidence types")
    for column in ("id", "collector", "title", "freshness", "permissions"):
        table.add_column(column, overflow="fold")
    for t in types:
        window = freshness(t.id)
        shown = format_duration(window) if window else "per control"
        _add_row(table, t.id, t.collector, t.title, shown, ", ".join(t.permissions))
    out.print(table)


# --- reading the store ------------------------------------------------------------------------------


@app.command("list")
def list_records(
    evidence_type: Annotated[str | None, typer.Option("--type", help="only this evidence type")] = None,
    status: Annotated[str | None, typer.Option(help="pass, fail, error or not_applicable")] = None,
    control: Annotated[str | None, typer.Option(help="only records serving this control id")] = None,
    since: Annotated[str | None, typer.Option(help="observed at or after (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="observed before (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_INT, help="at most this many (newest first)")] = 50,
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
        _emit_json([r.summary() for r in records])
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
    _line((neutralise(record.id), "bold"), f"  seq {record.seq}  ", _styled(str(record.status)))
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
            _line("  ", (key, "bold"), ": ", text)
    prov = body["provenance"]
    calls = prov.pop("api_calls", [])
    _line("  ", ("provenance", "bold"), ": ", json.dumps({k: v for k, v in prov.items() if v}))
    for call in calls:
        _line(
            f"    {call['service']}:{call['operation']} x{call['count']} region={call['region']} "
            f"http={call['http_status']} error={call['error_code']} example_request_id={call['request_id']}"
        )
    for att in body["attachments"]:
        _line(f"  attachment {att['role']}: sha256:{att['sha256']} ({att['size']} bytes)")
    if payload:
        out.print_json(data=body["payload"])


# --- writing: attestations and exceptions -----------------------------------------------------------


def _context(run_id: str) -> Any:
    from ulid import ULID

    from evidence.records import RunContext

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
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="--file may be a symbolic link (stores its target)")
    ] = False,
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
        follow_symlinks=follow_symlinks,
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
        _emit_json([{**r.record.summary(), "created": r.created} for r in results])
        return
    for r in results:
        verb = "appended" if r.created else "already present"
        _line(
            f"{verb}: {r.record.id} seq {r.record.seq} {r.record.evidence_type} ",
            _styled(str(r.record.status)),
        )


# --- collecting ---------------------------------------------------------------------------------------


def _collect_family(
    family_name: str,
    options: dict[str, Any],
    *,
    sources: list[str] | None,
    types: list[str] | None,
    fail_on: str | None,
    as_json: bool,
) -> None:
    """``evidence collect FAMILY``: plan, collect each unit, and store its records as it comes in."""
    from evidence import registry

    _refuse_bad_store()
    family = registry.family(family_name)
    wanted_fail = _statuses(fail_on, "--fail-on") if fail_on else None
    config = family.configure(family.connection.resolve(options))
    units = family.plan(config, sources=sources or None, types=types or None)
    results: list[Any] = []
    # The first request goes out before anything else: the store's database layer is imported on a
    # background thread once the source has answered (evidence.warmup), and the store is opened when
    # the first unit's records are ready; records are validated and stored per unit as units end. GX
    # runs in a child process (evidence.gx_process): importing it here would hold the GIL against the
    # fetch threads for seconds.
    warmup.after_first_contact(_import_store)
    gx_process.enable()
    with ExitStack() as stack, err.status(f"collecting {family.title} evidence...") as status:
        store: EvidenceStore | None = None
        for done, batch in enumerate(
            family.collect(config, _context(f"collect-{family.name}"), units=units), 1
        ):
            if store is None:
                store = stack.enter_context(_store())
            results.extend(store.append_batch(batch))
            status.update(f"collecting {family.title} evidence: {done}/{len(units)} units")
        if store is None:  # nothing planned: the store is still opened (created) as before
            stack.enter_context(_store())
    _report_collection(results, as_json, wanted_fail)


def _refuse_bad_store() -> None:
    """A store configuration the store would refuse is refused before anything is fetched (exit 2),
    not after the first unit: the store opens only once records are ready (its database layer takes
    seconds to import), so a cheap check without that layer runs first (evidence.store_preflight)."""
    from evidence import store_preflight

    if store_preflight.refused(state.store_url, os.environ):
        with _store():  # the store refuses it with its own message; if it opens after all, carry on
            pass


def _import_store() -> None:
    import evidence.publish
    import evidence.store  # noqa: F401 - imported for its side effect: sys.modules is warm


def _statuses(text: str, option: str) -> set[str]:
    wanted = {s.strip() for s in text.split(",") if s.strip()}
    unknown = wanted - {"pass", "fail", "error", "not_applicable"}
    if unknown:
        raise typer.BadParameter(
            f"unknown status(es) {sorted(unknown)}: choose from pass, fail, error, not_applicable",
            param_hint=option,
        )
    return wanted


def _family_collect_command(family: Any) -> Any:
    """A ``collect FAMILY`` command whose options are the family's declared settings."""
    import inspect

    def option(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    setting_params = {}
    for setting in family.connection.settings:
        if not setting.flags:
            continue
        base: Any = {"int": int, "float": float, "bool": bool}.get(setting.kind, str)
        kind: Any = list[base] if setting.multiple else base
        help_text = setting.help + (f" [env {setting.env}]" if setting.env else "")
        bounds: dict[str, Any] = {"min": -MAX_INT, "max": MAX_INT} if base is int else {}
        setting_params[f"setting_{setting.name}"] = (
            setting.name,
            option(
                f"setting_{setting.name}",
                Annotated[kind | None, typer.Option(*setting.flags, help=help_text, **bounds)],
            ),
        )
    params = [
        option(
            "source",
            Annotated[
                list[str] | None,
                typer.Option(
                    "--source", "-s", help=f"collector to run (repeat): {', '.join(family.sources())}"
                ),
            ],
        ),
        option(
            "evidence_type",
            Annotated[
                list[str] | None, typer.Option("--type", "-t", help="only these evidence types (repeat)")
            ],
        ),
        *(p for _, p in setting_params.values()),
        option(
            "fail_on",
            Annotated[
                str | None,
                typer.Option(help="exit 1 if any record has one of these statuses, e.g. fail,error"),
            ],
        ),
        option("as_json", JsonOpt, False),
    ]

    def command(**kwargs: Any) -> None:
        options = {name: kwargs.get(key) for key, (name, _) in setting_params.items()}
        _collect_family(
            family.name,
            {k: v for k, v in options.items() if v is not None},
            sources=kwargs.get("source"),
            types=kwargs.get("evidence_type"),
            fail_on=kwargs.get("fail_on"),
            as_json=bool(kwargs.get("as_json")),
        )

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = (
        f"Collect {family.title} evidence (every collector, or the chosen ones) into the store. "
        f"Settings: the options below > Airflow connection '{family.connection.default_conn_id}' extra "
        "(in DAGs) > the environment."
    )
    return command


def _report_collection(results: list[Any], as_json: bool, fail_on: set[str] | None) -> None:
    records = [r.record for r in results]
    if as_json:
        _emit_json([{**r.record.summary(), "created": r.created} for r in results])
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
        hits = [r for r in records if str(r.status) in fail_on]
        if hits:
            err.print(f"{len(hits)} record(s) with status in {sorted(fail_on)}", markup=False)
            raise CheckFailed


# --- checking -----------------------------------------------------------------------------------------


@app.command()
def verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="trust only this Ed25519 public key (PEM or vkey); repeat"),
    ] = None,
    trusted_head: Annotated[
        list[Path] | None,
        typer.Option("--trusted-head", help="a checkpoint saved earlier: truncation or a fork fails; repeat"),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option("--witness-key", help="require cosignatures by this witness (vkey or file); repeat"),
    ] = None,
    witnesses: Annotated[
        int | None,
        typer.Option("--witnesses", min=1, max=MAX_INT, help="how many witness cosignatures (default all)"),
    ] = None,
    tsa_cert: Annotated[
        Path | None,
        typer.Option("--tsa-cert", envvar="EVIDENCE_TSA_CA", help="TSA root certificate(s), PEM"),
    ] = None,
    published: Annotated[
        str | None,
        typer.Option("--published", help="s3://bucket/prefix where checkpoints were published (WORM)"),
    ] = None,
    forget: Annotated[
        bool, typer.Option("--forget", help="forget the checkpoint remembered for this store first")
    ] = False,
    no_blobs: Annotated[
        bool, typer.Option("--no-blobs", help="skip re-hashing blobs (faster, weaker)")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify the whole store: leaves, Merkle roots, signed checkpoints, key chain, clock, blobs,
    cosignatures, timestamps, and trusted heads. Exit 1 on any problem."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from evidence.trust import verify_anchored

    options = _trust_options(public_key, trusted_head)
    if published:
        from evidence.publish import CheckpointBucket

        options.published = CheckpointBucket.from_url(published)
    extra = _attestation_options(witness_key, witnesses, tsa_cert)
    with _store(create=False) as store:
        if forget and options.state is not None:
            options.state.forget(store.url)
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
            report = verify_anchored(
                store,
                options,
                check_blobs=not no_blobs,
                progress=lambda done, _t: progress.update(task, completed=done),
                **extra,
            )
    if as_json:
        _emit_json(report.to_dict())
    else:
        _line(
            f"checked {report.records} records, {report.blobs} blobs, {report.tree_heads} signed tree heads "
            f"(tree size {report.tree_size}, root {report.root_hash}) in {report.elapsed_seconds:.2f} s"
        )
        _line(f"trust: {report.trust}")
        for notice in report.notices:
            _line(f"notice [{notice.kind}] {notice.message}")
    for problem in report.problems:
        _say(f"PROBLEM [{problem.kind}] {problem.message}")
    if not report.ok:
        err.print(f"verification FAILED: {len(report.problems)} problem(s)")
        raise CheckFailed
    if not as_json:
        out.print("[green]OK[/green]: every record, blob and signed tree head checks out")


def _trust_options(public_key: list[Path] | None, trusted_head: list[Path] | None) -> Any:
    from evidence.signing import Verifier
    from evidence.trust import KnownStores, TrustOptions, state_dir

    return TrustOptions(
        pinned=[Verifier.from_file(p) for p in public_key] if public_key else None,
        trusted_heads=list(trusted_head or ()),
        state=KnownStores(state_dir()),
    )


def _attestation_options(
    witness_key: list[str] | None, witnesses: int | None, tsa_cert: Path | None
) -> dict[str, Any]:
    from evidence.note import VerifierKey
    from evidence.timestamping import load_roots

    extra: dict[str, Any] = {}
    if witness_key:
        keys = []
        for value in witness_key:
            text = Path(value).read_text().strip() if Path(value).is_file() else value
            keys.append(VerifierKey.parse(text))
        extra["witness_keys"] = keys
        extra["witness_quorum"] = witnesses or len(keys)
    if tsa_cert is not None:
        extra["tsa_roots"] = load_roots(tsa_cert)
    return extra


def _fail_on_problems(problems: list[Any]) -> None:
    for problem in problems:
        _say(f"PROBLEM [{problem.kind}] {problem.message}")
    if problems:
        raise CheckFailed


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
    from evidence.posture import State, assess

    wanted: set[str] = set()
    if fail_on:
        wanted = {s.strip() for s in fail_on.split(",") if s.strip()}
        unknown = wanted - {str(s) for s in State}
        if unknown:
            raise typer.BadParameter(
                f"unknown state(s) {sorted(unknown)}: choose from {', '.join(str(s) for s in State)}",
                param_hint="--fail-on",
            )
    with _store(create=False) as store:
        result = assess(store, framework=framework)
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
    if wanted:
        hits = [c for c in result.controls if str(c.state) in wanted]
        if hits:
            _say(f"{len(hits)} control(s) in {sorted(wanted)}: " + ", ".join(c.control.id for c in hits[:20]))
            raise CheckFailed


@app.command("tree-head")
def tree_head(as_json: JsonOpt = False) -> None:
    """Print the latest signed tree head (size, root hash, timestamp, key id, signature, checkpoint)."""
    with _store(create=False) as store:
        head = store.tree_head()
        body = head.to_dict() if head else None
        if body is not None and head is not None and head.head.origin is not None:
            body["log_key"] = store.log_key(head.head.size).encode()
            body["checkpoint"] = store.checkpoint_note(head).encode()
    if as_json or body is None:
        _emit_json(body)
    else:
        for key, value in body.items():  # the checkpoint is a signed note: its lines are its own
            out.print(Text(neutralise(f"{key}: {value}", keep_newlines=key == "checkpoint")))


TrustedHeadOpt = Annotated[
    list[Path] | None,
    typer.Option("--trusted-head", help="a checkpoint saved earlier: truncation or a fork fails; repeat"),
]
PublicKeyOpt = Annotated[
    list[Path] | None,
    typer.Option("--public-key", help="trust only this Ed25519 public key (PEM or vkey); repeat"),
]


@app.command()
def prove(
    record_id: Annotated[str, typer.Argument(help="record id (or unique prefix)")],
    tree_size: Annotated[
        int | None, typer.Option(min=0, max=MAX_INT, help="prove against this tree size (default latest)")
    ] = None,
    public_key: PublicKeyOpt = None,
    trusted_head: TrustedHeadOpt = None,
) -> None:
    """Print an inclusion proof (JSON) for a record against a signed tree head, checked before printing
    (against the pinned keys or the store's key chain, the trusted heads and the remembered checkpoint)."""
    from evidence.trust import check_latest, proof_verifiers

    options = _trust_options(public_key, trusted_head)
    with _store(create=False) as store:
        _fail_on_problems(check_latest(store, options))
        proof = store.inclusion_proof(record_id, tree_size)
        proof.verify(proof_verifiers(store, options.pinned))
    _emit_json(proof.to_dict())


@app.command()
def consistency(
    old_size: Annotated[int, typer.Argument(min=0, max=MAX_INT)],
    new_size: Annotated[int | None, typer.Argument(min=0, max=MAX_INT)] = None,
    public_key: PublicKeyOpt = None,
    trusted_head: TrustedHeadOpt = None,
) -> None:
    """Print a consistency proof (JSON) between two signed tree heads, checked before printing
    (against the pinned keys or the store's key chain, the trusted heads and the remembered checkpoint)."""
    from evidence.trust import check_latest, proof_verifiers

    options = _trust_options(public_key, trusted_head)
    with _store(create=False) as store:
        _fail_on_problems(check_latest(store, options))
        proof = store.consistency_proof(old_size, new_size)
        proof.verify(proof_verifiers(store, options.pinned))
    _emit_json(proof.to_dict())


@app.command()
def policy(
    family: Annotated[str, typer.Argument(help="collector family (see `evidence families`)")],
    evidence_type: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="only what these evidence types need (repeat)")
    ] = None,
) -> None:
    """Print the least-privilege policy a collector family needs, generated from its declared calls
    (IAM policy for aws, Vault policy for vault...)."""
    from evidence import registry

    fam = registry.family(family)
    sys.stdout.write(fam.policy(evidence_type or None))


@app.command()
def families(as_json: JsonOpt = False) -> None:
    """List the installed collector families: sources, permission model, connection, demo."""
    from evidence import registry

    rows: list[dict[str, Any]] = [
        {
            "name": f.name,
            "title": f.title,
            "sources": f.sources(),
            "evidence_types": len(f.evidence_types()),
            "permission_model": f.permission_model.name,
            "airflow_connection": {"type": f.connection.conn_type, "default": f.connection.default_conn_id},
            "environment": [s.env for s in f.connection.settings if s.env],
        }
        for f in registry.families().values()
    ]
    if as_json:
        _emit_json(rows)
        return
    table = Table(title=f"{len(rows)} collector families")
    for column in ("family", "title", "sources", "types", "permissions", "connection", "environment"):
        table.add_column(column, overflow="fold")
    for r in rows:
        conn = r["airflow_connection"]
        _add_row(
            table,
            r["name"],
            r["title"],
            ", ".join(r["sources"]),
            str(r["evidence_types"]),
            r["permission_model"],
            f"{conn['type']} ({conn['default']})",
            ", ".join(r["environment"]),
        )
    out.print(table)


@app.command()
def demo(
    family: Annotated[
        list[str] | None, typer.Option("--family", "-f", help="only these families' demos (repeat)")
    ] = None,
    keep_running: Annotated[bool, typer.Option(help="keep the emulators up until Ctrl-C")] = False,
) -> None:
    """The main job on an embedded default: start every installed family's demo source (emulators on
    loopback seeded with compliant and non-compliant resources), collect all their evidence into the
    store, add a sample attestation and risk acceptance, show posture and verify the store."""
    from contextlib import ExitStack

    from evidence import registry
    from evidence.attestation import accept_risk, attest
    from evidence.family import start_demos

    chosen = [registry.family(n) for n in family] if family else list(registry.families().values())
    results: list[Any] = []
    with ExitStack() as stack, _store() as store:
        for fam, estate in start_demos(stack, chosen, lambda line: err.print(line, markup=False)):
            config = fam.configure(fam.connection.resolve(estate.settings, environ={}))
            with err.status(f"collecting {fam.title} evidence (schema + GX checks on every payload)..."):
                for batch in fam.collect(config, _context(f"demo-{fam.name}")):
                    results.extend(store.append_batch(batch))
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
        store.append_batch(people)
        err.print(f"store: {store!r}", markup=False)
        _report_collection(results, False, None)
        err.print("plus one attestation (SEED003-SEC-01) and one risk acceptance (SEED003-SEC-11)")
        posture(framework=None, controls=False, fail_on=None, as_json=False)
        verify(public_key=None, no_blobs=False, as_json=False)
        if keep_running:
            err.print("the demo sources stay up; Ctrl-C stops them")
            import time

            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


_installed: list[bool] = []  # main() may run several times in one process (tests)


def _install_family_commands() -> None:
    """``collect FAMILY`` for every installed family, and the families' own subcommands."""
    from evidence import registry

    if _installed:
        return
    _installed.append(True)
    taken = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    for fam in registry.families().values():
        collect_app.command(fam.name)(_family_collect_command(fam))
        for name, sub in fam.commands():
            if name in taken:
                raise EvidenceError(f"collector family {fam.name!r} brings a command {name!r} that exists")
            app.add_typer(sub, name=name)
            taken.add(name)


from evidence import cli_trust  # noqa: E402 - the trust commands use this module's app and helpers

cli_trust.register(app)

from evidence import cli_bundle  # noqa: E402 - the bundle commands use this module's app and helpers

cli_bundle.register(app)


def _undecodable_input(argv: list[str], environ: Any) -> str | None:
    """What on the command line (or in an EVIDENCE_* variable) is not valid UTF-8, if anything.

    Python hands undecodable bytes over as lone surrogates; they could be neither printed nor stored."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {position} ({neutralise(arg)}) is not valid UTF-8"
    for name, value in environ.items():
        if name.startswith("EVIDENCE_"):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"environment variable {name} is not valid UTF-8"
    return None


def main() -> None:
    """Entry point: run the app, turning our errors into messages on stderr and exit codes.

    Never a traceback: an exception nobody expected is a bug, reported in one line (exit 2);
    ``EVIDENCE_DEBUG=1`` shows its traceback."""
    bad_input = _undecodable_input(sys.argv[1:], os.environ)
    if bad_input:
        _say(f"evidence: {bad_input}")
        sys.exit(2)
    from evidence.error_reporting import init_error_reporting

    init_error_reporting("cli")  # only when EVIDENCE_ERROR_DSN (or SENTRY_DSN) is set
    try:
        _install_family_commands()
        app(standalone_mode=False)
    except CheckFailed:
        sys.exit(1)
    except BlobWriteError as exc:  # like a failed database write (StoreError): exit 2
        err.print(f"evidence: {exc}", markup=False, highlight=False)
        sys.exit(2)
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
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if os.environ.get("EVIDENCE_DEBUG"):
            raise
        from evidence.error_reporting import report_exception

        report_exception(exc)  # the collector's own failures reach Sentry when a DSN is set
        _say(
            f"evidence: internal error (a bug, please report it; EVIDENCE_DEBUG=1 shows where): "
            f"{type(exc).__name__}: {exc}"
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
