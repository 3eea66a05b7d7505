"""ACM: every issued certificate stays valid for more than 30 days; expired, revoked and failed
certificates fail; what uses each certificate is recorded.

Regional. ``fetch`` lists every certificate of the region, whatever its status and key type (by default
``list_certificates`` returns only RSA_1024/RSA_2048 certificates, so every key type is asked for
explicitly), and describes each one (bounded concurrency) for ``NotAfter`` and ``InUseBy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.aws.client import AwsCallRecorder
from collectors.aws.family import AWS, AwsTarget
from collectors.core import Absent, Failed, Found, Outcome, Snapshot, failed_reason, fan_out
from collectors.core.family import FetchContext
from collectors.core.timestamps import as_utc, iso
from evidence.registry import ApiPermission, Row

COLLECTOR = "aws.acm"

LIST_CERTIFICATES = ApiPermission("acm", "list_certificates", "acm:ListCertificates")
# A certificate deleted between the listing and the describe answers ResourceNotFoundException.
DESCRIBE_CERTIFICATE = ApiPermission(
    "acm", "describe_certificate", "acm:DescribeCertificate", ("ResourceNotFoundException",)
)

# ACM starts renewing its own certificates 60 days before expiry and emits expiry events from 45 days;
# a certificate with 30 days or less left has missed renewal (or is imported and forgotten), which
# leaves a month to replace it before clients see an expired certificate.
MIN_DAYS_TO_EXPIRY = 30

ALL_STATUSES = (
    "PENDING_VALIDATION",
    "ISSUED",
    "INACTIVE",
    "EXPIRED",
    "VALIDATION_TIMED_OUT",
    "REVOKED",
    "FAILED",
)
ALL_KEY_TYPES = (
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
)
FAILING_STATUSES = {
    "EXPIRED": "certificate expired",
    "REVOKED": "certificate revoked",
    "FAILED": "certificate request failed",
    "VALIDATION_TIMED_OUT": "validation timed out: the certificate was never issued",
}
NOT_APPLICABLE_STATUSES = {
    "PENDING_VALIDATION": "not issued yet (pending validation)",
    "INACTIVE": "certificate inactive",
}

CERT_FIELDS = (
    "domain_name",
    "certificate_status",
    "certificate_type",
    "not_after",
    "days_to_expiry",
    "renewal_eligibility",
    "in_use",
    "in_use_by",
)


@dataclass
class Certificate:
    arn: str
    summary: dict[str, Any]  # list_certificates' entry
    detail: Outcome | None = None  # describe_certificate

    @property
    def described(self) -> dict[str, Any]:
        return self.detail.value.get("Certificate", {}) if isinstance(self.detail, Found) else {}


@dataclass
class AcmSnapshot(Snapshot):
    region: str = ""
    certificates: list[Certificate] = field(default_factory=list)


def fetch(ctx: FetchContext[AwsTarget]) -> AcmSnapshot:
    clients, region = ctx.connection.clients, ctx.connection.region
    recorder: AwsCallRecorder = ctx.recorder
    concurrency = ctx.concurrency
    snapshot = AcmSnapshot(target=ctx.target, observed_at=ctx.observed_at, region=region)
    client = clients.client("acm", region)
    listing = recorder.paginate(
        client,
        LIST_CERTIFICATES,
        region,
        "CertificateSummaryList",
        CertificateStatuses=list(ALL_STATUSES),
        Includes={"keyTypes": list(ALL_KEY_TYPES)},
    )
    if isinstance(listing, Failed):
        snapshot.fail(LIST_CERTIFICATES, listing.error)
        return snapshot
    assert isinstance(listing, Found)
    certificates = [Certificate(arn=c["CertificateArn"], summary=c) for c in listing.value]

    def describe(cert: Certificate) -> Certificate:
        cert.detail = recorder.call(client, DESCRIBE_CERTIFICATE, region, CertificateArn=cert.arn)
        return cert

    snapshot.certificates = fan_out(describe, certificates, concurrency)
    snapshot.fail_if_uniform(
        DESCRIBE_CERTIFICATE, [c.detail for c in snapshot.certificates if c.detail is not None]
    )
    return snapshot


SERVICE = AWS.source(COLLECTOR, scope="regional")(fetch)


# ---------------------------------------------------------------------------------------------------
# Pure mapping.


def _judge(cert: Certificate, observed_at: datetime) -> tuple[str, str, dict[str, Any]]:
    fields: dict[str, Any] = dict.fromkeys(CERT_FIELDS)
    fields["domain_name"] = cert.summary.get("DomainName")
    if isinstance(cert.detail, Failed):
        return "error", failed_reason(cert.detail), fields
    if cert.detail is None:
        return "error", "certificate was not described", fields
    detail = cert.described
    in_use_by = [str(r) for r in detail.get("InUseBy") or []]
    not_after = as_utc(detail.get("NotAfter"))
    status = detail.get("Status")
    fields.update(
        domain_name=detail.get("DomainName") or fields["domain_name"],
        certificate_status=status,
        certificate_type=detail.get("Type"),
        not_after=iso(not_after),
        # Fractional days, so "more than 30 days" is judged on the same number the GX suite sees.
        days_to_expiry=round((not_after - observed_at).total_seconds() / 86400, 4) if not_after else None,
        renewal_eligibility=detail.get("RenewalEligibility"),
        in_use=bool(in_use_by),
        in_use_by=",".join(in_use_by) or None,
    )
    used = f"in use by {len(in_use_by)} resource(s)" if in_use_by else "not in use"
    if status in FAILING_STATUSES:
        return "fail", f"{FAILING_STATUSES[status]} ({used})", fields
    if status in NOT_APPLICABLE_STATUSES:
        return "not_applicable", NOT_APPLICABLE_STATUSES[status], fields
    if status != "ISSUED":
        return "error", f"unknown certificate status {status!r}", fields
    days = fields["days_to_expiry"]
    if days is None:
        return "error", "describe_certificate gave no NotAfter for an issued certificate", fields
    if days <= 0:
        return "fail", f"certificate expired on {fields['not_after']} ({used})", fields
    if days <= MIN_DAYS_TO_EXPIRY:
        return "fail", f"expires in {int(days)} days, on {fields['not_after']} ({used})", fields
    return "pass", f"valid for {int(days)} more days ({used})", fields


@SERVICE.evidence_type(
    "aws.acm.certificate_expiry",
    title=f"ACM certificates are valid for more than {MIN_DAYS_TO_EXPIRY} days; none expired or failed",
    api_calls=(LIST_CERTIFICATES, DESCRIBE_CERTIFICATE),
    resource_kind="certificate",
)
def certificate_expiry(snapshot: AcmSnapshot) -> list[Row]:
    rows = []
    for cert in snapshot.certificates:
        if isinstance(cert.detail, Absent):
            continue  # deleted while being read: no longer part of the population
        status, reason, fields = _judge(cert, snapshot.observed_at)
        rows.append(
            {"resource": cert.arn, "region": snapshot.region, "status": status, "reason": reason, **fields}
        )
    return rows
