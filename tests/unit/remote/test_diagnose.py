"""kubectl's output, read: objects, stuck rollouts, what helm waited on."""

from __future__ import annotations

from typing import Any

from mirante.remote import diagnose


def pod(name: str, phase: str, ready: bool = False, **status: Any) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    conditions += status.pop("conditions", [])
    return {
        "metadata": {"name": name},
        "status": {"phase": phase, "conditions": conditions, **status},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"containerStatuses": [{"state": {"waiting": {"reason": reason, "message": message}}}]}


UNSCHEDULED = {
    "type": "PodScheduled",
    "status": "False",
    "message": "0/3 nodes are available: 3 Insufficient cpu.",
}


def event(name: str, reason: str, when: str, message: str) -> dict[str, Any]:
    return {
        "involvedObject": {"name": name},
        "reason": reason,
        "lastTimestamp": when,
        "message": message,
    }


def test_no_resources_found_is_not_an_object() -> None:
    assert diagnose.object_names("No resources found\n") == []
    assert diagnose.object_names("No resources found in mirante-staging namespace.\n") == []
    listed = "deployment.apps/app\nservice/app\nservicemonitor.monitoring.coreos.com/app\n"
    assert diagnose.object_names(listed) == [
        "deployment.apps/app",
        "service/app",
        "servicemonitor.monitoring.coreos.com/app",
    ]


def test_a_stuck_rollout_says_ready_desired_and_why_each_pod_is_not_ready() -> None:
    deployment = {"spec": {"replicas": 3}, "status": {"readyReplicas": 1, "updatedReplicas": 1}}
    pods = [
        pod("app-ok", "Running", ready=True),
        pod("app-pending", "Pending", conditions=[UNSCHEDULED]),
        pod("app-pull", "Pending", **waiting("ImagePullBackOff", 'Back-off pulling "app:v9"')),
        pod("app-crash", "Running", **waiting("CrashLoopBackOff", "back-off 40s restarting")),
    ]
    events = [
        event("app-pull", "Failed", "2026-01-01T00:00:01Z", "Failed to pull image: not found"),
        event("app-pull", "Pulling", "2026-01-01T00:00:00Z", "Pulling image"),
    ]
    said = diagnose.rollout_stuck(deployment, pods, events, "invoke deploy.rollback app --env prod")
    assert said.startswith("1/3 ready, 1 updated: ")
    assert "app-ok" not in said
    assert (
        "app-pending Pending, not scheduled: 0/3 nodes are available: 3 Insufficient cpu." in said
    )
    assert (
        'app-pull Pending, ImagePullBackOff (Back-off pulling "app:v9"); last event Failed: '
        in said
    )
    assert "app-crash Running, CrashLoopBackOff (back-off 40s restarting)" in said
    assert said.endswith("To go back: invoke deploy.rollback app --env prod")


def test_helm_names_the_hook_job_it_waited_on_first() -> None:
    jobs = [
        {"metadata": {"name": "kps-admission-create",
                      "annotations": {"helm.sh/hook": "pre-install,pre-upgrade"}},
         "status": {"active": 1}},
        {"metadata": {"name": "done"}, "status": {"succeeded": 1}},
    ]  # fmt: skip
    pods = [pod("kps-admission-create-x", "Pending", **waiting("ImagePullBackOff"))]
    said = diagnose.helm_waited(jobs, pods, "kube-prometheus-stack")
    assert said == (
        "release kube-prometheus-stack was waiting on the pre-install,pre-upgrade hook Job "
        "kps-admission-create (not complete) | pod kps-admission-create-x Pending, "
        "ImagePullBackOff"
    )
    assert "nothing is waiting" in diagnose.helm_waited([], [], "loki")
