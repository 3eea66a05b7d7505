"""C2SP signed notes, checkpoints and witness cosignatures: encode, parse, verify. Pure, no I/O.

Specifications (https://c2sp.org): ``signed-note`` (text, a blank line, then ``— <key name>
base64(key ID || signature)`` lines), ``tlog-checkpoint`` (origin, tree size, base64 root hash, then
optional extension lines), ``tlog-cosignature`` (timestamped Ed25519 cosignatures, signature type
0x04). Verifier keys ("vkeys") use the text form of golang.org/x/mod/sumdb/note:
``<name>+<hex key ID>+<base64(type byte || public key)>``.

Written here rather than taken from a library: no established Python implementation exists (the
PyPI packages for it are single-author releases of 2026; sigstore-python's checkpoint code is
internal and tied to Rekor), and the formats are small and exactly specified. The unit tests check it
against the vectors of golang.org/x/mod/sumdb/note and the specs' examples.

Signing is left to the caller (a local key or Vault Transit): this module builds the bytes to sign and
formats the raw signature into a note line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.errors import VerificationError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04  # timestamped Ed25519 witness cosignature (tlog-cosignature)
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100  # signed-note: verifiers must accept at least 16
COSIGNATURE_HEADER = "cosignature/v1"
_EM_DASH = "\u2014"
_NAME = re.compile(r"[^\s+]+")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(VerificationError):
    """A note, checkpoint, key or signature that is malformed or does not verify."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str) -> str:
    """Key names (and so checkpoint origins used as key names) are non-empty, without spaces or '+'."""
    if not _NAME.fullmatch(name):
        raise NoteError(f"key name {name!r} must be non-empty and contain no spaces or '+'")
    return name


def key_hash(name: str, alg: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type byte || public key)[:4]``: the key ID of signed-note."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its note name and signature type (0x01 log/note key, 0x04 witness key)."""

    name: str
    alg: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise NoteError(f"key {self.name}: unsupported signature type 0x{self.alg:02x}")
        if len(self.public_key) != ED25519_KEY_SIZE:
            raise NoteError(f"key {self.name}: an Ed25519 public key is 32 bytes, got {len(self.public_key)}")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.alg, self.public_key)

    @property
    def key_id(self) -> str:
        """The key ID as 8 hex characters (as written in a vkey)."""
        return self.key_hash.hex()

    def encode(self) -> str:
        """The vkey text: ``<name>+<hex key ID>+<base64(type || public key)>``."""
        return f"{self.name}+{self.key_id}+{_b64(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        text = text.strip()
        parts = text.split("+")
        # The base64 part may itself contain '+': name and hash are the first two fields.
        if len(parts) < 3:
            raise NoteError(f"verifier key {text[:60]!r} is not <name>+<hash>+<base64 key>")
        name, hash_hex, encoded = parts[0], parts[1], "+".join(parts[2:])
        if not _HEX8.fullmatch(hash_hex):
            raise NoteError(f"verifier key {name!r}: key hash {hash_hex!r} is not 8 lowercase hex digits")
        raw = _b64decode(encoded, f"verifier key {name!r}")
        if not raw:
            raise NoteError(f"verifier key {name!r} has no key material")
        key = cls(name=name, alg=raw[0], public_key=raw[1:])
        if key.key_id != hash_hex:
            raise NoteError(f"verifier key {name!r}: key hash {hash_hex} does not match the key")
        return key

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def __str__(self) -> str:
        return self.encode()


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_EM_DASH} {self.name} {_b64(self.key_hash + self.signature)}\n"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        if not line.startswith(_EM_DASH + " "):
            raise NoteError(f"signature line {line[:40]!r} does not start with an em dash and a space")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise NoteError(f"signature line {line[:60]!r} is not '— <name> <base64>'")
        name, encoded = fields
        check_key_name(name)
        raw = _b64decode(encoded, f"signature by {name}")
        if len(raw) < 5:
            raise NoteError(f"signature by {name} is too short")
        return cls(name=name, key_hash=raw[:4], signature=raw[4:])

    def matches(self, key: VerifierKey) -> bool:
        return self.name == key.name and self.key_hash == key.key_hash


def signature_line(key: VerifierKey, signature: bytes) -> NoteSignature:
    """The note signature of ``key`` with raw ``signature`` bytes (for 0x04: timestamp || signature)."""
    return NoteSignature(name=key.name, key_hash=key.key_hash, signature=signature)


def _check_text(text: str, what: str) -> None:
    if not text.endswith("\n"):
        raise NoteError(f"{what}: the note text must end with a newline")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise NoteError(f"{what}: the note contains control characters")


@dataclass(frozen=True)
class SignedNote:
    """A note text (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def encode(self) -> str:
        return self.text + "\n" + "".join(sig.line() for sig in self.signatures)

    @classmethod
    def parse(cls, data: str | bytes) -> SignedNote:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteError("the note is not valid UTF-8") from exc
        _check_text(data, "signed note")
        split = data.rfind("\n\n")
        if split < 0:
            raise NoteError("signed note: no blank line separates the text from the signatures")
        text, block = data[: split + 1], data[split + 2 :]
        lines = block.split("\n")
        if lines[-1] != "" or len(lines) < 2:
            raise NoteError("signed note: it has no signature lines")
        signatures = tuple(NoteSignature.parse_line(line) for line in lines[:-1])
        if len(signatures) > MAX_SIGNATURES:
            raise NoteError(f"signed note: {len(signatures)} signatures (at most {MAX_SIGNATURES})")
        return cls(text=text, signatures=signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> SignedNote:
        """This note plus ``extra`` signatures (a line already present is not repeated)."""
        known = list(self.signatures)
        for sig in extra:
            if sig not in known:
                known.append(sig)
        return SignedNote(self.text, tuple(known))

    def signatures_by(self, key: VerifierKey) -> list[NoteSignature]:
        return [sig for sig in self.signatures if sig.matches(key)]


def verify_ed25519(key: VerifierKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != ED25519_SIGNATURE_SIZE:
        return False
    try:
        key.ed25519().verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify_note(note: SignedNote, keys: Sequence[VerifierKey]) -> list[VerifierKey]:
    """The Ed25519 (0x01) keys among ``keys`` whose signatures on ``note`` verify.

    As the spec requires: signatures by unknown keys are ignored; a signature by a known key that does
    not verify rejects the note; a note with no verifying signature is rejected.
    """
    verified: list[VerifierKey] = []
    message = note.text.encode("utf-8")
    for key in keys:
        if key.alg != ALG_ED25519:
            continue
        for sig in note.signatures_by(key):
            if not verify_ed25519(key, message, sig.signature):
                raise NoteError(f"the signature by key {key.name}+{key.key_id} does not verify")
            if key not in verified:
                verified.append(key)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in note.signatures) or "none"
        trusted = ", ".join(f"{k.name}+{k.key_id}" for k in keys) or "none"
        raise NoteError(f"no signature by a trusted key (signed by: {names}; trusted: {trusted})")
    return verified


# --------------------------------------------------------------------------------------------------
# Checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash, and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin must be one non-empty line")
        if self.size < 0:
            raise NoteError(f"checkpoint size must not be negative, got {self.size}")
        if len(self.root) != 32:
            raise NoteError(f"checkpoint root hash must be 32 bytes, got {len(self.root)}")
        for line in self.extensions:
            if not line or "\n" in line:
                raise NoteError("checkpoint extension lines must be non-empty single lines")

    def body(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    def body_hash(self) -> bytes:
        """SHA-256 of the body: what a following checkpoint names as its predecessor."""
        return hashlib.sha256(self.body().encode("utf-8")).digest()

    def extension(self, keyword: str) -> str | None:
        """The value of the first extension line ``<keyword> <value>``, or None."""
        prefix = keyword + " "
        for line in self.extensions:
            if line.startswith(prefix):
                return line[len(prefix) :]
        return None

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        _check_text(body, "checkpoint")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint: fewer than three lines (origin, size, root hash)")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise NoteError(f"checkpoint: tree size {size_text!r} is not a decimal without leading zeroes")
        root = _b64decode(root_text, "checkpoint root hash")
        if _b64(root) != root_text:
            raise NoteError("checkpoint root hash is not in canonical base64")
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


# --------------------------------------------------------------------------------------------------
# Witness cosignatures (tlog-cosignature, Ed25519, type 0x04)


def cosignature_message(body: str, timestamp: int) -> bytes:
    """The bytes a witness signs: ``cosignature/v1``, ``time <t>``, then the checkpoint body."""
    if not 0 <= timestamp < 1 << 63:
        raise NoteError(f"cosignature timestamp {timestamp} is out of range")
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


def cosignature(key: VerifierKey, timestamp: int, signature: bytes) -> NoteSignature:
    """The note signature line of a cosignature: key ID || u64 big-endian timestamp || signature."""
    if key.alg != ALG_COSIGNATURE_V1:
        raise NoteError(f"key {key.name} is not a cosignature (0x04) key")
    return signature_line(key, timestamp.to_bytes(8, "big") + signature)


def verify_cosignature(key: VerifierKey, body: str, sig: NoteSignature) -> int:
    """Check one cosignature line against a witness key; return its timestamp (POSIX seconds)."""
    if key.alg != ALG_COSIGNATURE_V1 or not sig.matches(key):
        raise NoteError(f"signature by {sig.name}+{sig.key_hash.hex()} is not by witness key {key.name}")
    if len(sig.signature) != 8 + ED25519_SIGNATURE_SIZE:
        raise NoteError(f"cosignature by {key.name} has {len(sig.signature)} bytes, expected 72")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp >= 1 << 63:
        raise NoteError(f"cosignature by {key.name}: timestamp out of range")
    if not verify_ed25519(key, cosignature_message(body, timestamp), sig.signature[8:]):
        raise NoteError(f"cosignature by witness {key.name}+{key.key_id} does not verify")
    return timestamp


def verified_cosigners(note: SignedNote, witnesses: Sequence[VerifierKey]) -> dict[str, int]:
    """Witness key name -> cosignature time for every configured witness that cosigned ``note``.

    Signatures by unknown keys are ignored; a known witness's signature that fails raises NoteError.
    """
    found: dict[str, int] = {}
    for key in witnesses:
        for sig in note.signatures_by(key):
            found[key.encode()] = verify_cosignature(key, note.text, sig)
    return found
