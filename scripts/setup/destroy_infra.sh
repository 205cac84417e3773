#!/usr/bin/env bash
# Runbook entry point (seed 001, the destroy script "for re-creating"): destroy an
# environment's AWS foundation with Terraform, after the same account check, showing the
# plan and asking first. Refused outright for prod (protection no-destructive).
# Usage: scripts/setup/destroy_infra.sh <dev|staging> [--dry-run] [--yes]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: $0 <dev|staging> [--dry-run] [--yes]   (runs: invoke infra.destroy ENV; prod is refused)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke infra.destroy "$@"
