"""Backup sets on disk: manifests, names and paths, the lock, verification of files."""

from __future__ import annotations

import ast
import os
import stat
import threading
from pathlib import Path

import pytest

from mirante import backup, errors, files, settings
from tests.helpers import REPO, make_set


@pytest.fixture
def config(checkout: Path, tmp_path: Path) -> settings.Settings:
    return settings.load(
        checkout,
        environ={"MIRANTE_BACKUP_DIR": str(tmp_path / "backups"), "MIRANTE_LOCK_TIMEOUT": "0.05"},
    )


def test_manifest_round_trip(config: settings.Settings) -> None:
    path = make_set(config, "20260101T120000Z")
    read = backup.read_set(path)
    assert read.name == "20260101T120000Z"
    assert read.services == ["postgres"]
    assert read.size == 4 + len(b"-- globals\n")
    assert read.archives[0].sha256 == files.sha256_of(path / "postgres-mirante.dump")
    assert read.verified is None


def test_list_ignores_partial_and_foreign_directories(config: settings.Settings) -> None:
    make_set(config, "20260101T120000Z")
    make_set(config, "20260102T120000Z")
    (config.backup_dir / "20260103T120000Z.partial").mkdir()
    (config.backup_dir / "holiday-photos").mkdir()
    (config.backup_dir / "20260104T120000Z").mkdir()  # no manifest: not a set
    assert [s.name for s in backup.list_sets(config)] == ["20260101T120000Z", "20260102T120000Z"]


@pytest.mark.parametrize(
    "name",
    ["../etc", "20260101T120000Z/../../x", "/etc/passwd", "20269999", "20260105T120000Z"],
    ids=["parent", "traversal inside a name", "absolute", "malformed", "unknown set"],
)
def test_set_names_are_validated(config: settings.Settings, name: str) -> None:
    make_set(config, "20260101T120000Z")
    with pytest.raises(errors.SetNotFound) as caught:
        backup.resolve_set(config, name)
    assert "known sets: 20260101T120000Z" in str(caught.value)


def test_verify_records_success_and_names_a_tampered_file(config: settings.Settings) -> None:
    path = make_set(config, "20260101T120000Z", b"some pg_dump bytes")
    checked, checks = backup.verify(config, "20260101T120000Z")
    assert [c.ok for c in checks] == [True, True]
    assert checked.verified is True
    assert stat.S_IMODE((path / backup.VERIFIED).stat().st_mode) == 0o600
    data = bytearray((path / "postgres-mirante.dump").read_bytes())
    data[3] ^= 0x01  # one bit flipped
    (path / "postgres-mirante.dump").write_bytes(bytes(data))
    checked, checks = backup.verify(config, "")  # the newest set
    assert checks[0].file == "postgres-mirante.dump"
    assert not checks[0].ok
    assert "sha256 differs" in checks[0].detail
    assert backup.list_sets(config)[0].verified is False


def test_verify_names_a_truncated_file(config: settings.Settings) -> None:
    path = make_set(config, "20260101T120000Z", b"0123456789")
    (path / "postgres-mirante.dump").write_bytes(b"01234")
    _, checks = backup.verify(config, "20260101T120000Z")
    assert "truncated" in checks[0].detail


def test_a_second_holder_waits_then_fails_clearly(config: settings.Settings) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with backup.locked(config):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        with (
            pytest.raises(
                errors.LockBusy, match=r"another backup, restore or prune holds .*waited 0.05 s"
            ),
            backup.locked(config),
        ):
            pytest.fail("the lock was taken twice")
    finally:
        release.set()
        holder.join()
    with backup.locked(config):  # free again once the holder is done
        assert (config.backup_dir / backup.LOCK).read_text() == str(os.getpid())


def test_finalise_makes_the_file_private_under_its_final_name(tmp_path: Path) -> None:
    partial = tmp_path / "prometheus.tar.zst.partial"
    partial.write_bytes(b"x")
    partial.chmod(0o644)
    final = files.finalise(partial)
    assert final.name == "prometheus.tar.zst"
    assert not partial.exists()
    assert stat.S_IMODE(final.stat().st_mode) == 0o600


SRC = REPO / "src" / "mirante"


def _constant_script(node: ast.expr) -> bool:
    """A literal, a module constant (UPPER_CASE), or a choice between such."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Name):
        return node.id.isupper()
    if isinstance(node, ast.IfExp):
        return _constant_script(node.body) and _constant_script(node.orelse)
    return False


def shell_call_sites() -> list[tuple[str, int, ast.expr]]:
    """(file, line, script) of every helper container script and every `sh -c` in src/."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else ""
            name = name or (node.func.id if isinstance(node.func, ast.Name) else "")
            where = (str(path.relative_to(SRC)), node.lineno)
            if name == "helper" and len(node.args) >= 3:
                found.append((*where, node.args[2]))
            shell = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
            if name == "execute" and shell in (["sh", "-c"], ["sh", "-euc"]):
                found.append((*where, node.args[2]))
    return found


def test_every_helper_and_shell_script_is_a_constant_that_takes_values_as_arguments() -> None:
    sites = shell_call_sites()
    assert len(sites) >= 6  # the walk finds the call sites it is meant to check
    spliced = [f"{file}:{line}" for file, line, script in sites if not _constant_script(script)]
    assert spliced == []


def test_the_walk_catches_a_spliced_script() -> None:
    call = ast.parse('helper(settings, docker, f"zstd -t /in/{name}", [])').body[0]
    assert isinstance(call, ast.Expr)
    assert isinstance(call.value, ast.Call)
    assert not _constant_script(call.value.args[2])
