#!/usr/bin/env bash
# Fetch what tests/test_pyodide.py needs to run the xlwings Lite add-in in Pyodide under Node.js:
# the npm package `pyodide` (node_modules/) and the pure-Python + wasm wheels (wheels/).
# Idempotent: does nothing that is already done. Registries only (npm, PyPI); no CDN.
# Usage: tests/pyodide/setup.sh [python]   (python defaults to the project venv, else python3)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${1:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

# Pyodide 314 bundles pydantic 2.12, but PyPI has pydantic-core wasm wheels only from 2.47 on:
# use the pydantic release whose pinned pydantic-core has a pyemscripten_2026_0 wheel.
PYDANTIC_VERSION="${PYDANTIC_VERSION:-2.14.4}"
WASM_PLATFORM=pyemscripten_2026_0_wasm32

cd "$here"
if [[ ! -f node_modules/pyodide/pyodide.mjs ]]; then
    if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

mkdir -p wheels
pure=(
    "pydantic==$PYDANTIC_VERSION" annotated-types typing-extensions typing-inspection
    openpyxl et-xmlfile xlwings
)
if ! ls wheels/pydantic-"$PYDANTIC_VERSION"-*.whl >/dev/null 2>&1 || ! ls wheels/xlwings-*-none-any.whl >/dev/null 2>&1 \
    || ! ls wheels/openpyxl-*.whl >/dev/null 2>&1; then
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --platform any \
        --python-version 3.14 --implementation py -d wheels "${pure[@]}"
fi
core_version="$("$python" - wheels/pydantic-"$PYDANTIC_VERSION"-*.whl <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    print(re.search(r"^Requires-Dist: pydantic-core==([0-9.]+)", wheel.read(metadata).decode(), re.M).group(1))
PY
)"
if ! ls wheels/pydantic_core-"$core_version"-*"$WASM_PLATFORM".whl >/dev/null 2>&1; then
    "$python" -m pip download --quiet --no-deps --only-binary=:all: --platform "$WASM_PLATFORM" \
        --python-version 3.14 --implementation cp --abi cp314 -d wheels "pydantic-core==$core_version"
fi
echo "pyodide test set-up ready: $here/node_modules, $here/wheels"
