"""The AWS boundary: error sorting, secret scrubbing, messages fit for a record, uniform failures."""

from __future__ import annotations

import pytest

from collectors.aws.client import classify
from collectors.core import Failed, Found, uniform_failure
from collectors.core.recording import one_line as _one_line
from collectors.core.recording import scrub as _scrub
from evidence.records import SourceError


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AccessDenied", 403, "access_denied"),
        ("UnauthorizedOperation", 400, "access_denied"),
        ("SomethingNew", 403, "access_denied"),
        ("ThrottlingException", 400, "throttled"),
        ("SlowDown", 503, "throttled"),
        ("Whatever", 429, "throttled"),
        ("InternalError", 500, "unavailable"),
        ("Odd", 502, "unavailable"),
        ("ValidationException", 400, "client_error"),
    ],
)
def test_errors_are_sorted_at_the_boundary(code: str, status: int, kind: str) -> None:
    assert classify(code, status) == kind


def test_secret_parameters_are_never_recorded() -> None:
    clean = _scrub({"Bucket": "b", "Password": "hunter2", "SecretString": "s", "NextToken": "x" * 400})
    assert clean["Bucket"] == "b" and clean["Password"] == "***" and clean["SecretString"] == "***"
    assert len(clean["NextToken"]) <= 256


def test_html_error_pages_become_one_bounded_line() -> None:
    page = "<!doctype html>\n<html><title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>Gone.</p></html>"
    assert _one_line(page) == "404 Not Found Not Found Gone."
    assert len(_one_line("x " * 1000)) == 500
    assert _one_line("<br>") == "(no message)"


def _failed(code: str) -> Failed:
    return Failed("access_denied", SourceError(code=code, message="m"))


def test_uniform_failure_only_when_every_call_failed_the_same_way() -> None:
    assert uniform_failure([_failed("AccessDenied")] * 3) is not None
    assert uniform_failure([_failed("AccessDenied"), Found({})]) is None
    assert uniform_failure([_failed("AccessDenied"), _failed("Throttling")]) is None
    assert uniform_failure([]) is None
