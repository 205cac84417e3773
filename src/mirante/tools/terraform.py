"""The tool wrapper for Terraform and the AWS caller identity: argv builders around the runner.

:class:`Terraform` builds the exact commands of an environment's root module (always
``-chdir`` it, never a shell); :func:`run_terraform` executes one and turns Terraform's
known failures into one line that says what to do (:func:`explain`).
:func:`caller_identity` asks AWS STS who the credentials are, through boto3 or the AWS CLI.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mirante.errors import InfraError, ToolError, ToolNotFound
from mirante.runner import Command, run

INSTALL_HINT = "install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"


@dataclass(frozen=True)
class Terraform:
    """The commands of one root module, run from the repository root with ``-chdir``."""

    directory: Path  # relative to the repository root

    def _tf(self, *args: str) -> Command:
        return Command(("terraform", f"-chdir={self.directory}", *args))

    def init(self) -> Command:
        """Install the providers and modules, and connect the S3 backend."""
        return self._tf("init", "-input=false", "-no-color")

    def plan(self, out: Path, destroy: bool = False) -> Command:
        """Compute the changes into ``out`` (and print them)."""
        extra = ("-destroy",) if destroy else ()
        return self._tf(
            "plan", "-input=false", "-no-color", "-lock-timeout=60s", *extra, f"-out={out}"
        )

    def apply(self, plan: Path) -> Command:
        """Apply exactly the saved plan (nothing else can change in between)."""
        return self._tf("apply", "-input=false", "-no-color", "-lock-timeout=60s", str(plan))

    def output(self) -> Command:
        """The root module's outputs as JSON."""
        return self._tf("output", "-no-color", "-json")


def run_terraform(command: Command, env: str, cwd: Path, timeout: float = 3600) -> str:
    """Run a Terraform command from ``cwd``; what it printed.

    Raises:
        ToolNotFound: terraform is not on PATH.
        InfraError: it failed, or ran out of time; the message is :func:`explain`'s one line.
    """
    try:
        done = run(command, check=False, timeout=timeout, cwd=cwd, hint=INSTALL_HINT)
    except ToolNotFound:
        raise
    except ToolError:
        raise InfraError(f"{command.shown()} took over {timeout:g} s; it was stopped") from None
    if done.returncode != 0:
        raise InfraError(explain(done.stderr or done.stdout, env, command))
    return done.stdout


_LOCK_ID = re.compile(r"ID:\s+(\S+)")
_LOCK_WHO = re.compile(r"Who:\s+(.+)")
_ACTION = re.compile(r"(?:not authorized to perform|because no identity-based policy allows the)"
                     r":?\s+([\w:*-]+)")  # fmt: skip
_ADDRESS = re.compile(r"with (\S+),")


def explain(stderr: str, env: str, command: Command) -> str:
    """Terraform's failure as one line that says what to do."""
    chdir = command.argv[1] if len(command.argv) > 1 else ""
    where = re.search(_ADDRESS, stderr)
    address = where.group(1) if where else "the resource"
    if re.search(r"No valid credential sources|NoCredentialProviders|no EC2 IMDS role|"
                 r"failed to refresh cached credentials|ExpiredToken", stderr):  # fmt: skip
        return (
            f"{env}: no valid AWS credentials: set AWS_PROFILE (or run `aws sso login`) "
            "for the account config/environments.yaml names, then run again"
        )
    if "Error acquiring the state lock" in stderr:
        lock = _LOCK_ID.search(stderr)
        who = _LOCK_WHO.search(stderr)
        lock_id = lock.group(1) if lock else "ID"
        return (
            f"{env}: the Terraform state is locked by "
            f"{who.group(1).strip() if who else 'another run'} (lock {lock_id}): wait for that "
            "run to end; if it died, "
            f"`terraform {chdir} force-unlock {lock_id}`"
        )
    if re.search(r"AccessDenied|not authorized to perform|UnauthorizedOperation", stderr):
        action = _ACTION.search(stderr)
        what = f"may not {action.group(1)}" if action else "were refused"
        return (
            f"{env}: access denied: the credentials {what} (on {address}): use a role "
            "that may, or have its policy extended"
        )
    if re.search(r"AlreadyExists|AlreadyOwnedByYou|already exists", stderr):
        return (
            f"{env}: {address} already exists outside this state: import it "
            f"(`terraform {chdir} import {address} <id>`) or remove it, then apply again"
        )
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("Error")]
    lines = [line.strip("│╷╵ ").strip() for line in stderr.splitlines()]
    last = errors[0] if errors else next((ln for ln in reversed(lines) if ln), "no output")
    return f"{env}: {command.shown()} failed: {last}"


def caller_identity(region: str) -> Mapping[str, str] | str:
    """Who the AWS credentials are (``Account``, ``Arn``), or why that is unknown."""
    try:
        boto3 = importlib.import_module("boto3")  # optional: mirante[aws]
    except ImportError:
        return _cli_identity(region)
    try:
        found = boto3.session.Session(region_name=region).client("sts").get_caller_identity()
    except Exception as exc:  # botocore raises its many classes; all end here
        return f"AWS STS did not say who the credentials are: {str(exc).splitlines()[0]}"
    return {"Account": str(found["Account"]), "Arn": str(found["Arn"])}


def _cli_identity(region: str) -> Mapping[str, str] | str:
    if shutil.which("aws") is None:
        return "neither boto3 nor the AWS CLI is installed (pip install 'mirante[aws]')"
    try:
        done = run(
            ["aws", "sts", "get-caller-identity", "--output", "json", "--region", region],
            check=False, timeout=60,
        )  # fmt: skip
    except ToolError as exc:
        return f"`aws sts get-caller-identity` failed: {exc.stderr}"
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`aws sts get-caller-identity` failed: {said}"
    found = json.loads(done.stdout)
    return {"Account": str(found["Account"]), "Arn": str(found["Arn"])}
