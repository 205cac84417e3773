"""Feature flags: round trips that keep the file as written, locking, clear errors."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from mirante import errors, features, settings
from tests.helpers import REPO


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for part in ("compose", "config", "k8s"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def load(root: Path) -> settings.Settings:
    return settings.load(root, environ={})


def test_toggle_round_trip_keeps_the_file_byte_for_byte(root: Path) -> None:
    path = root / "config" / "features.yaml"
    original = path.read_text()
    there = sorted(p.name for p in path.parent.iterdir())
    change = features.toggle(load(root), "llm_beta_provider", "enable", "staging")
    assert (change.before, change.after) == (False, True)
    changed = path.read_text()
    assert changed != original
    assert "# Feature flags per environment" in changed
    assert yaml.safe_load(changed)["features"]["llm_beta_provider"]["environments"]["staging"]
    pairs = zip(original.splitlines(), changed.splitlines(), strict=True)
    [diff] = [(a, b) for a, b in pairs if a != b]
    assert diff == ("      staging: false", "      staging: true")
    features.toggle(load(root), "llm_beta_provider", "disable", "staging")
    assert path.read_text() == original
    # the lock lives in .mirante/, not beside the file: config/ is in git and mounted in the app
    assert sorted(p.name for p in path.parent.iterdir()) == there
    assert "features.yaml" in there


def test_list_shows_each_flag_per_environment(root: Path) -> None:
    found = {f.name: f for f in features.flags(load(root))}
    assert found["llm_beta_provider"].states == {
        "local": False, "dev": True, "staging": False, "prod": False,
    }  # fmt: skip
    only = features.flags(load(root), "dev")
    assert all(list(f.states) == ["dev"] for f in only)


def _toggle_many(root: str, env: str, rounds: int) -> None:
    s = settings.load(Path(root), environ={})
    for i in range(rounds):
        name = ("llm_beta_provider", "traffic_slow_prompts")[i % 2]
        features.toggle(s, name, "enable" if i % 4 < 2 else "disable", env)
    features.toggle(s, "llm_beta_provider", "enable", env)
    features.toggle(s, "traffic_slow_prompts", "enable", env)


def test_concurrent_toggles_lose_nothing_and_never_corrupt_the_file(root: Path) -> None:
    envs = ["local", "dev", "staging", "prod"]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_toggle_many, args=(str(root), e, 10)) for e in envs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    document = yaml.safe_load((root / "config" / "features.yaml").read_text())
    for flag in document["features"].values():
        assert flag["environments"] == dict.fromkeys(envs, True)  # every last write survived
    assert "# Feature flags per environment" in (root / "config" / "features.yaml").read_text()


def test_malformed_yaml_is_reported_with_line_and_column_and_left_untouched(root: Path) -> None:
    path = root / "config" / "features.yaml"
    broken = path.read_text().replace("      dev: true", "      dev: [true", 1)
    path.write_text(broken)
    before = path.stat().st_mtime_ns
    with pytest.raises(errors.FeaturesError, match=r"not valid YAML at line \d+, column \d+"):
        features.toggle(load(root), "llm_beta_provider", "enable", "dev")
    assert path.read_text() == broken
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("name", "state", "env", "message"),
    [
        ("nope", "enable", "dev", "unknown feature 'nope'; known features: llm_beta_provider, "),
        ("llm_beta_provider", "enable", "qa", "known environments: local, dev, staging, prod"),
        ("llm_beta_provider", "on", "dev", "unknown state 'on'; use enable or disable"),
    ],
)  # fmt: skip
def test_unknown_names_list_the_known_ones(
    root: Path, name: str, state: str, env: str, message: str
) -> None:
    path = root / "config" / "features.yaml"
    original = path.read_text()
    # An unknown environment is the shared UnknownEnvironment, as for every other task.
    expected = errors.UnknownEnvironment if env == "qa" else errors.FeaturesError
    with pytest.raises(expected, match=message.replace("(", r"\(")):
        features.toggle(load(root), name, state, env)
    assert path.read_text() == original


def test_the_app_reloads_its_flags_when_the_file_is_replaced(root: Path) -> None:
    from mirante_app.features import Flags

    path = root / "config" / "features.yaml"
    flags = Flags(str(path), "local")
    assert flags.enabled("llm_beta_provider") is False
    features.toggle(load(root), "llm_beta_provider", "enable", "local")
    assert flags.enabled("llm_beta_provider") is True
    good = path.read_text()
    path.write_text("features: [unterminated\n")  # a half-edited file keeps the last good flags
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert flags.enabled("llm_beta_provider") is True
    path.write_text(good.replace("local: true", "local: false", 1))
    assert flags.snapshot() == {"llm_beta_provider": False, "traffic_slow_prompts": False}
    path.unlink()
    assert flags.enabled("llm_beta_provider") is False


def test_the_runbook_script_toggles_and_says_so(root: Path) -> None:
    import subprocess

    script = REPO / "scripts" / "features" / "toggle_feature.sh"
    env = {
        **os.environ,
        "MIRANTE_ROOT": str(root),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", str(script), "traffic_slow_prompts", "enable", "local"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Feature traffic_slow_prompts was enabled in environment local."
    assert {f.name: f.states["local"] for f in features.flags(load(root), "local")}[
        "traffic_slow_prompts"
    ]
    # A cluster environment: the file changes, then its flags ConfigMap is refreshed, guarded
    # by the kube context; without it, the file keeps the change and the line says how on.
    remote = subprocess.run(
        ["bash", str(script), "traffic_slow_prompts", "enable", "dev"],
        env={**env, "KUBECONFIG": str(root / "no-kubeconfig")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert remote.returncode == 3, remote.stderr
    assert remote.stdout.startswith("Feature traffic_slow_prompts was enabled in environment dev.")
    assert "config/features.yaml has the change" in remote.stderr
    assert "invoke k8s.install dev" in remote.stderr
    assert len(remote.stderr.strip().splitlines()) == 1
    assert {f.name: f.states["dev"] for f in features.flags(load(root), "dev")}[
        "traffic_slow_prompts"
    ]
    usage = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "usage:" in usage.stderr


def test_a_flags_file_that_is_not_utf8_is_one_line(root: Path) -> None:
    path = root / "config" / "features.yaml"
    path.write_bytes(path.read_bytes() + b"# \xff\n")
    with pytest.raises(errors.NotUtf8, match=r"features\.yaml line"):
        features.flags(settings.load(root, environ={}))


def test_a_temporary_file_left_by_a_killed_toggle_is_removed_by_the_next(root: Path) -> None:
    config = settings.load(root, environ={})
    path = features.path_of(config)
    left = path.parent / f".{path.name}.k1ll3d.tmp"
    left.write_text("half a file")
    name = features.flags(config)[0].name
    features.toggle(config, name, "enable", "dev")
    assert not left.exists()
    assert [p.name for p in path.parent.glob(".*.tmp")] == []
