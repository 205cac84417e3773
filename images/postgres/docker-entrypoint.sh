#!/bin/bash
# Initialise PGDATA on first start (superuser, password, database, then the *.sql files of
# /docker-entrypoint-initdb.d in name order, each in one transaction), then run postgres.
set -euo pipefail

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

if [ "${1:-postgres}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
         --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 -D "$PGDATA" >/dev/null
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    printf 'CREATE DATABASE "%s";\n' "${POSTGRES_DB//\"/\"\"}" \
      | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  shopt -s nullglob
  scripts=(/docker-entrypoint-initdb.d/*.sql)
  if [ ${#scripts[@]} -gt 0 ]; then
    # A server on the socket only: nothing can connect before the scripts are done.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    for script in "${scripts[@]}"; do
      psql -X -q -v ON_ERROR_STOP=1 -1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$script"
      echo "mirante-postgres: applied $(basename "$script")"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "mirante-postgres: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

if [ "${1:-}" = postgres ]; then
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
