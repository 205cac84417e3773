"""The bounded loader: brackets counted outside quotes and comments, refused before parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirante import loader
from mirante.errors import Unreadable


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("a: [1, [2, {b: 3}]]\n", 3),
        ('a: \'[[[[\'  # [[[[\nb: "[\\"["\n', 0),
        ("a: 'it''s [' \nb: [x]  # ]]]]\n", 1),
        ("x: " + "[" * 500 + "]" * 500, 500),
        ('{"a": [{"b": "]]"}]}', 3),
    ],
    ids=["flow", "quoted and commented", "doubled quote", "deep", "json"],
)
def test_flow_nesting_counts_only_real_brackets(text: str, levels: int) -> None:
    assert loader.flow_nesting(text) == levels


def test_a_deep_file_is_refused_in_one_line_before_any_parser(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(Unreadable, match=f"nests deeper than {loader.MAX_DEPTH} levels"):
        loader.load_yaml(deep)
    with pytest.raises(ValueError, match="nests too deep"):
        loader.load_round_trip(deep, "deep.yaml", ValueError, "")
    fine = tmp_path / "fine.yaml"
    fine.write_text("a: " + "[" * 20 + "1" + "]" * 20 + "\n")
    assert loader.depth(loader.load_yaml(fine)) == 21
