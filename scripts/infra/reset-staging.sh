#!/usr/bin/env bash
# Runbook entry point (seed reset-staging.sh): snapshot staging under artifacts/backups/,
# delete only the objects labelled env=staging, reapply the staging overlay, run the seed.
# Usage: scripts/infra/reset-staging.sh [--dry-run] [--yes --env staging]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then exec python3 -m invoke --help staging.reset; fi
exec python3 -m invoke staging.reset "$@"
