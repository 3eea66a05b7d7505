"""evidence.keychain: rotation statements and the key chain a verifier follows."""

from __future__ import annotations

import pytest

from evidence.keychain import Rotation, follow, sign_rotation
from evidence.note import NoteError, SignedNote
from evidence.signing import Signer

ORIGIN = "evidence.test/log"


def rotation(old: Signer, new: Signer, size: int) -> Rotation:
    return Rotation(ORIGIN, size, old.note_key(ORIGIN), new.note_key(ORIGIN), "2026-01-01T00:00:00.000000Z")


def test_chain_follows_signed_rotations() -> None:
    a, b, c = Signer.generate(), Signer.generate(), Signer.generate()
    statements = [
        sign_rotation(rotation(a, b, 10), a, b).encode(),
        sign_rotation(rotation(b, c, 25), b, c).encode(),
    ]
    chain = follow(ORIGIN, a.note_key(ORIGIN), statements)
    assert not chain.problems
    assert chain.current == c.note_key(ORIGIN)
    assert [chain.key_for_size(s) for s in (1, 10, 11, 25, 26, 1000)] == [
        a.note_key(ORIGIN),
        a.note_key(ORIGIN),
        b.note_key(ORIGIN),
        b.note_key(ORIGIN),
        c.note_key(ORIGIN),
        c.note_key(ORIGIN),
    ]
    assert Rotation.parse_text(SignedNote.parse(statements[0]).text) == rotation(a, b, 10)


def test_a_rotation_not_signed_by_the_current_key_is_not_followed() -> None:
    a, b, forger = Signer.generate(), Signer.generate(), Signer.generate()
    # The forger claims a rotation from a to itself, but cannot sign with a.
    forged = sign_rotation(rotation(forger, forger, 5), forger, forger).encode()
    forged = forged.replace(forger.note_key(ORIGIN).encode(), a.note_key(ORIGIN).encode(), 1)
    chain = follow(ORIGIN, a.note_key(ORIGIN), [forged])
    assert chain.current == a.note_key(ORIGIN) and chain.problems
    # A statement from a key that is not the current one.
    chain = follow(ORIGIN, a.note_key(ORIGIN), [sign_rotation(rotation(b, forger, 5), b, forger).encode()])
    assert chain.current == a.note_key(ORIGIN) and "not trusted" in chain.problems[0]
    # Another log's rotation.
    other = Rotation("other/log", 5, a.note_key("other/log"), b.note_key("other/log"), "t")
    chain = follow(ORIGIN, a.note_key(ORIGIN), [sign_rotation(other, a, b).encode()])
    assert chain.current == a.note_key(ORIGIN) and "another log" in chain.problems[0]
    assert follow(ORIGIN, a.note_key(ORIGIN), ["garbage"]).problems


def test_signers_must_hold_the_named_keys() -> None:
    a, b = Signer.generate(), Signer.generate()
    with pytest.raises(NoteError):
        sign_rotation(rotation(a, b, 1), b, a)
