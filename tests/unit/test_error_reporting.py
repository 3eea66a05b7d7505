"""Unit tests of the error-report scrubber (no SDK, no network)."""

from __future__ import annotations

from evidence.error_reporting import FILTERED, register_secret, scrub_event, scrub_text


def test_registered_values_and_token_shapes_are_filtered_everywhere() -> None:
    register_secret("approle-secret-xyz")
    register_secret("abc")  # too short to mask safely: ignored
    event = {
        "message": "login with approle-secret-xyz failed",
        "exception": {"values": [{"type": "VaultError", "value": "Bearer sntrys_abcdefabcdefabcdef1234"}]},
        "request": {"headers": {"Authorization": "Bearer x", "X-Vault-Token": "hvs.AAAAAAAAAAAAAAAAAAAAAA"}},
        "extra": {"url": "postgresql://evidence:pa55word@db/evidence", "count": 3, "type": "abc"},
        "breadcrumbs": {"values": [{"message": "token hvs.CAESIabcdefghijklmnop0123"}]},
    }
    clean = scrub_event(event)
    text = repr(clean)
    for secret in ("approle-secret-xyz", "sntrys_abc", "hvs.AAAA", "pa55word", "hvs.CAES"):
        assert secret not in text
    assert clean["request"]["headers"]["X-Vault-Token"] == FILTERED
    assert clean["exception"]["values"][0]["type"] == "VaultError"
    assert clean["extra"]["count"] == 3 and clean["extra"]["type"] == "abc"


def test_plain_text_is_left_alone() -> None:
    assert scrub_text("collector vault.sys failed on http://vault:8200") == (
        "collector vault.sys failed on http://vault:8200"
    )
