"""The HashiCorp Vault / OpenBao collector family (entry point ``vault = "collectors.vault:FAMILY"``)."""

from collectors.vault.family import VAULT as FAMILY

__all__ = ["FAMILY"]
