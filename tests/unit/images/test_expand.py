"""mirante.images.expand reproduces drone/envsubst, the expansion Loki and Tempo run at start.

The expected values were produced by the library itself (the version Loki 3.7 and Tempo
2.10 vendor) on the same inputs; a difference here is a difference from the programs.
"""

from __future__ import annotations

import pytest

from mirante.images import expand

CASES = [
    ("plain ${A} text", {"A": "v"}, "plain v text"),
    ("unset ${NOPE} is empty", {}, "unset  is empty"),
    ("${A:-fallback}", {}, "fallback"),
    ("${A=fallback}", {}, "fallback"),
    ("${A:-fallback}", {"A": "set"}, "set"),
    ("$${A} is literal", {"A": "v"}, "${A} is literal"),
    ("price $$5", {}, "price $5"),
    ("$A without braces stays", {"A": "v"}, "$A without braces stays"),
    ("regex \\\\d and \\/ and \\n", {}, "regex \\d and / and \\n"),
    ("${A:1:2}", {"A": "hello"}, "el"),
    ("${A/l/L} ${A//l/L}", {"A": "hello"}, "heLlo heLLo"),
    ("${#A}", {"A": "hello"}, "5"),
    ("${A^^}", {"A": "hello"}, "HELLO"),
    ("${A:B}", {"A": "v"}, "v"),
    ("a: ${A:-${B}}", {"B": "nested"}, "a: nested"),
    ("${B:0_1}", {"B": "x$y"}, "x$y"),
]
ERRORS = [
    ("# comment with ${MIRANTE_...} in it", "missing closing brace"),
    ("${A", "missing closing brace"),
    ("${}", "unable to parse variable name"),
    ("${A-x}", "missing closing brace"),
]


@pytest.mark.parametrize(("text", "environ", "expected"), CASES, ids=[c[0] for c in CASES])
def test_expansion_gives_what_the_programs_give(
    text: str, environ: dict[str, str], expected: str
) -> None:
    assert expand.expand(text, environ) == expected


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_what_stops_the_programs_at_start_is_an_error_with_their_message(
    text: str, message: str
) -> None:
    with pytest.raises(expand.ExpandError, match=f"^{message}$"):
        expand.expand(text, {})


def test_references_name_every_variable_and_whether_it_has_a_default() -> None:
    # $$ is a literal $, and the ${E} right after it is still a reference: "$$${E}" -> "$v"
    refs = expand.references(expand.parse("${A} ${B:-x} ${C=${D}} $$${E} $${F}"))
    named = {r.param: expand.has_default(r) for r in refs}
    assert named == {"A": False, "B": True, "C": True, "D": False, "E": False}
