"""The log signed by a key that never leaves Vault: OpenBao's Transit engine (a real ``bao`` process)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import hvac.exceptions
import pytest

from evidence.errors import ConfigError
from evidence.signing import Signer, Verifier
from evidence.store import open_store
from evidence.transit import TransitSigner
from tests.integration.test_trust_cli import attest, run
from tests.support.openbao import OpenBao
from tests.support.records import make_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def transit(openbao: OpenBao) -> OpenBao:
    openbao.enable_engine("transit")
    openbao.client().secrets.transit.create_key(name="evidence-log", key_type="ed25519")
    return openbao


def test_store_signed_through_transit(transit: OpenBao, tmp_path: Path, test_schema: Path) -> None:
    env = {**transit.env, "EVIDENCE_SIGNING_KEY": "vault:transit/evidence-log"}
    url = f"sqlite:///{tmp_path / 'store' / 'evidence.db'}"
    with open_store(url, environ=env) as store:
        assert isinstance(store.signer, TransitSigner)
        store.append_batch(make_batch(0, 3))
        store.append_batch(make_batch(3, 3))
        info = transit.client().secrets.transit.read_key(name="evidence-log")["data"]
        public = Verifier.from_vkey(store.log_key().encode())
        assert base64.b64encode(public.raw()).decode() == info["keys"]["1"]["public_key"]
        assert store.verify(trusted_keys=[public]).ok
    assert not (tmp_path / "store" / "signing-key.pem").exists()  # no key file anywhere
    with pytest.raises(hvac.exceptions.VaultError):
        transit.client().secrets.transit.export_key(name="evidence-log", key_type="signing-key")


def test_cli_appends_with_transit_and_rotates_onto_it(transit: OpenBao, tmp_path: Path) -> None:
    local = tmp_path / "local-key.pem"
    local.write_bytes(Signer.generate().private_pem())
    local.chmod(0o600)
    assert attest(tmp_path, "signed locally", env={"EVIDENCE_SIGNING_KEY": f"file:{local}"}).returncode == 0
    rotated = run(
        tmp_path,
        "rotate-key",
        "--to",
        "vault:transit/evidence-log",
        env={**transit.env, "EVIDENCE_SIGNING_KEY": f"file:{local}"},
    )
    assert rotated.returncode == 0, rotated.stderr
    vault_env = {**transit.env, "EVIDENCE_SIGNING_KEY": "vault:transit/evidence-log"}
    appended = attest(tmp_path, "signed by Vault", env=vault_env)
    assert appended.returncode == 0, appended.stderr
    verified = run(tmp_path, "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["records"] == 2 and len(report["trusted_key_ids"]) == 2


def test_transit_misconfiguration_is_named(openbao: OpenBao, tmp_path: Path) -> None:
    openbao.enable_engine("transit")
    openbao.client().secrets.transit.create_key(name="rsa", key_type="rsa-2048")
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    with pytest.raises(ConfigError, match="ed25519"):
        open_store(url, environ={**openbao.env, "EVIDENCE_SIGNING_KEY": "vault:transit/rsa"})
    with pytest.raises(ConfigError, match="transit/missing"):
        open_store(url, environ={**openbao.env, "EVIDENCE_SIGNING_KEY": "vault:transit/missing"})
    with pytest.raises(ConfigError, match="VAULT_ADDR"):
        open_store(url, environ={"EVIDENCE_SIGNING_KEY": "vault:transit/evidence-log"})
