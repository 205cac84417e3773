#!/usr/bin/env bash
# Runbook entry point (seed "Ativação/Desativação de Feature Flag"): enable or disable a
# flag of config/features.yaml in one environment.
# Usage: scripts/features/toggle_feature.sh <feature> <enable|disable> <local|dev|staging|prod>
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -ne 3 || "$1" == -* ]]; then
  echo "usage: $0 <feature> <enable|disable> <local|dev|staging|prod>   (runs: invoke features.toggle)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke features.toggle "$1" "$2" --env "$3"
