"""Reaping scratch clusters never takes a live one: a cluster being made (its folder there, its owner
file not yet, or half written) is left alone, by other threads and by other processes; only what a
killed run left, or an unowned folder old enough that nobody is making it, is removed."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from collectors import pgscratch as scratch

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "scratch"
    monkeypatch.setenv("EVIDENCE_SCRATCH_ROOT", str(folder))
    return scratch.scratch_root()


def test_clusters_made_side_by_side_survive_reaping_between_them(root: Path) -> None:
    errors: list[BaseException] = []
    made: list[Path] = []
    done = threading.Event()

    def maker() -> None:
        try:
            for _ in range(25):
                cluster = scratch.new_cluster("race")  # reaps first, as every drill does
                assert cluster.folder.is_dir(), f"{cluster.folder} was reaped while being made"
                owner = json.loads((cluster.folder / scratch.OWNER_FILE).read_text())
                assert owner["pid"] == os.getpid()
                made.append(cluster.folder)
                cluster.destroy()
        except BaseException as exc:
            errors.append(exc)

    def reaper() -> None:
        while not done.is_set():
            try:
                scratch.reap(root)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=maker) for _ in range(4)]
    watcher = threading.Thread(target=reaper)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    assert errors == []
    assert len(made) == 100
    assert list(root.iterdir()) == []


def test_an_owner_file_is_never_seen_half_written(root: Path) -> None:
    cluster = scratch.new_cluster("whole")
    try:
        for _ in range(50):
            cluster.mark_kept()
        assert [p.name for p in cluster.folder.iterdir()] == [scratch.OWNER_FILE]  # no partial left
        assert json.loads((cluster.folder / scratch.OWNER_FILE).read_text())["keep"] is True
    finally:
        cluster.destroy()


@pytest.mark.parametrize("owner_text", [None, "", "{", "[]"], ids=["none", "empty", "half", "not-object"])
def test_an_unowned_folder_is_reaped_only_once_old(root: Path, owner_text: str | None) -> None:
    folder = root / "drill-unowned-x"
    folder.mkdir()
    if owner_text is not None:
        (folder / scratch.OWNER_FILE).write_text(owner_text)
    assert scratch.reap(root) == []  # maybe being made right now
    assert folder.is_dir()
    old = time.time() - scratch.UNOWNED_GRACE_SECONDS - 60
    os.utime(folder, (old, old))
    assert scratch.reap(root) == [str(folder)]
    assert not folder.exists()


def test_a_dead_owners_cluster_is_reaped_and_a_live_ones_kept(root: Path) -> None:
    live = scratch.new_cluster("live")
    dead = scratch.new_cluster("dead")
    owner = json.loads((dead.folder / scratch.OWNER_FILE).read_text())
    owner["pid"] = 2**22 + 17  # above pid_max's default: no such process
    (dead.folder / scratch.OWNER_FILE).write_text(json.dumps(owner))
    try:
        assert scratch.reap(root) == [str(dead.folder)]
        assert live.folder.is_dir()
    finally:
        live.destroy()
