"""Just enough PromQL reading to know which metrics an expression names.

Not a parser: it removes strings, label matchers, ranges and grouping clauses, then keeps
the identifiers that are neither functions (followed by a parenthesis) nor keywords. That
is exact for the expressions rules and dashboards are made of.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (recording-rule names included)."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in KEYWORDS}


def selectors(expr: str) -> list[tuple[int, int, str, str]]:
    """Each vector selector of metric ``name``: (start, end, name, its matchers or '').

    Positions are in ``expr``; strings and grouping clauses are never taken for one.
    """
    names = metric_names(expr)
    masked = _STRINGS.sub(lambda m: " " * len(m.group()), expr)
    masked = _GROUPING.sub(lambda m: " " * len(m.group()), masked)
    found = []
    for match in _IDENT.finditer(masked):
        name = match.group(1)
        if name not in names or masked[max(0, match.start() - 1)] == "{":
            continue
        end = match.end()
        rest = masked[end:]
        if rest.startswith("{"):
            close = end + rest.index("}") + 1
            found.append((match.start(), close, name, expr[end + 1 : close - 1]))
        elif not re.match(r"\s*(=~|!~|!=|=)", rest):  # a label name inside braces is not one
            found.append((match.start(), end, name, ""))
    return found


def with_matcher(expr: str, matcher: str) -> str:
    """``expr`` with ``matcher`` added to every vector selector that lacks it."""
    out, last = [], 0
    for start, end, name, matchers in selectors(expr):
        if matcher in matchers:
            continue
        inner = f"{matcher}, {matchers}" if matchers.strip() else matcher
        out += [expr[last:start], f"{name}{{{inner}}}"]
        last = end
    return "".join(out) + expr[last:]
