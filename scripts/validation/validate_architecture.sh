#!/usr/bin/env bash
# Runbook entry point (seed "Validação de Arquitetura", in spirit): check that a running
# service honours the observability contract (health, trace ids, /metrics, OTLP export).
# Usage: scripts/validation/validate_architecture.sh <service URL> [--llm|--no-llm]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: $0 <service URL, e.g. http://127.0.0.1:8000> [--llm|--no-llm]   (runs: invoke validate.service)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke validate.service "$@"
