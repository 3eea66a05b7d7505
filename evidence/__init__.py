"""Compliance evidence core: records, catalog, validation, store, ledger, CLI. Imports no Airflow."""

__version__ = "0.1.0"
