"""A tiny collector family for tests: a widget inventory served over HTTP.

It is plugged in only through the ``evidence.collectors`` entry point (``widgets =
"tests.support.widget_family:FAMILY"``, written into a dist-info folder by the test), ships its own
schemas and suites, and has a permission model of its own (API token scopes): proof that the core
collects, renders policies for and demos any family without naming it.
"""

from pathlib import Path

from tests.support.widget_family.family import WIDGETS as FAMILY

__all__ = ["FAMILY", "install_entry_point"]


def install_entry_point(site: Path) -> Path:
    """Make ``site`` a folder that, on ``PYTHONPATH``, installs the family as a plugin would: a
    dist-info with the ``evidence.collectors`` entry point. Returns ``site``."""
    info = site / "widgets_family-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: widgets-family\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[evidence.collectors]\nwidgets = tests.support.widget_family:FAMILY\n"
    )
    return site
