"""The traffic generator: a steady mix of healthy calls, slow calls and errors.

It runs inside the app (when ``MIRANTE_TRAFFIC_RPS`` > 0) and calls the app's own HTTP API
over loopback, so every request it makes is served, measured and traced like a user's.
The mix stays under the alert thresholds: errors come from the provider's own error rate
(2 % by default) and 5 % of the calls are slow (about 2.5 s more, under the 5 s p95 line).
Switching a provider's mode (``POST /simulate``) is how alerts are raised on purpose.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from typing import Any

import requests

LOG = logging.getLogger("mirante_app.traffic")
PROMPTS = (
    "summarise the incident timeline",
    "draft a status page update",
    "explain this stack trace",
    "classify the support ticket",
)


class TrafficGenerator:
    """Sends a steady mix of healthy, slow and failing requests to the app itself."""

    def __init__(
        self, rps: float, providers: list[str], target: str | None = None, flags: Any = None
    ) -> None:
        self.rps = rps
        self.flags = flags  # traffic_slow_prompts: every call asks for a slow completion
        self.providers = providers
        self.target = target or os.environ.get("MIRANTE_TRAFFIC_TARGET", "http://127.0.0.1:8000")
        self._stop = threading.Event()
        self._rng = random.Random()  # noqa: S311 (traffic mix, not cryptography)
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> None:
        """Start sending in the background (nothing when the rate is 0)."""
        if self.rps > 0:
            LOG.info("traffic generator started", extra={"fields": {"rps": self.rps}})
            self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the sender to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        session = requests.Session()
        # Paced by the stop event: a wait that ends at once on shutdown.
        while not self._stop.wait(self._rng.expovariate(self.rps)):
            try:
                self._one(session)
            except requests.RequestException as exc:
                LOG.warning("traffic call failed", extra={"fields": {"error": str(exc)}})

    def _one(self, session: requests.Session) -> None:
        draw = self._rng.random()
        if draw < 0.1:  # the read-only endpoints: the index and the seeded catalog
            session.get(f"{self.target}/" if draw < 0.05 else f"{self.target}/catalog", timeout=10)
            return
        body = {
            "prompt": self._rng.choice(PROMPTS),
            "provider": self._rng.choice(self.providers),
            "slow": self._rng.random() < 0.05
            or bool(self.flags and self.flags.enabled("traffic_slow_prompts")),
        }
        session.post(f"{self.target}/llm/complete", json=body, timeout=30)
