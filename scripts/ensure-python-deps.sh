#!/usr/bin/env bash
# The dataset tests read the harvest's dataset back with engines the harvester did
# not write: DuckDB and polars, from PyPI; the object-storage tests run a real S3
# server on loopback: moto's server mode, from PyPI. Installs them for the user when
# absent.
set -euo pipefail
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
    echo "ensure-python-deps: $python not found; the dataset tests need Python 3 with duckdb and polars" >&2
    exit 1
fi
check='import duckdb, polars, boto3, werkzeug, moto.moto_server.werkzeug_app'
if "$python" -c "$check" 2>/dev/null; then
    exit 0
fi
echo "ensure-python-deps: installing duckdb, polars and moto[server] from PyPI" >&2
packages=('duckdb>=1.1,<3' 'polars>=1.10,<3' 'moto[server]>=5.1,<6')
"$python" -m pip install --quiet --disable-pip-version-check --user "${packages[@]}" \
    || "$python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
"$python" -c "$check"
