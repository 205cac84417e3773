"""The one way mirante waits: poll a condition until it holds or a fixed deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    probe: Callable[[], T],
    seconds: float,
    interval: float = 0.5,
    done: Callable[[T], object] = bool,
) -> T:
    """Call ``probe`` until ``done(answer)`` holds or ``seconds`` have passed.

    The deadline is fixed at the start, so a condition that never holds cannot loop
    forever; ``probe`` always runs at least once, and once more at the deadline.

    Returns:
        The first answer that is done, else the last one (the caller judges it).
    """
    deadline = time.monotonic() + seconds
    while True:
        answer = probe()
        remaining = deadline - time.monotonic()
        if done(answer) or remaining <= 0:
            return answer
        time.sleep(min(interval, remaining))
