#!/usr/bin/env bash
# Runbook entry point (seed "Backup do Banco de Dados Principal"): pg_dump of an
# environment's database into the backup directory, uploaded to S3 when MIRANTE_S3_BUCKET
# is set. Usage: scripts/maintenance/backup_database.sh <local|dev|staging|prod>
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: $0 <local|dev|staging|prod>   (runs: invoke db.backup --env ENV)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke db.backup --env "$1"
