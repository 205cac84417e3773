#!/usr/bin/env bash
# Runbook entry point (seed 001, "setup_infra.sh <env>"): create an environment's whole AWS
# foundation (VPC, EKS with a node group per namespace, buckets, IRSA roles) with
# Terraform, after checking that the AWS credentials are the account config/environments.yaml
# names. Shows the plan and asks; ends with "<env> provisioned". AccessDenied, AlreadyExists,
# a locked state and missing credentials are each explained in one line.
# Usage: scripts/setup/setup_infra.sh <dev|staging|prod> [--dry-run] [--yes]
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $# -lt 1 || "$1" == -* ]]; then
  echo "usage: $0 <dev|staging|prod> [--dry-run] [--yes]   (runs: invoke infra.apply ENV)" >&2
  [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && exit 0
  exit 2
fi
exec python3 -m invoke infra.apply "$@"
