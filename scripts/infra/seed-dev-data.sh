#!/usr/bin/env bash
# Runbook entry point (seed seed-dev-data.sh): the seed of the dev database.
# Usage: scripts/infra/seed-dev-data.sh   (runs: scripts/infra/seed-data.sh dev)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "usage: $0   (runs: invoke seed --env dev; needs DEV_DATABASE_URL)"; exit 0
fi
exec "$(dirname "$0")/seed-data.sh" dev
