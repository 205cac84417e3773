"""images.save / images.load on the real daemon: one file, verified before anything loads."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirante import errors, settings, stack
from mirante.images import bundle
from mirante.tools.docker import docker_errors
from tests.helpers import invoke

# One stack for the session: these tests run in one xdist worker, in order.


@pytest.fixture
def throwaway_image(tmp_path: Path, stack_settings: settings.Settings) -> Iterator[str]:
    """A one-file image made here (docker import), removed again after the test."""
    docker = stack.write_project_files(stack_settings).docker
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as archive:
        data = b"mirante bundle test\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    ref = "mirante-test/bundle-probe:1"
    with docker_errors():
        docker.image.import_(tar, tag=ref)
    yield ref
    with docker_errors():
        if docker.image.exists(ref):
            docker.image.remove(ref, force=True)


def test_a_bundle_round_trip_gives_back_the_same_image_and_a_flipped_byte_loads_nothing(
    throwaway_image: str, stack_settings: settings.Settings, tmp_path: Path
) -> None:
    docker = stack.write_project_files(stack_settings).docker
    with docker_errors():
        image_id = str(docker.image.inspect(throwaway_image).id)
    made = bundle.write(
        docker,
        [bundle.BundledImage("probe", throwaway_image, image_id, 20)],
        {"grafana": "not here"},
        tmp_path / "probe.tar",
    )
    with tarfile.open(made.path) as archive:
        assert archive.getnames() == [bundle.PAYLOAD, bundle.MANIFEST]
        manifest = json.load(archive.extractfile(bundle.MANIFEST))  # type: ignore[arg-type]
    assert manifest["images"] == [
        {"service": "probe", "ref": throwaway_image, "id": image_id, "size": 20}
    ]
    assert manifest["payload"]["sha256"] == made.sha256
    assert manifest["absent"] == {"grafana": "not here"}

    with docker_errors():
        docker.image.remove(throwaway_image, force=True)
    flipped = tmp_path / "flipped.tar"
    data = bytearray(made.path.read_bytes())
    data[bundle.BLOCK + 40] ^= 0x01  # inside the compressed payload
    flipped.write_bytes(bytes(data))
    with pytest.raises(
        errors.BundleError, match=re.escape("is damaged: the sha256 of images.tar.zst")
    ):
        bundle.load(stack_settings, docker, flipped)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(made.path.read_bytes()[: made.size // 2])
    with pytest.raises(errors.BundleError, match="nothing was loaded"):
        bundle.load(stack_settings, docker, truncated)
    with docker_errors():
        assert not docker.image.exists(throwaway_image)  # refused before docker load ran

    loaded = bundle.load(stack_settings, docker, made.path)
    with docker_errors():
        assert str(docker.image.inspect(throwaway_image).id) == image_id
    assert [image.ref for image in loaded.images] == [throwaway_image]


def test_images_save_of_one_service_lists_it_and_says_what_it_left_out(
    running_stack: stack.UpReport, stack_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "ne.tar"
    saved = invoke(stack_env, "images.save", "--services", "node-exporter", "--output", str(out))
    assert saved.returncode == 0, saved.stderr
    assert "node-exporter 1.5" not in saved.stdout  # the table names the image tag
    assert "mirante/node-exporter:" in saved.stdout
    assert f"sha256 {bundle.verify(out)['payload']['sha256']}" in saved.stdout
    refused = invoke(stack_env, "images.load", str(tmp_path / "missing.tar"))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing.tar'} does not exist; nothing was loaded"
    ]
