"""The running app follows its feature flags: `invoke features.toggle` reaches it, no restart."""

from __future__ import annotations

import requests

from mirante import stack
from tests.helpers import TEST_PORTS, invoke

from .test_stack import wait_for

# One stack for the session: these tests run in one xdist worker, in order.

APP = f"http://127.0.0.1:{TEST_PORTS['APP']}"


def provider_of_an_unnamed_call() -> str:
    answer = requests.post(f"{APP}/llm/complete", json={"prompt": "hello"}, timeout=10)
    return str(answer.json().get("provider")) if answer.status_code == 200 else ""


def test_toggling_a_flag_switches_the_running_apps_provider(
    running_stack: stack.UpReport, stack_env: dict[str, str]
) -> None:
    assert requests.get(f"{APP}/features", timeout=5).json()["flags"]["llm_beta_provider"] is False
    wait_for(lambda: provider_of_an_unnamed_call() == "alpha", 30, "calls go to alpha")
    try:
        done = invoke(stack_env, "features.toggle", "llm_beta_provider", "enable", "--env", "local")
        assert done.returncode == 0, done.stderr
        assert "Feature llm_beta_provider was enabled in environment local." in done.stdout
        wait_for(lambda: provider_of_an_unnamed_call() == "beta", 30, "calls go to beta")
        assert requests.get(f"{APP}/features", timeout=5).json()["flags"]["llm_beta_provider"]
    finally:
        invoke(stack_env, "features.toggle", "llm_beta_provider", "disable", "--env", "local")
    wait_for(lambda: provider_of_an_unnamed_call() == "alpha", 30, "calls go back to alpha")
