"""Auditor bundles on a real SQLite store: export (streamed to an unseekable stream), offline verify,
determinism, period boundaries, omissions, escaping, previous heads, tampering, the CLI's exit codes,
and memory that stays flat for a large store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import evidence.validation as validation
from evidence.bundle import (
    CHECKPOINT,
    CONSISTENCY,
    MANIFEST,
    MANIFEST_SIG,
    OSCAL,
    PROOFS,
    RECORDS,
    BundleReport,
    verify_bundle,
    write_bundle,
)
from evidence.errors import ConfigError, UsageError, VerificationError
from evidence.records import PreparedRecord
from evidence.signing import Signer, Verifier
from evidence.store import open_store
from tests.support.bundles import (
    DAYS,
    MARKUP,
    SCHEDULED_TYPE,
    SOC2_CONTROL,
    BundleStore,
    Unseekable,
    build_store,
    edit_lines,
    gdpr_only_control,
    read_entries,
    resign,
    sample_records,
    tamper_record,
    write_entries,
)
from tests.support.records import BASE_TIME, install_test_schema, make_prepared


@pytest.fixture(scope="module")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    saved = validation.SCHEMA_DIR
    folder = tmp_path_factory.mktemp("schemas")
    for name in ("_common.schema.json", "bundle.export.schema.json"):  # the CLI appends bundle.export
        (folder / name).write_bytes((saved / name).read_bytes())
    install_test_schema(folder)
    yield folder
    validation.SCHEMA_DIR = saved
    validation._registry.cache_clear()
    validation._validator.cache_clear()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, schema_dir: Path) -> Iterator[BundleStore]:
    built = build_store(tmp_path_factory.mktemp("bundle-store"))
    yield built
    built.store.close()


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory, schema_dir: Path) -> Iterator[BundleStore]:
    """A store of its own for the CLI, which appends a bundle.export record per export."""
    built = build_store(tmp_path_factory.mktemp("cli-store"))
    yield built
    built.store.close()


@pytest.fixture(scope="module")
def bundle(sample: BundleStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SOC 2 bundle of the ten days, written to a stream that cannot seek."""
    out = Unseekable()
    end = BASE_TIME + timedelta(days=DAYS)
    write_bundle(sample.store, framework="soc2", start=BASE_TIME, end=end, out=out)
    path = tmp_path_factory.mktemp("bundles") / "soc2.zip"
    path.write_bytes(bytes(out.buffer))
    return path


def _verify(path: Path, sample: BundleStore, **kwargs: object) -> BundleReport:
    return verify_bundle(path, public_key=Verifier.from_file(sample.public_pem), **kwargs)  # type: ignore[arg-type]


def _kinds(report: BundleReport) -> set[str]:
    return {p.kind for p in report.problems}


# --- round trip ------------------------------------------------------------------------------------


def test_round_trip_verifies_offline(bundle: Path, sample: BundleStore) -> None:
    report = _verify(bundle, sample)
    assert report.ok, report.to_dict()
    assert report.trust.startswith("pinned key")
    # Ten days: one test.sample record a day, nine scheduled error records, one attestation (SOC 2).
    assert report.records == DAYS + (DAYS - 1) + 1
    entries = read_entries(bundle)
    for name in (RECORDS, PROOFS, OSCAL, CHECKPOINT, MANIFEST, MANIFEST_SIG, "index.html", "public-key.pem"):
        assert name in entries
    assert f"controls/{SOC2_CONTROL}.html" in entries
    manifest = json.loads(entries[MANIFEST])
    listed = {f["path"] for f in manifest["files"]}
    assert listed == set(entries) - {MANIFEST, MANIFEST_SIG}


def test_records_carry_payload_gx_and_api_calls_and_only_the_framework(bundle: Path) -> None:
    entries = read_entries(bundle)
    lines = [json.loads(line) for line in entries[RECORDS].splitlines()]
    gdpr = gdpr_only_control()
    assert all(gdpr not in line["record"]["control_ids"] for line in lines)
    first = lines[0]
    assert set(first) == {"record", "leaf_hash", "payload", "gx_result", "api_calls", "attachments"}
    assert first["payload"]["json"]["evidence_type"] == "test.sample"
    documents = [a for line in lines for a in line["attachments"]]
    assert documents and entries[documents[0]["path"]] == b"signed policy document\n"
    seqs = [line["record"]["seq"] for line in lines]
    assert seqs == sorted(seqs)


def test_report_escapes_evidence_text_and_shows_errors_as_could_not_collect(bundle: Path) -> None:
    entries = read_entries(bundle)
    page = entries[f"controls/{SOC2_CONTROL}.html"].decode()
    assert MARKUP not in page and "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "could not collect" in page and "s3:GetEncryptionConfiguration" in page
    index = entries["index.html"].decode()
    assert f'href="controls/{SOC2_CONTROL}.html"' in index
    for name, data in entries.items():
        if name.endswith(".html"):
            assert b"<script" not in data, name


def test_manifest_lists_omissions(bundle: Path) -> None:
    manifest = json.loads(read_entries(bundle)[MANIFEST])
    omissions = manifest["omissions"]
    assert SOC2_CONTROL not in omissions["controls_without_evidence"]
    assert len(omissions["controls_without_evidence"]) > 100  # most controls have no evidence here
    missed = [m for m in omissions["missed_collections"] if m["evidence_type"] == SCHEDULED_TYPE]
    assert len(missed) == 1
    assert missed[0]["target"] == {"account": "123456789012", "region": "eu-west-1"}
    assert (missed[0]["expected"], missed[0]["missing"]) == (DAYS, 1)
    day5 = BASE_TIME + timedelta(days=5)
    assert missed[0]["ranges"] == [
        {
            "from": day5.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "to": (day5 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        }
    ]
    # A type the framework needs and nobody collected: every window is missing, no target known.
    never = next(
        m for m in omissions["missed_collections"] if m["evidence_type"] == "aws.rds.storage_encryption"
    )
    assert never["target"] is None and never["missing"] == never["expected"] == DAYS
    assert manifest["controls"][SOC2_CONTROL] == "failing"


def test_oscal_document_is_valid_and_carries_findings(bundle: Path) -> None:
    from trestle.oscal import assessment_results as ar

    data = read_entries(bundle)[OSCAL]
    model = ar.Model.model_validate_json(data)
    result = model.assessment_results.results[0]
    findings = {f.target.target_id: f for f in result.findings or []}
    assert findings[SOC2_CONTROL].target.status is not None
    assert findings[SOC2_CONTROL].target.status.state.value == "not-satisfied"
    selected = result.reviewed_controls.control_selections[0]
    assert len(selected.include_controls) == len(findings)  # type: ignore[union-attr]


def test_export_is_deterministic(sample: BundleStore, bundle: Path) -> None:
    out = Unseekable()
    summary = write_bundle(
        sample.store, framework="soc2", start=BASE_TIME, end=BASE_TIME + timedelta(days=DAYS), out=out
    )
    assert bytes(out.buffer) == bundle.read_bytes()
    import hashlib

    assert summary.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert summary.size == bundle.stat().st_size


def _many_records(count: int) -> list[PreparedRecord]:
    return [
        make_prepared(
            i,
            seed="many",
            control_ids=(SOC2_CONTROL,),
            observed_at=BASE_TIME + timedelta(seconds=i),
            payload_size=2048,
        )
        for i in range(count)
    ]


class _FailingAfter(Unseekable):
    """An output that fails once ``limit`` bytes were written (a full disk, a closed connection)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if len(self.buffer) + len(data) > self.limit:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_background_compression_gives_the_same_bundle_and_fails_cleanly(
    tmp_path: Path, schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """records.jsonl and proofs.jsonl (several 4 MiB chunks here) are deflated on a worker thread: the
    zip is byte for byte the one written on a single thread, and an output that fails while the worker
    writes fails the export with that error, leaving no thread behind."""
    import threading

    import evidence.bundle

    built = build_store(tmp_path / "store", _many_records(4000))
    try:
        outs = []
        for background in (True, False):
            monkeypatch.setattr(evidence.bundle, "_BACKGROUND", background)
            out = Unseekable()
            write_bundle(built.store, framework="soc2", start=None, end=None, out=out)
            outs.append(bytes(out.buffer))
        assert outs[0] == outs[1]
        path = tmp_path / "bundle.zip"
        path.write_bytes(outs[0])
        report = _verify(path, built)
        assert report.ok and report.records == 4000, report.to_dict()

        monkeypatch.setattr(evidence.bundle, "_BACKGROUND", True)
        with pytest.raises(OSError, match="No space left"):
            write_bundle(built.store, framework="soc2", start=None, end=None, out=_FailingAfter(1 << 20))
        assert not [t for t in threading.enumerate() if t.name.startswith("evidence-bundle-zip")]
    finally:
        built.store.close()


def test_period_boundaries_start_inclusive_end_exclusive(sample: BundleStore, tmp_path: Path) -> None:
    start = BASE_TIME + timedelta(days=2)  # exactly the day-2 records' observed_at
    end = BASE_TIME + timedelta(days=4)  # exactly the day-4 record's observed_at: excluded
    out = Unseekable()
    summary = write_bundle(sample.store, framework="soc2", start=start, end=end, out=out)
    path = tmp_path / "p.zip"
    path.write_bytes(bytes(out.buffer))
    report = _verify(path, sample)
    assert report.ok, report.to_dict()
    lines = [json.loads(line) for line in read_entries(path)[RECORDS].splitlines()]
    observed = sorted({line["record"]["observed_at"] for line in lines})
    assert observed[0] == start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert all(o < end.strftime("%Y-%m-%dT%H:%M:%S.000000Z") for o in observed)
    # day 2: sample + scheduled + attestation; day 3: sample + scheduled
    assert summary.records == 5


def test_absurd_period_is_bounded(sample: BundleStore, tmp_path: Path) -> None:
    """Centuries at a daily cadence: the expected windows are capped, the export stays small."""
    from datetime import UTC, datetime

    out = Unseekable()
    summary = write_bundle(
        sample.store,
        framework="soc2",
        start=datetime(1900, 1, 1, tzinfo=UTC),
        end=datetime(2200, 1, 1, tzinfo=UTC),
        out=out,
    )
    path = tmp_path / "wide.zip"
    path.write_bytes(bytes(out.buffer))
    assert summary.records == DAYS + (DAYS - 1) + 1
    missed = json.loads(read_entries(path)[MANIFEST])["omissions"]["missed_collections"]
    assert max(m["expected"] for m in missed) == 20_000
    assert _verify(path, sample).ok


def test_round_trip_on_postgresql(pg_url: str, tmp_path: Path, schema_dir: Path) -> None:
    signer = Signer.generate()
    store = open_store(pg_url, blob_url=f"file://{tmp_path / 'blobs'}", signer=signer, environ={})
    try:
        store.append_batch(sample_records(days=3))
        out = Unseekable()
        summary = write_bundle(store, framework="soc2", start=None, end=None, out=out)
    finally:
        store.close()
    path = tmp_path / "pg.zip"
    path.write_bytes(bytes(out.buffer))
    report = verify_bundle(path, public_key=signer.verifier())
    assert report.ok, report.to_dict()
    assert report.records == summary.records == 3 + 3 + 1  # samples, scheduled, the attestation


def test_bad_arguments_are_usage_errors(sample: BundleStore) -> None:
    with pytest.raises(UsageError, match="unknown framework"):
        write_bundle(sample.store, framework="iso", start=None, end=None, out=Unseekable())
    with pytest.raises(UsageError, match="period is empty"):
        write_bundle(sample.store, framework="soc2", start=BASE_TIME, end=BASE_TIME, out=Unseekable())
    with pytest.raises(UsageError, match="timezone"):
        write_bundle(
            sample.store, framework="soc2", start=BASE_TIME.replace(tzinfo=None), end=None, out=Unseekable()
        )


def test_export_needs_the_store_key(sample: BundleStore, tmp_path: Path) -> None:
    reader = open_store(sample.url, blob_url=sample.blob_url, create=False, environ={})
    try:
        reader.signer = None
        with pytest.raises(ConfigError, match="signing key"):
            write_bundle(reader, framework="soc2", start=None, end=None, out=Unseekable())
    finally:
        reader.close()


# --- previous heads ---------------------------------------------------------------------------------


def test_consistency_to_the_previous_bundle(tmp_path: Path, schema_dir: Path) -> None:
    built = build_store(tmp_path / "store")
    try:
        first = Unseekable()
        write_bundle(built.store, framework="soc2", start=None, end=None, out=first)
        (tmp_path / "one.zip").write_bytes(bytes(first.buffer))
        previous = read_entries(tmp_path / "one.zip")[CHECKPOINT].decode()
        built.store.append_batch(sample_records(start_index=100, days=2))
        second = Unseekable()
        summary = write_bundle(
            built.store, framework="soc2", start=None, end=None, out=second, previous_head=previous
        )
        two = tmp_path / "two.zip"
        two.write_bytes(bytes(second.buffer))
        assert summary.previous_size is not None and summary.previous_size < summary.tree_size
        assert CONSISTENCY in read_entries(two)
        report = _verify(two, built, previous_head=previous)
        assert report.ok, report.to_dict()
        # The auditor's newer head against the older bundle: rewound.
        newer = read_entries(two)[CHECKPOINT].decode()
        report = _verify(tmp_path / "one.zip", built, previous_head=newer)
        assert "REWOUND" in _kinds(report)
        # A bundle without a consistency proof from the auditor's head says so.
        report = verify_bundle(
            two,
            public_key=Verifier.from_file(built.public_pem),
            previous_head=read_entries(two)[CHECKPOINT].decode(),
        )
        assert report.ok
    finally:
        built.store.close()


def test_previous_head_of_another_log_is_refused(
    sample: BundleStore, tmp_path: Path, schema_dir: Path
) -> None:
    other = build_store(tmp_path / "other", [make_prepared(1, seed="other")])
    try:
        out = Unseekable()
        write_bundle(other.store, framework="soc2", start=None, end=None, out=out)
        (tmp_path / "o.zip").write_bytes(bytes(out.buffer))
        foreign = read_entries(tmp_path / "o.zip")[CHECKPOINT].decode()
    finally:
        other.store.close()
    with pytest.raises(VerificationError, match="previous head"):
        write_bundle(
            sample.store, framework="soc2", start=None, end=None, out=Unseekable(), previous_head=foreign
        )


# --- tampering --------------------------------------------------------------------------------------


def _rewrite(bundle: Path, tmp_path: Path, change: object, *, signer: Signer | None = None) -> Path:
    entries = read_entries(bundle)
    entries = change(entries)  # type: ignore[operator]
    if signer is not None:
        entries = resign(entries, signer)
    path = tmp_path / "tampered.zip"
    write_entries(path, entries)
    return path


def test_changed_file_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    path = _rewrite(
        bundle, tmp_path, lambda e: {**e, "index.html": e["index.html"].replace(b"failing", b"passing")}
    )
    report = _verify(path, sample)
    assert "MODIFIED" in _kinds(report)
    assert any("index.html" in p.message for p in report.problems)


def test_removed_file_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    path = _rewrite(bundle, tmp_path, lambda e: {k: v for k, v in e.items() if k != OSCAL})
    report = _verify(path, sample)
    assert "MISSING" in _kinds(report)
    assert any(OSCAL in p.message for p in report.problems)


def test_extra_file_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    path = _rewrite(bundle, tmp_path, lambda e: {**e, "controls/extra.html": b"<p>hi</p>"})
    assert "EXTRA" in _kinds(_verify(path, sample))


def test_edited_record_is_caught_even_when_resigned(
    bundle: Path, sample: BundleStore, tmp_path: Path
) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {**e, RECORDS: edit_lines(e[RECORDS], lambda lines: [tamper_record(lines[0]), *lines[1:]])}

    report = _verify(_rewrite(bundle, tmp_path, change, signer=sample.signer), sample)
    assert _kinds(report) == {"RECORD"}
    assert "was altered" in report.problems[0].message


def test_swapped_proofs_are_caught_even_when_resigned(
    bundle: Path, sample: BundleStore, tmp_path: Path
) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {**e, PROOFS: edit_lines(e[PROOFS], lambda lines: [lines[1], lines[0], *lines[2:]])}

    report = _verify(_rewrite(bundle, tmp_path, change, signer=sample.signer), sample)
    assert _kinds(report) == {"PROOF"}
    assert len(report.problems) == 2


def test_forged_proof_path_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    def forge(line: bytes) -> bytes:
        value = json.loads(line)
        value["hashes"][0] = "00" * 32
        return (json.dumps(value) + "\n").encode()

    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {**e, PROOFS: edit_lines(e[PROOFS], lambda lines: [forge(lines[0]), *lines[1:]])}

    report = _verify(_rewrite(bundle, tmp_path, change, signer=sample.signer), sample)
    assert _kinds(report) == {"PROOF"}
    assert "inclusion proof fails" in report.problems[0].message


def test_dropped_record_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {
            **e,
            RECORDS: edit_lines(e[RECORDS], lambda lines: lines[1:]),
            PROOFS: edit_lines(e[PROOFS], lambda lines: lines[1:]),
        }

    unsigned = _verify(_rewrite(bundle, tmp_path, change), sample)
    assert "MODIFIED" in _kinds(unsigned)
    resigned = _verify(_rewrite(bundle, tmp_path, change, signer=sample.signer), sample)
    assert "COUNT" in _kinds(resigned)


def test_changed_payload_is_caught_even_when_resigned(
    bundle: Path, sample: BundleStore, tmp_path: Path
) -> None:
    def alter(line: bytes) -> bytes:
        value = json.loads(line)
        value["payload"]["json"]["rows"][0]["encrypted"] = False
        return (json.dumps(value) + "\n").encode()

    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        return {**e, RECORDS: edit_lines(e[RECORDS], lambda lines: [alter(lines[0]), *lines[1:]])}

    report = _verify(_rewrite(bundle, tmp_path, change, signer=sample.signer), sample)
    assert _kinds(report) == {"BLOB"}


def test_forged_manifest_signature_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    path = _rewrite(bundle, tmp_path, lambda e: e, signer=Signer.generate())
    report = _verify(path, sample)
    assert "SIGNATURE" in _kinds(report)


def test_changed_manifest_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    def change(e: dict[str, bytes]) -> dict[str, bytes]:
        manifest = json.loads(e[MANIFEST])
        manifest["omissions"]["controls_without_evidence"] = []
        return {**e, MANIFEST: (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()}

    report = _verify(_rewrite(bundle, tmp_path, change), sample)
    assert _kinds(report) == {"SIGNATURE"}
    assert "changed after signing" in report.problems[0].message


def test_wrong_key_is_caught(bundle: Path) -> None:
    report = verify_bundle(bundle, public_key=Signer.generate().verifier())
    kinds = _kinds(report)
    assert "KEY" in kinds and "SIGNATURE" in kinds and "CHECKPOINT" in kinds


def test_replaced_key_is_caught_by_a_pinned_key(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    """An attacker re-signs everything with a key of their own and ships its public key in the bundle:
    without pinning it looks consistent (only a notice says the key is unpinned); pinned, it fails."""
    attacker = Signer.generate()
    path = _rewrite(
        bundle, tmp_path, lambda e: {**e, "public-key.pem": attacker.public_pem()}, signer=attacker
    )
    unpinned = verify_bundle(path)
    assert "not pinned" in unpinned.trust
    assert "CHECKPOINT" in _kinds(unpinned)  # the log's checkpoint still bears the real key's signature
    pinned = _verify(path, sample)
    assert "KEY" in _kinds(pinned)


def test_truncated_zip_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    data = bundle.read_bytes()
    path = tmp_path / "short.zip"
    path.write_bytes(data[: len(data) // 2])
    report = _verify(path, sample)
    assert _kinds(report) == {"CORRUPT"}


def test_flipped_byte_inside_an_entry_is_caught(bundle: Path, sample: BundleStore, tmp_path: Path) -> None:
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo(RECORDS)
    data[info.header_offset + 30 + len(RECORDS) + 40] ^= 0xFF
    path = tmp_path / "flipped.zip"
    path.write_bytes(bytes(data))
    report = _verify(path, sample)
    assert not report.ok
    assert _kinds(report) & {"CORRUPT", "MODIFIED"}


# --- the command line -------------------------------------------------------------------------------


def _env(store: BundleStore) -> dict[str, str]:
    return {
        "EVIDENCE_STORE_URL": store.url,
        "EVIDENCE_BLOB_URL": store.blob_url,
        "EVIDENCE_SIGNING_KEY": f"file:{Path(store.public_pem).parent / 'signing-key.pem'}",
        "COLUMNS": "200",
    }


def _main(
    args: list[str],
    store: BundleStore,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """``evidence.cli.main`` in this process (exit code, stdout, stderr): the real error handling, without
    a Python start-up per case. The families' commands are not needed by `bundle`."""
    from evidence import cli

    monkeypatch.setattr(cli, "_install_family_commands", lambda: None)
    monkeypatch.setattr(sys, "argv", ["evidence", *args])
    monkeypatch.chdir(cwd)
    for name, value in _env(store).items():
        monkeypatch.setenv(name, value)
    code: int | str | None = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


def test_cli_export_and_verify(
    cli_store: BundleStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "q.zip"
    args = ["bundle", "--framework", "soc2", "--from", "2025-03-01", "--to", "2025-03-10", "--out", str(out)]
    # Once through the console entry point, in a process of its own, to a pipe (which cannot seek).
    done = subprocess.run(
        [sys.executable, "-m", "evidence.cli", *args[:-1], "-", "--by", "auditor-ann"],
        capture_output=True,
        env={**os.environ, **_env(cli_store)},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"records of soc2" in done.stderr
    out.write_bytes(done.stdout)
    # The export is itself evidence: who, which period, the zip's digest.
    import hashlib

    (export,) = list(cli_store.store.iter_records(evidence_type="bundle.export"))
    row = json.loads(cli_store.store.read_blob(export.payload_sha256))["rows"][0]
    assert row["bundle_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (row["framework"], row["exported_by"], row["channel"]) == ("soc2", "auditor-ann", "cli")
    assert row["period_end"] == "2025-03-11T00:00:00.000000Z"

    code, stdout, stderr = _main(
        ["bundle", "verify", str(out), "--public-key", str(cli_store.public_pem)],
        cli_store,
        tmp_path,
        monkeypatch,
        capsys,
    )
    assert code == 0, stderr
    assert "OK" in stdout
    code, stdout, stderr = _main(
        ["verify-bundle", str(out), "--json"], cli_store, tmp_path, monkeypatch, capsys
    )
    assert code == 0, stderr
    assert json.loads(stdout)["ok"] is True
    # Tampered: exit 1, the problem named on stderr.
    entries = read_entries(out)
    entries["index.html"] += b"<!-- edited -->"
    write_entries(out, entries)
    code, stdout, stderr = _main(
        ["bundle", "verify", str(out), "--public-key", str(cli_store.public_pem)],
        cli_store,
        tmp_path,
        monkeypatch,
        capsys,
    )
    assert code == 1
    assert "PROBLEM [MODIFIED] index.html" in stderr
    # To a file: written beside it and renamed, no partial file left.
    second = tmp_path / "dr.zip"
    code, stdout, stderr = _main(
        ["bundle", "--framework", "dr", "--out", str(second), "--json"],
        cli_store,
        tmp_path,
        monkeypatch,
        capsys,
    )
    assert code == 0, stderr
    assert json.loads(stdout)["framework"] == "dr" and second.is_file()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bundle", "--framework", "iso27001", "--out", "x.zip"], "unknown framework"),
        (["bundle", "--framework", "soc2"], "--out required"),
        (
            ["bundle", "--framework", "soc2", "--from", "2025-03-05", "--to", "2025-03-01", "--out", "x.zip"],
            "not before",
        ),
        (["bundle", "--framework", "soc2", "--from", "soon", "--out", "x.zip"], "not an ISO 8601"),
        (["bundle", "--framework", "soc2", "--out", "/nonexistent/dir/x.zip"], "does not exist"),
        (["bundle", "verify", "missing.zip"], "no such file"),
        (["bundle", "--framework", "soc2", "--out", "x.zip", "--previous-head", "nope.txt"], "cannot read"),
        (["bundle", "verify", "x.zip", "--bogus"], "No such option"),
    ],
)
def test_cli_bad_arguments_exit_2(
    cli_store: BundleStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, _, stderr = _main(args, cli_store, tmp_path, monkeypatch, capsys)
    assert code == 2, stderr
    assert message in stderr
    assert not (tmp_path / "x.zip").exists()


# --- a large store: streaming with flat memory ------------------------------------------------------

_MEMORY_CHILD = """
import json, resource, sys
from datetime import timedelta
from evidence.bundle import write_bundle
from evidence.signing import Signer
from evidence.store import open_store
from tests.support.records import BASE_TIME

class Sink:
    def write(self, data):
        return len(data)
    def flush(self):
        pass

folder, small, large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
signer = Signer.from_file(folder + "/signing-key.pem")
store = open_store("sqlite:///" + folder + "/evidence.db", blob_url="file://" + folder + "/blobs",
                   signer=signer, create=False, environ={})
peaks = []
for count in (small, large):
    summary = write_bundle(store, framework="soc2", start=BASE_TIME, end=BASE_TIME + timedelta(seconds=count),
                           out=Sink())
    peaks.append((summary.records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
store.close()
print(json.dumps(peaks))
"""


def test_large_store_streams_with_bounded_memory(tmp_path: Path, schema_dir: Path) -> None:
    """20k records exported after 1k in one fresh process: the peak RSS barely moves (records are
    streamed, the tree's levels sit in a temporary file), where holding the records would add tens of MB."""
    total, small = 20_000, 1_000
    built = build_store(tmp_path / "large", [])
    try:
        batch = []
        for i in range(total):
            batch.append(
                make_prepared(
                    i,
                    seed="large",
                    control_ids=(SOC2_CONTROL,),
                    observed_at=BASE_TIME + timedelta(seconds=i),
                    payload_size=2048,
                )
            )
            if len(batch) == 5000:
                built.store.append_batch(batch)
                batch = []
    finally:
        built.store.close()
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(tmp_path / "large"), str(small), str(total)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr
    (small_records, small_kb), (large_records, large_kb) = json.loads(done.stdout)
    assert (small_records, large_records) == (small, total)
    # 19k more records of ~2.3 KB (about 45 MB through the export) may not grow the peak by 15 MB.
    assert large_kb - small_kb < 15_000, (small_kb, large_kb)
