"""How health judges what it read: pods, the seed tables, the worst row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mirante.health import Report, Row, database_row, pod_row


def pod(
    name: str, phase: str = "Running", ready: bool = True, restarts: int = 0, waiting: str = ""
) -> dict[str, Any]:
    """One item of `kubectl get pods -o json`, with the fields health reads."""
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "restartCount": restarts, "state": state}],
        },
    }


def test_ready_pods_without_restarts_are_ok() -> None:
    assert pod_row("mirante-dev", [pod("app-1"), pod("app-2")]) == Row(
        "pods mirante-dev", "OK", "2 ready, no restarts"
    )


def test_restarts_warn_and_name_the_pod() -> None:
    row = pod_row("ns", [pod("app-1"), pod("app-2", restarts=3)])
    assert row == Row("pods ns", "WARN", "2 ready; restarts: app-2 3")


def test_a_pod_not_ready_is_critical_with_its_waiting_reason() -> None:
    row = pod_row(
        "ns",
        [pod("app-1"), pod("app-2", ready=False, restarts=7, waiting="CrashLoopBackOff")],
    )
    assert row == Row("pods ns", "CRITICAL", "1 of 2 not ready: app-2 CrashLoopBackOff")
    pending = pod_row("ns", [pod("app-3", phase="Pending", ready=False)])
    assert pending.status == "CRITICAL"
    assert pending.reason.endswith("app-3 Pending")


def test_finished_job_pods_do_not_count_and_no_pods_is_critical() -> None:
    done = pod("migrate-x", phase="Succeeded", ready=False)
    assert pod_row("ns", [done, pod("app-1")]).reason == "1 ready, no restarts"
    assert pod_row("ns", [done]) == Row("pods ns", "CRITICAL", "no pods")


@pytest.mark.parametrize(
    ("env", "answer", "status", "said"),
    [
        ("local", "15.18 (Debian)|13|50", "OK", "reference_values 13, sample_tenants 50"),
        ("local", "15.18|13|-1", "WARN", "mirante.sample_tenants missing or empty"),
        ("staging", "16.2|0|50", "WARN", "run `invoke seed --env staging`"),
        ("prod", "16.2|13", "OK", "seed rows: reference_values 13"),
    ],
)
def test_the_seed_tables_of_each_environment(env: str, answer: str, status: str, said: str) -> None:
    row = database_row(env, f"some notice\n{answer}\n")
    assert row.status == status, row
    assert said in row.reason, row


def test_the_exit_code_follows_the_worst_row_and_skips_do_not_count() -> None:
    rows = [Row("a", "OK", ""), Row("b", "SKIP", "cannot run here")]
    assert Report("local", rows, 0.1).exit_code == 0
    assert Report("local", [*rows, Row("c", "WARN", "")], 0.1).exit_code == 1
    worst = Report("local", [*rows, Row("c", "WARN", ""), Row("d", "CRITICAL", "")], 0.1)
    assert worst.exit_code == 2
    assert worst.status == "CRITICAL"
    assert json.loads(worst.as_json())["checks"][1] == {
        "component": "b", "status": "SKIP", "reason": "cannot run here",
    }  # fmt: skip


class Answer:
    def __init__(self, targets: list[dict[str, Any]]) -> None:
        self.targets = targets

    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict[str, Any]:
        return {"data": {"activeTargets": self.targets}}


@pytest.mark.parametrize(
    ("targets", "status", "says"),
    [
        ([], "WARN", "no target discovered yet"),
        ([{"health": "unknown", "labels": {"job": "app"}}], "WARN", "none of 1 targets scraped"),
        (
            [{"health": "up", "labels": {"job": "app"}}, {"health": "unknown", "labels": {}}],
            "OK",
            "1 up, 1 not scraped yet",
        ),
    ],
    ids=["none discovered", "none scraped", "one scraped"],
)
def test_targets_right_after_a_restart_are_never_ok_with_nothing_up(
    monkeypatch: pytest.MonkeyPatch, targets: list[dict[str, Any]], status: str, says: str
) -> None:
    from mirante import health

    monkeypatch.setattr(health.requests, "get", lambda *_, **__: Answer(targets))
    row = health.targets("http://prometheus.invalid")
    assert row.status == status
    assert says in row.reason
