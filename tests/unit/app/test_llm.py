"""The sample app's circuit breaker and simulated provider, driven directly."""

from __future__ import annotations

import asyncio
import random

import pytest

from mirante_app import llm


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gauge(provider: str) -> float:
    value = llm.BREAKER_STATE.labels(provider)._value.get()
    return float(value)


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    breaker = llm.CircuitBreaker("t-open", threshold=3, reset_timeout=60, clock=FakeClock())
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == llm.CLOSED
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == llm.OPEN
    assert gauge("t-open") == llm.OPEN
    with pytest.raises(llm.CircuitOpen):
        breaker.before_call()


def test_a_success_resets_the_failure_count() -> None:
    breaker = llm.CircuitBreaker("t-reset", threshold=3, reset_timeout=60, clock=FakeClock())
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        breaker.before_call()
        breaker.record_failure() if outcome == "fail" else breaker.record_success()
    assert breaker.state == llm.CLOSED


def test_half_open_lets_one_trial_through_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = llm.CircuitBreaker("t-half", threshold=1, reset_timeout=60, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 59.9
    assert breaker.state == llm.OPEN  # just under the reset timeout
    clock.now += 0.1
    assert breaker.state == llm.HALF_OPEN
    assert gauge("t-half") == llm.HALF_OPEN
    breaker.before_call()  # the trial
    with pytest.raises(llm.CircuitOpen):
        breaker.before_call()  # a second caller waits for the trial's outcome
    breaker.record_success()
    assert breaker.state == llm.CLOSED
    assert gauge("t-half") == llm.CLOSED


def test_a_failed_trial_opens_the_breaker_again() -> None:
    clock = FakeClock()
    breaker = llm.CircuitBreaker("t-trial", threshold=3, reset_timeout=10, clock=clock)
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    clock.now += 10
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == llm.OPEN


@pytest.mark.parametrize(
    ("threshold", "timeout"), [(0, 60), (3, 0)], ids=["threshold 0", "timeout 0"]
)
def test_breaker_refuses_nonsense_settings(threshold: int, timeout: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        llm.CircuitBreaker("t-bad", threshold=threshold, reset_timeout=timeout)


def test_client_counts_tokens_and_opens_on_an_outage() -> None:
    behaviour = llm.ProviderBehaviour(latency=0, error_rate=0)
    provider = llm.SimulatedProvider("t-client", "t-model", behaviour, random.Random(7))
    client = llm.LLMClient(provider, llm.CircuitBreaker("t-client", 2, 60, clock=FakeClock()))
    done = asyncio.run(client.complete("three word prompt"))
    assert done.prompt_tokens == 3
    assert done.completion_tokens >= 8
    assert len(done.trace_id) == 32
    tokens = llm.LLM_TOKENS.labels("t-client", "t-model", "prompt")._value.get()
    assert tokens == 3
    behaviour.mode = "down"
    for _ in range(2):
        with pytest.raises(llm.ProviderUnavailable):
            asyncio.run(client.complete("x"))
    with pytest.raises(llm.CircuitOpen):
        asyncio.run(client.complete("x"))
    errors = llm.LLM_ERRORS.labels("t-client", "t-model", "provider_unavailable")._value.get()
    rejected = llm.LLM_ERRORS.labels("t-client", "t-model", "circuit_open")._value.get()
    assert (errors, rejected) == (2, 1)
    assert llm.PROVIDER_UP.labels("t-client", "t-model")._value.get() == 0
