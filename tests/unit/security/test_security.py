"""The security job: bandit's verdict, and pip-audit's answers read honestly."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mirante import security
from tests.helpers import REPO


def dep(name: str, vulns: list[str] | None = None, skip: str = "") -> dict[str, object]:
    found: dict[str, object] = {"name": name, "version": "1.0"}
    if skip:
        found["skip_reason"] = skip
    else:
        found["vulns"] = [{"id": v} for v in vulns or []]
    return found


def audit(*deps: dict[str, object]) -> security.Check:
    return security.audit_result("pip-audit (app)", json.dumps({"dependencies": list(deps)}), "")


def test_a_vulnerable_package_fails_naming_it() -> None:
    check = audit(dep("a"), dep("jinja2", ["GHSA-h5c8-rqwp-cp95", "PYSEC-2024-1"]))
    assert check.status == security.FAIL
    assert check.reason == "1 vulnerable packages: jinja2 1.0: GHSA-h5c8-rqwp-cp95, PYSEC-2024-1"


def test_packages_the_service_could_not_be_asked_about_are_a_skip_never_a_pass() -> None:
    unknown = "Dependency not found on PyPI and could not be audited: a (1.0)"
    none = audit(dep("a", skip=unknown), dep("b", skip=unknown))
    assert none.status == security.SKIPPED
    assert none.reason.startswith("the advisory service answered for none of 2 packages")
    some = audit(dep("a"), dep("b", skip=unknown))
    assert some.status == security.SKIPPED
    assert "1 packages audited, no vulnerability; 1 could not be asked about (b" in some.reason
    assert audit(dep("a"), dep("b")).status == security.PASS


def test_an_unreachable_service_is_a_skip_with_the_reason() -> None:
    said = "requests.exceptions.ConnectionError: Failed to resolve 'api.osv.dev'"
    check = security.audit_result("pip-audit (project)", "", f"Traceback...\n{said}\n")
    assert check.status == security.SKIPPED
    assert check.reason.endswith(said)


def test_a_high_severity_finding_fails_and_a_medium_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "src" / "bad.py").write_text(
        "import requests\n\n\ndef fetch(url):\n"
        "    return requests.get(url, verify=False, timeout=5)\n"
    )
    (tmp_path / "app" / "meh.py").write_text(
        "import yaml\n\n\ndef read(t):\n    return yaml.load(t)\n"
    )
    check = security.bandit(tmp_path)
    assert check.status == security.FAIL, check
    assert check.reason.startswith("1 high-severity findings: high B501 src/bad.py:5")
    assert any(d.startswith("medium B506 app/meh.py:5") for d in check.details)
    (tmp_path / "src" / "bad.py").unlink()
    assert security.bandit(tmp_path).status == security.PASS


def test_the_ci_workflow_runs_what_ci_runs_with_pinned_actions_and_read_only_token() -> None:
    import re

    import yaml

    repo = REPO
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert set(workflow["jobs"]) == {"ci", "nightly"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    job = workflow["jobs"]["ci"]
    steps = job["steps"]
    runs = [step.get("run", "") for step in steps]
    for command in ("bash scripts/ci/bootstrap.sh", "python3 -m nox", "python3 -m nox -s gates",
                    "python3 -m nox -s security"):  # fmt: skip
        assert command in runs, command
    (upload,) = [s for s in steps if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == "artifacts/"
    ci = (repo / ".ci" / "run").read_text()
    for command in ("python3 -m nox\n", "python3 -m nox -s gates", "python3 -m nox -s security"):
        assert command in ci, command


def test_the_nightly_job_runs_the_gates_and_a_backup_round_trip_and_keeps_the_evidence() -> None:
    """The staging runbook's nightly CI: backups made and restored, evidence manifest kept."""
    import yaml

    repo = REPO
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    on = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert on["schedule"] == [{"cron": "17 2 * * *"}]
    nightly = workflow["jobs"]["nightly"]
    assert (
        nightly["if"]
        == "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"
    )
    assert "schedule" not in workflow["jobs"]["ci"]["if"]
    assert nightly["env"]["MIRANTE_BACKUP_DIR"].startswith("artifacts/")
    runs = "\n".join(step.get("run", "") for step in nightly["steps"])
    wanted = [
        "python3 -m nox -s gates",
        "python3 -m invoke stack.up",
        "python3 -m invoke backup\n",
        "python3 -m invoke backup.verify latest",
        "python3 -m invoke backup.restore latest --yes",
        "python3 -m invoke health",
    ]
    for command in wanted:
        assert command in runs, command
    (faults,) = [s for s in nightly["steps"] if "test_faults.py" in s.get("run", "")]
    assert int(faults["env"]["MIRANTE_FAULT_TRIALS"]) > 1  # the ci job runs one per signal
    (upload,) = [s for s in nightly["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "always()"  # kept whether the night passed or not
    assert upload["with"]["path"] == "artifacts/"


WORKFLOWS = REPO / "tests" / "fixtures" / "workflows"
CI_WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def linter(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is in the test dependency group")
    return found


def zizmor(workflow: Path) -> list[tuple[str, str]]:
    run = subprocess.run(
        [linter("zizmor"), "--offline", "--format", "json", str(workflow)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    findings = json.loads(run.stdout)
    return sorted((f["ident"], f["determinations"]["severity"]) for f in findings)


def actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [linter("actionlint"), "-no-color", str(workflow)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_actionlint_passes_the_ci_workflow_and_catches_an_unsafe_one() -> None:
    assert actionlint(CI_WORKFLOW).returncode == 0, actionlint(CI_WORKFLOW).stdout
    unsafe = actionlint(WORKFLOWS / "unsafe.yml")
    assert unsafe.returncode == 1
    assert "potentially untrusted" in unsafe.stdout
    assert 'property "nope" is not defined' in unsafe.stdout


def test_zizmor_finds_nothing_in_the_ci_workflow_and_flags_an_unsafe_one() -> None:
    assert zizmor(CI_WORKFLOW) == []
    found = dict(zizmor(WORKFLOWS / "unsafe.yml"))
    for ident in ("unpinned-uses", "template-injection", "dangerous-triggers"):
        assert found.get(ident) == "High", (ident, found)


def checkov_report(failed: int = 0, skipped: tuple[str, ...] = ()) -> str:
    def result(check: str, **extra: object) -> dict[str, object]:
        return {"check_id": check, "resource": f"aws_s3_bucket.{check.lower()}",
                "file_path": "/modules/s3/main.tf", **extra}  # fmt: skip

    return json.dumps({
        "check_type": "terraform",
        "results": {
            "passed_checks": [result("CKV_AWS_19")],
            "failed_checks": [result(f"CKV_AWS_2{i}") for i in range(failed)],
            "skipped_checks": [
                result("CKV_AWS_144", check_result={"result": "SKIPPED", "suppress_comment": s})
                for s in skipped
            ],
        },
    })  # fmt: skip


def test_checkov_findings_fail_unless_every_suppression_says_why() -> None:
    found = security.checkov_findings(
        checkov_report(failed=1, skipped=("Replicated by the DR plan", "No comment provided"))
    )
    assert not isinstance(found, str)
    failed, reasoned, bare, passed = found
    assert failed == ["CKV_AWS_20 aws_s3_bucket.ckv_aws_20 (/modules/s3/main.tf)"]
    assert reasoned == ["CKV_AWS_144 aws_s3_bucket.ckv_aws_144: Replicated by the DR plan"]
    assert bare == ["CKV_AWS_144 aws_s3_bucket.ckv_aws_144: No comment provided"]
    assert passed == 1
    assert security.checkov_findings("Traceback...") == "checkov's output is not JSON"
