#!/usr/bin/env bash
# Runbook entry point (seed SEAL F9.10): back up the observability stack. See `invoke --help backup`.
exec python3 -m invoke backup "$@"
