"""Tests for evidence.signing: signed tree heads, keys on disk and in the environment."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from evidence.canonical import canonical_bytes
from evidence.errors import SigningError, VerificationError
from evidence.merkle import EMPTY_ROOT, leaf_hash
from evidence.signing import (
    TREE_HEAD_FORMAT,
    SignedTreeHead,
    Signer,
    TreeHead,
    Verifier,
    load_or_create_signer,
)

ROOT = leaf_hash(b"record 0")
WHEN = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


def _replace_head(sth: SignedTreeHead, **changes: Any) -> SignedTreeHead:
    return dataclasses.replace(sth, head=dataclasses.replace(sth.head, **changes))


def _ecdsa_pem() -> bytes:
    return generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --- Tree heads -----------------------------------------------------------------------------------


def test_sign_and_verify_round_trip(signer: Signer) -> None:
    sth = signer.sign_head(1, ROOT, WHEN)
    assert sth.head == TreeHead(
        size=1, root_hash=ROOT.hex(), timestamp="2025-03-01T12:30:00.000000Z", key_id=signer.key_id
    )
    assert sth.head.root == ROOT
    assert len(base64.b64decode(sth.signature)) == 64
    signer.verifier().verify_head(sth)


def test_default_timestamp_is_now_in_utc(signer: Signer) -> None:
    before = datetime.now(UTC)
    sth = signer.sign_head(0, EMPTY_ROOT)
    stamped = datetime.strptime(sth.head.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= stamped <= datetime.now(UTC)


def test_signed_bytes_are_canonical_and_tagged(signer: Signer) -> None:
    head = signer.sign_head(3, ROOT, WHEN).head
    assert json.loads(head.signed_bytes()) == {
        "format": TREE_HEAD_FORMAT,
        "size": 3,
        "root_hash": ROOT.hex(),
        "timestamp": "2025-03-01T12:30:00.000000Z",
        "key_id": signer.key_id,
    }
    assert head.signed_bytes() == canonical_bytes(json.loads(head.signed_bytes()))


def test_dict_round_trip(signer: Signer) -> None:
    sth = signer.sign_head(7, ROOT, WHEN)
    data = json.loads(json.dumps(sth.to_dict()))
    assert data["format"] == TREE_HEAD_FORMAT
    assert SignedTreeHead.from_dict(data) == sth
    signer.verifier().verify_head(SignedTreeHead.from_dict(data))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 8}, "size"),
        ({"root_hash": leaf_hash(b"other").hex()}, "root_hash"),
        ({"timestamp": "2025-03-01T12:30:00.000001Z"}, "timestamp"),
    ],
)
def test_tampered_head_fails(signer: Signer, change: dict[str, object], field: str) -> None:
    sth = _replace_head(signer.sign_head(7, ROOT, WHEN), **change)
    with pytest.raises(
        VerificationError, match=rf"tree head of size {sth.head.size}: signature does not verify"
    ):
        signer.verifier().verify_head(sth)


def test_tampered_signature_fails(signer: Signer) -> None:
    sth = signer.sign_head(7, ROOT, WHEN)
    raw = bytearray(base64.b64decode(sth.signature))
    raw[10] ^= 1
    forged = dataclasses.replace(sth, signature=base64.b64encode(bytes(raw)).decode())
    with pytest.raises(VerificationError, match="size 7: signature does not verify"):
        signer.verifier().verify_head(forged)
    with pytest.raises(VerificationError, match="size 7: signature is not valid base64"):
        signer.verifier().verify_head(dataclasses.replace(sth, signature="not base64!"))


def test_wrong_key_fails(signer: Signer) -> None:
    other = Signer.generate()
    sth = signer.sign_head(7, ROOT, WHEN)
    with pytest.raises(
        VerificationError, match=rf"size 7 names signing key '{signer.key_id}'.*not the trusted"
    ):
        other.verifier().verify_head(sth)
    # Relabelled with the other key's id, the signature itself must still fail.
    relabelled = _replace_head(sth, key_id=other.key_id)
    with pytest.raises(VerificationError, match="signature does not verify"):
        other.verifier().verify_head(relabelled)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({"format": "other/v1"}, "format"),
        ({"format": TREE_HEAD_FORMAT, "size": 1}, "'root_hash' is missing"),
        (
            {
                "format": TREE_HEAD_FORMAT,
                "size": True,
                "root_hash": "",
                "timestamp": "",
                "key_id": "",
                "signature": "",
            },
            "'size' must be a non-negative integer",
        ),
        (
            {
                "format": TREE_HEAD_FORMAT,
                "size": 1,
                "root_hash": "AB",
                "timestamp": "",
                "key_id": "",
                "signature": "",
            },
            "size 1: 'root_hash' is not 64 lowercase hex",
        ),
    ],
)
def test_from_dict_rejects_malformed(data: object, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        SignedTreeHead.from_dict(data)


def test_sign_head_rejects_bad_input(signer: Signer) -> None:
    with pytest.raises(ValueError, match="32-byte"):
        signer.sign_head(1, b"short")
    with pytest.raises(ValueError, match="negative"):
        signer.sign_head(-1, ROOT)
    with pytest.raises(ValueError, match="naive"):
        signer.sign_head(1, ROOT, datetime(2025, 1, 1))  # deliberately naive


# --- Generic bytes ----------------------------------------------------------------------------------


def test_sign_bytes_round_trip(signer: Signer) -> None:
    signature = signer.sign_bytes(b"manifest")
    signer.verifier().verify_bytes(b"manifest", signature)
    with pytest.raises(VerificationError, match=r"manifest\.json: signature does not verify"):
        signer.verifier().verify_bytes(b"manifest!", signature, what="manifest.json")


def test_head_signature_is_not_a_signature_over_other_bytes(signer: Signer) -> None:
    # Domain separation: the format tag is inside what is signed.
    sth = signer.sign_head(1, ROOT, WHEN)
    untagged = canonical_bytes(
        {"size": 1, "root_hash": ROOT.hex(), "timestamp": sth.head.timestamp, "key_id": signer.key_id}
    )
    with pytest.raises(VerificationError):
        signer.verifier().verify_bytes(untagged, sth.signature)


# --- Keys -------------------------------------------------------------------------------------------


def test_pem_round_trip_and_key_id(signer: Signer) -> None:
    loaded = Signer.from_pem(signer.private_pem())
    assert loaded.key_id == signer.key_id
    assert len(signer.key_id) == 16
    int(signer.key_id, 16)
    verifier = Verifier.from_pem(signer.public_pem())
    assert verifier.key_id == signer.key_id
    verifier.verify_head(loaded.sign_head(2, ROOT, WHEN))


def test_repr_hides_key_material(signer: Signer) -> None:
    pem = signer.private_pem()
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")).decode()
    for text in (repr(signer), str(signer), repr(signer.verifier())):
        assert signer.key_id in text
        assert body not in text
        assert body[:20] not in text


def test_from_pem_refuses_other_key_types() -> None:
    with pytest.raises(SigningError, match="expected an Ed25519 private key"):
        Signer.from_pem(_ecdsa_pem())
    with pytest.raises(SigningError, match="not an unencrypted PEM private key"):
        Signer.from_pem(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningError, match="not a PEM public key"):
        Verifier.from_pem(b"nope")


def test_from_env_pem_text_and_file(signer: Signer, tmp_path: Path) -> None:
    pem = signer.private_pem().decode()
    assert Signer.from_env(environ={"EVIDENCE_SIGNING_KEY": pem}).key_id == signer.key_id
    flattened = pem.replace("\n", "\\n")
    assert Signer.from_env(environ={"EVIDENCE_SIGNING_KEY": flattened}).key_id == signer.key_id
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(signer.private_pem())
    key_file.chmod(0o600)
    assert Signer.from_env("MY_KEY", environ={"MY_KEY": f"file:{key_file}"}).key_id == signer.key_id
    with pytest.raises(SigningError, match="environment variable MY_KEY is not set"):
        Signer.from_env("MY_KEY", environ={})
    with pytest.raises(
        SigningError, match="environment variable EVIDENCE_SIGNING_KEY: not an unencrypted PEM"
    ):
        Signer.from_env(environ={"EVIDENCE_SIGNING_KEY": "garbage"})


def test_from_file_missing_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    with pytest.raises(SigningError, match=f"cannot read signing key file {re.escape(str(missing))}"):
        Signer.from_file(missing)
    with pytest.raises(SigningError, match=f"cannot read public key file {re.escape(str(missing))}"):
        Verifier.from_file(missing)


def test_verifier_from_file(signer: Signer, tmp_path: Path) -> None:
    public = tmp_path / "ledger.pub"
    public.write_bytes(signer.public_pem())
    Verifier.from_file(public).verify_head(signer.sign_head(1, ROOT, WHEN))


# --- load_or_create_signer --------------------------------------------------------------------------


def test_generate_save_load(tmp_path: Path) -> None:
    path = tmp_path / ".evidence" / "keys" / "ledger-signing.pem"
    created = load_or_create_signer(path)
    assert path.exists()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_or_create_signer(path)
    assert loaded.key_id == created.key_id
    loaded.verifier().verify_head(created.sign_head(5, ROOT, WHEN))
    assert [p.name for p in path.parent.iterdir()] == [path.name], "temp file left behind"


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_readable_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "ledger-signing.pem"
    load_or_create_signer(path)
    path.chmod(mode)
    with pytest.raises(
        SigningError,
        match=rf"signing key file {re.escape(str(path))} is accessible by other users.*chmod 600",
    ):
        load_or_create_signer(path)
    with pytest.raises(SigningError, match=re.escape(str(path))):
        Signer.from_file(path)


def test_non_ed25519_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger-signing.pem"
    path.write_bytes(_ecdsa_pem())
    path.chmod(0o600)
    with pytest.raises(
        SigningError, match=rf"signing key file {re.escape(str(path))}: expected an Ed25519 private key"
    ):
        load_or_create_signer(path)


def test_error_messages_do_not_quote_key_material(tmp_path: Path) -> None:
    path = tmp_path / "ledger-signing.pem"
    pem = _ecdsa_pem()
    path.write_bytes(pem)
    path.chmod(0o600)
    with pytest.raises(SigningError) as caught:
        Signer.from_file(path)
    body = pem.splitlines()[1].decode()
    assert body not in str(caught.value)


def test_uncreatable_key_file_names_the_file(tmp_path: Path) -> None:
    # A parent that is a regular file fails even for root (unlike a read-only directory).
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(
        SigningError, match=f"cannot create signing key file {re.escape(str(blocker / 'k.pem'))}"
    ):
        load_or_create_signer(blocker / "k.pem")


def test_losing_a_creation_race_loads_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate another process creating the key between our existence check and our link.
    path = tmp_path / "ledger-signing.pem"
    winner = Signer.generate()
    real_link = os.link

    def racing_link(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        Path(dst).write_bytes(winner.private_pem())
        Path(dst).chmod(0o600)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    assert load_or_create_signer(path).key_id == winner.key_id
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
