r"""The Postgres globals a restore applies: read statement by statement, never trusted.

``pg_dumpall --globals-only`` writes ``SET``, ``CREATE ROLE``, ``ALTER ROLE`` (attributes
and settings), ``GRANT`` of role memberships and ``COMMENT ON ROLE`` (and, since Postgres
17.6, the psql lines ``\restrict`` / ``\unrestrict``). A set can be copied from anywhere:
a crafted dump could change the stack's own roles (``alter user`` in lower case, over
several lines), grant them to another role, or run a shell through psql (``\!``). So the
dump is split into statements as Postgres reads them (quotes, dollar quotes, comments),
each statement of another kind refuses the whole restore, and the statements that touch
the stack's own roles are left out: those keep what the settings say.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from mirante.errors import NotRestorable

_WORD = re.compile(r'"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*|\S')
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PSQL_ALLOWED = re.compile(r"^\\(restrict|unrestrict) [A-Za-z0-9]+$")


@dataclass(frozen=True)
class Statement:
    """One statement of the dump: its text, and its first words (identifiers folded)."""

    text: str
    words: tuple[str, ...]

    @property
    def kind(self) -> str:
        """The statement's first two keywords, upper case (``ALTER ROLE``)."""
        return " ".join(w.upper() for w in self.words[:2])


def split(sql: str) -> list[str]:
    """The statements of ``sql``, as psql sends them: a ``;`` outside quotes and comments ends one.

    A line starting with a backslash (a psql meta-command) is a statement of its own.
    """
    out: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "\\" and not "".join(current).strip():
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].strip())
            current, i = [], end
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
            continue
        if c in "'\"":
            # E'...' reads backslash escapes (E'\'' is one quote): as Postgres reads it.
            escapes = c == "'" and i > 0 and sql[i - 1] in "Ee" and not _word_char(sql, i - 2)
            end = i + 1
            while end < n:
                if escapes and sql[end] == "\\":
                    end += 2
                    continue
                if sql[end] == c and sql[end + 1 : end + 2] == c:
                    end += 2
                    continue
                if sql[end] == c:
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
            continue
        if c == "$" and (tag := _DOLLAR.match(sql, i)):
            close = sql.find(tag.group(), tag.end())
            close = n if close < 0 else close + len(tag.group())
            current.append(sql[i:close])
            i = close
            continue
        if c == ";":
            text = "".join(current).strip()
            if text:
                out.append(text + ";")
            current, i = [], i + 1
            continue
        current.append(c)
        i += 1
    if "".join(current).strip():
        out.append("".join(current).strip())
    return out


def _word_char(sql: str, at: int) -> bool:
    return at >= 0 and (sql[at].isalnum() or sql[at] in "_$")


def identifier(word: str) -> str:
    """A role name as Postgres reads it: quoted as written, otherwise folded to lower case."""
    if word.startswith('"'):
        return word[1:-1].replace('""', '"')
    return word.lower()


def parse(sql: str) -> list[Statement]:
    """Every statement, with its words."""
    return [Statement(text, tuple(_WORD.findall(text))) for text in split(sql)]


def _shown(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 70 else flat[:67] + "...")


def _roles(statement: Statement) -> set[str]:
    """The role names a statement acts on or grants (folded as Postgres folds them)."""
    words = statement.words
    kind = statement.kind
    if kind in ("CREATE ROLE", "ALTER ROLE", "ALTER USER", "ALTER GROUP"):
        return {identifier(words[2])} if len(words) > 2 else set()
    if kind.startswith("COMMENT ON"):
        return {identifier(words[3])} if len(words) > 3 else set()
    if kind.startswith("GRANT "):
        # GRANT role[, ...] TO role[, ...] [WITH ...] [GRANTED BY grantor]: the grantor is
        # only who granted it (the superuser, in pg_dumpall's output).
        found = set()
        for word in words[1:]:
            if word.upper() in ("WITH", "GRANTED", ";"):
                break
            if word.upper() not in ("TO", ","):
                found.add(identifier(word))
        return found
    return set()


def check(sql: str) -> list[Statement]:
    """The statements of a globals dump, every one of a kind ``pg_dumpall`` writes.

    Raises:
        NotRestorable: naming the first statement of another kind.
    """
    statements = parse(sql)
    for statement in statements:
        words = [w.upper() for w in statement.words]
        if statement.text.startswith("\\"):
            allowed = bool(_PSQL_ALLOWED.match(statement.text))
        elif words[:1] == ["SET"]:
            # Never another identity, nor strings read another way than the lexer reads them.
            allowed = words[1:2] not in (["ROLE"], ["SESSION"]) and not (
                words[1:2] == ["STANDARD_CONFORMING_STRINGS"] and "ON" not in words[2:]
            )
        elif statement.kind in ("CREATE ROLE", "ALTER ROLE", "ALTER USER", "ALTER GROUP"):
            allowed = len(words) > 2
        elif statement.kind == "COMMENT ON":
            allowed = words[2:3] == ["ROLE"]
        elif words[:1] == ["GRANT"]:
            allowed = "TO" in words and "ON" not in words  # role memberships only
        else:
            allowed = False
        if not allowed:
            raise NotRestorable(
                f"the set's Postgres globals hold {_shown(statement.text)}, which "
                "pg_dumpall --globals-only never writes: the set was changed; nothing was "
                "restored"
            )
    return statements


def to_apply(sql: str, existing_roles: Collection[str], own_roles: Collection[str]) -> str:
    """The dump without what touches the stack's own roles, and without re-creating roles.

    The stack's roles (its superuser and the app's) keep the passwords and rights of the
    current settings; the other roles are created when missing and get back the
    attributes they had.

    Raises:
        NotRestorable: a statement ``pg_dumpall`` never writes.
    """
    own = set(own_roles)
    kept = []
    for statement in check(sql):
        roles = _roles(statement)
        if roles & own:
            continue
        if statement.kind == "CREATE ROLE" and roles <= set(existing_roles):
            continue
        kept.append(statement.text)
    return "\n".join(kept) + "\n"
