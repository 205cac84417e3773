#!/usr/bin/env bash
# Runbook entry point (seed provision-dev.sh): provision the dev environment.
# Usage: scripts/infra/provision-dev.sh [docker|k8s] [--validate-only] [--dry-run] [--yes]
#   docker (default): the compose stack (`--validate-only`: docker compose config only);
#   k8s: the dev overlay rendered and checked, then applied to the dev cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then exec python3 -m invoke --help provision; fi
profile=docker
if [[ "${1:-}" == "docker" || "${1:-}" == "k8s" ]]; then profile=$1; shift; fi
exec python3 -m invoke provision --profile "$profile" "$@"
