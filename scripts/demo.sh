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

step "5. Give the analyst 'maya' a budget on the dataset, and cap it over all analysts"
"$HAZE" budget grant --data-dir data --name maya --dataset bookings --epsilon 3 --delta 1e-5
"$HAZE" budget cap --data-dir data --dataset bookings --epsilon 10 --delta 1e-4

step "6. Marketing questions, answered only with differential privacy"
echo "-- passengers per home airport and tier (top 10)"
"$HAZE" query --data-dir data --as maya --epsilon 0.5 \
  "SELECT home_airport, ff_tier, COUNT(DISTINCT passenger_id) AS passengers
   FROM bookings GROUP BY home_airport, ff_tier ORDER BY passengers DESC LIMIT 10"
echo
echo "-- average ancillary spend by cabin (public groups: every cabin is answered)"
"$HAZE" query --data-dir data --as maya --epsilon 0.5 \
  --groups cabin=economy,premium_economy,business,first \
  "SELECT cabin, AVG(ancillary_amount) AS avg_ancillary, COUNT(*) AS bookings
   FROM bookings GROUP BY cabin"
echo
echo "-- median fare by destination (one booking per passenger: tighter bounds, less noise)"
"$HAZE" query --data-dir data --as maya --epsilon 0.5 --max-groups 1 --max-rows 1 \
  "SELECT destination, median(fare_amount) AS median_fare, COUNT(*) AS bookings
   FROM bookings GROUP BY destination ORDER BY bookings DESC LIMIT 8"
echo
echo "-- the same question again comes back from the ledger at no cost"
"$HAZE" query --data-dir data --as maya --epsilon 0.5 \
  --groups cabin=economy,premium_economy,business,first \
  "select cabin, avg(ancillary_amount) as avg_ancillary, count(*) as bookings
   from bookings group by cabin" | tail -2

step "Budgets"
"$HAZE" budget show --data-dir data
