"""The one process runner: every external program mirante starts is started here.

The tool wrappers (docker, kubectl and helm, terraform, promtool and amtool, the security
tools) build :class:`Command` objects, or argv lists, and hand them to :func:`run`; a plan
prints exactly the commands it will run, because printing and running use the same
objects. A program that is not installed is :class:`~mirante.errors.ToolNotFound` with the
wrapper's hint; one that fails is a :class:`~mirante.errors.ToolError` (or the wrapper's
subclass of it). Nothing else in mirante imports :mod:`subprocess` (a unit test checks).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mirante.errors import ToolError, ToolNotFound

# What testcontainers raises when `docker compose` fails (it runs compose itself).
ProcessFailed = subprocess.CalledProcessError


@dataclass(frozen=True)
class Command:
    """One command line, optionally piped into a second one (``helm template | kubectl diff``).

    ``ok_codes`` are the exit codes that are not failures (``kubectl diff`` exits 1 when it
    finds differences).
    """

    argv: tuple[str, ...]
    pipe_to: tuple[str, ...] = ()
    ok_codes: tuple[int, ...] = (0,)

    def shown(self) -> str:
        """The command as one line a user could paste."""
        text = shlex.join(self.argv)
        return f"{text} | {shlex.join(self.pipe_to)}" if self.pipe_to else text


@dataclass(frozen=True)
class Result:
    """A command's exit code and output."""

    command: Command
    returncode: int
    stdout: str
    stderr: str


def run(
    command: Command | Sequence[str | Path],
    *,
    check: bool = True,
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    hint: str = "",
    error: type[ToolError] = ToolError,
) -> Result:
    """Run a command (and its pipe), capturing its output as text.

    Args:
        command: a :class:`Command`, or the program and its arguments; never a shell string.
        check: raise ``error`` when it exits with a code not in ``command.ok_codes``.
        stdin: text for standard input.
        cwd: working directory.
        timeout: seconds before the program is killed (a :class:`ToolError`, code 124).
        env: the program's whole environment (default: this process's).
        hint: how to install the program, for :class:`ToolNotFound`.
        error: the wrapper's :class:`ToolError` subclass for a failure.

    Raises:
        ToolNotFound: the program is not installed (with ``hint``; without one, as a
            ``ToolError`` with code 127).
        ToolError: ``error``, when ``check`` and it failed, or when it ran out of time.
    """
    if not isinstance(command, Command):
        command = Command(tuple(str(part) for part in command))
    if command.pipe_to:
        first = _completed(command.argv, stdin, cwd, timeout, env, hint, error)
        if first.returncode != 0:
            raise error(list(command.argv), first.returncode, first.stderr)
        stdin = first.stdout
    argv = command.pipe_to or command.argv
    done = _completed(argv, stdin, cwd, timeout, env, hint, error)
    if check and done.returncode not in command.ok_codes:
        raise error(list(argv), done.returncode, done.stderr or done.stdout)
    return Result(command, done.returncode, done.stdout, done.stderr)


def _completed(
    argv: Sequence[str],
    stdin: str | None,
    cwd: Path | None,
    timeout: float | None,
    env: Mapping[str, str] | None,
    hint: str,
    error: type[ToolError],
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, cwd=cwd, timeout=timeout,
            check=False, env=dict(env) if env is not None else None,
        )  # fmt: skip
    except FileNotFoundError:
        if hint:
            raise ToolNotFound(argv[0], hint) from None
        raise error(list(argv), 127, f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise error(list(argv), 124, f"timed out after {timeout:g} s") from None


@contextmanager
def reading(argv: Sequence[str]) -> Iterator[IO[bytes]]:
    """The program's standard output as a readable pipe, for the block.

    Raises:
        ToolError: it exited non-zero (checked when the block ends), with what it said.
    """
    with tempfile.TemporaryFile() as said:
        process = _started(argv, stdout=subprocess.PIPE, stderr=said)
        assert process.stdout is not None  # noqa: S101 (PIPE)
        try:
            yield process.stdout
        except BaseException:
            process.kill()
            raise
        finally:
            process.stdout.close()
            code = process.wait()
        _checked(argv, code, said)


def feeding(argv: Sequence[str], chunks: Iterator[bytes]) -> str:
    """Run the program with ``chunks`` on its standard input; what it printed.

    A stream that breaks off (an exception from ``chunks``) kills the program, so that it
    acts on nothing half-read.

    Raises:
        ToolError: it exited non-zero, with what it said.
    """
    with tempfile.TemporaryFile() as said:
        process = _started(argv, stdin=subprocess.PIPE, stdout=said, stderr=subprocess.STDOUT)
        assert process.stdin is not None  # noqa: S101 (PIPE)
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # it stopped reading: its exit code and output say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            with suppress(BrokenPipeError):
                process.stdin.close()
        return _checked(argv, process.wait(), said)


@contextmanager
def watching(
    argv: Sequence[str], hint: str, on_line: Callable[[str], None]
) -> Iterator[Callable[[], tuple[int | None, str]]]:
    """Run a long-lived program (``kubectl port-forward``) for the block.

    Each line it prints goes to ``on_line`` (from a thread); the block gets a function that
    stops the program and returns its exit code and standard error. The program is
    stopped when the block ends, however it ends.

    Raises:
        ToolNotFound: the program is not installed.
    """
    process = _started(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, hint=hint)

    def read() -> None:
        assert process.stdout is not None  # noqa: S101 (PIPE)
        for line in process.stdout:
            on_line(line)
        on_line("")  # it ended

    def stop() -> tuple[int | None, str]:
        process.kill()
        process.wait(timeout=10)
        return process.returncode, process.stderr.read() if process.stderr else ""

    threading.Thread(target=read, daemon=True).start()
    try:
        yield stop
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _started(argv: Sequence[str], hint: str = "", **options: Any) -> subprocess.Popen[Any]:
    try:
        return subprocess.Popen(list(argv), **options)
    except FileNotFoundError:
        if hint:
            raise ToolNotFound(argv[0], hint) from None
        raise ToolError(list(argv), 127, f"{argv[0]}: command not found") from None


def _checked(argv: Sequence[str], code: int, said: IO[bytes]) -> str:
    """What a streamed program wrote to ``said``; a ToolError when it failed."""
    said.seek(0)
    text = said.read().decode(errors="replace")
    if code != 0:
        raise ToolError(list(argv), code, text)
    return text
