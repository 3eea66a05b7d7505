"""evidence.gx_process: GX suites run in a child process give what they give in-process, and the
in-process path takes over when the child dies or cannot run a suite (the child is never the truth)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from evidence import gx_process, validation
from tests.support.golden import normalise

pytestmark = pytest.mark.integration

TYPE = "aws.s3.bucket_encryption"
ROWS = [
    {"resource": "arn:aws:s3:::a", "status": "pass", "sse_algorithm": "AES256"},
    {"resource": "arn:aws:s3:::b", "status": "fail", "sse_algorithm": None},
    {"resource": "arn:aws:s3:::c", "status": "fail", "sse_algorithm": "none"},
]


@pytest.fixture
def child() -> Iterator[None]:
    gx_process.enable()
    try:
        yield
    finally:
        gx_process.disable()


def _same(full: dict[str, Any]) -> Any:
    """The result without what differs between any two runs (when the batch was loaded, ids)."""
    full = json.loads(json.dumps(full, sort_keys=True, default=str))
    full["meta"]["batch_markers"].pop("ge_load_time")
    return normalise(full)


def test_the_child_gives_the_in_process_result(child: None) -> None:
    doc = validation._suite_dict(TYPE)
    gx_process.start([(TYPE, doc)])
    remote = gx_process.validate(TYPE, doc, ROWS, "resource")
    assert remote is not None and gx_process.running()
    local = validation.gx_result(TYPE, doc, ROWS, "resource")
    assert _same(remote) == _same(local)
    summary = validation.summarise(TYPE, remote)
    assert summary == validation.summarise(TYPE, local)
    assert not summary.success and summary.failed_expectations == (
        "expect_column_values_to_not_be_null(sse_algorithm)",
        "expect_column_values_to_be_in_set(sse_algorithm)",
    )
    # run_suite goes through the child and returns the same
    assert validation.run_suite(TYPE, ROWS)[0] == summary
    assert gx_process.handed_back() == 0


def test_a_dead_child_hands_the_suites_back_to_this_process(child: None) -> None:
    doc = validation._suite_dict(TYPE)
    assert gx_process.validate(TYPE, doc, ROWS, "resource") is not None
    process = gx_process._child
    assert process is not None
    process.kill()
    process.wait()
    assert gx_process.validate(TYPE, doc, ROWS, "resource") is None  # noticed: the child is gone
    assert not gx_process.running()
    summary, full = validation.run_suite(TYPE, ROWS)  # in this process now
    assert _same(full) == _same(validation.gx_result(TYPE, doc, ROWS, "resource"))
    assert summary.evaluated == 4 and not summary.success


def test_a_suite_the_child_cannot_run_is_run_here_and_meets_its_own_error(child: None) -> None:
    broken = {"name": TYPE, "expectations": [], "no_such_field": 1}  # ExpectationSuite(**doc) raises
    assert gx_process.validate("broken.type", broken, ROWS, "resource") is None
    assert gx_process.running() and gx_process.handed_back() == 1  # the child survives it
    with pytest.raises(TypeError, match="no_such_field"):  # raised here, where it is not hidden
        validation.gx_result("broken.type", broken, ROWS, "resource")
