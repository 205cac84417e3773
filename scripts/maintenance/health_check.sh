#!/usr/bin/env bash
# Runbook entry point (seed "Como Verificar a Saúde Geral do Sistema?"): OK / WARN / CRITICAL
# per component; exits 0, 1 or 2 following the worst one.
# Usage: scripts/maintenance/health_check.sh [local|dev|staging|prod] [--json]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -gt 2 ]]; then
  echo "usage: $0 [local|dev|staging|prod] [--json]   (runs: invoke health --env ENV)" >&2
  [[ $# -le 2 ]] && exit 0
  exit 2
fi
env=local
args=()
for arg in "$@"; do
  if [[ "$arg" == --json ]]; then args+=(--json); else env=$arg; fi
done
exec python3 -m invoke health --env "$env" "${args[@]}"
