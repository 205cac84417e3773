#!/usr/bin/env bash
# Runbook entry point (seed run-quality-gates.sh): the static and runtime quality gates,
# with their evidence under artifacts/gates/<UTC>/.
# Usage: scripts/run-quality-gates.sh [--only a,b] [--list] [--strict] [--reuse]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then exec python3 -m invoke --help gates; fi
exec python3 -m invoke gates "$@"
