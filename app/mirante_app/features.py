"""Feature flags, read from a mounted copy of config/features.yaml and reloaded on change.

The file is checked (one ``stat``) whenever a flag is read; when it changed, it is parsed
again. A file that does not parse keeps the last good flags (and says so once in the log),
so a half-edited file never flips a flag by accident. No file: every flag is off.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import yaml

LOG = logging.getLogger("mirante_app.features")


class Flags:
    """The feature flags of one environment, re-read when their file changes."""

    def __init__(self, path: str, env: str) -> None:
        self.path = Path(path)
        self.env = env
        self._seen: tuple[int, int, int] | None = None
        self._flags: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._seen, self._flags = None, {}
            return
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            with self.path.open(encoding="utf-8") as handle:
                document: Any = yaml.safe_load(handle)
            features = document["features"]
            flags = {
                str(n): bool(b["environments"].get(self.env, False)) for n, b in features.items()
            }
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            LOG.warning("feature flags not reloaded", extra={"fields": {"error": str(exc)}})
            return
        if flags != self._flags:
            LOG.warning("feature flags loaded", extra={"fields": {"env": self.env, **flags}})
        self._flags = flags

    def enabled(self, name: str) -> bool:
        """Whether the flag ``name`` is on (an unknown flag is off)."""
        with self._lock:
            self._refresh()
            return self._flags.get(name, False)

    def snapshot(self) -> dict[str, bool]:
        """Every flag and whether it is on, for ``/features``."""
        with self._lock:
            self._refresh()
            return dict(self._flags)
