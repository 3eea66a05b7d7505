"""The CLI against hostile input and the auditor's path (issue 13): real processes, real stores.

Every finding has a test here (or in tests/unit/test_terminal.py, tests/integration/test_cli_fuzz.py):
terminal injection, attachments, file modes, tracebacks, bounded S3 waits, full disks, and `verify`
on a read-only copy without the private key.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli import ROOT
from tests.integration.test_store_roles import roles  # noqa: F401 - fixture: deploy/postgres-init.sql roles

pytestmark = pytest.mark.integration

ESC_STATEMENT = "Reviewed \x1b[2J\x1b]0;owned\x07 by\nseq 99 FORGED pass \u202egnp.exe"
CONTROL_BYTES = ("\x1b", "\x07", "\u202e", "\x9b")


@pytest.fixture
def evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    """Run the CLI in this process (``main()``, as the console script does) in ``tmp_path``: the
    same argument parsing, error handling and exit codes as a real process, without its start-up."""
    from evidence import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("EVIDENCE_STORE_URL", "EVIDENCE_SIGNING_KEY", "EVIDENCE_BLOB_URL"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr(sys, "argv", ["evidence", *args])
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    yield invoke


def attested(evidence: Any) -> str:
    result = evidence("append", "-c", "SEED003-SEC-01", "--statement", "reviewed", "--by", "Ada", "--json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)[0]["id"])


# --- terminal injection ------------------------------------------------------------------------------


def test_control_characters_from_evidence_never_reach_the_terminal(evidence: Any) -> None:
    appended = evidence("append", "-c", "SEED003-SEC-01", "--statement", ESC_STATEMENT, "--by", "Eve\x1b[31m")
    assert appended.returncode == 0, appended.stderr
    excepted = evidence(
        "accept-risk",
        "-c",
        "SEED003-SEC-11",
        "--reason",
        "later\x1b[2J\nSEED003-SEC-12 passing",
        "--by",
        "Mallory",
        "--until",
        "2027-06-30",
        "--json",
    )
    assert excepted.returncode == 0, excepted.stderr
    record_id = json.loads(evidence("list", "--json").stdout)[-1]["id"]
    outputs = [
        evidence("list"),
        evidence("show", record_id, "--payload"),
        evidence("posture", "--controls"),
        evidence("verify"),
        evidence("show", "\x1b[2Jnot-an-id"),
    ]
    for result in outputs:
        text = result.stdout + result.stderr
        assert not any(c in text for c in CONTROL_BYTES), text
        assert not any(
            line.lstrip("│ ").startswith(("seq 99", "SEED003-SEC-12")) for line in text.splitlines()
        )
    assert "\\x1b[2J" in outputs[0].stdout and "\\n" in outputs[1].stdout
    # --json stays exact
    listed = json.loads(evidence("list", "--json").stdout)
    assert any(ESC_STATEMENT in r["reason"] for r in listed)


# --- attachments -------------------------------------------------------------------------------------


def test_attachments_are_regular_files_and_symlinks_need_a_flag(tmp_path: Path, evidence: Any) -> None:
    def attach(path: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
        return evidence(
            "append",
            "-c",
            "SEED003-SEC-01",
            "--statement",
            "s",
            "--by",
            "b",
            "--file",
            str(path),
            *extra,
        )

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the store")
    link = tmp_path / "link.pdf"
    link.symlink_to(secret)
    for path, message in [
        ("/dev/zero", "is a device"),
        (fifo, "is a FIFO"),
        (tmp_path, "is a directory"),
        (link, "symbolic link"),
    ]:
        result = attach(path)
        assert result.returncode == 2 and message in result.stderr, (path, result.stderr)
    followed = attach(link, "--follow-symlinks", "--json")
    assert followed.returncode == 0, followed.stderr


# --- file modes --------------------------------------------------------------------------------------


def test_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EVIDENCE_STORE_URL", None)
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evidence.cli",
            "append",
            "-c",
            "SEED003-SEC-01",
            "--statement",
            "s",
            "--by",
            "b",
            "--file",
            str(doc),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),
    )
    assert result.returncode == 0, result.stderr
    store = tmp_path / ".evidence"

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(store) == 0o700
    assert mode(store / "evidence.db") == 0o600
    assert mode(store / "signing-key.pem") == 0o600
    for sidecar in ("evidence.db-wal", "evidence.db-shm"):
        if (store / sidecar).exists():
            assert mode(store / sidecar) == 0o600
    blobs = [p for p in (store / "blobs").rglob("*") if p.is_file()]
    folders = [store / "blobs", *(p for p in (store / "blobs").rglob("*") if p.is_dir())]
    assert len(blobs) == 2  # the payload and the document
    assert {mode(p) for p in blobs} == {0o400}
    assert {mode(p) for p in folders} == {0o700}


# --- no tracebacks: exit 2 with a message ------------------------------------------------------------


def test_extreme_numbers_dates_and_urls_are_usage_errors(evidence: Any) -> None:
    record_id = attested(evidence)
    huge = "9" * 30
    cases = [
        (["list", "--limit", huge], "--limit"),
        (["list", "--since", "0001-01-01T00:00:00+14:00"], "--since"),
        (["list", "--until", "9999-12-31T23:59:59-23:59"], "--until"),
        (
            [
                "append",
                "-c",
                "SEED003-SEC-01",
                "--statement",
                "s",
                "--by",
                "b",
                "--valid-until",
                "9999-12-31T23:59:59-23:59",
            ],
            "--valid-until",
        ),
        (
            [
                "accept-risk",
                "-c",
                "SEED003-SEC-01",
                "--reason",
                "r",
                "--by",
                "b",
                "--until",
                "0001-01-01T00:00:00+01:00",
            ],
            "--until",
        ),
        (["prove", record_id, "--tree-size", huge], "--tree-size"),
        (["consistency", "0", huge], "new_size"),
        (["verify", "--witnesses", huge], "--witnesses"),
        (["--store", "postgresql://user@db.example:port/evidence", "list"], "the port is a number"),
        (
            [
                "witness",
                "serve",
                "--key",
                "k",
                "--name",
                "w",
                "--state",
                "s",
                "--log",
                "l",
                "--listen",
                "h:x",
            ],
            "--listen",
        ),
    ]
    for args, named in cases:
        result = evidence(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert named in result.stderr, (args, result.stderr)


def test_arguments_that_are_not_utf8_are_refused(tmp_path: Path, evidence: Any) -> None:
    # Python hands undecodable argument bytes over as lone surrogates (os.fsdecode): b"\xff\xfe".
    for args in (
        ["show", os.fsdecode(b"\xff\xfe")],
        ["append", "-c", "SEED003-SEC-01", "--statement", os.fsdecode(b"\xc3("), "--by", "b"],
    ):
        result = evidence(*args)
        assert result.returncode == 2 and "not valid UTF-8" in result.stderr, result.stderr
    assert not (tmp_path / ".evidence").exists()


def test_verify_names_rows_that_are_not_utf8(tmp_path: Path, evidence: Any) -> None:
    attested(evidence)
    second = json.loads(
        evidence("append", "-c", "SEED003-SEC-02", "--statement", "2", "--by", "b", "--json").stdout
    )
    record_id = second[0]["id"]
    db = sqlite3.connect(tmp_path / ".evidence" / "evidence.db")
    for (name,) in list(db.execute("select name from sqlite_master where type='trigger'")):
        db.execute(f'drop trigger "{name}"')
    db.execute(
        "update records set record_json = CAST(X'7bff' || CAST(record_json AS BLOB) AS TEXT) where seq = 1"
    )
    db.execute("update tree_heads set frontier = CAST(X'5bfe5d' AS TEXT) where size = 1")
    db.commit()
    db.close()
    human = evidence("verify")
    assert human.returncode == 1
    assert f"record {record_id} (seq 1)" in human.stderr and "not valid UTF-8" in human.stderr
    machine = evidence("verify", "--json")
    assert machine.returncode == 1
    kinds = {p["kind"] for p in json.loads(machine.stdout)["problems"]}
    assert "not_utf8" in kinds and "head_frontier_mismatch" in kinds


# --- S3 endpoints that never answer ------------------------------------------------------------------


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_an_s3_endpoint_that_never_answers_fails_in_bounded_time(silent_endpoint: str) -> None:
    from evidence.errors import StoreError
    from evidence.store.blobs import (
        S3_CONNECT_TIMEOUT_S,
        S3_MAX_ATTEMPTS,
        S3_READ_TIMEOUT_S,
        open_blob_store,
        s3_client_from_query,
    )

    default = s3_client_from_query({}, "s3://bucket").meta.config
    assert (default.connect_timeout, default.read_timeout) == (S3_CONNECT_TIMEOUT_S, S3_READ_TIMEOUT_S)
    assert default.retries["total_max_attempts"] == S3_MAX_ATTEMPTS
    assert S3_MAX_ATTEMPTS * (S3_CONNECT_TIMEOUT_S + S3_READ_TIMEOUT_S) <= 120
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot reach blob store"):
        open_blob_store(
            f"s3://bucket/p?endpoint_url={silent_endpoint}&region=us-east-1&read_timeout=1&max_attempts=2"
        )
    assert time.monotonic() - started < 30


# --- smaller ones ------------------------------------------------------------------------------------


def test_full_disk_exits_the_same_way_for_blobs_and_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    from sqlalchemy import exc as sa_exc

    from evidence import cli
    from evidence.store import blobs as blob_module
    from evidence.store.store import EvidenceStore

    store_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", "")
    args = [
        "evidence",
        "--store",
        store_url,
        "append",
        "-c",
        "SEED003-SEC-01",
        "--statement",
        "s",
        "--by",
        "b",
    ]

    def exit_code(argv: list[str]) -> int:
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as raised:
            cli.main()
        return int(raised.value.code or 0)

    def no_space(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "blobs"))

    with monkeypatch.context() as patch:
        patch.setattr(blob_module, "write_temp_files", no_space)
        blob_code = exit_code(args)
    blob_message = capsys.readouterr().err

    def db_full(*_args: object, **_kwargs: object) -> None:
        raise sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    with monkeypatch.context() as patch:
        patch.setattr(EvidenceStore, "_insert_rows", db_full)
        db_code = exit_code([*args[:-1], "c"])
    db_message = capsys.readouterr().err
    assert blob_code == db_code == 2
    assert "No space left on device" in blob_message and "disk is full" in db_message


def test_small_contract_fixes(tmp_path: Path, evidence: Any) -> None:
    attested(evidence)
    lapsed = evidence(
        "append",
        "-c",
        "SEED003-SEC-01",
        "--statement",
        "s",
        "--by",
        "b",
        "--valid-until",
        "2020-01-01",
    )
    assert lapsed.returncode == 2 and "lapse" in lapsed.stderr
    lower = json.loads(evidence("list", "--control", "seed003-sec-01", "--json").stdout)
    assert len(lower) == 1
    junk = evidence("posture", "--fail-on", "failing,junk")
    assert junk.returncode == 2 and junk.stdout == "" and "junk" in junk.stderr
    key_dir = tmp_path / "keydir"
    key_dir.mkdir()
    as_dir = evidence(
        "append",
        "-c",
        "SEED003-SEC-01",
        "--statement",
        "s",
        "--by",
        "b",
        env={"EVIDENCE_SIGNING_KEY": f"file:{key_dir}"},
    )
    assert as_dir.returncode == 2 and "is a directory" in as_dir.stderr


def test_a_corrupt_database_without_blobs_is_named_as_such(tmp_path: Path, evidence: Any) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "evidence.db").write_bytes(b"this is not a database" * 100)
    result = evidence("--store", f"sqlite:///{folder / 'evidence.db'}", "list")
    assert result.returncode == 2
    assert "not a database" in result.stderr and "blob" not in result.stderr


# --- the auditor's path ------------------------------------------------------------------------------


def _as_unprivileged(args: list[str]) -> list[str]:
    """Root ignores file modes: drop the capabilities that let it (the test runs as root here)."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", *args]


def _auditor_verify(
    cwd: Path, store_url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full_env.pop("EVIDENCE_SIGNING_KEY", None)
    full_env.update(env or {})
    full_env["EVIDENCE_STORE_URL"] = store_url
    return subprocess.run(
        _as_unprivileged([sys.executable, "-m", "evidence.cli", "verify", *extra]),
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~0o222)


def test_verify_works_on_a_read_only_copy_with_public_keys_only(tmp_path: Path, evidence: Any) -> None:
    attested(evidence)
    evidence("append", "-c", "SEED003-SEC-02", "--statement", "two", "--by", "b")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / ".evidence", copy)
    public = tmp_path / "log.pub.pem"
    shutil.copy(copy / "signing-key.pub.pem", public)
    url = f"sqlite:///{copy / 'evidence.db'}"
    key = copy / "signing-key.pem"
    for key_mode in (0o644, 0o000):  # the auditor's copy: a key file too open, or not readable
        key.chmod(key_mode)
        _read_only(copy)
        result = _auditor_verify(tmp_path, url, "--public-key", str(public), "--json")
        assert result.returncode == 0, (oct(key_mode), result.stderr)
        assert json.loads(result.stdout)["ok"] is True
        assert "Traceback" not in result.stderr
        for path in [copy, *copy.rglob("*")]:
            path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o200)
    key.unlink()  # and without any private key at all
    _read_only(copy)
    result = _auditor_verify(tmp_path, url, "--public-key", str(public))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert sorted(p.name for p in copy.iterdir() if p.name.startswith("evidence.db")) == ["evidence.db"]


def test_verify_as_the_read_only_postgres_auditor_role(
    roles: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    evidence: Any,
) -> None:
    from evidence.signing import Signer
    from evidence.store.config import init_schema

    init_schema(roles["owner"], environ={}).close()
    signer = Signer.generate()
    key = tmp_path / "app-key.pem"
    key.write_bytes(signer.private_pem())
    key.chmod(0o600)
    public = tmp_path / "log.pub.pem"
    public.write_bytes(signer.public_pem())
    blobs = f"file://{tmp_path / 'blobs'}"
    appended = evidence(
        "append",
        "-c",
        "SEED003-SEC-01",
        "--statement",
        "reviewed",
        "--by",
        "b",
        env={
            "EVIDENCE_STORE_URL": roles["app"],
            "EVIDENCE_BLOB_URL": blobs,
            "EVIDENCE_SIGNING_KEY": f"file:{key}",
        },
    )
    assert appended.returncode == 0, appended.stderr
    _read_only(tmp_path / "blobs")
    key.chmod(0o644)  # a key the auditor's environment names, too open to sign with: irrelevant to verify
    result = _auditor_verify(
        tmp_path,
        roles["auditor"],
        "--public-key",
        str(public),
        "--json",
        env={"EVIDENCE_BLOB_URL": blobs, "EVIDENCE_SIGNING_KEY": f"file:{key}"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["records"] == 1 and report["blobs"] == 1
