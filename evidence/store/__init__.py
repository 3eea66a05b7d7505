"""The tamper-evident evidence store.

One interface (:class:`EvidenceStore`), two backends through SQLAlchemy Core:

- SQLite + a local content-addressed blob folder: the embedded default, zero configuration
  (``.evidence/evidence.db``, ``.evidence/blobs/``, ``.evidence/signing-key.pem``);
- PostgreSQL + S3 (Object Lock retention when the bucket has it) or a ``file://`` blob folder.

Records form an RFC 9162 Merkle log; every append signs a tree head (Ed25519). The tables are
append-only, enforced by database triggers; :meth:`EvidenceStore.verify` checks everything offline.

Open with :func:`open_store`; resolution order: argument > ``EVIDENCE_STORE_URL`` /
``EVIDENCE_BLOB_URL`` / ``EVIDENCE_SIGNING_KEY`` > the embedded default under ``.evidence/``.
"""

from evidence.store.blobs import BlobStore, FolderBlobStore, S3BlobStore, open_blob_store
from evidence.store.config import STORE_URL_ENV, default_store_url, mask_url, open_store
from evidence.store.results import (
    AppendResult,
    ConsistencyProof,
    InclusionProof,
    Problem,
    SigningKeyEntry,
    VerifyReport,
)
from evidence.store.store import AmbiguousRecordId, EvidenceStore

__all__ = [
    "STORE_URL_ENV",
    "AmbiguousRecordId",
    "AppendResult",
    "BlobStore",
    "ConsistencyProof",
    "EvidenceStore",
    "FolderBlobStore",
    "InclusionProof",
    "Problem",
    "S3BlobStore",
    "SigningKeyEntry",
    "VerifyReport",
    "default_store_url",
    "mask_url",
    "open_blob_store",
    "open_store",
]
