r"""Environment expansion exactly as Loki and Tempo do it with ``-config.expand-env=true``.

Both programs run the WHOLE config file, comments included, through
github.com/drone/envsubst before parsing the YAML. This module reproduces that library's
scanner, parser and evaluation, so that a static gate sees what the programs see:

- ``${VAR}`` and the bash forms (``${VAR:-default}``, ``${VAR=default}``, ``${VAR:1:2}``,
  ``${VAR/a/b}``, ``${#VAR}``, ...) are expanded; an unset variable becomes ``""``;
- ``$$`` is an escaped ``$``; ``\\\\`` and ``\\/`` are escaped ``\\`` and ``/``;
- ``$VAR`` without braces is left as it is;
- anything else after ``${`` (``${MIRANTE_...}`` in a comment, say) is an error that stops
  the program at start: ``missing closing brace``, ``bad substitution``, ...
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_EOF = ""
_IDENT, _LBRACK, _RBRACK, _ESCAPE = 1, 2, 4, 8
_T_ILLEGAL, _T_EOF, _T_IDENT, _T_LBRACK, _T_RBRACK = range(5)

Accept = Callable[[str, int], bool]


class ExpandError(ValueError):
    """The message drone/envsubst gives (the programs print it and exit)."""


MISSING_CLOSING_BRACE = "missing closing brace"
BAD_SUBSTITUTION = "bad substitution"
PARSE_VARIABLE_NAME = "unable to parse variable name"
PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function"
PARSE_DEFAULT_FUNCTION = "unable to parse default function"


@dataclass
class Text:
    """Literal text of a parsed template."""

    value: str


@dataclass
class Func:
    """A ``${...}`` reference of a parsed template, with its function and arguments."""

    param: str = ""
    name: str = ""
    args: list[Text | Func | Seq] = field(default_factory=list)


@dataclass
class Seq:
    """A sequence of template nodes."""

    nodes: list[Text | Func | Seq]


Node = Text | Func | Seq


def _accept_rune(r: str, i: int) -> bool:
    return True


def _accept_ident(r: str, i: int) -> bool:
    return r.isalpha() or unicodedata.category(r) == "Nd" or r == "_"


def _accept_colon(r: str, i: int) -> bool:
    return r == ":"


def _accept_one_hash(r: str, i: int) -> bool:
    return r == "#" and i == 1


def _accept_not_closing(r: str, i: int) -> bool:
    return r != "}"


def _accept_hash_func(r: str, i: int) -> bool:
    return r == "#" and i < 3


def _accept_percent_func(r: str, i: int) -> bool:
    return r == "%" and i < 3


def _accept_default_func(r: str, i: int) -> bool:
    return (i == 1 and r == ":") or (i == 2 and r in "=-?+")


def _accept_replace_func(r: str, i: int) -> bool:
    return (i == 1 and r == "/") or (i == 2 and r in "/#%")


def _accept_one_equal(r: str, i: int) -> bool:
    return i == 1 and r == "="


def _accept_one_colon(r: str, i: int) -> bool:
    return i == 1 and r == ":"


def _reject_colon_close(r: str, i: int) -> bool:
    return r not in ":}"


def _accept_slash(r: str, i: int) -> bool:
    return r == "/"


def _accept_not_slash(r: str, i: int) -> bool:
    return r != "/"


def _accept_casing_func(r: str, i: int) -> bool:
    return r in ",^" and i < 3


class _Scanner:
    """drone/envsubst's scanner: one rune at a time; escapes are cut out of the buffer."""

    def __init__(self, buf: str) -> None:
        self.buf, self.pos, self.start, self.width, self.mode = buf, 0, 0, 0, 0
        self.accept: Accept = _accept_rune

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return _EOF
        self.width = 1
        self.pos += 1
        return self.buf[self.pos - 1]

    def unread(self) -> None:
        self.pos -= self.width

    def skip(self) -> None:
        self.buf = self.buf[: self.pos - 1] + self.buf[self.pos :]

    def peek(self) -> str:
        r = self.read()
        self.unread()
        return r

    def string(self) -> str:
        return self.buf[self.start : self.pos]

    def scan(self) -> int:
        self.start = self.pos
        r = self.read()
        if r == _EOF:
            return _T_EOF
        if self._lbrack(r):
            return _T_LBRACK
        if self._rbrack(r):
            return _T_RBRACK
        if self._ident(r):
            return _T_IDENT
        return _T_ILLEGAL

    def _ident(self, r: str) -> bool:
        if not self.mode & _IDENT:
            return False
        if self._escaped(r):
            self.skip()
        elif not self.accept(r, self.pos - self.start):
            return False
        while True:
            r = self.read()
            if r == _EOF:
                self.unread()
                break
            if self._lbrack(r):
                self.unread()
                self.unread()
                break
            if self._escaped(r):
                self.skip()
                continue
            if not self.accept(r, self.pos - self.start):
                self.unread()
                break
        return True

    def _lbrack(self, r: str) -> bool:
        if not self.mode & _LBRACK:
            return False
        if r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def _rbrack(self, r: str) -> bool:
        return bool(self.mode & _RBRACK) and r == "}"

    def _escaped(self, r: str) -> bool:
        if not self.mode & _ESCAPE:
            return False
        if r == "$" and self.peek() == "$":
            return True
        return r == "\\" and self.peek() in ("/", "\\")


class _Parser:
    """drone/envsubst's recursive-descent parser, function for function."""

    def __init__(self, buf: str) -> None:
        self.s = _Scanner(buf)

    def any(self) -> Node:
        nodes: list[Node] = []
        while True:  # the Go code recurses once per token; a loop builds the same list
            self.s.accept, self.s.mode = _accept_rune, _IDENT | _LBRACK | _ESCAPE
            token = self.s.scan()
            if token == _T_IDENT:
                nodes.append(Text(self.s.string()))
            elif token == _T_EOF:
                return Seq(nodes)
            elif token == _T_LBRACK:
                nodes.append(self.func())
            else:
                raise ExpandError(BAD_SUBSTITUTION)

    def func(self) -> Func:
        if self.s.peek() == "#":
            return self.length()
        self.s.accept, self.s.mode = _accept_ident, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(PARSE_VARIABLE_NAME)
        name = self.s.string()
        following = self.s.peek()
        if following == ":":
            return self.default_or_substr(name)
        if following == "=":
            return self.default(name)
        if following in (",", "^"):
            return self.operator(name, _accept_casing_func)
        if following == "/":
            return self.replace(name)
        if following == "#":
            return self.remove(name, _accept_hash_func)
        if following == "%":
            return self.remove(name, _accept_percent_func)
        self.s.accept, self.s.mode = _accept_ident, _RBRACK
        if self.s.scan() != _T_RBRACK:
            raise ExpandError(MISSING_CLOSING_BRACE)
        return Func(param=name)

    def param(self, accept: Accept, mode: int) -> Node:
        self.s.accept, self.s.mode = accept, mode | _LBRACK
        token = self.s.scan()
        if token == _T_LBRACK:
            return self.func()
        if token in (_T_IDENT, _T_RBRACK):
            return Text(self.s.string())
        raise ExpandError(PARSE_FUNC_SUBSTITUTION)

    def default_or_substr(self, name: str) -> Func:
        self.s.read()
        r = self.s.peek()
        self.s.unread()
        return self.default(name) if r in ("=", "-", "?", "+") else self.substr(name)

    def substr(self, name: str) -> Func:
        node = Func(param=name)
        self.s.accept, self.s.mode = _accept_one_colon, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        node.name = self.s.string()
        node.args.append(self.param(_reject_colon_close, _IDENT))
        self.s.accept, self.s.mode = _accept_colon, _IDENT | _RBRACK
        token = self.s.scan()
        if token == _T_RBRACK:
            return node
        if token != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        node.args.append(self.param(_accept_not_closing, _IDENT))
        self.close()
        return node

    def remove(self, name: str, accept: Accept) -> Func:
        node = self.operator(name, accept, close=False)
        node.args.append(self.param(_accept_not_closing, _IDENT))
        self.close()
        return node

    def replace(self, name: str) -> Func:
        node = self.operator(name, _accept_replace_func, close=False)
        node.args.append(self.param(_accept_not_slash, _IDENT | _ESCAPE))
        self.s.accept, self.s.mode = _accept_slash, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        if self.s.peek() == "}":
            self.close()
            return node
        node.args.append(self.param(_accept_not_closing, _IDENT | _ESCAPE))
        self.close()
        return node

    def default(self, name: str) -> Func:
        node = Func(param=name)
        self.s.accept = _accept_one_equal if self.s.peek() == "=" else _accept_default_func
        self.s.mode = _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(PARSE_DEFAULT_FUNCTION)
        node.name = self.s.string()
        while self.s.peek() != "}":
            node.args.append(self.param(_accept_not_closing, _IDENT))
        self.close()
        return node

    def operator(self, name: str, accept: Accept, close: bool = True) -> Func:
        node = Func(param=name)
        self.s.accept, self.s.mode = accept, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        node.name = self.s.string()
        if close:
            self.close()
        return node

    def length(self) -> Func:
        node = Func()
        self.s.accept, self.s.mode = _accept_one_hash, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        node.name = self.s.string()
        self.s.accept, self.s.mode = _accept_ident, _IDENT
        if self.s.scan() != _T_IDENT:
            raise ExpandError(BAD_SUBSTITUTION)
        node.param = self.s.string()
        self.close()
        return node

    def close(self) -> None:
        self.s.mode = _RBRACK
        if self.s.scan() != _T_RBRACK:
            raise ExpandError(BAD_SUBSTITUTION)


def parse(text: str) -> Node:
    """The parse tree of ``text``.

    Raises:
        ExpandError: with the library's own message.
    """
    return _Parser(text).any()


def _atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and ASCII digits, nothing else."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


def _substr(s: str, args: list[str]) -> str:
    pos = _atoi(args[0])
    if pos is None:
        return s
    if pos < 0:
        pos = max(0, len(s) + pos)
    if len(args) == 1:
        return s[pos:] if pos < len(s) else ""
    length = _atoi(args[1])
    if length is None:
        return s
    if pos + length >= len(s):
        return s[pos:] if pos < len(s) else ""
    return s[pos : pos + length]


def _trim(s: str, pattern: str, longest: bool) -> str:
    cuts = [s[: len(s) - i] for i in range(len(s))]
    matching = [c for c in cuts if fnmatch.fnmatchcase(c, pattern)]
    if not matching:
        return s
    return s[len(matching[0] if longest else matching[-1]) :]


def _apply(name: str, value: str, args: list[str]) -> str:
    first = args[0] if args else ""
    if name == "#" and not args:
        return str(len(value.encode()))
    simple: dict[str, Callable[[], str]] = {
        ",": lambda: value[:1].lower() + value[1:],
        ",,": value.lower,
        "^": lambda: value[:1].upper() + value[1:],
        "^^": value.upper,
        "#": lambda: _trim(value, first, longest=False),
        "##": lambda: _trim(value, first, longest=True),
        "%": lambda: _trim(value[::-1], first[::-1], longest=False)[::-1],
        "%%": lambda: _trim(value[::-1], first[::-1], longest=True)[::-1],
        ":": lambda: _substr(value, args) if args else value,
        "/": lambda: value.replace(first, args[1] if len(args) > 1 else "", 1),
        "//": lambda: value.replace(first, args[1] if len(args) > 1 else ""),
        "/#": lambda: (
            value.replace(first, args[1], 1)
            if len(args) == 2 and value.startswith(first)
            else value
        ),
        "/%": lambda: (
            value[: len(value) - len(first)] + args[1]
            if len(args) == 2 and value.endswith(first)
            else value
        ),
    }
    if name in simple:
        return simple[name]()
    return value if value or not args else "".join(args)  # the defaults, and any other


def evaluate(node: Node, environ: Mapping[str, str]) -> str:
    """Expand a parse tree; unset variables read as ``""``, as ``os.Getenv`` gives them."""
    if isinstance(node, Text):
        return node.value
    if isinstance(node, Seq):
        return "".join(evaluate(n, environ) for n in node.nodes)
    args = [evaluate(a, environ) for a in node.args]
    return _apply(node.name, environ.get(node.param, ""), args)


def expand(text: str, environ: Mapping[str, str]) -> str:
    """``envsubst.Eval(text, environ.get)``.

    Raises:
        ExpandError: where the programs would stop at start.
    """
    return evaluate(parse(text), environ)


def references(node: Node) -> list[Func]:
    """Every variable reference in a tree, defaults and nested ones included."""
    if isinstance(node, Text):
        return []
    if isinstance(node, Seq):
        return [f for n in node.nodes for f in references(n)]
    return [node] + [f for a in node.args for f in references(a)]


def has_default(func: Func) -> bool:
    """Whether an unset variable still gives a value (``${X:-d}``, ``${X=d}``, ...)."""
    return func.name in ("=", ":=", ":-", ":?", ":+", "-", "+") and bool(func.args)
