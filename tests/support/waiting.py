"""Waiting on a condition, never for a fixed time: poll until it holds or the timeout passes."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.2, what: str = ""
) -> T:
    """The first truthy value of ``condition()``; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met in {timeout}s (last: {value!r})")
        time.sleep(interval)


async def eventually(
    condition: Callable[[], Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str = "",
) -> T:
    """The first truthy value of ``await condition()``; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met in {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)
