"""Shared pieces of the fuzz tests: a per-input hang guard."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

# The definition of a hang: more than 5 s for a 1 MB file.
SECONDS_PER_MB = 5.0
MIN_SECONDS = 5.0


class Hang(BaseException):
    """The reader ran past its time; a BaseException so no reader can swallow it."""


def hang_budget(size: int, slack: float = 1.0) -> float:
    return slack * max(MIN_SECONDS, SECONDS_PER_MB * size / 2**20)


@contextmanager
def no_hang(size: int, slack: float = 1.0) -> Iterator[None]:
    """Fail the test (instead of waiting forever) when a reader hangs on an input.
    ``slack`` widens the budget where a test machine shared by many jobs is slow."""
    budget = hang_budget(size, slack)

    def on_alarm(_signum, _frame):
        raise Hang(f"a reader took more than {budget:.1f} s of CPU on {size} bytes")

    # CPU time of this process, not wall time: CI machines are shared
    previous = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, budget)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
