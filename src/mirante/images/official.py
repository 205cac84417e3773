"""What each pinned official image has, and what compose asks of it.

``images/official.yaml`` records, per service, the facts read from the official image's
upstream Dockerfile (base, binary, user, shell, wget, tools, data directories) and the
same facts about each local stand-in. The checks here compare them with the rendered
compose configuration:

- :func:`tool_problems`: a healthcheck or entrypoint uses only what the official image has
  (a wget probe against a distroless image is a healthcheck that can never pass);
- :func:`parity_problems`: a stand-in is no more capable than the official image in
  anything compose relies on, and no less;
- :func:`expansion_problems`: a config file a program expands with ``-config.expand-env``
  expands, as that program does it, with the environment compose gives the service.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mirante import loader
from mirante.errors import FactsError
from mirante.images import expand

FACTS_FILE = Path("images") / "official.yaml"
_EXPAND_FLAG = re.compile(r"^--?config\.expand-env(=(true|1|t|T|TRUE|True))?$")
_CONFIG_FLAG = re.compile(r"^--?config\.file(=(.*))?$")


@dataclass(frozen=True)
class DataDir:
    """A data directory of an image, with its owner and mode."""

    path: str
    owner: str
    mode: int


@dataclass(frozen=True)
class ImageFacts:
    """One image as compose sees it: what it runs, as whom, and which programs it holds."""

    service: str
    base: str
    binary: str
    user: str
    shell: bool
    wget: bool
    tools: tuple[str, ...]
    data: tuple[DataDir, ...]
    program: str = ""
    probe: str = ""
    source: str = ""

    def has(self, executable: str) -> bool:
        """An absolute path it holds, or a name found on its PATH."""
        if executable.startswith("/"):
            return executable in self.tools
        return any(PurePosixPath(tool).name == executable for tool in self.tools)

    @property
    def kind(self) -> str:
        """The base's family, the first word of ``base`` (``busybox``, ``distroless``, ...)."""
        return self.base.split(" ", 1)[0]


@dataclass(frozen=True)
class Facts:
    """The facts of one image, as ``images/official.yaml`` records them."""

    official: Mapping[str, ImageFacts]
    stand_ins: Mapping[str, ImageFacts]
    helper_volumes: Mapping[str, tuple[str, ...]]  # volume -> files a helper puts there


def _image_facts(service: str, row: Mapping[str, Any], where: str) -> ImageFacts:
    try:
        source = row.get("source") or {}
        cited = (
            f"{source['repo']}:{source['path']}@{source.get('read_at') or source['tag']}"
            if source
            else ""
        )
        return ImageFacts(
            service=service,
            base=str(row["base"]),
            binary=str(row["binary"]),
            user=str(row["user"]),
            shell=bool(row["shell"]),
            wget=bool(row["wget"]),
            tools=tuple(str(t) for t in row["tools"]),
            data=tuple(
                DataDir(str(d["path"]), str(d["owner"]), int(str(d["mode"]), 8))
                for d in row.get("data") or []
            ),
            program=str(row.get("program", "")),
            probe=str(row.get("probe", "")),
            source=cited,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FactsError(f"{where}: {service}: missing or malformed field ({exc})") from None


def load(root: Path) -> Facts:
    """Read ``images/official.yaml`` (parsed once per content: stack.up reads it every run).

    Raises:
        FactsError: naming the file and the row.
    """
    path = root / FACTS_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise FactsError(f"{FACTS_FILE}: cannot be read ({exc})") from None
    return _parse(path, stamp)


@functools.lru_cache(maxsize=8)
def _parse(path: Path, stamp: int) -> Facts:
    """The facts of one version (``stamp``: its modification time) of the file."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FactsError(f"{FACTS_FILE}: cannot be read ({exc})") from None
    where = FACTS_FILE.as_posix()
    helpers = {
        str(row["volume"]): tuple(str(p) for p in row.get("provides", []))
        for row in (document.get("helpers") or {}).values()
    }
    return Facts(
        {s: _image_facts(s, r, where) for s, r in (document.get("official") or {}).items()},
        {s: _image_facts(s, r, where) for s, r in (document.get("stand_ins") or {}).items()},
        helpers,
    )


@dataclass(frozen=True)
class Need:
    """One thing compose needs from an image: an executable, or a writable data directory."""

    what: str  # "healthcheck" | "entrypoint" | "data"
    executable: str = ""
    path: str = ""
    uid: str = ""
    shown: str = ""


def needs(service: Mapping[str, Any], helper_volumes: Mapping[str, tuple[str, ...]]) -> list[Need]:
    """What one rendered compose service relies on in its image.

    Executables that a helper volume provides (the healthprobe's busybox at /probe) are
    not needs of the image: they run the same on every image.
    """
    provided = {
        f"{volume['target'].rstrip('/')}/{name}"
        for volume in service.get("volumes") or []
        if volume.get("type") == "volume"
        for name in helper_volumes.get(str(volume.get("source")), ())
    }
    found: list[Need] = []
    test = list((service.get("healthcheck") or {}).get("test") or [])
    if test and test[0] == "CMD-SHELL":
        script = " ".join(test[1:])
        words = shlex.split(script) if script else []
        found.append(Need("healthcheck", "/bin/sh", shown=f"CMD-SHELL {script}"))
        if words and words[0] not in provided:
            found.append(Need("healthcheck", words[0], shown=f"CMD-SHELL {script}"))
    elif test and test[0] == "CMD" and len(test) > 1 and test[1] not in provided:
        found.append(Need("healthcheck", test[1], shown=" ".join(test[1:])))
    entrypoint = service.get("entrypoint") or []
    if entrypoint and entrypoint[0] not in provided:
        found.append(Need("entrypoint", entrypoint[0], shown=" ".join(entrypoint)))
    uid = str(service.get("user") or "").split(":", 1)[0]
    if uid:
        for volume in service.get("volumes") or []:
            if volume.get("type") == "volume":
                found.append(Need("data", path=str(volume["target"]), uid=uid))
    return found


def satisfied(facts: ImageFacts, need: Need) -> bool:
    """Whether an image meets one need (a data directory it does not declare is not judged)."""
    if need.what == "data":
        directory = next((d for d in facts.data if d.path == need.path), None)
        return directory is None or directory.owner == need.uid or bool(directory.mode & 0o002)
    return facts.has(need.executable)


def describe_need(need: Need) -> str:
    """One need of a healthcheck or entrypoint, in words."""
    if need.what == "data":
        return f"uid {need.uid} writes {need.path}"
    return f"{need.what} runs `{need.shown}`, which needs {need.executable}"


def _lacks(facts: ImageFacts, need: Need) -> str:
    if need.what == "data":
        directory = next(d for d in facts.data if d.path == need.path)
        return f"has {need.path} owned by {directory.owner}, mode {directory.mode:04o}"
    extras = [] if facts.shell else ["no shell"]
    extras += [] if facts.wget else ["no wget"]
    more = f"; {', '.join(extras)}" if extras else ""
    return f"has no {need.executable} ({facts.base}{more})"


def tool_problems(
    rendered: Mapping[str, Any], facts: Facts, pinned: Mapping[str, str], source: str
) -> list[str]:
    """Every need of a service on a pinned image that its official image cannot meet."""
    problems = []
    services = rendered.get("services", {})
    for name, owner in sorted(on_images(services, pinned).items()):
        official = facts.official.get(owner)
        if official is None:
            problems.append(
                f"{FACTS_FILE}: service {owner} ({pinned[owner]}) has no row; "
                "add its facts, read from the upstream Dockerfile"
            )
            continue
        for need in needs(services[name], facts.helper_volumes):
            if not satisfied(official, need):
                hint = f"; its own probe: {official.probe}" if official.probe else ""
                problems.append(
                    f"{source}: service {name}: {describe_need(need)}, but {pinned[owner]} "
                    f"{_lacks(official, need)}{hint}"
                )
    return problems


def on_images(services: Mapping[str, Any], pinned: Mapping[str, str]) -> dict[str, str]:
    """Each rendered service that runs a pinned service's image, and that service.

    A pinned service runs its own; a one-shot (``postgres-roles``) runs its service's, and
    its command must work on that image too.
    """
    image_of = {name: services[name].get("image") for name in pinned if name in services}
    found = {name: name for name in image_of}
    for name, service in services.items():
        if name not in found:
            owner = next((o for o, image in image_of.items() if image == service.get("image")), "")
            if owner:
                found[name] = owner
    return found


def parity_problems(rendered: Mapping[str, Any], facts: Facts, source: str) -> list[str]:
    """Needs that a stand-in meets and the official image does not (or the reverse)."""
    problems = []
    services = rendered.get("services", {})
    on_image = on_images(services, dict.fromkeys(facts.stand_ins, ""))
    for name, owner in sorted({**dict.fromkeys(facts.stand_ins), **on_image}.items()):
        owner = owner or name
        stand_in, official = facts.stand_ins[owner], facts.official.get(owner)
        if official is None:
            problems.append(f"{FACTS_FILE}: stand-in {name} has no official row to compare with")
            continue
        for need in needs(services.get(name, {}), facts.helper_volumes):
            local, real = satisfied(stand_in, need), satisfied(official, need)
            if local and not real:
                problems.append(
                    f"{source}: service {name}: {describe_need(need)}: it works on the stand-in "
                    f"({stand_in.program}) only; the official image {_lacks(official, need)}"
                )
            elif real and not local:
                problems.append(
                    f"{source}: service {name}: {describe_need(need)}: the stand-in "
                    f"({stand_in.program}) {_lacks(stand_in, need)}, so it fails locally"
                )
    return problems


@dataclass(frozen=True)
class ExpandedConfig:
    """One config as a service's program reads it after env expansion."""

    service: str
    container_path: str
    host_path: Path | None
    environment: Mapping[str, str]


def expanded_configs(rendered: Mapping[str, Any]) -> list[ExpandedConfig]:
    """Every config file a service's program reads with ``-config.expand-env=true``."""
    found = []
    for name, service in sorted((rendered.get("services") or {}).items()):
        argv = [*(service.get("entrypoint") or []), *(service.get("command") or [])]
        if not any(_EXPAND_FLAG.match(str(a)) for a in argv):
            continue
        for i, arg in enumerate(argv):
            match = _CONFIG_FLAG.match(str(arg))
            if not match:
                continue
            path = match.group(2) if match.group(1) else (argv[i + 1] if i + 1 < len(argv) else "")
            environment = {
                str(k): "" if v is None else str(v)
                for k, v in (service.get("environment") or {}).items()
            }
            found.append(ExpandedConfig(name, path, _host_path(service, path), environment))
    return found


def _host_path(service: Mapping[str, Any], inside: str) -> Path | None:
    """The host file behind a container path, through the service's bind mounts."""
    best: tuple[int, Path] | None = None
    for volume in service.get("volumes") or []:
        target = str(volume.get("target", "")).rstrip("/")
        if volume.get("type") != "bind" or not (
            inside == target or inside.startswith(target + "/")
        ):
            continue
        candidate = Path(str(volume["source"])) / inside[len(target) :].lstrip("/")
        if best is None or len(target) > best[0]:
            best = (len(target), candidate)
    return best[1] if best else None


def expansion_problems(config: ExpandedConfig, root: Path) -> list[str]:
    """What stops the program at start: an expansion error, an unset variable, bad YAML.

    Each problem names ``file:line`` and the service.
    """
    if config.host_path is None or not config.host_path.is_file():
        return [
            f"service {config.service}: {config.container_path} (read with "
            "-config.expand-env=true) is not a file bind-mounted from the checkout"
        ]
    shown = _relative(config.host_path, root)
    text = config.host_path.read_text(encoding="utf-8")
    try:
        tree = expand.parse(text)
    except expand.ExpandError as exc:
        line = _failing_line(text)
        where = f"{shown}:{line}" if line else shown
        return [
            f"{where}: {exc} (service {config.service} expands the whole file, comments "
            "included, and exits at start; write $$ for a literal $)"
        ]
    problems = []
    for number, line_text in enumerate(text.splitlines(), start=1):
        try:
            refs = expand.references(expand.parse(line_text))
        except expand.ExpandError:
            continue  # a construct spanning lines: the whole-file parse accepted it
        for ref in refs:
            if ref.param and ref.param not in config.environment and not expand.has_default(ref):
                problems.append(
                    f"{shown}:{number}: ${{{ref.param}}} is not set in the environment compose "
                    f"gives service {config.service} (it would expand to an empty string)"
                )
    expanded = expand.evaluate(tree, config.environment)
    try:
        loader.safe_load(expanded)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(
            f"{where}: not valid YAML after expansion for service {config.service} ({problem})"
        )
    return problems


def _failing_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            expand.parse(line)
        except expand.ExpandError:
            return number
    return 0


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def stand_in_label(facts: Facts, service: str, pinned: str) -> str:
    """``prometheus 2.42 (Debian) for prom/prometheus:v3.15.0`` ('' when not a stand-in)."""
    stand_in = facts.stand_ins.get(service)
    return f"{stand_in.program} for {pinned}" if stand_in and stand_in.program else ""
