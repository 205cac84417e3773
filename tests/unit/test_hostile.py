"""What a user or a copied directory can bring: every reader answers in one line, no traceback.

Each case once crashed a reader (an OverflowError, a RecursionError, Rich's MarkupError, a
TypeError, a UnicodeDecodeError) or misled it (fullwidth digits sorting as the newest set, a
symlinked set verified through its link, a lock file that was a link). The tasks are called
in-process, as a user's command runs them.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from invoke.context import Context
from invoke.exceptions import Exit

from mirante import backup, errors, files, settings
from mirante.backup import retention
from mirante.errors import SetNotFound
from mirante.tasks import _cli
from mirante.tasks import backup as backup_tasks
from mirante.tasks import features as features_tasks
from tests.helpers import make_set

# The module, not the function the package exports under the same name.
verify_module = importlib.import_module("mirante.backup.verify")

HOSTILE = ["[/x]", "[bold]red[/bold]", "[link=file:///etc/shadow]x[/link]", "[/]"]


@pytest.fixture
def in_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> settings.Settings:
    """A scratch checkout with a config/ of its own (the tests write its files)."""
    from tests.helpers import scratch_checkout

    checkout = scratch_checkout(tmp_path / "checkout", copies=("config",))
    monkeypatch.setenv("MIRANTE_ROOT", str(checkout))
    monkeypatch.setenv("MIRANTE_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("MIRANTE_LOCK_TIMEOUT", "0.5")
    return settings.load(checkout, environ=dict(os.environ))


def run_task(call: Callable[[], None]) -> tuple[int, str]:
    """A task's exit code and everything it said (its Exit message included)."""
    try:
        call()
    except Exit as exc:
        return int(exc.code), str(exc.message or "")
    return 0, ""


def edit_manifest(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    manifest = json.loads((path / backup.MANIFEST).read_text())
    change(manifest)
    (path / backup.MANIFEST).write_text(json.dumps(manifest))


# -- one damaged set breaks no reader (9) -------------------------------------------------


BROKEN_SETS: list[tuple[str, Callable[[Path], None]]] = [
    (
        "a size of 10**400",
        lambda p: edit_manifest(p, lambda m: m["archives"][0].update(size=10**400)),
    ),
    ("seconds of 10**400", lambda p: edit_manifest(p, lambda m: m.update(seconds=10**400))),
    (
        "a 200,000-deep manifest",
        lambda p: (p / backup.MANIFEST).write_text("[" * 200_000 + "]" * 200_000),
    ),
    (
        "a 200,000-deep verified.json",
        lambda p: (p / backup.VERIFIED).write_text("[" * 200_000 + "]" * 200_000),
    ),
    (
        "a service named [/x]",
        lambda p: edit_manifest(p, lambda m: m["archives"][0].update(service="[/x]")),
    ),
    (
        "a manifest of 2 MiB",
        lambda p: edit_manifest(p, lambda m: m.update(pad="x" * (2 << 20))),
    ),
]


@pytest.mark.parametrize(("what", "damage"), BROKEN_SETS, ids=[w for w, _ in BROKEN_SETS])
def test_one_damaged_set_breaks_no_reader(
    in_checkout: settings.Settings,
    capsys: pytest.CaptureFixture[str],
    what: str,
    damage: Callable[[Path], None],
) -> None:
    good = make_set(in_checkout, "20261204T000000Z")
    bad = make_set(in_checkout, "20261205T000000Z")
    damage(bad)
    for call in (
        lambda: backup_tasks.list_(Context()),
        lambda: backup_tasks.verify(Context(), good.name),
        lambda: backup_tasks.prune(Context(), keep_last="1"),
    ):
        code, message = run_task(call)
        said = capsys.readouterr()
        assert code == 0, (what, message)
        assert "Traceback" not in said.out + said.err
    listed = run_task(lambda: backup_tasks.list_(Context()))
    out = capsys.readouterr().out
    assert listed == (0, "")
    if what != "a 200,000-deep verified.json":  # that one only loses its "verified" mark
        assert "DAMAGED" in out, out
    code, message = run_task(lambda: backup_tasks.verify(Context(), bad.name))
    if what == "a 200,000-deep verified.json":
        assert code == 0
    else:
        assert code == 2, message
        assert message.startswith(f"error: set {bad.name} is damaged: "), message
        assert "\n" not in message
    assert good.is_dir()


def test_a_damaged_set_named_in_markup_is_shown_as_it_is(
    in_checkout: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = make_set(in_checkout, "20261205T000000Z")
    edit_manifest(bad, lambda m: m["archives"][0].update(service="[/x][bold]"))
    assert run_task(lambda: backup_tasks.list_(Context())) == (0, "")
    out = capsys.readouterr().out
    assert "'[/x][bold]' is not a service backups know" in " ".join(out.split())


# -- names are ASCII where they are ordered or matched (10) -------------------------------


def test_fullwidth_digits_make_no_set_the_newest(in_checkout: settings.Settings) -> None:
    """Once, prune --keep-last 1 --yes deleted the two real sets and kept the fake."""
    real = [make_set(in_checkout, n) for n in ("20261204T000000Z", "20261205T000000Z")]
    fake = in_checkout.backup_dir / "\uff12\uff10\uff12\uff100101T000000Z"
    make_set(in_checkout, "20200101T000000Z").rename(fake)
    decisions = retention.prune(in_checkout, 1, 0, delete=True)
    assert [d.backup_set.name for d in decisions if d.keep] == ["20261205T000000Z"]
    assert real[1].is_dir()
    assert not real[0].exists()
    assert fake.is_dir()  # never a set: never touched either
    assert "\uff12" not in " ".join(s.name for s in backup.list_sets(in_checkout))


# -- a set directory that is a link is never read or written through (11) -----------------


def test_a_set_that_is_a_link_is_neither_verified_nor_written_into(
    in_checkout: settings.Settings, tmp_path: Path
) -> None:
    elsewhere = make_set(in_checkout, "20261201T000000Z").rename(tmp_path / "elsewhere")
    (in_checkout.backup_dir / "20261205T000000Z").symlink_to(elsewhere)
    code, message = run_task(lambda: backup_tasks.verify(Context(), "20261205T000000Z"))
    assert code == 2
    assert "symbolic link" in message
    assert not (elsewhere / backup.VERIFIED).exists()


# -- the lock is never followed (5) -------------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(
    in_checkout: settings.Settings, tmp_path: Path, kind: str
) -> None:
    """The DR runbook copies the backup directory back with rsync -a, which keeps links."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = in_checkout.backup_dir / backup.LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    {"symlink": lambda: lock.symlink_to(victim), "hardlink": lambda: os.link(victim, lock),
     "fifo": lambda: os.mkfifo(lock)}[kind]()  # fmt: skip
    code, message = run_task(lambda: backup_tasks.prune(Context(), keep_last="1"))
    assert code == 2
    assert message.startswith(f"error: {lock} is ")
    assert message.endswith("remove it, then run again")
    assert victim.read_text() == "precious"
    with pytest.raises(errors.MiranteError), files.locked(lock, 0.1, "test"):
        pass


# -- restore writes nothing a volume must not hold (8) -------------------------------------


def tar_zst(path: Path, *members: tarfile.TarInfo) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for member in members:
            data = b"x" * member.size
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, **attrs: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = 1 if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize(
    ("what", "members", "says"),
    [
        (
            "a device node",
            [member("./dev-sda", tarfile.BLKTYPE, devmajor=8)],
            "member './dev-sda' is a device node",
        ),
        (
            "a character device",
            [member("./mem", tarfile.CHRTYPE, devmajor=1, devminor=1)],
            "member './mem' is a device node",
        ),
        ("a fifo", [member("./pipe", tarfile.FIFOTYPE)], "member './pipe' is a fifo"),
        (
            "a setuid root file",
            [member("./sh", mode=0o4755, uid=0)],
            "member './sh' is setuid or setgid (0o4755)",
        ),
        (
            "a link to /etc/shadow",
            [member("./shadow", tarfile.SYMTYPE, linkname="/etc/shadow")],
            "member './shadow' is a link to '/etc/shadow', outside the volume",
        ),
        (
            "a link climbing out",
            [member("./a/up", tarfile.SYMTYPE, linkname="../../etc")],
            "member './a/up' is a link to '../../etc', outside the volume",
        ),
        ("a path out", [member("../outside")], "member '../outside' would be written outside"),
    ],
)
def test_unsafe_archive_members_are_refused_by_name(
    tmp_path: Path, what: str, members: list[tarfile.TarInfo], says: str
) -> None:
    archive = tar_zst(tmp_path / "grafana.tar.zst", member("./ok.db"), *members)
    assert verify_module.unsafe_member(archive).startswith(says), what


def test_safe_archives_pass(tmp_path: Path) -> None:
    archive = tar_zst(
        tmp_path / "prometheus.tar.zst",
        member("./", tarfile.DIRTYPE, mode=0o755),
        member("./chunks_head/000001", mode=0o644),
        member("./wal", tarfile.SYMTYPE, linkname="chunks_head"),
    )
    assert verify_module.unsafe_member(archive) == ""


# -- config files and settings a user edits (13, 14, 15, 18) ------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("features:\n  '[/x]':\n    environments: {local: true}\n", "flag name '[/x]' must be"),
        ("features:\n  1: {environments: {local: true}}\n", "flag name '1' must be"),
        ("features:\n  a: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deep"),
        (
            "features:\n  a:\n    environments: {local: true}\n    description: [1]\n",
            "has a description that is not text",
        ),
    ],
    ids=["markup name", "integer name", "deep nesting", "description not text"],
)
def test_a_hostile_features_file_is_one_line(
    in_checkout: settings.Settings, text: str, says: str
) -> None:
    path = in_checkout.root / "config" / "features.yaml"
    assert not path.parent.is_symlink()  # never the repository's own file
    path.write_text(text)
    code, message = run_task(lambda: features_tasks.list_(Context()))
    assert code == 2
    assert says in message
    assert "\n" not in message


def test_markup_in_a_flag_description_is_shown_as_it_is(
    in_checkout: settings.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = in_checkout.root / "config" / "features.yaml"
    assert not path.parent.is_symlink()  # never the repository's own file
    path.write_text("features:\n  beta:\n    description: '[/x] and [bold]'\n"
                    "    environments: {local: true}\n")  # fmt: skip
    assert run_task(lambda: features_tasks.list_(Context())) == (0, "")
    assert "[/x] and [bold]" in capsys.readouterr().out


@pytest.mark.parametrize("hostile", HOSTILE)
def test_no_table_renders_data_as_markup(capsys: pytest.CaptureFixture[str], hostile: str) -> None:
    _cli.table(f"set {hostile}", ("name", hostile), [(hostile, hostile), (None, "x")])
    out = capsys.readouterr().out
    assert out.count(hostile) == 4, out


def test_a_state_word_is_coloured_never_shown_as_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The state columns (security, health, load) colour a word; the word alone is printed."""
    from mirante.tasks import health, security

    rows = [(name, _cli.styled(name, style), "") for name, style in security.STYLES.items()]
    rows += [(name, _cli.styled(name, style), "") for name, style in health.STYLES.items()]
    rows.append(("figure", _cli.styled("not measured", "yellow") + ": no data", ""))
    _cli.table("states", ("check", "state", "reason"), rows)
    out = capsys.readouterr().out
    assert "[" not in out, out
    for name in (*security.STYLES, *health.STYLES, "not measured: no data"):
        assert out.count(name) >= 1, name


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"environments:\n  dev: \xff\xfe\n", "line 2 is not UTF-8"),
        (b"environments: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests deeper than"),
    ],
    ids=["not UTF-8", "deep nesting"],
)
def test_a_hostile_environments_file_is_one_line(
    in_checkout: settings.Settings, tmp_path: Path, content: bytes, says: str
) -> None:
    from mirante.environments import load_environments
    from mirante.errors import EnvironmentsError

    path = tmp_path / "environments.yaml"
    path.write_bytes(content)
    with pytest.raises(EnvironmentsError, match=says):
        load_environments(path, in_checkout.root)


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@db:abc/x", "postgresql://u:p@db:99999/x", "postgresql://u:p@[::1/x"],
)
def test_a_database_url_that_libpq_cannot_read_is_refused_on_load(
    in_checkout: settings.Settings, url: str
) -> None:
    from mirante.errors import SettingsError

    with pytest.raises(SettingsError, match="DEV_DATABASE_URL='<secret, not shown>'"):
        settings.load(in_checkout.root, environ={"DEV_DATABASE_URL": url})


@pytest.mark.parametrize(
    ("raw", "line", "what"),
    [
        (b"A=1\nB=x\ry\nC=2\n", 2, "a carriage return (CR)"),
        (b"A=1\nB=2\nC=x\xe2\x80\xa8y\n", 3, "U+2028 (LINE SEPARATOR)"),
    ],
)
def test_a_line_break_an_editor_does_not_show_is_named_at_its_real_line(
    tmp_path: Path, raw: bytes, line: int, what: str
) -> None:
    from mirante.errors import SettingsError

    path = tmp_path / ".env"
    path.write_bytes(raw)
    with pytest.raises(SettingsError) as caught:
        settings.read_env_file(path)
    assert str(caught.value).startswith(f"invalid setting .env line {line}=")
    assert what in str(caught.value)
    assert "<value not shown>" in str(caught.value)


def test_crlf_lines_still_read(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\r\nB='two'\r\n")
    assert settings.read_env_file(path) == {"A": "1", "B": "two"}


def test_set_names_with_unicode_digits_are_not_set_names() -> None:
    assert backup.SET_NAME.match("20261205T000000Z")
    assert not backup.SET_NAME.match("\uff12\uff10\uff12\uff10" + "0101T000000Z")
    assert not backup.SET_NAME.match("\u0662\u0660\u0662\u0660" + "0101T000000Z")


def test_resolving_a_set_never_follows_its_link(in_checkout: settings.Settings) -> None:
    target = make_set(in_checkout, "20261201T000000Z")
    (in_checkout.backup_dir / "20261202T000000Z").symlink_to(target)
    with pytest.raises(SetNotFound, match="symbolic link"):
        backup.resolve_set(in_checkout, "20261202T000000Z")
