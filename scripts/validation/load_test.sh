#!/usr/bin/env bash
# Runbook entry point (seed 002, phase 5: "testes de carga básicos, estimar custos reais"):
# drive the app at a rate, measure what the stack ingests, and project storage and cost
# per environment. The report lands in artifacts/load/<UTC time>/ (report.html, plots).
# Usage: scripts/validation/load_test.sh [--rps N] [--duration S] [--mix healthy,llm,...] [--env ENV]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  echo "usage: $0 [--rps N] [--duration S] [--mix KINDS] [--env local|dev|staging|prod] [--report DIR]   (runs: invoke load)"
  exit 0
fi
exec python3 -m invoke load "$@"
