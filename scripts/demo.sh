#!/usr/bin/env bash
# The demo: synthetic airline CRM data through the pipeline, on the
# embedded default (one binary, one folder). Run through `make demo`.
set -euo pipefail

HAZE=${HAZE:-bin/haze}
DEMO_DIR=${DEMO_DIR:-build/demo}
ROWS=${DEMO_ROWS:-200000}
HAZE=$(cd "$(dirname "$HAZE")" && pwd)/$(basename "$HAZE")
ROOT=$(pwd)

mkdir -p "$DEMO_DIR"/{exports,keys,requests}
cd "$DEMO_DIR"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Generate $ROWS rows of synthetic airline CRM bookings"
"$HAZE" gen --rows "$ROWS" --seed 2026 --out exports/crm.csv

step "2. A keyring with the pseudonymisation key (created once, mode 0600)"
if [ ! -f keys/keyring.json ]; then
  "$HAZE" keyring init --out keys/keyring.json --key crm-2026
else
  echo "keys/keyring.json exists: keeping it, so tokens stay the same"
fi

step "3. Two subjects asked for erasure (GDPR Art. 17)"
{ echo passenger_id; cut -d, -f1 exports/crm.csv | sed -n '2p;3p'; } > requests/erasure.csv
cat requests/erasure.csv

step "4. Run the pseudonymisation job"
cp "$ROOT/examples/bookings.yaml" job.yaml
"$HAZE" pipeline run --job job.yaml --data-dir data

step "Published"
ls -l data/datasets/bookings/
