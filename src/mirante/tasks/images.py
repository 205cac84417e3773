"""`invoke images.*`: build the app and the stand-ins; save and load the air-gapped bundle."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from mirante import images
from mirante import settings as settings_mod
from mirante.files import human_size as size
from mirante.images import bundle
from mirante.tasks._cli import exits_cleanly, progress_bar, split_names, table
from mirante.tools.docker import client


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


def _bundle_table(title: str, made: bundle.Bundle) -> None:
    table(
        title,
        ("service", "image", "id", "size"),
        [(i.service, i.ref, i.id.removeprefix("sha256:")[:12], size(i.size)) for i in made.images]
        + [
            (service, "-", "not in the bundle", why) for service, why in sorted(made.absent.items())
        ],
    )


@task(
    help={
        "output": "the bundle to write (default: artifacts/images/mirante-images-<UTC>.tar)",
        "services": "only these services' images (comma-separated; default: the whole stack)",
    },
    iterable=["services"],
)
@exits_cleanly
def save(c: Context, output: str = "", services: list[str] | None = None) -> None:
    """Write every image the stack uses into one verified bundle file."""
    settings = settings_mod.load()
    with progress_bar("saving images") as advance:
        made = bundle.save(
            settings,
            client(settings),
            Path(output) if output else None,
            split_names(services or []),
            progress=advance,
        )
    _bundle_table(f"bundle {made.path} ({size(made.size)}, {made.seconds:.1f} s)", made)
    print(f"sha256 {made.sha256}; on the other machine: invoke images.load {made.path.name}")


@task(help={"bundle_file": "a bundle written by `invoke images.save`"}, positional=["bundle_file"])
@exits_cleanly
def load(c: Context, bundle_file: str) -> None:
    """Verify a bundle whole, then load its images (refuses a damaged one, loading nothing)."""
    settings = settings_mod.load()
    with progress_bar("verifying and loading") as advance:
        done = bundle.load(settings, client(settings), Path(bundle_file), progress=advance)
    _bundle_table(f"loaded {done.path.name} ({done.seconds:.1f} s)", done)
    print("verified (sha256 and image ids); `invoke stack.up` now runs these images")


namespace = Collection("images", build, local, save, load)
