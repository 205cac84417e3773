#!/usr/bin/env bash
# Runbook entry point (seed seed-data.sh): schema, reference values and (outside prod)
# sample rows into an environment's database, idempotently.
# Usage: scripts/infra/seed-data.sh <local|dev|staging|prod>
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: $0 <local|dev|staging|prod>   (runs: invoke seed --env ENV)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke seed --env "$1"
