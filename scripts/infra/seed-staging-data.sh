#!/usr/bin/env bash
# Runbook entry point (seed seed-staging-data.sh): the seed of the staging database.
# Usage: scripts/infra/seed-staging-data.sh   (runs: scripts/infra/seed-data.sh staging)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "usage: $0   (runs: invoke seed --env staging; needs STAGE_DATABASE_URL)"; exit 0
fi
exec "$(dirname "$0")/seed-data.sh" staging
