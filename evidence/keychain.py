"""Key continuity: a log is bound to its first key, and a new key only follows through a rotation
statement signed by the key before it. Pure, no I/O.

A rotation statement is a signed note (``evidence.note``) under the log's origin:

    evidence-key-rotation/v1
    origin <origin>
    size <tree size when the key changed>
    old <vkey of the key that signed heads up to that size>
    new <vkey of the key that signs every later head>
    time <ISO 8601 UTC>

signed by the old key (it consents) and by the new key (its holder has it). :func:`follow` walks the
statements from the first key and says which key may sign a head of a given size; a key that appears
in the store's key table but is not reached this way is not trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evidence.note import ALG_ED25519, NoteError, SignedNote, VerifierKey, signature_line, verify_note
from evidence.signing import BaseSigner

ROTATION_HEADER = "evidence-key-rotation/v1"


@dataclass(frozen=True)
class Rotation:
    origin: str
    size: int
    old: VerifierKey
    new: VerifierKey
    time: str

    def text(self) -> str:
        lines = [
            ROTATION_HEADER,
            f"origin {self.origin}",
            f"size {self.size}",
            f"old {self.old.encode()}",
            f"new {self.new.encode()}",
            f"time {self.time}",
        ]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_text(cls, text: str) -> Rotation:
        lines = text.rstrip("\n").split("\n")
        if len(lines) != 6 or lines[0] != ROTATION_HEADER:
            raise NoteError(f"not a {ROTATION_HEADER} statement")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(" ")
            fields[name] = value
        try:
            size = int(fields["size"])
            rotation = cls(
                origin=fields["origin"],
                size=size,
                old=VerifierKey.parse(fields["old"]),
                new=VerifierKey.parse(fields["new"]),
                time=fields["time"],
            )
        except (KeyError, ValueError) as exc:
            raise NoteError(f"key rotation statement: missing or bad field ({exc})") from exc
        if rotation.size < 0 or rotation.old.alg != ALG_ED25519 or rotation.new.alg != ALG_ED25519:
            raise NoteError("key rotation statement: bad size or key type")
        return rotation


def sign_rotation(rotation: Rotation, old: BaseSigner, new: BaseSigner) -> SignedNote:
    """The statement signed by both keys (old first)."""
    if old.note_key(rotation.origin) != rotation.old or new.note_key(rotation.origin) != rotation.new:
        raise NoteError("the signers do not hold the keys the rotation statement names")
    data = rotation.text().encode("utf-8")
    return SignedNote(
        rotation.text(),
        (signature_line(rotation.old, old.sign_raw(data)), signature_line(rotation.new, new.sign_raw(data))),
    )


@dataclass
class KeyChain:
    """The keys of a log in order, with the tree size up to which each one signed."""

    origin: str
    keys: list[VerifierKey]
    until: list[int | None]  # until[i]: key i signs heads of size <= until[i]; None for the current key
    problems: list[str] = field(default_factory=list)

    @property
    def current(self) -> VerifierKey:
        return self.keys[-1]

    def key_for_size(self, size: int) -> VerifierKey:
        """The key that may sign a head of ``size`` (the first key whose span covers it)."""
        for key, limit in zip(self.keys, self.until, strict=True):
            if limit is None or size <= limit:
                return key
        return self.keys[-1]

    def knows(self, key: VerifierKey) -> bool:
        return key in self.keys


def follow(origin: str, first: VerifierKey, statements: Sequence[str]) -> KeyChain:
    """Walk rotation statements (in the order they were appended) from the first key.

    A statement that is malformed, names another origin, is not signed by the current key and the
    new key, does not start from the current key, or goes back in tree size is reported in
    ``problems`` and skipped: it does not change which key is trusted.
    """
    chain = KeyChain(origin=origin, keys=[first], until=[None])
    for position, raw in enumerate(statements):
        where = f"key rotation statement {position + 1}"
        try:
            note = SignedNote.parse(raw)
            rotation = Rotation.parse_text(note.text)
        except NoteError as exc:
            chain.problems.append(f"{where} is malformed: {exc}")
            continue
        if rotation.origin != origin:
            chain.problems.append(f"{where} is for another log ({rotation.origin!r}, not {origin!r})")
            continue
        if rotation.old != chain.current:
            chain.problems.append(
                f"{where} rotates from key {rotation.old.key_id}, but the log's key at that point is "
                f"{chain.current.key_id}: not trusted"
            )
            continue
        previous = [u for u in chain.until if u is not None]
        if previous and rotation.size < previous[-1]:
            chain.problems.append(f"{where} goes back to tree size {rotation.size}")
            continue
        try:
            verify_note(note, [rotation.old])
            verify_note(note, [rotation.new])
        except NoteError as exc:
            chain.problems.append(f"{where} ({rotation.old.key_id} -> {rotation.new.key_id}): {exc}")
            continue
        chain.until[-1] = rotation.size
        chain.keys.append(rotation.new)
        chain.until.append(None)
    return chain
