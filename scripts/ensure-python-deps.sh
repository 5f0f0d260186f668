#!/usr/bin/env bash
# The dataset tests read the harvest's dataset back with engines the harvester did
# not write: DuckDB and polars, from PyPI. Installs them for the user when absent.
set -euo pipefail
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
    echo "ensure-python-deps: $python not found; the dataset tests need Python 3 with duckdb and polars" >&2
    exit 1
fi
if "$python" -c 'import duckdb, polars' 2>/dev/null; then
    exit 0
fi
echo "ensure-python-deps: installing duckdb and polars from PyPI" >&2
"$python" -m pip install --quiet --disable-pip-version-check --user 'duckdb>=1.1,<3' 'polars>=1.10,<3' \
    || "$python" -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1,<3' 'polars>=1.10,<3'
"$python" -c 'import duckdb, polars'
