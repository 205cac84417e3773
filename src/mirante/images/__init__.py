"""Where each service's image comes from: the registry, a local build, or nowhere.

With a registry, services run the pinned official images. Without one (air-gapped
networks, CI machines), the recipes under ``images/`` build stand-ins from Debian bookworm
packages for what Debian ships, on ``debian:bookworm-slim`` when a registry answers and
otherwise on a base made with ``debootstrap --variant=minbase`` and ``docker import``.
Locally built images are tagged by the digest of their recipe and base, so an unchanged
recipe is never rebuilt and a changed one always is. Grafana, Loki, Tempo and the
collector have no Debian package: without a registry they run only from an image loaded
beforehand (``docker load``), and are otherwise reported unavailable.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mirante import files
from mirante.errors import ImageUnavailable
from mirante.images import official
from mirante.runner import run
from mirante.services import BY_NAME, Service
from mirante.settings import Settings
from mirante.tools.docker import client, docker_errors

if TYPE_CHECKING:
    from python_on_whales import DockerClient

REGISTRY_BASE = "debian:bookworm-slim"
LOCAL_BASE = "mirante/debian-base:bookworm-minbase"
APP_RECIPE = "app"
LOCAL_RECIPES = ("prometheus", "alertmanager", "node-exporter", "postgres", "healthprobe")
# What debian:bookworm-slim leaves out, applied to the debootstrap base as well.
SLIM_EXCLUDES = (
    "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
    "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
    "path-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n"
)
_IGNORED = ("__pycache__", "wheelhouse", ".pytest_cache")


@dataclass(frozen=True)
class ImageChoice:
    """The image one service runs and whether it can run here.

    Attributes:
        service: compose service name.
        image: the reference compose uses.
        origin: ``registry`` (pulled), ``local`` (built from a recipe) or ``loaded``
            (a registry image already present in the daemon).
        available: whether the service can start.
        reason: why not, when it cannot.
        recipe: the recipe that builds ``image`` (``None`` for registry images).
    """

    service: str
    image: str
    origin: str
    available: bool
    reason: str = ""
    recipe: str | None = None


@dataclass(frozen=True)
class BuildResult:
    """One image build: the recipe, its tag and seconds taken."""

    recipe: str
    image: str
    seconds: float


def registry_answers(registry: str, timeout: float = 2.0) -> bool:
    """Whether ``https://REGISTRY/v2/`` answers at all (401 counts: it is there).

    The standard library's client, not requests: this runs on every ``stack.up`` and
    importing requests would cost more than the probe itself.
    """
    import http.client

    host, _, port = registry.partition(":")
    connection = http.client.HTTPSConnection(host, int(port or 443), timeout=timeout)
    try:
        connection.request("GET", "/v2/")
        connection.getresponse()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return True


MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def split_reference(ref: str, default_registry: str) -> tuple[str, str, str]:
    """``(registry, repository, tag or digest)`` of an image reference.

    A first component with a dot, a colon or ``localhost`` names its registry; other
    references live on the default registry (Docker Hub's official images under
    ``library/``).
    """
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = default_registry, name
        if "/" not in path:
            path = f"library/{path}"
    repository, tag = path.rsplit(":", 1) if ":" in path else (path, "latest")
    return registry, repository, digest if at else tag


def manifest_digest(ref: str, default_registry: str, timeout: float = 10.0) -> str | None:
    """The digest the registry serves for a pinned reference; ``None`` when it has none.

    Follows the registry's token challenge (anonymous pull scope), as docker pull does.

    Raises:
        ImageUnavailable: the registry answers with anything but the manifest or a 404.
    """
    import requests

    registry, repository, reference = split_reference(ref, default_registry)
    url = f"https://{registry}/v2/{repository}/manifests/{reference}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        answer = requests.head(url, headers=headers, timeout=timeout)
        challenge = answer.headers.get("www-authenticate", "")
        if answer.status_code == 401 and challenge.lower().startswith("bearer "):
            fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            token = requests.get(
                fields.get("realm", ""),
                params={
                    "service": fields.get("service", registry),
                    "scope": f"repository:{repository}:pull",
                },
                timeout=timeout,
            ).json()
            headers["Authorization"] = f"Bearer {token.get('token') or token.get('access_token')}"
            answer = requests.head(url, headers=headers, timeout=timeout)
    except (requests.RequestException, ValueError) as exc:
        raise ImageUnavailable(f"the registry {registry} did not answer ({exc})") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise ImageUnavailable(f"the registry {registry} answered {answer.status_code} for {url}")
    return answer.headers.get("docker-content-digest", "present")


def effective_source(settings: Settings) -> str:
    """``registry`` or ``local``: the setting, with ``auto`` decided by probing the registry."""
    if settings.image_source != "auto":
        return settings.image_source
    return "registry" if registry_answers(settings.registry) else "local"


def base_image(source: str) -> str:
    """The base image of local recipes for this image source."""
    return REGISTRY_BASE if source == "registry" else LOCAL_BASE


def recipe_dir(settings: Settings, recipe: str) -> Path:
    """The directory a recipe builds from."""
    return settings.root / (APP_RECIPE if recipe == APP_RECIPE else f"images/{recipe}")


def recipe_digest(directory: Path, base: str) -> str:
    """sha256 over the recipe's files (names, modes and contents) and its base image."""
    digest = hashlib.sha256(base.encode())
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if not path.is_file() or any(part in _IGNORED for part in rel.parts):
            continue
        digest.update(f"\0{rel.as_posix()}\0{path.stat().st_mode & 0o111}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def built_tag(settings: Settings, recipe: str, source: str) -> str:
    """``mirante/<recipe>:<digest>`` for a locally built image."""
    digest = recipe_digest(recipe_dir(settings, recipe), base_image(source))
    return f"mirante/{recipe}:{digest[:12]}"


def plan(
    settings: Settings, services: Sequence[Service], source: str, present: Iterable[str]
) -> dict[str, ImageChoice]:
    """Decide every selected service's image (and its helpers'), without touching Docker.

    Args:
        settings: pinned images and the checkout.
        services: the selected services.
        source: ``registry`` or ``local`` (see :func:`effective_source`).
        present: image references the daemon already holds.
    """
    present = set(present)
    choices: dict[str, ImageChoice] = {}
    for service in services:
        for helper in service.helpers:
            choices[helper] = ImageChoice(
                helper, built_tag(settings, helper, source), "local", True, recipe=helper
            )
        choices[service.name] = _choose(settings, service, source, present)
    return choices


def _choose(settings: Settings, service: Service, source: str, present: set[str]) -> ImageChoice:
    name = service.name
    if name == APP_RECIPE:
        if settings.app.image:
            if source == "local" and settings.app.image not in present:
                return ImageChoice(
                    name,
                    settings.app.image,
                    "loaded",
                    False,
                    f"MIRANTE_APP_IMAGE={settings.app.image} is not in the local daemon and no "
                    "registry answers; unset it to build the app from app/",
                )
            return ImageChoice(name, settings.app.image, source, True)
        return ImageChoice(
            name, built_tag(settings, APP_RECIPE, source), "local", True, recipe=APP_RECIPE
        )
    pinned = settings.images[name]
    if source == "registry":
        return ImageChoice(name, pinned, "registry", True)
    if service.recipe:
        return ImageChoice(
            name, built_tag(settings, service.recipe, source), "local", True, recipe=service.recipe
        )
    if pinned in present:
        return ImageChoice(name, pinned, "loaded", True)
    return ImageChoice(
        name, pinned, "registry", False, f"no registry, no Debian package, {pinned} not loaded"
    )


def label(choice: ImageChoice, facts: official.Facts, pinned: str) -> str:
    """What a user runs, in one cell.

    For example ``prometheus 2.42 (Debian) for prom/prometheus:v3.15.0``,
    ``grafana/loki:3.7.8 (loaded)``, ``mirante/app:0123abcd (built from app/)``.
    """
    if choice.origin == "local":
        if stand_in := official.stand_in_label(facts, choice.service, pinned):
            return stand_in
        return f"{choice.image} (built from {'app/' if choice.recipe == APP_RECIPE else 'images/'})"
    if choice.origin == "loaded":
        return f"{choice.image} (loaded)"
    return choice.image


def running_label(service: str, image: str, facts: official.Facts, pinned: str) -> str:
    """:func:`label` for a container already running ``image`` (no registry probe)."""
    if image.startswith("mirante/"):
        recipe = image.split("/", 1)[1].split(":", 1)[0]
        return label(ImageChoice(service, image, "local", True, recipe=recipe), facts, pinned)
    return image


def service_image(settings: Settings, service: str) -> tuple[DockerClient, str]:
    """A client and the image ``service`` runs here, built when it is a missing local one.

    promtool and amtool run from it when the host has neither.
    """
    docker = client(settings)
    source = effective_source(settings)
    present = present_images(docker)
    choices = plan(settings, [BY_NAME[service]], source, present)
    build_missing(settings, lambda: docker, choices, source, present)
    return docker, choices[service].image


_TOOL_IMAGES: dict[tuple[Path, str, str], str] = {}


def ensure_tool_image(settings: Settings, docker: DockerClient, recipe: str) -> str:
    """A helper image mirante runs itself (``images/<recipe>``), built when missing.

    Known present once per process: a backup runs its helper several times.
    """
    key = (settings.root, settings.image_source, recipe)
    if key in _TOOL_IMAGES:
        return _TOOL_IMAGES[key]
    source = effective_source(settings)
    tag = built_tag(settings, recipe, source)
    if tag not in present_images(docker):
        build(settings, docker, [recipe], source)
    _TOOL_IMAGES[key] = tag
    return tag


def present_images(docker: DockerClient) -> set[str]:
    """Every ``repo:tag`` the daemon holds, in one CLI call whatever their number."""
    from python_on_whales.utils import run as whales_run

    # python-on-whales' image.list() inspects image by image; its runner with a --format
    # asks for the tags alone.
    argv = [*docker.client_config.docker_cmd, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
    with docker_errors():
        listing = str(whales_run(argv))
    return {line for line in listing.splitlines() if line and not line.endswith(":<none>")}


def build_missing(
    settings: Settings,
    docker: Callable[[], DockerClient],
    choices: Mapping[str, ImageChoice],
    source: str,
    present: set[str],
) -> list[BuildResult]:
    """Build, in parallel, every chosen local image the daemon does not hold yet.

    The client is asked for only then.
    """
    wanted = {
        c.recipe: c.image
        for c in choices.values()
        if c.available and c.recipe and c.image not in present
    }
    return build(settings, docker(), sorted(wanted), source) if wanted else []


def build(
    settings: Settings, docker: DockerClient, recipes: Sequence[str], source: str
) -> list[BuildResult]:
    """Build recipes (``app`` and/or ``images/*``) in parallel; cached layers make reruns cheap.

    Raises:
        ToolError: naming the recipe whose build failed.
        ImageUnavailable: when the base image cannot be made.
    """
    if not recipes:
        return []
    base = ensure_base(settings, docker, source)
    if APP_RECIPE in recipes:
        ensure_wheelhouse(settings, docker)
    with ThreadPoolExecutor(max_workers=min(len(recipes), os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda r: _build_one(settings, docker, r, source, base), recipes))


def _build_one(
    settings: Settings, docker: DockerClient, recipe: str, source: str, base: str
) -> BuildResult:
    started = time.monotonic()
    tag = built_tag(settings, recipe, source)
    context = recipe_dir(settings, recipe)
    with docker_errors():
        if _has_buildx(docker):
            docker.build(
                context, tags=[tag], build_args={"BASE_IMAGE": base}, load=True, progress=False
            )
        else:
            docker.legacy_build(context, tags=[tag], build_args={"BASE_IMAGE": base})
    return BuildResult(recipe, tag, time.monotonic() - started)


def _has_buildx(docker: DockerClient) -> bool:
    call = docker.client_config.get_client_call_with_path()
    return run([*call, "buildx", "version"], check=False).returncode == 0


def ensure_base(settings: Settings, docker: DockerClient, source: str) -> str:
    """The base image for local builds; makes the debootstrap base when it is needed and absent."""
    base = base_image(source)
    if source == "registry":
        return base
    with docker_errors():
        if docker.image.exists(base):
            return base
    make_debootstrap_base(settings, docker)
    return base


def make_debootstrap_base(settings: Settings, docker: DockerClient) -> None:
    """``debootstrap --variant=minbase bookworm`` + ``docker import`` as :data:`LOCAL_BASE`.

    Raises:
        ImageUnavailable: not root, or debootstrap missing.
        ToolError: when debootstrap or the import fails.
    """
    if os.geteuid() != 0:
        raise ImageUnavailable(
            "building the Debian base without a registry needs root (debootstrap); "
            "run `sudo invoke images.local` once, or make a registry reachable"
        )
    if shutil.which("debootstrap") is None:
        raise ImageUnavailable(
            "debootstrap is not installed: `apt-get install debootstrap` "
            "(or run `bash scripts/ci/bootstrap.sh`), then try again"
        )
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="debootstrap-", dir=settings.state_dir) as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, settings.debian_mirror],
            timeout=900,
        )
        (rootfs / "etc/dpkg/dpkg.cfg.d/mirante-slim").write_text(SLIM_EXCLUDES)
        # Drop what the slim image drops: downloaded packages, apt lists, docs, locales.
        for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"):
            for path in rootfs.glob(pattern):
                path.unlink() if path.is_file() else shutil.rmtree(path)
        for directory in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
            shutil.rmtree(rootfs / directory, ignore_errors=True)
        tarball = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."], timeout=600)
        with docker_errors():
            docker.image.import_(tarball, tag=LOCAL_BASE, changes=['CMD ["bash"]'])


def daemon_platforms(docker: DockerClient) -> list[str]:
    """The ``pip --platform`` tags of the daemon's architecture (glibc of Debian bookworm)."""
    with docker_errors():
        arch = docker.system.info().architecture or platform.machine()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    return [f"manylinux2014_{arch}", f"manylinux_2_28_{arch}", f"manylinux_2_34_{arch}"]


def ensure_wheelhouse(settings: Settings, docker: DockerClient) -> Path:
    """Download the app's wheels for the daemon's platform into ``app/wheelhouse``.

    Skipped when the wheelhouse already matches ``requirements.txt`` and the platform.
    The download runs on the host, so it works behind TLS-intercepting proxies that the
    container cannot verify.
    """
    app_dir = recipe_dir(settings, APP_RECIPE)
    platforms = daemon_platforms(docker)
    # Checkouts linked to one app/ (a second compose project, the gates' copy) share its
    # wheelhouse: one download at a time, the others wait for it and find it done.
    lock = app_dir.resolve().parent / ".mirante" / "wheelhouse.lock"
    with files.locked(lock, WHEELHOUSE_SECONDS, "wheelhouse download"):
        return _download_wheels(app_dir, platforms)


WHEELHOUSE_SECONDS = 900  # how long a download may take, and another command wait for it


def _download_wheels(app_dir: Path, platforms: list[str]) -> Path:
    wheelhouse = app_dir / "wheelhouse"
    requirements = app_dir / "requirements.txt"
    stamp_text = hashlib.sha256(
        requirements.read_bytes() + " ".join(platforms).encode()
    ).hexdigest()
    stamp = wheelhouse / ".stamp"
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return wheelhouse
    partial = app_dir / "wheelhouse.partial"
    shutil.rmtree(partial, ignore_errors=True)
    argv: list[str | Path] = [
        *_pip(),
        "download",
        "--disable-pip-version-check",
        "--quiet",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "-d",
        partial,
        "-r",
        requirements,
    ]
    for tag in platforms:
        argv += ["--platform", tag]
    run(argv, timeout=WHEELHOUSE_SECONDS)
    (partial / ".stamp").write_text(stamp_text)
    shutil.rmtree(wheelhouse, ignore_errors=True)
    partial.rename(wheelhouse)
    return wheelhouse


def _pip() -> list[str]:
    import sys

    return [sys.executable, "-m", "pip"]


def build_app_as(settings: Settings, docker: DockerClient, image: str) -> str:
    """Build the sample app's image and tag it ``image`` (for deploy.service); a report line."""
    result = build(settings, docker, [APP_RECIPE], effective_source(settings))[0]
    with docker_errors():
        docker.image.tag(result.image, image)
    return f"built {result.image} in {result.seconds:.1f} s, tagged {image}"
