"""Bounded fan-out: read many resources with a fixed number of calls in flight."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fan_out(read: Callable[[T], R], items: Iterable[T], concurrency: int) -> list[R]:
    """Read every resource with at most ``concurrency`` calls in flight; results keep the input order."""
    listed = list(items)
    if len(listed) <= 1 or concurrency <= 1:
        return [read(item) for item in listed]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(listed)))) as pool:
        return list(pool.map(read, listed))
