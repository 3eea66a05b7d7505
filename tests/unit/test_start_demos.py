"""start_demos: the demo sources start side by side; all that started are stopped, also when one fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import pytest

from evidence.family import DemoEstate, start_demos


class Fake:
    def __init__(
        self,
        name: str,
        events: list[str],
        *,
        fail: bool = False,
        delay: float = 0.0,
        meet: threading.Barrier | None = None,
    ) -> None:
        self.name = self.title = name
        self.events, self.fail, self.delay, self.meet = events, fail, delay, meet

    def demo(self) -> AbstractContextManager[DemoEstate] | None:
        @contextmanager
        def running() -> Iterator[DemoEstate]:
            time.sleep(self.delay)
            if self.meet is not None:
                self.meet.wait(timeout=30)  # breaks unless the other source is starting at the same time
            if self.fail:
                raise RuntimeError(f"{self.name} would not start")
            self.events.append(f"start {self.name} on {threading.current_thread().name}")
            try:
                yield DemoEstate(settings={"name": self.name}, description=f"{self.name} up")
            finally:
                self.events.append(f"stop {self.name}")

        return running()


class NoDemo(Fake):
    def demo(self) -> None:
        return None


def test_sources_start_side_by_side_and_stop_on_leaving() -> None:
    events: list[str] = []
    lines: list[str] = []
    meet = threading.Barrier(2)  # both starts must be under way at once
    families: list[Any] = [Fake("a", events, meet=meet), NoDemo("n", events), Fake("b", events, meet=meet)]
    with ExitStack() as stack:
        running = start_demos(stack, families, lines.append)
        assert [(f.name, e.description) for f, e in running] == [("a", "a up"), ("b", "b up")]
        assert all(" on demo" in e for e in events)  # on the pool's threads
    assert sorted(e for e in events if e.startswith("stop")) == ["stop a", "stop b"]
    assert lines[0] == "starting 2 demo sources: a, b"


def test_one_source_failing_stops_the_others_and_names_itself() -> None:
    events: list[str] = []
    lines: list[str] = []
    families: list[Any] = [Fake("a", events), Fake("bad", events, fail=True, delay=0.1), Fake("c", events)]
    with pytest.raises(RuntimeError, match="bad would not start"), ExitStack() as stack:
        start_demos(stack, families, lines.append)
    assert sorted(e for e in events if e.startswith("stop")) == ["stop a", "stop c"]
    assert "bad: the demo source did not start: bad would not start" in lines
