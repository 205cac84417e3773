"""waits.until: the condition, the fixed deadline, the last answer."""

from __future__ import annotations

import time

from mirante import waits


def test_returns_the_first_answer_that_is_done() -> None:
    answers = iter([0, 0, 3, 4])
    assert waits.until(lambda: next(answers), 5, 0.01) == 3


def test_gives_the_last_answer_at_the_deadline_without_looping_forever() -> None:
    calls = []
    started = time.monotonic()
    answer = waits.until(lambda: calls.append(1) or len(calls), 0.1, 0.02, done=lambda n: n < 0)
    assert time.monotonic() - started >= 0.1
    # Sleeps are never shorter than asked: at most one probe per interval, plus the last.
    assert answer == len(calls)
    assert 2 <= len(calls) <= 8


def test_probes_once_even_with_no_time_left() -> None:
    assert waits.until(lambda: "", 0) == ""
