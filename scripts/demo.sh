#!/usr/bin/env bash
# The demo: synthetic airline CRM data through the pipeline, on the
# embedded default (one binary, one folder). Run through `make demo`.
set -euo pipefail

HAZE=${HAZE:-bin/haze}
DEMO_DIR=${DEMO_DIR:-build/demo}
ROWS=${DEMO_ROWS:-200000}
PORT=${DEMO_PORT:-18080}
ROOT=$(pwd)
. "$ROOT/scripts/lib.sh"
HAZE=$(abs_path "$HAZE")

rm -rf "$DEMO_DIR/data"   # a fresh catalog each run; the keyring is kept
mkdir -p "$DEMO_DIR"/{exports,keys,requests}
cd "$DEMO_DIR"

step "1. Generate $ROWS rows of synthetic airline CRM bookings"
"$HAZE" gen --rows "$ROWS" --seed 2026 --out exports/crm.csv

step "2. A keyring with the pseudonymisation key (created once, mode 0600)"
keyring_once keys/keyring.json

step "3. Two subjects asked for erasure (GDPR Art. 17)"
erasure_requests exports/crm.csv requests/erasure.csv
cat requests/erasure.csv

step "4. Run the pseudonymisation job"
cp "$ROOT/examples/bookings.yaml" job.yaml
"$HAZE" pipeline run --job job.yaml --data-dir data

step "Published"
ls -l data/datasets/bookings/

step "5. An API key for the analyst 'maya', her budget, and a cap over all analysts"
KEY=$(new_key data maya analyst)
echo "maya's key: ${KEY:0:8}… (shown once, stored hashed)"
"$HAZE" budget grant --data-dir data --name maya --dataset bookings --epsilon 3 --delta 1e-5
"$HAZE" budget cap --data-dir data --dataset bookings --epsilon 10 --delta 1e-4

step "6. An alliance: three partner airlines, each with its own data, keys and identity"
PARTNERS="aa ba ib"
alliance_partners data 30000 $PARTNERS
ROUND="alliance-2026-11-$(date +%s)"
open_round data "$ROUND" aa,ba,ib

step "7. Start the API server on 127.0.0.1:$PORT"
start_server "$PORT" --data-dir data --imports exports --keyring keys/keyring.json

ask() { "$HAZE" query --url "http://127.0.0.1:$PORT" --api-key "$KEY" "$@"; }

step "8. Marketing questions over HTTP, answered only with differential privacy"
echo "-- passengers per home airport and tier (top 10)"
ask --epsilon 0.5 \
  "SELECT home_airport, ff_tier, COUNT(DISTINCT passenger_id) AS passengers
   FROM bookings GROUP BY home_airport, ff_tier ORDER BY passengers DESC LIMIT 10"
echo
echo "-- average ancillary spend by cabin (public groups: every cabin is answered)"
ask --epsilon 0.5 --groups cabin=economy,premium_economy,business,first \
  "SELECT cabin, AVG(ancillary_amount) AS avg_ancillary, COUNT(*) AS bookings
   FROM bookings GROUP BY cabin"
echo
echo "-- median fare by destination (one booking per passenger: tighter bounds, less noise)"
ask --epsilon 0.5 --max-groups 1 --max-rows 1 \
  "SELECT destination, median(fare_amount) AS median_fare, COUNT(*) AS bookings
   FROM bookings GROUP BY destination ORDER BY bookings DESC LIMIT 8"
echo
echo "-- the same question again comes back from the ledger at no cost"
ask --epsilon 0.5 --groups cabin=economy,premium_economy,business,first \
  "select cabin, avg(ancillary_amount) as avg_ancillary, count(*) as bookings
   from bookings group by cabin" | tail -2
echo
echo "-- a question that would single people out is refused"
ask --epsilon 0.5 "SELECT passenger_id, COUNT(*) FROM bookings GROUP BY passenger_id" || true

step "9. maya's budget, as the API reports it"
curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/budget"; echo

step "10. Each partner computes its totals locally, adds its share of the noise, masks and submits"
submit_round "http://127.0.0.1:$PORT" "$ROUND" $PARTNERS
echo
echo "-- alliance totals (aggregate 0: bookings, 1: fare revenue); no partner's own totals are visible"
"$HAZE" federated result --coordinator "http://127.0.0.1:$PORT" --key "$(cat partners/aa/api-key)" \
  --round "$ROUND"

stop_server

step "Try it yourself"
cat <<TXT
Start the server alone:   make serve          (data in $DEMO_DIR/data, port 8080)
Ask it with curl:
  curl -s -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\
    -d '{"sql": "SELECT cabin, COUNT(*) FROM bookings GROUP BY cabin", "epsilon": 0.2}' \\
    http://127.0.0.1:8080/v1/query
Or: HAZE_URL=http://127.0.0.1:8080 HAZE_API_KEY=<key> bin/haze query --epsilon 0.2 "SELECT ..."
(The key above is maya's; create more with: bin/haze keys create --data-dir $DEMO_DIR/data --name N --role analyst)
TXT
