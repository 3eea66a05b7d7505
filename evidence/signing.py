"""Ed25519 signed tree heads: the log's signed statement "my first N leaves have this Merkle root".

What is signed is the canonical JSON of the head (``evidence.canonical``) with a fixed ``format`` tag,
so a signature over a tree head can never be replayed as a signature over anything else we sign
(bundle manifests use :meth:`Signer.sign_bytes` over their own, differently tagged, documents).

Key material never leaves this module except through :meth:`Signer.private_pem`; nothing here logs or
prints it, and ``repr(Signer)`` shows only the key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
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


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: str  # lowercase hex of the 32-byte Merkle root
    timestamp: str  # ISO 8601 UTC, as written by evidence.canonical.utc_iso
    key_id: str

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TREE_HEAD_FORMAT,
            "size": self.head.size,
            "root_hash": self.head.root_hash,
            "timestamp": self.head.timestamp,
            "key_id": self.head.key_id,
            "signature": self.signature,
        }

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
        head = TreeHead(
            size=size, root_hash=data["root_hash"], timestamp=data["timestamp"], key_id=data["key_id"]
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
    def from_file(cls, path: str | os.PathLike[str]) -> Verifier:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read public key file {path}: {exc.strerror or exc}") from exc
        return cls.from_pem(data, source=str(path))

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


class Signer:
    """An Ed25519 private key that signs tree heads. ``repr`` shows the key id, never the key."""

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

    def public_pem(self) -> bytes:
        return self.verifier().public_pem()

    def verifier(self) -> Verifier:
        return Verifier(self._private_key.public_key())

    def sign_bytes(self, data: bytes) -> str:
        """Base64 Ed25519 signature over ``data`` (the caller tags what ``data`` is)."""
        return base64.b64encode(self._private_key.sign(data)).decode("ascii")

    def sign_head(self, size: int, root: bytes, timestamp: datetime | None = None) -> SignedTreeHead:
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}")
        if len(root) != 32:
            raise ValueError(f"root must be a 32-byte SHA-256 hash, got {len(root)} bytes")
        head = TreeHead(
            size=size,
            root_hash=root.hex(),
            timestamp=utc_iso(timestamp if timestamp is not None else utcnow()),
            key_id=self.key_id,
        )
        return SignedTreeHead(head=head, signature=self.sign_bytes(head.signed_bytes()))

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


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
