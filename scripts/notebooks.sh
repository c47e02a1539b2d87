#!/usr/bin/env bash
# Runs every notebook in notebooks/ headless against a live server on demo
# data, the way an analyst, an engineer and a partner would. Run through
# `make notebooks`. The committed notebooks are never written: executed
# copies (with their plots) go to $NOTEBOOKS_DIR/executed and every plot
# also to $NOTEBOOKS_DIR/figures as PNG. Fails when a cell fails.
set -euo pipefail

HAZE=${HAZE:-bin/haze}
NOTEBOOKS_DIR=${NOTEBOOKS_DIR:-build/notebooks}
ROWS=${NOTEBOOKS_ROWS:-200000}
PORT=${NOTEBOOKS_PORT:-18090}
ROOT=$(pwd)
. "$ROOT/scripts/lib.sh"
[ -x "$HAZE" ] || { echo "notebooks: $HAZE is missing: run make build" >&2; exit 1; }
HAZE=$(abs_path "$HAZE")

# Debian's Jupyter and its python3 kernel, which run on /usr/bin/python3
# with the python3-* packages; another python3 first on PATH (pyenv, a
# virtualenv) would lack them.
if [ -x /usr/bin/jupyter ]; then
  JUPYTER=/usr/bin/jupyter
  export PATH=/usr/bin:$PATH
else
  JUPYTER=$(command -v jupyter) || { echo "notebooks: jupyter is not installed" >&2; exit 1; }
fi

# free_port FROM prints the first port from FROM on that nothing on
# 127.0.0.1 listens to.
free_port() {
  local p
  for p in $(seq "$1" $(($1 + 20))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "notebooks: no free port in $1-$(($1 + 20))" >&2
  return 1
}

rm -rf "$NOTEBOOKS_DIR"/{data,partners,executed,figures}  # the keyrings are kept
mkdir -p "$NOTEBOOKS_DIR"/{exports,imports,keys,requests,executed,figures}
cd "$NOTEBOOKS_DIR"

step "Data: $ROWS synthetic bookings through the pipeline"
"$HAZE" gen --rows "$ROWS" --seed 2026 --out exports/crm.csv
keyring_once keys/keyring.json
erasure_requests exports/crm.csv requests/erasure.csv
cp "$ROOT/examples/bookings.yaml" job.yaml
"$HAZE" pipeline run --job job.yaml --data-dir data | grep -E '^(published|rows read)'

step "Keys: an analyst with a budget, an engineer (partners get theirs below)"
ANALYST_KEY=$(new_key data nora analyst)
ENGINEER_KEY=$(new_key data eli engineer)
"$HAZE" budget grant --data-dir data --name nora --dataset bookings --epsilon 5 --delta 1e-5
"$HAZE" budget cap --data-dir data --dataset bookings --epsilon 10 --delta 1e-4

step "Imports: next month's export, with the defects real exports have"
"$HAZE" gen --rows 30000 --seed 2612 --dirty --out imports/crm-2026-12.csv

step "Alliance: three partners and a round"
alliance_partners data 30000 aa ba ib
ROUND="alliance-2026-11-$(date +%s)"
open_round data "$ROUND" aa,ba,ib

PORT=$(free_port "$PORT")
URL="http://127.0.0.1:$PORT"
step "Server on $URL"
start_server "$PORT" --data-dir data --imports imports --keyring keys/keyring.json
submit_round "$URL" "$ROUND" aa ba ib

step "Notebooks"
# What each notebook's first cell asks for; HAZE_API_KEY is set per notebook.
HAZE_PARTNER_KEY=$(cat partners/aa/api-key)
export HAZE_URL=$URL HAZE_BIN=$HAZE HAZE_ROUND=$ROUND HAZE_PARTNER_KEY
export HAZE_PARTNER_DATA_DIR=$PWD/partners/aa/data HAZE_EXPORT=crm-2026-12.csv
export HAZE_KEYRING=$PWD/partners/aa/keys/keyring.json
export MPLCONFIGDIR=$PWD/matplotlib   # its font cache, here rather than in $HOME
export PYDEVD_DISABLE_FILE_VALIDATION=1  # quiets a debugger warning of the kernel

failed=0
for nb in "$ROOT"/notebooks/*.ipynb; do
  name=$(basename "$nb" .ipynb)
  key=$ANALYST_KEY
  [ "$name" = data-engineering ] && key=$ENGINEER_KEY
  start=$SECONDS
  if HAZE_API_KEY=$key "$JUPYTER" nbconvert --to notebook --execute \
      --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=300 \
      --output-dir executed "$nb" > "executed/$name.log" 2>&1; then
    echo "ok      $name ($((SECONDS - start)) s)"
  else
    echo "FAILED  $name: see $NOTEBOOKS_DIR/executed/$name.log"
    sed 's/\x1b\[[0-9;]*m//g' "executed/$name.log" | grep -v '^ *$' | tail -3
    failed=1
  fi
done

# The plots of the executed copies, as PNG files to look at.
/usr/bin/env python3 - executed figures <<'PY'
import base64, json, pathlib, sys
src, out = map(pathlib.Path, sys.argv[1:])
for nb in sorted(src.glob("*.ipynb")):
    n = 0
    for cell in json.loads(nb.read_text())["cells"]:
        for o in cell.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if png:
                n += 1
                (out / f"{nb.stem}-{n}.png").write_bytes(base64.b64decode(png))
PY
echo "executed notebooks in $NOTEBOOKS_DIR/executed, plots in $NOTEBOOKS_DIR/figures"

stop_server
exit "$failed"
