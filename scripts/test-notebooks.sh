#!/usr/bin/env bash
# The notebooks part of `make test`: runs `make notebooks` when Jupyter can
# execute notebooks here, and otherwise says why it skipped them. With
# HAZE_REQUIRE_NOTEBOOKS=1 (CI) a skip is a failure.
set -euo pipefail

skip() {
  echo "notebooks: skipped ($1)"
  if [ "${HAZE_REQUIRE_NOTEBOOKS:-}" = 1 ]; then
    echo "notebooks: HAZE_REQUIRE_NOTEBOOKS=1, so a skip is a failure" >&2
    exit 1
  fi
  exit 0
}

# The same Jupyter notebooks.sh picks: Debian's first.
if [ -x /usr/bin/jupyter ]; then
  JUPYTER=/usr/bin/jupyter
  export PATH=/usr/bin:$PATH
else
  JUPYTER=$(command -v jupyter || true)
fi
if [ -z "$JUPYTER" ] || ! "$JUPYTER" nbconvert --version >/dev/null 2>&1; then
  skip "jupyter-nbconvert not installed"
fi

# Execute a one-cell notebook: it needs the python3 kernel and the
# packages the notebooks import.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat > "$probe/probe.ipynb" <<'JSON'
{"cells": [{"cell_type": "code", "execution_count": null, "id": "probe", "metadata": {},
  "outputs": [], "source": "import matplotlib, pandas, requests"}],
 "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
 "nbformat": 4, "nbformat_minor": 5}
JSON
if ! PYDEVD_DISABLE_FILE_VALIDATION=1 "$JUPYTER" nbconvert --to notebook --execute \
    --ExecutePreprocessor.kernel_name=python3 --output-dir "$probe/out" "$probe/probe.ipynb" \
    > "$probe/log" 2>&1; then
  module=$(sed -n "s/.*No module named '\([a-z_]*\)'.*/\1/p" "$probe/log" | head -1)
  if [ -n "$module" ]; then
    skip "the python3 kernel lacks $module: install python3-$module"
  fi
  skip "the ipykernel python3 kernel is not installed: $(grep -m1 -i error "$probe/log" || true)"
fi

${MAKE:-make} notebooks
