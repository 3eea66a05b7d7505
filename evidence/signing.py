"""Ed25519 signed tree heads: the log's signed statement "my first N leaves have this Merkle root".

A head is a C2SP ``tlog-checkpoint`` (:mod:`evidence.note`): origin, size, base64 root, then two
extension lines, ``prev-checkpoint <base64 SHA-256 of the previous checkpoint's body>`` (absent on the
first) and ``timestamp <ISO 8601 UTC>``; the signature is an Ed25519 signed-note signature over that
body, under the key name ``origin``. Standard transparency tooling (witnesses, note verifiers) reads it.
Heads written before checkpoints (schema version 1, ``origin`` None) were signed over the canonical
JSON of the head with a fixed ``format`` tag; they still verify.

Signers implement :class:`BaseSigner`: a local key file (:class:`Signer`, the embedded default) or a
key that never leaves Vault (:class:`evidence.transit.TransitSigner`).

Key material never leaves this module except through :meth:`Signer.private_pem`; nothing here logs or
prints it, and ``repr(Signer)`` shows only the key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from evidence.canonical import canonical_bytes, utc_iso, utcnow
from evidence.errors import SigningError, VerificationError
from evidence.note import ALG_ED25519, Checkpoint, NoteError, SignedNote, VerifierKey, signature_line

TREE_HEAD_FORMAT = "evidence-tree-head/v1"
SIGNING_KEY_ENV = "EVIDENCE_SIGNING_KEY"

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """First 16 hex chars (64 bits) of SHA-256 over the raw 32-byte public key.

    The id only picks a key out of a handful (e.g. across rotations); it is not what makes a signature
    trustworthy, since verification always uses the full public key. 64 bits keeps ids short in tables.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


PREV_EXTENSION = "prev-checkpoint"
TIME_EXTENSION = "timestamp"


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: str  # lowercase hex of the 32-byte Merkle root
    timestamp: str  # ISO 8601 UTC, as written by evidence.canonical.utc_iso
    key_id: str
    origin: str | None = None  # the log's origin: the head is a checkpoint; None: a v1 JSON head
    prev_hash: str | None = None  # hex SHA-256 of the previous checkpoint's body; None for the first

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def checkpoint(self) -> Checkpoint:
        """The C2SP checkpoint this head is (only for heads with an origin)."""
        if self.origin is None:
            raise VerificationError(f"tree head of size {self.size} predates checkpoints (schema v1)")
        extensions = []
        if self.prev_hash is not None:
            prev = base64.b64encode(bytes.fromhex(self.prev_hash)).decode("ascii")
            extensions.append(f"{PREV_EXTENSION} {prev}")
        extensions.append(f"{TIME_EXTENSION} {self.timestamp}")
        return Checkpoint(self.origin, self.size, self.root, tuple(extensions))

    def body_hash(self) -> str:
        """Hex SHA-256 of the checkpoint body: what the next head names as ``prev-checkpoint``."""
        return self.checkpoint().body_hash().hex()

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
        if self.origin is not None:
            return self.checkpoint().body().encode("utf-8")
        return canonical_bytes(
            {
                "format": TREE_HEAD_FORMAT,
                "key_id": self.key_id,
                "root_hash": self.root_hash,
                "size": self.size,
                "timestamp": self.timestamp,
            }
        )


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: str  # base64 (standard alphabet, padded) of the 64-byte Ed25519 signature

    def note(self, key: VerifierKey) -> SignedNote:
        """The head as a signed note (checkpoint + the log's signature line under ``key``)."""
        raw = _decode_signature(self.signature, f"tree head of size {self.head.size}")
        return SignedNote(self.head.checkpoint().body(), (signature_line(key, raw),))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": TREE_HEAD_FORMAT,
            "size": self.head.size,
            "root_hash": self.head.root_hash,
            "timestamp": self.head.timestamp,
            "key_id": self.head.key_id,
            "signature": self.signature,
        }
        if self.head.origin is not None:
            data["origin"] = self.head.origin
            data["prev_hash"] = self.head.prev_hash
        return data

    @classmethod
    def from_dict(cls, data: Any) -> SignedTreeHead:
        """Parse an untrusted dict (from a bundle or the store); shape errors are VerificationErrors."""
        if not isinstance(data, dict):
            raise VerificationError(f"signed tree head must be an object, got {type(data).__name__}")
        if data.get("format") != TREE_HEAD_FORMAT:
            raise VerificationError(
                f"signed tree head has format {data.get('format')!r}, expected {TREE_HEAD_FORMAT!r}"
            )
        for field in ("root_hash", "timestamp", "key_id", "signature"):
            if not isinstance(data.get(field), str):
                raise VerificationError(f"signed tree head field {field!r} is missing or not a string")
        size = data.get("size")
        # bool is an int subclass; True is not a tree size.
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise VerificationError(
                f"signed tree head field 'size' must be a non-negative integer, got {size!r}"
            )
        if not _HEX_SHA256.fullmatch(data["root_hash"]):
            raise VerificationError(
                f"signed tree head of size {size}: 'root_hash' is not 64 lowercase hex characters"
            )
        origin, prev_hash = data.get("origin"), data.get("prev_hash")
        if origin is not None and not isinstance(origin, str):
            raise VerificationError(f"signed tree head of size {size}: 'origin' is not a string")
        if prev_hash is not None and not (isinstance(prev_hash, str) and _HEX_SHA256.fullmatch(prev_hash)):
            raise VerificationError(f"signed tree head of size {size}: 'prev_hash' is not a SHA-256 hex")
        head = TreeHead(
            size=size,
            root_hash=data["root_hash"],
            timestamp=data["timestamp"],
            key_id=data["key_id"],
            origin=origin,
            prev_hash=prev_hash,
        )
        return cls(head=head, signature=data["signature"])


def _decode_signature(signature: str, what: str) -> bytes:
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{what}: signature is not valid base64") from exc


class Verifier:
    """An Ed25519 public key that checks tree heads and signed documents."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._public_key = public_key
        self.key_id = key_id_for(public_key)

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "public key") -> Verifier:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SigningError(f"{source}: not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningError(f"{source}: expected an Ed25519 public key, got {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_vkey(cls, text: str, *, source: str = "verifier key") -> Verifier:
        """A signed-note verifier key (``<name>+<hash>+<base64>``), as printed by ``evidence tree-head``."""
        try:
            key = VerifierKey.parse(text)
        except NoteError as exc:
            raise SigningError(f"{source}: {exc}") from exc
        if key.alg != ALG_ED25519:
            raise SigningError(f"{source}: not an Ed25519 log key (type 0x{key.alg:02x})")
        return cls(key.ed25519())

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Verifier:
        """A PEM public key, or a file holding a verifier key (vkey) line."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read public key file {path}: {exc.strerror or exc}") from exc
        if b"-----BEGIN" not in data:
            return cls.from_vkey(data.decode("utf-8", "replace").strip(), source=str(path))
        return cls.from_pem(data, source=str(path))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    def raw(self) -> bytes:
        return raw_public_key(self._public_key)

    def note_key(self, name: str) -> VerifierKey:
        """This key as a signed-note verifier key under ``name`` (the log's origin)."""
        return VerifierKey(name, ALG_ED25519, self.raw())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other.raw() == self.raw()

    def __hash__(self) -> int:
        return hash(self.raw())

    def public_pem(self) -> bytes:
        return self._public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify_bytes(self, data: bytes, signature: str, *, what: str = "document") -> None:
        raw = _decode_signature(signature, what)
        try:
            self._public_key.verify(raw, data)
        except InvalidSignature as exc:
            raise VerificationError(f"{what}: signature does not verify with key {self.key_id}") from exc

    def verify_head(self, sth: SignedTreeHead) -> None:
        """Raise VerificationError unless ``sth`` was signed by this key, unaltered."""
        what = f"tree head of size {sth.head.size}"
        if sth.head.key_id != self.key_id:
            raise VerificationError(
                f"{what} names signing key {sth.head.key_id!r}, which is not the trusted key {self.key_id!r}"
            )
        self.verify_bytes(sth.head.signed_bytes(), sth.signature, what=what)

    def __repr__(self) -> str:
        return f"Verifier(key_id={self.key_id!r})"


def _refuse_loose_permissions(path: Path, mode: int) -> None:
    # Like OpenSSH: whoever can read the key can forge tree heads, so any group/other access is refused.
    if os.name == "posix" and mode & 0o077:
        raise SigningError(
            f"signing key file {path} is accessible by other users (mode {mode & 0o777:04o}); "
            f"run: chmod 600 {path}"
        )


class BaseSigner(ABC):
    """What signs the log: an Ed25519 key, wherever it lives. Subclasses give the public key and sign.

    Everything the store signs (tree heads as checkpoints, key rotation statements) goes through
    :meth:`sign_raw`, so a key held by Vault Transit signs exactly what a local key would.
    """

    key_id: str

    @abstractmethod
    def public_key(self) -> Ed25519PublicKey:
        """The public half (never the private key)."""

    @abstractmethod
    def sign_raw(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``data``; SigningError if the signer cannot sign."""

    def describe(self) -> str:
        """Where the key lives, for messages (never the key itself)."""
        return f"key {self.key_id}"

    def verifier(self) -> Verifier:
        return Verifier(self.public_key())

    def public_pem(self) -> bytes:
        return self.verifier().public_pem()

    def note_key(self, name: str) -> VerifierKey:
        return self.verifier().note_key(name)

    def sign_bytes(self, data: bytes) -> str:
        """Base64 Ed25519 signature over ``data`` (the caller tags what ``data`` is)."""
        return base64.b64encode(self.sign_raw(data)).decode("ascii")

    def sign_head(
        self,
        size: int,
        root: bytes,
        timestamp: datetime | None = None,
        *,
        origin: str | None = None,
        prev_hash: str | None = None,
    ) -> SignedTreeHead:
        """Sign a head: a checkpoint when ``origin`` is given (every store since schema version 2)."""
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}")
        if len(root) != 32:
            raise ValueError(f"root must be a 32-byte SHA-256 hash, got {len(root)} bytes")
        head = TreeHead(
            size=size,
            root_hash=root.hex(),
            timestamp=utc_iso(timestamp if timestamp is not None else utcnow()),
            key_id=self.key_id,
            origin=origin,
            prev_hash=prev_hash,
        )
        return SignedTreeHead(head=head, signature=self.sign_bytes(head.signed_bytes()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"


class Signer(BaseSigner):
    """An Ed25519 private key held in this process (a PEM file or variable). ``repr`` shows the key id."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.key_id = key_id_for(private_key.public_key())

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "signing key") -> Signer:
        """Load an unencrypted PKCS#8 (or OpenSSL traditional) PEM Ed25519 private key."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The library's message can quote input; ours names only the source.
            raise SigningError(f"{source}: not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"{source}: expected an Ed25519 private key, got {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Signer:
        """Load a key file, refusing one that other users can access (POSIX)."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
                raise SigningError(f"signing key file {path} is {what}: give the path of the key's PEM file")
            _refuse_loose_permissions(path, mode)
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read signing key file {path}: {exc.strerror or exc}") from exc
        return cls.from_pem(data, source=f"signing key file {path}")

    @classmethod
    def from_env(cls, var: str = SIGNING_KEY_ENV, environ: Mapping[str, str] | None = None) -> Signer:
        """Load from an environment variable holding the PEM text, or ``file:<path>``."""
        env: Mapping[str, str] = os.environ if environ is None else environ
        value = env.get(var)
        if not value:
            raise SigningError(f"environment variable {var} is not set (PEM text or file:<path>)")
        if value.startswith("file:"):
            return cls.from_file(value[len("file:") :])
        if "\n" not in value and "\\n" in value:
            # Secrets UIs and .env files often flatten newlines to a literal backslash-n.
            value = value.replace("\\n", "\n")
        return cls.from_pem(value.encode("utf-8"), source=f"environment variable {var}")

    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    def sign_raw(self, data: bytes) -> bytes:
        return self._private_key.sign(data)

    def describe(self) -> str:
        return f"local key {self.key_id}"


def load_or_create_signer(path: Path) -> Signer:
    """The embedded store's key: load ``path``, or create it (mode 0600) if it does not exist yet.

    The new key is written to a private temp file in the same directory and then hard-linked into
    place: like ``os.replace`` readers never see a half-written file, and unlike ``os.replace`` a
    process racing us cannot overwrite a key that may already have signed heads; the loser loads the
    winner's key. Filesystems without hard links fall back to a plain rename, which does not guard that race.
    """
    path = Path(path)
    if path.exists():
        return Signer.from_file(path)
    signer = Signer.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600 whatever the umask, so the key is never briefly readable.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SigningError(f"cannot create signing key file {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(signer.private_pem())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return Signer.from_file(path)
        except OSError:
            tmp.replace(path)
    except OSError as exc:
        raise SigningError(f"cannot write signing key file {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return signer
