"""What every task module shares: loading settings, turning errors into exits, rendering.

Domain modules return data and raise :class:`~mirante.errors.MiranteError`; this is the
only place that prints, asks, and exits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.tasks import Task

from mirante import settings as settings_mod
from mirante.errors import BadArgument, MiranteError, SettingsError

P = ParamSpec("P")
R = TypeVar("R")


def exits_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an expected failure into its one-line message and exit code, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MiranteError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as command-line tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=0) from None
        except OSError as exc:
            # A file the command needed (a full disk, a directory it may not write): one line.
            where = f" ({exc.filename})" if exc.filename else ""
            raise Exit(f"error: {exc.strerror or exc}{where}", code=1) from None

    return wrapper


HELP_WORDS = ("--help", "-h")


class _Context(ParserContext):
    """A task's parser context that lets ``--help`` through where a positional eats it.

    invoke gives a token to a positional argument still missing before it looks for its
    own flags, so ``invoke images.load --help`` would load a file named ``--help``, and a
    task with two positionals would stop at the parse. With ``--help`` eaten, no positional
    counts as missing: the task's body (see :func:`assemble`) then prints the help.
    """

    @property
    def missing_positional_args(self) -> list[Argument]:
        if any(a.value in HELP_WORDS for a in self.positional_args):
            return []
        return list(super().missing_positional_args)


class Namespace(Collection):
    """The root collection of tasks, whose parser contexts are :class:`_Context`."""

    def to_contexts(self, ignore_unknown_help: bool | None = None) -> list[ParserContext]:
        return [
            _Context(name=name, aliases=aliases, args=self[name].get_arguments(ignore_unknown_help))
            for name, aliases in self.task_names.items()
        ]


def assemble(*parts: Collection | Task[Any]) -> Namespace:
    """The root namespace of ``parts``, where ``invoke TASK --help`` works for every task.

    A task with positional arguments answers ``--help`` (or ``-h``) in one of them with
    its help, as ``invoke --help TASK`` prints it, and runs nothing.
    """
    root = Namespace()
    for part in parts:
        if isinstance(part, Collection):
            root.add_collection(part)
        else:
            root.add_task(part)
    for name in root.task_names:
        found = root[name]
        if found.positional:
            found.body = _help_instead(found.body, found.positional, root, name)
    return root


def _help_instead(
    body: Callable[..., Any], positional: list[str], root: Namespace, name: str
) -> Callable[..., Any]:
    names = [n.replace("-", "_") for n in positional]

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = list(args[1:]) + [kwargs.get(n) for n in names]
        if any(isinstance(v, str) and v in HELP_WORDS for v in given):
            return _print_help(root, name)
        return body(*args, **kwargs)

    return wrapper


@exits_cleanly
def _print_help(root: Namespace, name: str) -> None:
    """What ``invoke --help NAME`` prints."""
    Program(namespace=root, binary="inv[oke]").run(["invoke", "--help", name], exit=False)


def tell(message: str) -> None:
    """Say at once, on stderr, what a command is waiting for (a lock another one holds)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def load_settings(flags: Mapping[str, tuple[str, str]] | None = None) -> settings_mod.Settings:
    """The settings, with the values of the flags that stand for a setting over the rest.

    ``flags`` maps a variable to its flag and the text given (``"MIRANTE_STACK_TIMEOUT":
    ("timeout", "30")``; empty text: not given). A given value goes through the loader as
    the variable would; a bad one is named by its flag.

    Raises:
        BadArgument: a flag's value is not one its variable accepts.
        SettingsError: a variable of the environment or .env is bad.
    """
    flags = flags or {}
    given = {variable: text for variable, (_, text) in flags.items() if text}
    try:
        return settings_mod.load(overrides=given)
    except SettingsError as exc:
        if exc.variable in given:
            raise BadArgument(flags[exc.variable][0], given[exc.variable], exc.accepted) from None
        raise


def flag_number(
    flag: str,
    text: str,
    low: float,
    high: float,
    accepted: str,
    *,
    integer: bool = False,
    above_low: bool = False,
) -> float:
    """A numeric flag, parsed here (not by invoke) with the settings' one parser; 0 if empty.

    Raises:
        BadArgument: naming the flag, the value and what it accepts.
    """
    if not text:
        return 0
    value = settings_mod.number(text, low, high, integer=integer, above_low=above_low)
    if value is None:
        raise BadArgument(flag, text, accepted)
    return value


def split_names(values: Iterable[str]) -> list[str]:
    """``--services a,b`` and repeated flags alike, as one list of names."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def confirm(question: str, assume_yes: bool, type_name: str = "") -> None:
    """Ask before a destructive step; refuse when there is no terminal to ask on.

    With ``type_name`` (a remote environment), the answer must be that name, typed out;
    ``--yes`` stands for it, since the environment is named on the command line.
    """
    if assume_yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        named = f" (the environment, {type_name}, is already named)" if type_name else ""
        raise Exit(
            f"{question} Refusing without a terminal to confirm on: pass --yes{named}.", code=1
        )
    if type_name:
        answer = input(f"{question} Type {type_name!r} to go on: ").strip()
        agreed = answer == type_name
    else:
        agreed = input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    if not agreed:
        raise Exit("cancelled; nothing was changed.", code=1)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a table (plain text when output is not a terminal).

    Every cell and the title are plain text, never Rich markup: a set, a flag, a service
    or an environment named ``[/x]`` or ``[bold]`` is shown as it is. Only a cell made by
    :func:`styled` has a colour.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=Text(title), title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        grid.add_column(Text(column))
    for row in rows:
        grid.add_row(
            *(c if isinstance(c, Text) else Text("" if c is None else str(c)) for c in row)
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # logs and CI: do not fold rows at 80 columns
    console.print(grid)


def styled(text: str, style: str) -> Any:
    """``text`` in a colour for :func:`table` (a ``rich.text.Text``, never parsed as markup)."""
    from rich.text import Text

    return Text(text, style=style)


def show_notes(config: settings_mod.Settings, notes: Iterable[str]) -> None:
    """Print a command's notes; what repairs said is then forgotten (it has been shown)."""
    from mirante.backup import journal

    for note in notes:
        print(f"note: {note}")
    journal.acknowledge(config)


@contextlib.contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None]]:
    """A byte progress bar for long work; yields ``advance(done, total)`` for the domain.

    On a terminal it redraws in place; elsewhere (logs, CI) rich draws nothing, so a line
    per tenth (or per 256 MiB when the total is not known) keeps a pipeline's log alive.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    from rich.markup import escape

    with Progress(f"[bold]{escape(what)}", *columns, transient=True) as bar:
        job = bar.add_task(what, total=None)
        shown = [-1]
        plain = not bar.console.is_terminal

        def advance(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total or None)
            step = done * 10 // total if total else done >> 28
            if plain and step > shown[0]:
                shown[0] = step
                known = f"{step * 10}%, {done >> 20} of {total >> 20} MiB" if total else ""
                print(f"{what}: {known or f'{done >> 20} MiB'}", flush=True)

        yield advance
