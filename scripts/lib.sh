# Steps shared by the scripts that build demo data and start a server
# (demo.sh, notebooks.sh). Source it after setting:
#   HAZE  the haze binary, as an absolute path
#   ROOT  the repository root, where examples/ lives
# The functions work in the current folder, like the commands they wrap.

# step prints a heading in bold.
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# abs_path prints FILE as an absolute path; its folder must exist.
abs_path() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }

# keyring_once FILE [DATA] creates a keyring holding the key crm-2026 and a
# master key, unless FILE exists: keeping it keeps the tokens of earlier
# runs the same. A keyring from before encryption at rest gains a master
# key (rewrapping the data keys of DATA, default data).
keyring_once() {
  if [ ! -f "$1" ]; then
    "$HAZE" keyring init --out "$1" --key crm-2026
  else
    echo "$1 exists: keeping it, so tokens stay the same"
    if ! "$HAZE" keyring list --keyring "$1" | grep -q ' master '; then
      "$HAZE" keyring rotate --master --keyring "$1" --data-dir "${2:-data}"
    fi
  fi
}

# erasure_requests EXPORT OUT writes an erasure list naming the first two
# subjects of EXPORT.
erasure_requests() {
  { echo passenger_id; cut -d, -f1 "$1" | sed -n '2p;3p'; } > "$2"
}

# new_key DATA NAME ROLE creates an API key and prints it (it is shown once).
new_key() {
  "$HAZE" keys create --data-dir "$1" --name "$2" --role "$3" 2>/dev/null | tail -1
}

# alliance_partners DATA ROWS P... gives each partner P its own export of
# ROWS rows, keyring, dataset, identity and API key under partners/P, and
# registers it with the coordinator whose data directory is DATA.
alliance_partners() {
  local data=$1 rows=$2 seed=100 p
  shift 2
  for p in "$@"; do
    seed=$((seed + 1))
    mkdir -p "partners/$p/exports" "partners/$p/keys"
    "$HAZE" gen --rows "$rows" --seed "$seed" --out "partners/$p/exports/crm.csv" >/dev/null
    keyring_once "partners/$p/keys/keyring.json" "partners/$p/data" >/dev/null
    sed -e '/^erasure:/d' "$ROOT/examples/bookings.yaml" > "partners/$p/job.yaml"
    rm -rf "partners/$p/data" "partners/$p/identity.json" "partners/$p/identity.pub.json"
    "$HAZE" pipeline run --job "partners/$p/job.yaml" --data-dir "partners/$p/data" | grep published
    "$HAZE" federated identity --name "$p" --out "partners/$p/identity.json" >/dev/null
    "$HAZE" federated partner add --data-dir "$data" --public "partners/$p/identity.pub.json"
    new_key "$data" "$p" partner > "partners/$p/api-key"
  done
}

# open_round DATA ID PARTNERS opens round ID (period 2026-11, ε=1) of the
# example alliance statistic over the comma-separated PARTNERS, all of
# whom must submit.
open_round() {
  "$HAZE" federated round create --data-dir "$1" --id "$2" --period 2026-11 \
    --partners "$3" --min-partners 3 --epsilon 1 --delta 1e-6 \
    --statistic "$ROOT/examples/alliance-statistic.json" --deadline 10m
}

# submit_round URL ID P... has each partner compute, mask and submit its
# share of round ID.
submit_round() {
  local url=$1 round=$2 p
  shift 2
  for p in "$@"; do
    "$HAZE" federated submit --coordinator "$url" --key "$(cat "partners/$p/api-key")" \
      --identity "partners/$p/identity.json" --round "$round" --data-dir "partners/$p/data" \
      --keyring "partners/$p/keys/keyring.json"
  done
}

# start_server PORT FLAGS... starts `haze serve` on 127.0.0.1:PORT with
# FLAGS, its log in server.log, sets SERVER to its pid, stops it on exit,
# and returns once it is ready (printing its readiness).
start_server() {
  local port=$1
  shift
  "$HAZE" serve --addr "127.0.0.1:$port" "$@" 2> server.log &
  SERVER=$!
  trap stop_server EXIT
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz"; echo
}

# stop_server stops the server start_server started, if it still runs.
stop_server() {
  if [ -n "${SERVER:-}" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=
  fi
  trap - EXIT
}
