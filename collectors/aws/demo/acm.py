"""Sample ACM estate: a certificate valid for a year, one expiring in ten days, one that has expired,
and a requested certificate still pending validation.

ACM (and the emulator) refuses to import an expired certificate, so the expired one is imported with
two seconds to live and the seeder waits for it to lapse. The emulator cannot attach a certificate to
a load balancer without creating one (and its security group) in another collector's estate, so
``InUseBy`` is always empty here: the unit tests cover certificates in use, and revoked or failed ones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.aws.demo import Expectations, Expected


def self_signed(domain: str, not_after: datetime) -> tuple[bytes, bytes]:
    """A throwaway self-signed certificate and key (PEM) for the emulator."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home, other = regions[0], (regions[1] if len(regions) > 1 else "eu-west-1")
    acm = session.client("acm", home)

    def import_cert(domain: str, not_after: datetime, client: Any = acm) -> str:
        body, key = self_signed(domain, not_after)
        arn: str = client.import_certificate(Certificate=body, PrivateKey=key)["CertificateArn"]
        return arn

    # The emulator refuses a certificate that has already expired, so import one that lapses a moment
    # later and wait. On a busy machine the import itself can take longer than that moment: widen it.
    for window in (2, 5, 15, 45):
        lapses_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=window)
        try:
            expired = import_cert("expired.demo.example", lapses_at)
            break
        except acm.exceptions.ValidationException:
            if window == 45:
                raise
    valid = import_cert("www.demo.example", datetime.now(UTC) + timedelta(days=365))
    soon = import_cert("soon.demo.example", datetime.now(UTC) + timedelta(days=10))
    eu_valid = import_cert(
        "eu.demo.example", datetime.now(UTC) + timedelta(days=200), session.client("acm", other)
    )
    # Pending validation (not issued yet): not_applicable, in neither set.
    acm.request_certificate(DomainName="pending.demo.example", ValidationMethod="DNS")
    wait = (lapses_at - datetime.now(UTC)).total_seconds() + 0.5
    if wait > 0:
        time.sleep(wait)
    return {"aws.acm.certificate_expiry": Expected({valid, eu_valid}, {soon, expired})}
