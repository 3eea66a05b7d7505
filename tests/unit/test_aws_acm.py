"""ACM certificate expiry mapping fed recorded responses (no server), and the fetch against botocore's
Stubber."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from collectors.aws import acm
from collectors.aws.acm import (
    ALL_KEY_TYPES,
    ALL_STATUSES,
    DESCRIBE_CERTIFICATE,
    AcmSnapshot,
    Certificate,
    certificate_expiry,
)
from collectors.core import Absent, Found, Outcome
from tests.support.aws_stubs import (
    ACCOUNT,
    OBSERVED_AT,
    StubbedClients,
    collect_records,
    denied,
    judge,
    payload_rows,
    target,
)

TYPE = "aws.acm.certificate_expiry"
REGION = "us-east-1"


def cert_arn(n: int) -> str:
    return f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{n:08d}-aaaa-bbbb-cccc-dddddddddddd"


def detail(n: int, days_left: float | None = 200, status: str = "ISSUED", **overrides: Any) -> dict[str, Any]:
    cert: dict[str, Any] = {
        "CertificateArn": cert_arn(n),
        "DomainName": f"app{n}.example.com",
        "SubjectAlternativeNames": [f"app{n}.example.com"],
        "Status": status,
        "Type": "AMAZON_ISSUED",
        "InUseBy": [f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188"],
        "NotBefore": OBSERVED_AT - timedelta(days=165),
        "RenewalEligibility": "ELIGIBLE",
        "KeyAlgorithm": "RSA_2048",
    }
    if days_left is not None:
        cert["NotAfter"] = OBSERVED_AT + timedelta(days=days_left)
    cert.update(overrides)
    return {"Certificate": {k: v for k, v in cert.items() if v is not None}}


def cert(n: int, outcome: Outcome) -> Certificate:
    return Certificate(
        arn=cert_arn(n),
        summary={"CertificateArn": cert_arn(n), "DomainName": f"app{n}.example.com"},
        detail=outcome,
    )


def rows_for(*certs: Certificate) -> list[dict[str, Any]]:
    return certificate_expiry(
        AcmSnapshot(target=target(REGION), observed_at=OBSERVED_AT, region=REGION, certificates=list(certs))
    )


def test_issued_certificate_far_from_expiry_passes() -> None:
    rows = rows_for(cert(1, Found(detail(1))))
    row = rows[0]
    assert row["status"] == "pass" and row["resource"] == cert_arn(1)
    assert row["days_to_expiry"] == 200 and row["in_use"] is True
    assert row["in_use_by"].startswith("arn:aws:elasticloadbalancing:")
    assert "in use by 1 resource(s)" in row["reason"]
    assert judge(TYPE, rows) == ([], True)


@pytest.mark.parametrize(
    ("days", "status"),
    [(365, "pass"), (30.5, "pass"), (30, "fail"), (10, "fail"), (0.2, "fail"), (-3, "fail")],
)
def test_expiry_threshold_against_observed_at(days: float, status: str) -> None:
    rows = rows_for(cert(1, Found(detail(1, days_left=days))))
    assert rows[0]["status"] == status
    if days <= 0:
        assert rows[0]["reason"].startswith("certificate expired on")
    assert judge(TYPE, rows) == ([], status == "pass")


@pytest.mark.parametrize("status", ["EXPIRED", "REVOKED", "FAILED", "VALIDATION_TIMED_OUT"])
def test_expired_revoked_and_failed_certificates_fail(status: str) -> None:
    rows = rows_for(cert(1, Found(detail(1, days_left=-10 if status == "EXPIRED" else 100, status=status))))
    assert rows[0]["status"] == "fail" and rows[0]["certificate_status"] == status
    assert judge(TYPE, rows) == ([], False)


@pytest.mark.parametrize("status", ["PENDING_VALIDATION", "INACTIVE"])
def test_certificates_not_issued_are_not_applicable(status: str) -> None:
    rows = rows_for(
        cert(1, Found(detail(1, days_left=None, status=status, InUseBy=[]))), cert(2, Found(detail(2)))
    )
    assert rows[0]["status"] == "not_applicable" and rows[0]["days_to_expiry"] is None
    assert judge(TYPE, rows) == ([], True)


def test_not_in_use_is_recorded() -> None:
    rows = rows_for(cert(1, Found(detail(1, days_left=5, InUseBy=[], Type="IMPORTED"))))
    row = rows[0]
    assert row["in_use"] is False and row["in_use_by"] is None
    assert row["certificate_type"] == "IMPORTED"
    assert row["reason"].startswith("expires in 5 days") and row["reason"].endswith("(not in use)")


def test_epoch_not_after_is_understood() -> None:
    epoch = (OBSERVED_AT + timedelta(days=90)).timestamp()
    rows = rows_for(cert(1, Found(detail(1, days_left=None, NotAfter=epoch))))
    assert rows[0]["days_to_expiry"] == 90 and rows[0]["status"] == "pass"


def test_missing_not_after_on_an_issued_certificate_is_an_error() -> None:
    rows = rows_for(cert(1, Found(detail(1, days_left=None))))
    assert rows[0]["status"] == "error"
    assert rows[0]["days_to_expiry"] is None


def test_unknown_status_is_an_error_not_a_pass() -> None:
    rows = rows_for(cert(1, Found(detail(1, status="SOMETHING_NEW"))))
    assert rows[0]["status"] == "error"


def test_unreadable_certificate_is_an_error_row_and_a_deleted_one_leaves() -> None:
    rows = rows_for(
        cert(1, denied(DESCRIBE_CERTIFICATE)),
        cert(2, Absent("ResourceNotFoundException")),
        cert(3, Found(detail(3))),
    )
    assert [(r["resource"], r["status"]) for r in rows] == [(cert_arn(1), "error"), (cert_arn(3), "pass")]
    assert rows[0]["reason"] == (
        "could not read: AccessDenied on acm:describe_certificate (needs acm:DescribeCertificate)"
    )
    assert rows[0]["domain_name"] == "app1.example.com"  # from the listing
    assert judge(TYPE, rows) == ([], True)


# -- the fetch, against botocore's Stubber ----------------------------------------------------------


def _summary(n: int) -> dict[str, Any]:
    return {"CertificateArn": cert_arn(n), "DomainName": f"app{n}.example.com", "Status": "ISSUED"}


LIST_PARAMS = {"CertificateStatuses": list(ALL_STATUSES), "Includes": {"keyTypes": list(ALL_KEY_TYPES)}}


def test_fetch_asks_for_every_status_and_key_type_and_follows_pages() -> None:
    clients = StubbedClients()
    stub = clients.stub("acm", REGION)
    stub.add_response(
        "list_certificates", {"CertificateSummaryList": [_summary(1)], "NextToken": "t1"}, LIST_PARAMS
    )
    stub.add_response(
        "list_certificates", {"CertificateSummaryList": [_summary(2)]}, {**LIST_PARAMS, "NextToken": "t1"}
    )
    stub.add_response("describe_certificate", detail(1), {"CertificateArn": cert_arn(1)})
    stub.add_response("describe_certificate", detail(2, days_left=12), {"CertificateArn": cert_arn(2)})
    record = collect_records(clients, acm.SERVICE, REGION)[TYPE]
    clients.assert_all_answered()
    assert [r["status"] for r in payload_rows(record)] == ["pass", "fail"]
    assert record.draft.status == "fail" and cert_arn(2) in record.draft.reason


def test_fetch_with_describe_denied_everywhere_is_an_error_record() -> None:
    clients = StubbedClients()
    stub = clients.stub("acm", REGION)
    stub.add_response(
        "list_certificates", {"CertificateSummaryList": [_summary(1), _summary(2)]}, LIST_PARAMS
    )
    for _ in range(2):
        stub.add_client_error("describe_certificate", "AccessDeniedException", http_status_code=400)
    record = collect_records(clients, acm.SERVICE, REGION)[TYPE]
    assert record.draft.status == "error"
    assert "missing permission acm:DescribeCertificate" in record.draft.reason


def test_fetch_of_a_region_without_certificates_is_not_applicable() -> None:
    clients = StubbedClients()
    clients.stub("acm", REGION).add_response("list_certificates", {"CertificateSummaryList": []}, LIST_PARAMS)
    record = collect_records(clients, acm.SERVICE, REGION)[TYPE]
    assert record.draft.status == "not_applicable"
