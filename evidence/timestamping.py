"""RFC 3161 trusted timestamps on checkpoints: ask a TSA over HTTP, check the token (``rfc3161-client``).

A token over a checkpoint body proves the body (so the whole log up to that size) existed at the TSA's
``genTime``. ``verify`` compares that time with the time the head claims: a head re-signed later with
a backdated time (a key holder rewriting history) gets a token that disagrees with it.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from evidence.errors import ConfigError, VerificationError

TSA_URL_ENV = "EVIDENCE_TSA_URL"
TSA_CA_ENV = "EVIDENCE_TSA_CA"
_MAX_RESPONSE = 1 << 20


class TimestampError(VerificationError):
    """A timestamp token that is missing, malformed, or does not verify."""


def load_roots(path: str | Path) -> list[x509.Certificate]:
    """The TSA's trust anchors: one or more PEM certificates in a file."""
    try:
        data = Path(path).read_bytes()
        roots = x509.load_pem_x509_certificates(data)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"TSA certificate file {path}: cannot read PEM certificates ({exc})") from exc
    return roots


@dataclass(frozen=True)
class Timestamp:
    """A checked token: when the TSA saw the data, and the response as it came (DER)."""

    gen_time: datetime
    response: bytes


def check_response(response: bytes, data: bytes, roots: Sequence[x509.Certificate] | None) -> Timestamp:
    """Check a TimeStampResp over ``data``: granted, imprint = SHA-256(data) (or SHA-512), and, with
    ``roots``, the TSA's signature and certificate chain. Without roots only the imprint is checked
    (and the caller says so)."""
    from rfc3161_client import PKIStatus, VerifierBuilder, decode_timestamp_response
    from rfc3161_client import VerificationError as TspError

    try:
        parsed = decode_timestamp_response(response)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 timestamp response: {exc}") from exc
    if PKIStatus(parsed.status) != PKIStatus.GRANTED:
        raise TimestampError(f"the TSA did not grant the timestamp (status {parsed.status})")
    imprint = parsed.tst_info.message_imprint.message
    if imprint not in (hashlib.sha256(data).digest(), hashlib.sha512(data).digest()):
        raise TimestampError("the token covers other data (message imprint mismatch)")
    if roots:
        builder = VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        try:
            builder.build().verify_message(parsed, data)
        except TspError as exc:
            raise TimestampError(f"the token does not verify against the TSA certificates: {exc}") from exc
    gen_time = parsed.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)
    return Timestamp(gen_time=gen_time, response=response)


class TsaClient:
    """RFC 3161 over HTTP: POST application/timestamp-query, read application/timestamp-reply."""

    def __init__(
        self, url: str, roots: Sequence[x509.Certificate] | None = None, timeout: float = 10
    ) -> None:
        self.url = url
        self.roots = list(roots) if roots else None
        self.timeout = timeout

    def timestamp(self, data: bytes) -> Timestamp:
        from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

        request = (
            TimestampRequestBuilder()
            .data(data)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        http = urllib.request.Request(  # noqa: S310 - the operator configures the TSA URL
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as reply:  # noqa: S310
                body = reply.read(_MAX_RESPONSE)
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"TSA {self.url} did not answer: {exc}") from exc
        stamp = check_response(body, data, self.roots)
        if decode_timestamp_response(body).tst_info.nonce != request.nonce:
            raise TimestampError(f"TSA {self.url} answered with another request's nonce")
        return stamp
