"""Which executor a record names: the configured one, or dags test's in-process run, which runs every
task itself whatever is configured."""

from __future__ import annotations

import pytest
from airflow.sdk.execution_time import task_runner
from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

from plugins.orchestration.context import IN_PROCESS, executor_name, in_process


def test_the_configured_executor_outside_dags_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor,LocalExecutor")
    monkeypatch.delattr(task_runner, "SUPERVISOR_COMMS", raising=False)
    assert not in_process()
    assert executor_name() == "CeleryExecutor"
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "plugins.orchestration.preload.PreloadingLocalExecutor")
    assert executor_name() == "PreloadingLocalExecutor"
    # a task process of a real executor talks to its supervisor over a socket
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    assert not in_process() and executor_name() == "PreloadingLocalExecutor"


def test_dags_test_is_named_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    comms = InProcessSupervisorComms(supervisor=None)  # type: ignore[arg-type]
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    assert in_process()
    assert executor_name() == IN_PROCESS
