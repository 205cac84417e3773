#!/usr/bin/env bash
# Runbook entry point (seed "Deploy de Serviço em Kubernetes"): build the service's image,
# push it where a registry is configured, set it and wait for the rollout.
# Usage: scripts/deployment/deploy_service.sh <service> <dev|staging|prod> <tag> [--dry-run] [--yes]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 3 || "$1" == -* ]]; then
  echo "usage: $0 <service> <dev|staging|prod> <tag> [--dry-run] [--yes]   (runs: invoke deploy.service)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
name=$1 env=$2 tag=$3
shift 3
exec python3 -m invoke deploy.service "$name" --env "$env" --tag "$tag" "$@"
