#!/usr/bin/env bash
# Runbook entry point (seed SEAL F9.10): back up the observability stack's data.
# Usage: scripts/backup_observability.sh [--services a,b] [--dest DIR]   (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then exec python3 -m invoke --help backup; fi
exec python3 -m invoke backup "$@"
