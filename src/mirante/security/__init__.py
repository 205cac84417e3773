"""The security job: bandit, pip-audit, the secret scan and checkov, with an evidence file.

- **bandit** over ``src/`` and ``app/``: a high-severity finding fails; medium ones are
  listed. A finding is justified in place with ``# nosec <test id>`` and its reason. The
  same scan must catch the planted finding of ``tests/fixtures/security/tls_off.py``.
- **pip-audit** of the project's environment and of the app's pinned requirements. An
  audit that could not ask its advisory service about a package (no network, a package
  the service does not know) is reported **skipped** with the reason, never passed.
- **secrets**: the secret scan of the ``environment`` gate, over the tracked files.
- **checkov** over ``terraform/``: a failed check fails (checkov's severities come from a
  Prisma Cloud account, so offline every failed check counts as high); a suppression
  without its reason fails too. The same gate must catch the planted public bucket of
  ``tests/fixtures/terraform/public-bucket``, or it is not a gate.

Each check is ``pass``, ``fail`` or ``skipped``; the evidence goes to
``artifacts/security/<UTC>/report.json`` and ``summary.md``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mirante import runner
from mirante.files import atomic_write

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
BANDIT_TARGETS = ("src", "app")
BANDIT_EXCLUDE = ("app/wheelhouse",)


@dataclass(frozen=True)
class Check:
    """One check of the security job."""

    name: str
    status: str
    reason: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """Every check, and where the evidence was written."""

    checks: list[Check]
    evidence: Path

    @property
    def failed(self) -> bool:
        """Whether any check failed (a skip is not a failure, nor a pass)."""
        return any(c.status == FAIL for c in self.checks)


def _tool(argv: Sequence[str], cwd: Path) -> runner.Result:
    return runner.run(argv, check=False, cwd=cwd, timeout=600)


def _bandit(root: Path, targets: Sequence[str]) -> list[dict[str, Any]] | str:
    """The findings of bandit over ``targets``, or why it did not run."""
    done = _tool(
        [sys.executable, "-m", "bandit", "-r", *targets, "-x", ",".join(BANDIT_EXCLUDE),
         "-f", "json", "-q"],
        root,
    )  # fmt: skip
    try:
        results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
    except (ValueError, KeyError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bandit did not run: {last}"
    return results


def bandit(root: Path) -> Check:
    """High severity fails; medium is reported."""
    results = _bandit(root, BANDIT_TARGETS)
    if isinstance(results, str):
        return Check("bandit", FAIL, results)
    shown = [
        f"{r['issue_severity'].lower()} {r['test_id']} {r['filename']}:{r['line_number']} "
        f"{r['issue_text']}"
        for r in results
        if r["issue_severity"] in ("HIGH", "MEDIUM")
    ]
    high = [line for line in shown if line.startswith("high ")]
    medium = len(shown) - len(high)
    if high:
        return Check("bandit", FAIL, f"{len(high)} high-severity findings: {high[0]}", shown)
    return Check(
        "bandit", PASS, f"no high-severity finding in {', '.join(BANDIT_TARGETS)}; "
        f"{medium} medium reported", shown,
    )  # fmt: skip


PLANTED_FINDING = "tests/fixtures/security/tls_off.py"


def bandit_catches_a_planted_finding(root: Path) -> Check:
    """The gate itself: bandit must report the planted high-severity finding."""
    name = "bandit catches a planted high finding"
    results = _bandit(root, [PLANTED_FINDING])
    if isinstance(results, str):
        return Check(name, FAIL, results)
    high = [f"{r['test_id']} {r['filename']}:{r['line_number']}" for r in results
            if r["issue_severity"] == "HIGH"]  # fmt: skip
    if not high:
        return Check(name, FAIL, f"bandit found nothing high in {PLANTED_FINDING}: no gate")
    return Check(name, PASS, f"{PLANTED_FINDING}: {', '.join(high)}")


def audit_result(label: str, text: str, stderr: str) -> Check:
    """Read pip-audit's JSON: vulnerabilities fail; packages it could not ask about skip."""
    try:
        dependencies = json.loads(text)["dependencies"]
    except (ValueError, KeyError, TypeError):
        said = [line for line in stderr.strip().splitlines() if line.strip()]
        why = said[-1] if said else "no output"
        return Check(label, SKIPPED, f"the advisory service could not be reached: {why[:200]}")
    vulnerable = [
        f"{d['name']} {d['version']}: {', '.join(v['id'] for v in d['vulns'])}"
        for d in dependencies
        if d.get("vulns")
    ]
    unasked = [d["name"] for d in dependencies if d.get("skip_reason")]
    asked = len(dependencies) - len(unasked)
    if vulnerable:
        return Check(label, FAIL, f"{len(vulnerable)} vulnerable packages: {vulnerable[0]}",
                     vulnerable)  # fmt: skip
    if asked == 0:
        reason = next((d["skip_reason"] for d in dependencies if d.get("skip_reason")), "")
        return Check(
            label, SKIPPED, f"the advisory service answered for none of {len(dependencies)} "
            f"packages ({reason[:120]})", unasked,
        )  # fmt: skip
    if unasked:
        return Check(
            label, SKIPPED, f"{asked} packages audited, no vulnerability; {len(unasked)} could "
            f"not be asked about ({', '.join(unasked[:5])}...): not a full audit", unasked,
        )  # fmt: skip
    return Check(label, PASS, f"{asked} packages audited, no known vulnerability")


def pip_audit(root: Path, label: str, args: Sequence[str]) -> Check:
    """pip-audit with ``args``, in JSON."""
    done = _tool([sys.executable, "-m", "pip_audit", *args, "-f", "json",
                 "--progress-spinner", "off"], root)  # fmt: skip
    return audit_result(label, done.stdout, done.stderr)


def secrets(root: Path) -> Check:
    """The secret scan of the ``environment`` gate, over the tracked files."""
    from mirante.gates.static import committed_secrets, tracked_files

    files = tracked_files(root)
    found = committed_secrets(root, files)
    if found:
        return Check("secrets", FAIL, found[0], found)
    return Check("secrets", PASS, f"no secret in {len(files)} tracked files")


CHECKOV_TARGET = "terraform"
PUBLIC_BUCKET = "tests/fixtures/terraform/public-bucket"
# What a public bucket must trip: a public ACL, or public access left open.
PUBLIC_CHECKS = {"CKV_AWS_20", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56",
                 "CKV2_AWS_6"}  # fmt: skip


def checkov_findings(text: str) -> tuple[list[str], list[str], list[str], int] | str:
    """What checkov's JSON says: (failed, suppressed with a reason, suppressed without, passed).

    A string: why checkov's output could not be read.
    """
    try:
        document = json.loads(text)
    except ValueError:
        return "checkov's output is not JSON"
    reports = document if isinstance(document, list) else [document]
    failed: list[str] = []
    reasoned: list[str] = []
    bare: list[str] = []
    passed = 0
    for report in reports:
        results = report.get("results") or {}
        passed += len(results.get("passed_checks") or [])
        for found in results.get("failed_checks") or []:
            failed.append(f"{found['check_id']} {found['resource']} ({found['file_path']})")
        for found in results.get("skipped_checks") or []:
            said = found.get("suppress_comment") or (found.get("check_result") or {}).get(
                "suppress_comment", ""
            )
            reason = str(said or "").strip()
            line = f"{found['check_id']} {found['resource']}: {reason or 'no reason given'}"
            (reasoned if reason and reason != "No comment provided" else bare).append(line)
    return failed, reasoned, bare, passed


def _checkov(root: Path, target: str) -> tuple[list[str], list[str], list[str], int] | str:
    done = _tool(
        [sys.executable, "-m", "checkov.main", "-d", target, "--framework", "terraform",
         "-o", "json", "--skip-download", "--compact"],
        root,
    )  # fmt: skip
    found = checkov_findings(done.stdout)
    if isinstance(found, str):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"checkov did not run: {last[:200]}"
    return found


def checkov(root: Path) -> Check:
    """Run checkov over terraform/: no failed check, no suppression without its reason."""
    name = f"checkov ({CHECKOV_TARGET}/)"
    found = _checkov(root, CHECKOV_TARGET)
    if isinstance(found, str):
        return Check(name, FAIL, found)
    failed, reasoned, bare, passed = found
    if failed:
        return Check(name, FAIL, f"{len(failed)} failed checks: {failed[0]}", failed)
    if bare:
        return Check(name, FAIL, f"{len(bare)} suppressions without a reason: {bare[0]}", bare)
    return Check(
        name, PASS, f"{passed} checks passed, {len(reasoned)} suppressed, each with its reason",
        reasoned,
    )  # fmt: skip


def checkov_catches_a_public_bucket(root: Path) -> Check:
    """The gate itself: checkov must fail the planted public bucket."""
    name = "checkov catches a public bucket"
    found = _checkov(root, PUBLIC_BUCKET)
    if isinstance(found, str):
        return Check(name, FAIL, found)
    caught = sorted({line.split()[0] for line in found[0]} & PUBLIC_CHECKS)
    if not caught:
        return Check(name, FAIL, f"checkov passed {PUBLIC_BUCKET}: the gate would not stop it")
    return Check(name, PASS, f"{PUBLIC_BUCKET} fails {', '.join(caught)}", found[0])


def run_checks(root: Path) -> Report:
    """Every check, and the evidence under ``artifacts/security/<UTC>/``."""
    checks = [
        bandit(root),
        bandit_catches_a_planted_finding(root),
        pip_audit(root, "pip-audit (project)", ["--local", "--skip-editable"]),
        # Every requirement of the app is pinned: audited as pinned, without resolving.
        pip_audit(root, "pip-audit (app)", ["-r", "app/requirements.txt", "--no-deps"]),
        secrets(root),
        checkov(root),
        checkov_catches_a_public_bucket(root),
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = root / "artifacts" / "security" / stamp
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "report.json", json.dumps([asdict(c) for c in checks], indent=2) + "\n")
    lines = ["# security job", "", "| check | status | reason |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.status} | {c.reason} |" for c in checks]
    for check in checks:
        if check.details:
            lines += ["", f"## {check.name}", "", *[f"- {d}" for d in check.details]]
    atomic_write(out / "summary.md", "\n".join(lines) + "\n")
    return Report(checks, out)
