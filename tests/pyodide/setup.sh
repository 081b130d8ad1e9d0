#!/usr/bin/env bash
# Fetch what tests/test_pyodide.py needs to run the xlwings Lite add-in in Pyodide under Node.js:
# the npm package `pyodide` (node_modules/) and the wheels of addin/requirements.txt (wheels/).
# Safe to run again (npm is skipped once installed; pip reuses the wheels already downloaded).
# Registries only (npm, PyPI); no CDN.
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
# What the add-in's requirements.txt names, with their dependencies, as micropip would pick them
# for Pyodide 314: wasm wheels where PyPI has them (pydantic-core, xlwings), pure-Python ones otherwise.
# The pydantic version is pinned (a constraint, not a requirement) to one whose pydantic-core has a
# wasm wheel; in xlwings Lite itself pydantic comes from Pyodide's own repository.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "pydantic==$PYDANTIC_VERSION" >"$constraints"
"$python" -m pip download --quiet --only-binary=:all: \
    --platform "$WASM_PLATFORM" --platform any --python-version 3.14 --implementation cp --abi cp314 --abi none \
    -d wheels -r "$root/addin/requirements.txt" -c "$constraints"
echo "pyodide test set-up ready: $here/node_modules, $here/wheels"
