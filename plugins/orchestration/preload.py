"""Pay the collectors' start-up once per worker, not once per task.

Airflow runs each task in a process forked from a long-lived worker (the LocalExecutor's worker
processes, forked from the scheduler; a Celery worker's pool processes). Whatever that parent has
imported, every task inherits for free; whatever it has not, every task imports again: Great
Expectations alone costs 2.5-6 s per import, pandas and boto3 another second or two, and a
collection of 16 AWS units would pay that 16 times.

``preload()`` imports the heavy libraries and every installed collector family in the parent:
- LocalExecutor: ``[core] executor = plugins.orchestration.preload.PreloadingLocalExecutor`` (a
  LocalExecutor that preloads before it forks its workers);
- CeleryExecutor: ``[celery] celery_config_options =
  plugins.orchestration.preload.CELERY_CONFIG`` (Airflow's Celery config plus ``imports`` of this
  module; its ``worker_init`` handler preloads in the worker's main process before the pool forks).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)

HEAVY = ("pandas", "great_expectations", "boto3", "botocore.session", "jsonschema_rs", "pydantic")


def preload() -> float:
    """Import the heavy libraries and the installed families; returns the seconds it took."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.monotonic()
    for name in HEAVY:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional library that is not installed: nothing to preload
            log.info("preload: %s is not installed", name)
    from evidence import registry

    registry.load_all()
    for name in ("evidence.pipeline", "evidence.store"):  # validation, the draft builder, the store
        importlib.import_module(name)

    elapsed = time.monotonic() - started
    log.info("preloaded the collectors' libraries in %.1f s", elapsed)
    return elapsed


def _local_executor_class() -> Any:
    from airflow.executors.local_executor import LocalExecutor

    class PreloadingLocalExecutor(LocalExecutor):
        """A LocalExecutor whose worker processes inherit the collectors' libraries."""

        def start(self) -> None:
            preload()
            super().start()

    return PreloadingLocalExecutor


def __getattr__(name: str) -> Any:
    # Built on first access, so importing this module (Celery's ``imports``) does not import the
    # LocalExecutor, and the class still has a stable import path for ``[core] executor``.
    if name == "PreloadingLocalExecutor":
        cls = _local_executor_class()
        globals()[name] = cls
        return cls
    if name == "CELERY_CONFIG":
        from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

        config = {**DEFAULT_CELERY_CONFIG, "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), __name__)}
        globals()[name] = config
        return config
    raise AttributeError(name)


def _connect_celery_worker_init() -> None:
    """Celery imports this module (``imports``); its ``worker_init`` signal fires in the worker's main
    process before the pool forks, and never in the scheduler that reads ``CELERY_CONFIG``."""
    try:
        from celery.signals import worker_init
    except ImportError:  # no Celery here: nothing to connect
        return
    worker_init.connect(lambda **_: preload(), weak=False)


_connect_celery_worker_init()
