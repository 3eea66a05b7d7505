"""``evidence bundle``: export an auditor bundle, and ``evidence bundle verify`` (also
``evidence verify-bundle``) to check one offline. Registered on the main app by ``evidence.cli``."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
FileArg = Annotated[Path, typer.Argument(help="the bundle (zip)")]
KeyOpt = Annotated[
    Path | None,
    typer.Option("--public-key", help="the log's Ed25519 public key (PEM or vkey), obtained independently"),
]
PreviousOpt = Annotated[
    Path | None,
    typer.Option("--previous-head", help="your copy of the previous bundle's checkpoint.txt"),
]


def parse_bound(value: str | None, option: str, *, end: bool) -> datetime | None:
    """An ISO 8601 date or time (UTC when no zone is given). A bare date given to ``--to`` means the
    end of that day (the bound is exclusive), so ``--from 2026-01-01 --to 2026-03-31`` is the quarter."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date or time", param_hint=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and _DATE_ONLY.fullmatch(value.strip()):
        moment += timedelta(days=1)
    return moment


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(app: typer.Typer) -> None:
    from evidence import cli

    bundle_app = typer.Typer(
        help="Export a signed auditor bundle (zip) for a framework and period; `bundle verify` checks one.",
        no_args_is_help=False,
    )
    app.add_typer(bundle_app, name="bundle")

    @bundle_app.callback(invoke_without_command=True)
    def bundle(
        ctx: typer.Context,
        framework: Annotated[str | None, typer.Option("--framework", help="soc2, gdpr or dr")] = None,
        from_: Annotated[
            str | None, typer.Option("--from", help="period start (observed_at, inclusive), ISO 8601")
        ] = None,
        to: Annotated[
            str | None,
            typer.Option("--to", help="period end (exclusive; a bare date means the end of that day)"),
        ] = None,
        out_path: Annotated[
            str | None, typer.Option("--out", help="the zip to write (- for standard output)")
        ] = None,
        previous_head: Annotated[
            Path | None,
            typer.Option("--previous-head", help="the previous bundle's checkpoint.txt: prove consistency"),
        ] = None,
        by: Annotated[
            str | None,
            typer.Option("--by", help="who exports it, for the export record (default: the OS user)"),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Write the auditor bundle of a framework for a period: HTML report, records with payloads,
        GX results and API calls, OSCAL assessment results, inclusion proofs, the signed tree head and a
        signed manifest with the omissions (controls without evidence, scheduled collections missed)."""
        if ctx.invoked_subcommand is not None:
            return
        from evidence.bundle import FRAMEWORKS, export_bundle

        if framework is None or out_path is None:
            missing = " and ".join(
                o for o, v in (("--framework", framework), ("--out", out_path)) if v is None
            )
            raise typer.BadParameter(f"{missing} required (or `evidence bundle verify FILE.zip`)")
        if framework not in FRAMEWORKS:
            raise typer.BadParameter(
                f"unknown framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}",
                param_hint="--framework",
            )
        start = parse_bound(from_, "--from", end=False)
        end = parse_bound(to, "--to", end=True)
        if start is not None and end is not None and start >= end:
            raise typer.BadParameter(f"--from {from_} is not before --to {to}", param_hint="--from/--to")
        previous_text = None
        if previous_head is not None:
            try:
                previous_text = previous_head.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise typer.BadParameter(
                    f"cannot read {previous_head}: {exc}", param_hint="--previous-head"
                ) from None
        target: Path | None = None
        if out_path != "-":
            target = Path(out_path)
            if not target.parent.is_dir():
                raise typer.BadParameter(f"folder {target.parent} does not exist", param_hint="--out")
        summary = _export(framework, start, end, target, previous_text, as_json, export_bundle, by or _user())
        if as_json and target is not None:
            cli._emit_json(summary.to_dict())
        elif as_json:  # the zip went to standard output: the summary goes to stderr
            sys.stderr.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        else:
            (cli.out if target is not None else cli.err).print(
                f"wrote {target or 'standard output'}: {summary.records} records of {summary.framework}, "
                f"{summary.controls} controls ({summary.controls_without_evidence} without evidence, "
                f"{summary.missed_collections} scheduled collections missed), tree size {summary.tree_size}, "
                f"{summary.size} bytes, sha256 {summary.sha256} in {summary.elapsed_seconds:.2f} s",
                markup=False,
            )

    def _export(
        framework: str,
        start: datetime | None,
        end: datetime | None,
        target: Path | None,
        previous_text: str | None,
        as_json: bool,
        export_bundle: Any,
        exported_by: str,
    ) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from evidence.bundle import export_record

        show_bar = not as_json and sys.stderr.isatty()
        with (
            cli._store(create=True, must_exist=True) as store,  # signs the bundle, records the export
            Progress(
                TextColumn("bundling"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=cli.err,
                disable=not show_bar,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("bundle", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            options = {
                "framework": framework,
                "start": start,
                "end": end,
                "previous_head": previous_text,
                "progress": advance,
            }
            if target is None:
                summary = export_bundle(store, out=sys.stdout.buffer, **options)
            else:
                # Written beside the target and renamed at the end: a failed export leaves no partial zip.
                fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        summary = export_bundle(store, out=handle, **options)
                    Path(temp_name).chmod(0o644)
                    Path(temp_name).replace(target)
                except BaseException:
                    Path(temp_name).unlink(missing_ok=True)
                    raise
            # Every export is itself evidence: who, when, which framework and period, the digest.
            store.append(export_record(summary, exported_by=exported_by, context=cli._context("bundle")))
            return summary

    def _verify(file: Path, public_key: Path | None, previous_head: Path | None, as_json: bool) -> None:
        from evidence.bundle import verify_bundle
        from evidence.signing import Verifier

        if not file.is_file():
            raise typer.BadParameter(f"no such file: {file}", param_hint="FILE")
        key = Verifier.from_file(public_key) if public_key is not None else None
        previous = None
        if previous_head is not None:
            try:
                previous = previous_head.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise typer.BadParameter(
                    f"cannot read {previous_head}: {exc}", param_hint="--previous-head"
                ) from None
        report = verify_bundle(file, public_key=key, previous_head=previous)
        if as_json:
            cli._emit_json(report.to_dict())
        else:
            cli.out.print(
                f"checked {report.files} files and {report.records} records of {report.framework} "
                f"(tree size {report.tree_size}, root {report.root_hash}) in {report.elapsed_seconds:.2f} s",
                markup=False,
            )
            if report.trust:
                cli.out.print(f"trust: {report.trust}", markup=False)
            omissions = report.omissions
            if omissions:
                cli.out.print(
                    f"omissions declared: {len(omissions.get('controls_without_evidence', []))} controls "
                    "without evidence, "
                    f"{sum(m.get('missing', 0) for m in omissions.get('missed_collections', []))} "
                    "scheduled collections without a record",
                    markup=False,
                )
            for notice in report.notices[:20]:
                cli.out.print(f"notice: {notice}", markup=False)
        for problem in report.problems:
            cli.err.print(f"PROBLEM [{problem.kind}] {problem.message}", markup=False)
        for kind, count in report.omitted.items():
            cli.err.print(f"PROBLEM [{kind}] ... and {count} more", markup=False)
        if not report.ok:
            cli.err.print(
                "bundle verification FAILED: "
                f"{len(report.problems) + sum(report.omitted.values())} problem(s)"
            )
            raise cli.CheckFailed
        if not as_json:
            cli.out.print(
                "OK: every file, record, proof and signature in the bundle checks out", markup=False
            )

    @bundle_app.command("verify")
    def bundle_verify(
        file: FileArg,
        public_key: KeyOpt = None,
        previous_head: PreviousOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check a bundle offline: signatures, every file's SHA-256, every record's inclusion proof, the
        consistency proof, the OSCAL document. Exit 1 naming each problem."""
        _verify(file, public_key, previous_head, as_json)

    @app.command("verify-bundle")
    def verify_bundle_cmd(
        file: FileArg,
        public_key: KeyOpt = None,
        previous_head: PreviousOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The same as `evidence bundle verify`."""
        _verify(file, public_key, previous_head, as_json)
