"""A small store for bundle tests: records of SOC 2 and GDPR controls over ten days, an error record,
markup in evidence text, an attested document, and a scheduled collection that missed a day. Plus
helpers that rewrite a bundle the way an attacker (with or without the log's key) would."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from evidence.bundle import MANIFEST, MANIFEST_SIG, _manifest_note_text
from evidence.canonical import canonical_bytes, sha256_hex
from evidence.note import SignedNote, signature_line
from evidence.records import PreparedRecord, SourceError, Status
from evidence.signing import BaseSigner, Signer
from evidence.store import EvidenceStore, open_store
from tests.support.records import BASE_TIME, make_prepared

SOC2_CONTROL = "SEED000-SEC-DATA-01"  # automated: aws.rds.storage_encryption, aws.s3.bucket_encryption, ...
SCHEDULED_TYPE = "aws.s3.bucket_encryption"
MARKUP = '<script>alert("x")</script><b>bold</b>'
DAYS = 10


def gdpr_only_control() -> str:
    from evidence.catalog import load_catalog

    catalog = load_catalog()
    soc2 = {c.id for c in catalog.filter(framework="soc2")}
    return next(c.id for c in catalog.filter(framework="gdpr") if c.id not in soc2)


def attestation_control() -> str:
    from evidence.catalog import load_catalog

    return next(c.id for c in load_catalog().filter(framework="soc2", method="attestation"))


def sample_records(start_index: int = 0, days: int = DAYS) -> list[PreparedRecord]:
    """One test.sample record per day for SOC2_CONTROL (day 3 fails with markup in its reason, day 4
    could not be collected), an aws.s3.bucket_encryption error record per day but day 5 (a missed
    scheduled collection), a GDPR-only record per day and an attestation with a document on day 2."""
    items: list[PreparedRecord] = []
    gdpr = gdpr_only_control()
    for day in range(days):
        when = BASE_TIME + timedelta(days=day)
        index = start_index + day
        status = Status.FAIL if day == 3 else Status.ERROR if day == 4 else Status.PASS
        error = (
            SourceError(
                code="AccessDenied", message="not allowed", permission="s3:GetEncryptionConfiguration"
            )
            if status == Status.ERROR
            else None
        )
        item = make_prepared(
            index, seed="bundle", control_ids=(SOC2_CONTROL,), observed_at=when, status=status, error=error
        )
        if day == 3:
            item = PreparedRecord(
                item.draft.model_copy(update={"reason": f"failing: {MARKUP}"}), item.payload
            )
        items.append(item)
        items.append(make_prepared(1000 + index, seed="bundle", control_ids=(gdpr,), observed_at=when))
        if day != 5:
            scheduled = make_prepared(
                2000 + index,
                seed="bundle",
                control_ids=(SOC2_CONTROL,),
                observed_at=when + timedelta(hours=1),
                status=Status.ERROR,
                error=SourceError(
                    code="AccessDenied", message="denied", permission="s3:GetEncryptionConfiguration"
                ),
                target={"account": "123456789012", "region": "eu-west-1"},
            )
            draft = scheduled.draft.model_copy(update={"evidence_type": SCHEDULED_TYPE})
            items.append(PreparedRecord(draft, scheduled.payload))
        if day == 2:
            items.append(
                make_prepared(
                    3000 + index,
                    seed="bundle",
                    control_ids=(attestation_control(),),
                    observed_at=when,
                    attachments={"doc": b"signed policy document\n"},
                )
            )
    return items


@dataclass
class BundleStore:
    store: EvidenceStore
    signer: Signer
    public_pem: Path
    url: str
    blob_url: str


def build_store(folder: Path, items: list[PreparedRecord] | None = None) -> BundleStore:
    signer = Signer.generate()
    url = f"sqlite:///{folder / 'evidence.db'}"
    blob_url = f"file://{folder / 'blobs'}"
    store = open_store(url, blob_url=blob_url, signer=signer, environ={})
    store.append_batch(items if items is not None else sample_records())
    pem = folder / "log.pem"
    pem.write_bytes(signer.public_pem())
    key_file = folder / "signing-key.pem"
    key_file.write_bytes(signer.private_pem())
    key_file.chmod(0o600)
    return BundleStore(store, signer, pem, url, blob_url)


class Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek or tell (a pipe, an HTTP response)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        return len(data)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise OSError("unseekable")


def read_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_entries(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def resign(entries: dict[str, bytes], signer: BaseSigner) -> dict[str, bytes]:
    """What a holder of ``signer`` can do after editing files: fix the manifest's hashes and sign it."""
    manifest = json.loads(entries[MANIFEST])
    for item in manifest["files"]:
        if item["path"] in entries:
            item["sha256"] = hashlib.sha256(entries[item["path"]]).hexdigest()
            item["size"] = len(entries[item["path"]])
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    origin = manifest["log"]["origin"]
    text = _manifest_note_text(origin, hashlib.sha256(data).hexdigest())
    key = signer.note_key(origin)
    note = SignedNote(text, (signature_line(key, signer.sign_raw(text.encode())),))
    return {**entries, MANIFEST: data, MANIFEST_SIG: note.encode().encode()}


def edit_lines(data: bytes, change: Callable[[list[bytes]], list[bytes]]) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(change(lines))


def tamper_record(line: bytes) -> bytes:
    value = json.loads(line)
    value["record"]["reason"] = "all good"
    return canonical_bytes(value) + b"\n"


__all__ = ["sha256_hex"]
