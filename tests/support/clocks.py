"""Time under the test's control."""

from __future__ import annotations


class FakeClock:
    """A clock the test moves by hand (a callable returning seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
