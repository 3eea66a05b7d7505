"""The project's error hierarchy.

Every error names the record, field, file or source at fault. Only the CLI turns these into exit codes:
``UsageError``/``ConfigError``/``StoreError`` (writes included) -> 2, ``VerificationError`` and a blob
found missing or altered (``BlobError``) -> 1.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Base class for every error this project raises on purpose."""

    def diagnostics(self) -> str:
        """A message a person can act on (sigstore-style)."""
        return str(self)


class ConfigError(EvidenceError):
    """Bad configuration: store URL, signing key, catalog file, connection."""


class UsageError(EvidenceError):
    """A command was called with arguments that cannot work."""


class CatalogError(EvidenceError):
    """The control catalog (or an evidence type declaration) is inconsistent."""


class UnknownEvidenceType(EvidenceError):
    """An evidence type id nobody declared."""


class SchemaValidationError(EvidenceError):
    """A payload does not match the JSON Schema of its evidence type."""

    def __init__(self, evidence_type: str, errors: list[str]) -> None:
        self.evidence_type = evidence_type
        self.errors = errors
        super().__init__(f"payload for {evidence_type!r} is invalid: " + "; ".join(errors))


class StoreError(EvidenceError):
    """The evidence store could not be opened or written."""


class AppendOnlyViolation(StoreError):
    """Something tried to change or delete evidence that was already appended."""


class RecordNotFound(StoreError):
    """No record with that id (or prefix) in the store."""


class BlobError(StoreError):
    """A content-addressed blob is missing or does not match its digest."""


class BlobWriteError(BlobError):
    """A blob could not be written (full disk, permissions, an endpoint down): like a failed database
    write, an environment problem (exit 2), not evidence found wrong (exit 1)."""


class SigningError(EvidenceError):
    """A signing key is missing, unreadable or of the wrong kind."""


class VerificationError(EvidenceError):
    """A proof, signature or tree head does not verify."""


class CollectionError(EvidenceError):
    """A collector could not read its source. Carries the source's own error code and message."""

    def __init__(self, source: str, code: str, message: str, *, permission: str | None = None) -> None:
        self.source = source
        self.code = code
        self.message = message
        self.permission = permission
        detail = f"{source}: {code}: {message}"
        if permission:
            detail += f" (needs permission {permission})"
        super().__init__(detail)
