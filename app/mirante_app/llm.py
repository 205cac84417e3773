"""A simulated LLM provider behind a circuit breaker, instrumented like a real client.

The provider answers after a configurable latency and fails at a configurable rate; its
state can be switched at run time (``healthy`` / ``slow`` / ``errors`` / ``down``) so that
dashboards and alerts can be exercised on purpose. The breaker opens after ``threshold``
consecutive failures, rejects calls while open, and lets one trial call through
(half-open) once ``reset_timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import format_trace_id
from prometheus_client import Counter, Gauge, Histogram

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}
MODES = ("healthy", "slow", "errors", "down")

LLM_LATENCY = Histogram(
    "llm_request_latency_seconds",
    "Latency of calls to the LLM provider, successful or not.",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0),
)
LLM_ERRORS = Counter(
    "llm_errors_total",
    "Failed LLM calls, by reason (provider_error, provider_unavailable, circuit_open).",
    ["provider", "model", "reason"],
)
LLM_TOKENS = Counter(
    "llm_tokens_total",
    "Tokens consumed, by provider, model and type (prompt or completion).",
    ["provider", "model", "type"],
)
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "State of the circuit breaker in front of a provider: 0 closed, 1 open, 2 half-open.",
    ["provider"],
)
PROVIDER_UP = Gauge(
    "llm_provider_up",
    "1 when the provider's last call reached it, 0 when it was unavailable.",
    ["provider", "model"],
)


class ProviderError(Exception):
    """The provider answered with an error (HTTP 5xx from a real API)."""

    reason = "provider_error"


class ProviderUnavailable(ProviderError):
    """The provider could not be reached at all."""

    reason = "provider_unavailable"


class CircuitOpen(Exception):
    """The breaker is open: the call was not attempted."""

    reason = "circuit_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker; thread-safe; the clock is injectable for tests."""

    def __init__(
        self,
        provider: str,
        threshold: int,
        reset_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or reset_timeout <= 0:
            raise ValueError("threshold must be >= 1 and reset_timeout > 0")
        self.provider = provider
        self.threshold = threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at = 0.0
        self._state = CLOSED
        self._trial_running = False
        BREAKER_STATE.labels(provider).set(CLOSED)

    @property
    def state(self) -> int:
        """The state, as ``circuit_breaker_state`` shows it (0 closed, 1 open, 2 half-open)."""
        with self._lock:
            self._refresh()
            return self._state

    def _refresh(self) -> None:
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._set(HALF_OPEN)

    def _set(self, state: int) -> None:
        self._state = state
        BREAKER_STATE.labels(self.provider).set(state)

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go through now."""
        with self._lock:
            self._refresh()
            if self._state == OPEN or (self._state == HALF_OPEN and self._trial_running):
                raise CircuitOpen(f"circuit open for {self.provider}")
            if self._state == HALF_OPEN:
                self._trial_running = True

    def record_success(self) -> None:
        """A call went through: close the breaker and reset the failure count."""
        with self._lock:
            self._failures = 0
            self._trial_running = False
            self._set(CLOSED)

    def record_failure(self) -> None:
        """A call failed: count it, and open the breaker at the threshold."""
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._state == HALF_OPEN or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._set(OPEN)


@dataclass
class ProviderBehaviour:
    """How the simulated provider behaves; changed at run time through the API."""

    mode: str = "healthy"
    latency: float = 0.3  # mean seconds of a healthy call
    error_rate: float = 0.02  # share of calls that fail in healthy mode


@dataclass(frozen=True)
class Completion:
    """One provider answer: its text and token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    trace_id: str


class SimulatedProvider:
    """An LLM provider stand-in with latency, errors and outages, for the sample app only."""

    def __init__(
        self, name: str, model: str, behaviour: ProviderBehaviour, rng: random.Random | None = None
    ) -> None:
        self.name = name
        self.model = model
        self.behaviour = behaviour
        self._rng = rng or random.Random()  # noqa: S311 (simulation, not cryptography)

    async def complete(self, prompt: str, extra_latency: float = 0.0) -> tuple[str, int, int]:
        """Answer ``prompt`` after the simulated latency; raises on a simulated error or outage."""
        mode = self.behaviour.mode
        if mode == "down":
            await asyncio.sleep(0.05)
            raise ProviderUnavailable(f"{self.name} is unreachable")
        latency = (
            self._rng.expovariate(1 / self.behaviour.latency) if self.behaviour.latency > 0 else 0
        )
        latency += extra_latency + (6.0 if mode == "slow" else 0.0)
        await asyncio.sleep(min(latency, 20.0))
        failure_rate = 0.5 if mode == "errors" else self.behaviour.error_rate
        if self._rng.random() < failure_rate:
            raise ProviderError(f"{self.name} answered 500")
        prompt_tokens = max(1, len(prompt.split()))
        completion_tokens = self._rng.randint(8, 64)
        return f"simulated answer to {prompt_tokens} words", prompt_tokens, completion_tokens


class LLMClient:
    """Calls a provider through its breaker, with a child span and the LLM metrics."""

    def __init__(self, provider: SimulatedProvider, breaker: CircuitBreaker) -> None:
        self.provider = provider
        self.breaker = breaker
        self._tracer = trace.get_tracer("mirante_app.llm")
        PROVIDER_UP.labels(provider.name, provider.model).set(1)
        # Series exist from the start (at 0), so rules and panels see them before a failure.
        for reason in ("provider_error", "provider_unavailable", "circuit_open"):
            LLM_ERRORS.labels(provider.name, provider.model, reason)

    async def complete(self, prompt: str, extra_latency: float = 0.0) -> Completion:
        """Complete ``prompt`` through the breaker, recording the span and the LLM metrics."""
        name, model = self.provider.name, self.provider.model
        with self._tracer.start_as_current_span("llm.complete") as span:
            span.set_attribute("gen_ai.system", name)
            span.set_attribute("gen_ai.request.model", model)
            trace_id = format_trace_id(span.get_span_context().trace_id)
            try:
                self.breaker.before_call()
            except CircuitOpen as exc:
                LLM_ERRORS.labels(name, model, exc.reason).inc()
                span.set_attribute("error.type", exc.reason)
                raise
            started = time.perf_counter()
            try:
                text, prompt_tokens, completion_tokens = await self.provider.complete(
                    prompt, extra_latency
                )
            except ProviderError as exc:
                self.breaker.record_failure()
                LLM_ERRORS.labels(name, model, exc.reason).inc()
                PROVIDER_UP.labels(name, model).set(
                    0 if isinstance(exc, ProviderUnavailable) else 1
                )
                span.set_attribute("error.type", exc.reason)
                span.set_status(trace.StatusCode.ERROR, str(exc))
                raise
            finally:
                LLM_LATENCY.labels(name, model).observe(
                    time.perf_counter() - started, exemplar={"trace_id": trace_id}
                )
            self.breaker.record_success()
            PROVIDER_UP.labels(name, model).set(1)
            LLM_TOKENS.labels(name, model, "prompt").inc(prompt_tokens)
            LLM_TOKENS.labels(name, model, "completion").inc(completion_tokens)
            span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", completion_tokens)
            return Completion(text, prompt_tokens, completion_tokens, trace_id)
