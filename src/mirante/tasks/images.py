"""`invoke images.*`: build the sample app and the Debian-based stand-in images."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante import images
from mirante import settings as settings_mod
from mirante.docker import client
from mirante.tasks._cli import exits_cleanly, table


def _report(results: list[images.BuildResult], source: str) -> None:
    table(
        f"images (base: {images.base_image(source)})",
        ("recipe", "image", "seconds"),
        [(r.recipe, r.image, f"{r.seconds:.1f}") for r in results],
    )


@task
@exits_cleanly
def build(c: Context) -> None:
    """Build the sample app's image (wheelhouse downloaded on the host)."""
    settings = settings_mod.load()
    source = images.effective_source(settings)
    _report(images.build(settings, client(settings), [images.APP_RECIPE], source), source)


@task
@exits_cleanly
def local(c: Context) -> None:
    """Build prometheus, alertmanager, node-exporter and postgres from Debian packages."""
    settings = settings_mod.load()
    source = images.effective_source(settings)
    _report(images.build(settings, client(settings), list(images.LOCAL_RECIPES), source), source)


namespace = Collection("images", build, local)
