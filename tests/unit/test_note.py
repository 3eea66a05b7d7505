# ruff: noqa: E501  (spec vectors are kept on one line each, as published)
"""evidence.note against the vectors of golang.org/x/mod/sumdb/note and the C2SP specs' examples."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteError,
    SignedNote,
    VerifierKey,
    cosignature,
    cosignature_message,
    signature_line,
    verified_cosigners,
    verify_cosignature,
    verify_note,
)

# golang.org/x/mod/sumdb/note note_test.go
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def peter_private() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[-1])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_vkey_round_trip_and_key_hash() -> None:
    key = VerifierKey.parse(PETER_VKEY)
    assert (key.name, key.alg, key.key_id) == ("PeterNeumann", ALG_ED25519, "c74f20a3")
    assert key.encode() == PETER_VKEY
    assert key.public_key == raw_public(peter_private())


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_bad_vkeys_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        VerifierKey.parse(bad)


def test_sign_matches_the_go_vector() -> None:
    key = VerifierKey.parse(PETER_VKEY)
    signature = peter_private().sign(TEXT.encode())
    note = SignedNote(TEXT, (signature_line(key, signature),))
    assert note.encode() == TEXT + "\n" + PETER_SIG


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    peter, enoch = VerifierKey.parse(PETER_VKEY), VerifierKey.parse(ENOCH_VKEY)
    note = SignedNote.parse(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == TEXT and len(note.signatures) == 2
    assert verify_note(note, [peter]) == [peter]
    assert verify_note(note, [peter, enoch]) == [peter, enoch]
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        verify_note(note, [])
    broken = SignedNote.parse(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:])
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(broken, [peter])


@pytest.mark.parametrize(
    "bad",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_malformed_notes_are_refused(bad: str) -> None:
    with pytest.raises(NoteError):
        SignedNote.parse(bad)


def test_checkpoint_example_of_the_spec() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = Checkpoint.parse(body)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (
        "example.com/behind-the-sofa",
        20852163,
        (),
    )
    assert checkpoint.body() == body
    note = SignedNote.parse(
        body
        + "\n\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    assert [s.name for s in note.signatures] == ["example.com/behind-the-sofa", "witness.example.com/w1"]
    # The witness signature of the example carries the timestamp 1679315147 (the spec's example time).
    assert int.from_bytes(note.signatures[1].signature[:8], "big") == 1679315147


@pytest.mark.parametrize(
    "bad",
    [
        "origin\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n12\nnot-base64\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
        "origin\n12\n",
    ],
)
def test_malformed_checkpoints(bad: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(bad)


def test_extension_lines() -> None:
    checkpoint = Checkpoint("example.org/log", 3, bytes(32), ("prev-checkpoint abc", "timestamp 2025"))
    parsed = Checkpoint.parse(checkpoint.body())
    assert parsed == checkpoint
    assert parsed.extension("timestamp") == "2025" and parsed.extension("nope") is None


def test_cosignature_round_trip_and_message_format() -> None:
    private = Ed25519PrivateKey.generate()
    witness = VerifierKey("witness.example/w1", ALG_COSIGNATURE_V1, raw_public(private))
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    message = cosignature_message(body, 1679315147)
    assert message == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    line = cosignature(witness, 1679315147, private.sign(message))
    assert len(line.signature) == 72
    assert verify_cosignature(witness, body, line) == 1679315147
    note = SignedNote(body, (line,))
    assert verified_cosigners(note, [witness]) == {witness.encode(): 1679315147}
    other = Checkpoint.parse(body.replace("20852163", "20852164")).body()
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(witness, other, line)
    # The same key under the note type 0x01 has another key ID: the cosignature is not mistaken for it.
    as_log_key = VerifierKey(witness.name, ALG_ED25519, witness.public_key)
    assert not line.matches(as_log_key)
