"""One loader for what a user or a copied directory brings: bounded, and never trusted.

Backup manifests, ``verified.json``, the YAML files of ``config/`` and ``.env`` go through
it. Each is read only below a size limit, parsed with a depth limit (a 200,000-deep
``[[...]]`` is refused in one line, not a ``RecursionError``), and any failure comes back
as one :class:`Unreadable` naming the file and what to do. Numbers that no float holds
(``10**400``) are for the readers' schemas, which :func:`whole` and :func:`finite` serve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mirante.errors import NotUtf8, Unreadable

MAX_BYTES = 1 << 20  # a manifest lists a handful of archives; config files are pages long
MAX_DEPTH = 32
# Brackets nested deeper than this are refused before any YAML parser sees them: a parser
# takes seconds over a few thousand levels (and the depth check after it refuses far less).
MAX_FLOW_NESTING = 100


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A UTF-8 text file, refused when it is over ``limit`` bytes.

    Raises:
        Unreadable: too large, or unreadable (with the reason).
        NotUtf8: naming the first line that is not UTF-8.
        FileNotFoundError: it does not exist (the caller says what that means).
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(path, exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise Unreadable(path, f"it is over {limit >> 10} KiB, more than such a file ever holds")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(str(path), data[: exc.start].count(b"\n") + 1) from None


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests (each object visited once: YAML aliases do not multiply it).

    Raises:
        ValueError: it nests deeper than ``limit``.
    """
    deepest = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, dict | list) or id(item) in seen:
            continue
        seen.add(id(item))
        if level > limit:
            raise ValueError(f"it nests deeper than {limit} levels")
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children)
        if isinstance(item, dict):
            stack.extend((key, level + 1) for key in item)
    return deepest


def flow_nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest in YAML or JSON text, outside quotes and comments."""
    deepest = level = 0
    quote = ""
    previous = "\n"
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and previous in " \t\n":
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level = max(level - 1, 0)
        previous = char
        index += 1
    return deepest


def _shallow(text: str) -> str:
    """``text``, unless its brackets nest deeper than :data:`MAX_FLOW_NESTING`.

    Raises:
        ValueError: they do.
    """
    if text.count("[") + text.count("{") > MAX_FLOW_NESTING and (
        flow_nesting(text) > MAX_FLOW_NESTING
    ):
        raise ValueError(f"it nests deeper than {MAX_DEPTH} levels")
    return text


def load_json(path: Path, limit: int = MAX_BYTES) -> Any:
    """A JSON file, bounded in size and depth.

    Raises:
        Unreadable, NotUtf8, FileNotFoundError.
    """
    text = read_text(path, limit)
    try:
        value = json.loads(text)
        depth(value)
    except RecursionError:
        raise Unreadable(path, f"it nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise Unreadable(path, str(exc)) from None
    return value


def _safe_loader() -> Any:
    """PyYAML's safe loader, libyaml's where PyYAML was built with it (~10x faster)."""
    try:
        from yaml import CSafeLoader as SafeLoader
    except ImportError:  # a PyYAML without libyaml
        from yaml import SafeLoader  # type: ignore[assignment]
    return SafeLoader


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, through :func:`_safe_loader`."""
    import yaml

    SafeLoader = _safe_loader()
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (CSafeLoader, or SafeLoader)


def safe_load_all(text: str) -> list[Any]:
    """Every document of a YAML stream, as :func:`safe_load` reads one."""
    import yaml

    return list(yaml.load_all(text, Loader=_safe_loader()))


def parse_yaml(text: str, path: Path) -> Any:
    """YAML text (:func:`safe_load`), bounded in depth.

    Raises:
        Unreadable: not YAML (with the line and column), or too deep.
    """
    import yaml

    try:
        value = safe_load(_shallow(text))
        depth(value)
    except RecursionError:
        raise Unreadable(path, f"it nests deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise Unreadable(path, f"it is not valid YAML{at}: {exc.problem}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise Unreadable(path, f"it is not valid YAML: {exc}") from None
    return value


def load_yaml(path: Path, limit: int = MAX_BYTES) -> Any:
    """A YAML file, bounded in size and depth.

    Raises:
        Unreadable, NotUtf8, FileNotFoundError.
    """
    return parse_yaml(read_text(path, limit), path)


def round_trip() -> Any:
    """ruamel.yaml's round trip, for the files mirante rewrites in place.

    Comments, order and quoting are kept, and no long line is folded that was not.
    """
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load_round_trip(path: Path, shown: object, error: type[Exception], missing: str) -> Any:
    """A YAML file a user edits and mirante rewrites: bounded, round trip, checked.

    Every failure is one ``error`` naming the file (``shown``) and leaving it as it is;
    ``missing`` says what to do when it does not exist.
    """
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        document = round_trip().load(_shallow(read_text(path)))
        depth(document, 8)
    except FileNotFoundError:
        raise error(f"{shown} does not exist; {missing}") from None
    except Unreadable as exc:
        raise error(f"{shown}: {exc.reason}; it was left as it is") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{shown} is not valid YAML{at}: {exc.problem}; it was left as it is") from None
    except (YAMLError, RecursionError, ValueError) as exc:
        why = "it nests too deep" if isinstance(exc, RecursionError | ValueError) else str(exc)
        raise error(f"{shown}: {why}; it was left as it is") from None
    return document


def dump_round_trip(document: Any) -> str:
    """The text of a document read by :func:`load_round_trip`, comments and order kept."""
    import io

    out = io.StringIO()
    round_trip().dump(document, out)
    return out.getvalue()


def whole(value: Any, high: int = 1 << 62) -> bool:
    """Whether ``value`` is a whole number from 0 to ``high`` (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


def finite(value: Any, high: float = 1e12) -> bool:
    """Whether ``value`` is a number from 0 to ``high`` (``10**400`` is not: no float holds it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return 0 <= value <= high
    return math.isfinite(value) and 0 <= value <= high
