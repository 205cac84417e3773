"""What backups and restores run inside a service's volume: the helper and the swap scripts.

:func:`helper` runs a constant shell script in the backup-tools image with volumes
mounted; the scripts here are the ones a restore swaps a volume's data with, and the one
the journal (:mod:`mirante.backup.journal`) puts a volume back with after a kill.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mirante import images
from mirante.settings import Settings
from mirante.tools.docker import run_container

if TYPE_CHECKING:
    from python_on_whales import DockerClient

PREVIOUS = ".mirante-previous"
RESTORING_SUFFIX = "_mirante_restore"  # of a fresh volume: <volume>_mirante_restore


def helper(
    settings: Settings,
    docker: DockerClient,
    script: str,
    volumes: Sequence[tuple[str, str, str]],
    as_root: bool = False,
    args: Sequence[str] = (),
) -> str:
    """Run ``sh -euc script`` in the backup-tools image with ``volumes``; its output.

    ``script`` is a constant: values (file names, paths) reach it as ``args``, its ``$1``,
    ``$2``..., never spliced into its text (a unit test walks every call). ``volumes`` are
    (source, target, mode).

    It runs as the calling user (so files it writes to the host are the user's) unless
    ``as_root``, which writing into a service's volume needs.
    """
    return run_container(
        docker,
        images.ensure_tool_image(settings, docker, "backup-tools"),
        ["sh", "-euc", script, "helper", *args],
        user=None if as_root else f"{os.getuid()}:{os.getgid()}",
        volumes=list(volumes),
    )


# /data is the service's volume, /fresh the restored copy. The swap moves the current data
# aside under MOVING (same filesystem: renames), renames MOVING to PREVIOUS once all of it
# is there (so PREVIOUS exists only when every entry was moved), then copies the restored
# data in; on failure it puts the previous data back. Each step leaves a state that UNDO
# puts back after a kill -9: MOVING (some entries moved, nothing copied) or PREVIOUS (all
# moved, the copy maybe partial).
MOVING = f"{PREVIOUS}.moving"
LEFTOVER_EXIT = 3  # SWAP found the previous data of an interrupted restore: refused
SWAP = f"""
prev=/data/{PREVIOUS}
moving=/data/{MOVING}
if [ -e "$prev" ] || [ -e "$moving" ]; then
  echo "it holds {PREVIOUS} of an interrupted restore that no journal records" >&2
  exit {LEFTOVER_EXIT}
fi
mkdir "$moving"
find /data -mindepth 1 -maxdepth 1 ! -name {PREVIOUS} ! -name {MOVING} -exec mv -t "$moving" {{}} +
mv "$moving" "$prev"
if ! cp -a /fresh/. /data/; then
  find /data -mindepth 1 -maxdepth 1 ! -name {PREVIOUS} -exec rm -rf {{}} +
  find "$prev" -mindepth 1 -maxdepth 1 -exec mv -t /data {{}} +
  rmdir "$prev"
  echo "copying the restored data failed; the previous data is back" >&2
  exit 1
fi
"""
DROP_PREVIOUS = f"rm -rf /data/{PREVIOUS}"
ROLLBACK = f"""
prev=/data/{PREVIOUS}
test -d "$prev"
find /data -mindepth 1 -maxdepth 1 ! -name {PREVIOUS} -exec rm -rf {{}} +
find "$prev" -mindepth 1 -maxdepth 1 -exec mv -t /data {{}} +
rmdir "$prev"
"""
# After a kill -9 during a swap: the previous data back, whichever step the kill hit
# (prints what it found: moving, previous or nothing).
UNDO = f"""
prev=/data/{PREVIOUS}
moving=/data/{MOVING}
if [ -d "$moving" ]; then
  find "$moving" -mindepth 1 -maxdepth 1 -exec mv -t /data {{}} +
  rmdir "$moving"
  echo moving
elif [ -d "$prev" ]; then
  find /data -mindepth 1 -maxdepth 1 ! -name {PREVIOUS} -exec rm -rf {{}} +
  find "$prev" -mindepth 1 -maxdepth 1 -exec mv -t /data {{}} +
  rmdir "$prev"
  echo previous
else
  echo nothing
fi
"""
