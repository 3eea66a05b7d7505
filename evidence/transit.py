"""A signer whose private key never leaves Vault (or OpenBao): the Transit secrets engine, through hvac.

``EVIDENCE_SIGNING_KEY=vault:<mount>/<key>`` (e.g. ``vault:transit/evidence-log``), with the server and
token from hvac's usual variables, ``VAULT_ADDR`` and ``VAULT_TOKEN`` (``VAULT_CACERT`` for TLS). The
key must be of type ``ed25519``; the signer pins the key version that is the latest when it is
opened, so a Transit key rotation (a new public key) is refused by the store until it is rotated
there too (``evidence rotate-key``). The Airflow workers then hold a Vault token allowed to
``update`` ``<mount>/sign/<key>`` and ``read`` ``<mount>/keys/<key>``, never the key itself.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from evidence.errors import SigningError
from evidence.signing import BaseSigner, key_id_for


class TransitSigner(BaseSigner):
    """Ed25519 signatures from Vault Transit's ``sign`` endpoint; verified locally before use."""

    def __init__(self, client: Any, key_name: str, *, mount_point: str = "transit") -> None:
        self.client = client
        self.key_name = key_name
        self.mount_point = mount_point
        info = self._call("read_key", name=key_name, mount_point=mount_point)["data"]
        if info.get("type") != "ed25519":
            raise SigningError(
                f"Vault Transit key {mount_point}/{key_name} is of type {info.get('type')!r}; "
                "the evidence log needs an ed25519 key"
            )
        self.key_version = int(info["latest_version"])
        encoded = info["keys"][str(self.key_version)]["public_key"]
        try:
            self._public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded))
        except (binascii.Error, ValueError) as exc:
            raise SigningError(f"Vault Transit key {mount_point}/{key_name}: unreadable public key") from exc
        self.key_id = key_id_for(self._public_key)

    @classmethod
    def from_spec(cls, spec: str, environ: Mapping[str, str] | None = None) -> TransitSigner:
        """``<mount>/<key>`` with ``VAULT_ADDR``/``VAULT_TOKEN`` from ``environ`` (default os.environ)."""
        import hvac

        env: Mapping[str, str] = os.environ if environ is None else environ
        mount, _, key = spec.strip("/").rpartition("/")
        if not mount or not key:
            raise SigningError(f"Vault signing key {spec!r} is not <mount>/<key>, e.g. transit/evidence-log")
        address, token = env.get("VAULT_ADDR"), env.get("VAULT_TOKEN")
        if not address or not token:
            raise SigningError("a Vault Transit signing key needs VAULT_ADDR and VAULT_TOKEN")
        client = hvac.Client(url=address, token=token, verify=env.get("VAULT_CACERT") or True, timeout=10)
        return cls(client, key, mount_point=mount)

    def _call(self, method: str, **kwargs: Any) -> Any:
        import hvac.exceptions
        import requests

        where = f"Vault Transit key {self.mount_point}/{self.key_name}"
        try:
            return getattr(self.client.secrets.transit, method)(**kwargs)
        except hvac.exceptions.VaultError as exc:
            raise SigningError(f"{where}: {method} refused: {str(exc).splitlines()[0][:300]}") from exc
        except requests.RequestException as exc:
            raise SigningError(f"{where}: Vault is unreachable ({type(exc).__name__})") from exc

    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    def sign_raw(self, data: bytes) -> bytes:
        response = self._call(
            "sign_data",
            name=self.key_name,
            hash_input=base64.b64encode(data).decode("ascii"),
            key_version=self.key_version,
            mount_point=self.mount_point,
        )
        value = response["data"]["signature"]  # "vault:v<version>:<base64 signature>"
        try:
            signature = base64.b64decode(value.rsplit(":", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SigningError(f"Vault returned an unreadable signature for {self.key_name}") from exc
        # A signature that does not verify must never reach the log (a wrong key version, a proxy).
        from cryptography.exceptions import InvalidSignature

        try:
            self._public_key.verify(signature, data)
        except InvalidSignature as exc:
            raise SigningError(
                f"Vault Transit key {self.key_name} returned a signature that does not verify"
            ) from exc
        return signature

    def describe(self) -> str:
        return f"Vault Transit key {self.mount_point}/{self.key_name} v{self.key_version} ({self.key_id})"
