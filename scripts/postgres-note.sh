#!/usr/bin/env bash
# Says whether `make test` will run the PostgreSQL tests, the way
# internal/pgtest finds the binaries; with HAZE_REQUIRE_POSTGRES=1 their
# absence fails here, before the suite runs.
set -euo pipefail

has() { [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

dir=
if [ -n "${HAZE_POSTGRES_BIN:-}" ]; then
  has "$HAZE_POSTGRES_BIN" && dir=$HAZE_POSTGRES_BIN
elif p=$(command -v pg_ctl 2>/dev/null) && has "$(dirname "$(readlink -f "$p")")"; then
  dir=$(dirname "$(readlink -f "$p")")
else
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if has "$d"; then dir=$d; break; fi
  done
fi

if [ -n "$dir" ]; then
  echo "PostgreSQL tests: on, with the binaries in $dir"
elif [ "${HAZE_REQUIRE_POSTGRES:-}" = 1 ]; then
  echo "PostgreSQL tests: binaries not found (initdb, pg_ctl, postgres) and HAZE_REQUIRE_POSTGRES=1" >&2
  exit 1
else
  echo "PostgreSQL tests: SKIPPED, binaries not found (install postgresql; HAZE_REQUIRE_POSTGRES=1 fails instead)"
fi
