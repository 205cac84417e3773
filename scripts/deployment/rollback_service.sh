#!/usr/bin/env bash
# Runbook entry point (seed "O que fazer se um Deploy Falhar?"): roll a service back to a
# revision (`invoke deploy.history` lists them), or to the previous one.
# Usage: scripts/deployment/rollback_service.sh <service> <dev|staging|prod> [revision] [--dry-run] [--yes]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 2 || "$1" == -* ]]; then
  echo "usage: $0 <service> <dev|staging|prod> [revision] [--dry-run] [--yes]   (runs: invoke deploy.rollback)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
name=$1 env=$2
shift 2
revision=()
if [[ $# -gt 0 && "$1" != -* ]]; then revision=(--revision "$1"); shift; fi
exec python3 -m invoke deploy.rollback "$name" --env "$env" "${revision[@]}" "$@"
