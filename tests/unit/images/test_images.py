"""Image plans: which image each service runs, decided without Docker."""

from __future__ import annotations

from pathlib import Path

from mirante import images, services, settings


def plan(
    root: Path, source: str, present: tuple[str, ...] = (), **env: str
) -> dict[str, images.ImageChoice]:
    return images.plan(settings.load(root, environ=env), services.SERVICES, source, present)


def test_registry_source_runs_the_pinned_images(checkout: Path) -> None:
    chosen = plan(checkout, "registry")
    s = settings.load(checkout, environ={})
    for name, ref in s.images.items():
        assert chosen[name].image == ref
        assert chosen[name].available
    assert chosen["app"].recipe == "app"  # the app is always ours


def test_local_source_builds_what_debian_ships_and_marks_the_rest_unavailable(
    checkout: Path,
) -> None:
    chosen = plan(checkout, "local")
    for name in ("prometheus", "alertmanager", "node-exporter", "postgres", "app", "healthprobe"):
        assert chosen[name].available, name
        assert chosen[name].origin == "local"
        assert chosen[name].image.startswith(f"mirante/{chosen[name].recipe}:")
    for name in ("grafana", "loki", "tempo", "otel-collector"):
        assert not chosen[name].available, name
        assert "no registry" in chosen[name].reason
        assert "not loaded" in chosen[name].reason


def test_local_source_uses_a_pinned_image_that_was_loaded_by_hand(checkout: Path) -> None:
    pinned = settings.load(checkout, environ={}).images["grafana"]
    chosen = plan(checkout, "local", (pinned,))
    assert chosen["grafana"].available
    assert chosen["grafana"].origin == "loaded"


def test_app_image_override_must_be_present_without_a_registry(checkout: Path) -> None:
    chosen = plan(checkout, "local", (), MIRANTE_APP_IMAGE="example/app:1.0")
    assert not chosen["app"].available
    assert "MIRANTE_APP_IMAGE" in chosen["app"].reason
    chosen = plan(checkout, "local", ("example/app:1.0",), MIRANTE_APP_IMAGE="example/app:1.0")
    assert chosen["app"].available
    assert chosen["app"].recipe is None


def test_built_tag_follows_recipe_content_and_base(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "Dockerfile").write_text("FROM base\n")
    first = images.recipe_digest(recipe, images.LOCAL_BASE)
    assert images.recipe_digest(recipe, images.LOCAL_BASE) == first
    assert images.recipe_digest(recipe, images.REGISTRY_BASE) != first
    (recipe / "__pycache__").mkdir()
    (recipe / "__pycache__" / "x.pyc").write_bytes(b"noise")
    assert images.recipe_digest(recipe, images.LOCAL_BASE) == first  # caches do not count
    (recipe / "Dockerfile").write_text("FROM base\nRUN true\n")
    assert images.recipe_digest(recipe, images.LOCAL_BASE) != first


def test_registry_probe_says_no_when_nothing_listens() -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert images.registry_answers(f"127.0.0.1:{port}", timeout=1) is False
