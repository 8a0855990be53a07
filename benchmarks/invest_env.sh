#!/usr/bin/env bash
# Build natcap.invest 3.20.2 in its own venv (default /work/invest-venv) for the
# sttm-vs-InVEST validation and benchmark. InVEST is NOT an sttm dependency.
# Recipe from shared/ENVIRONMENT.md: GDAL from source against the system libgdal,
# pygeoprocessing 2.4.11 with cython 3.0.x, all with --no-build-isolation (~6 min).
set -euo pipefail
VENV="${INVEST_VENV:-/work/invest-venv}"
PY="$(command -v "${PYTHON:-python3}")"
export PATH="$VENV/bin:$PATH"   # the natcap.invest build calls pybabel from the venv

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import natcap.invest, sys; sys.exit(0 if natcap.invest.__version__.startswith('3.20.2') else 1)" 2>/dev/null; then
    echo "InVEST 3.20.2 already present in $VENV"
    exit 0
fi

if ! command -v gdal-config >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq libgdal-dev gdal-bin python3-venv python3-dev build-essential
fi

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q --upgrade numpy setuptools wheel "cython==3.0.12" setuptools_scm babel
"$VENV/bin/pip" install -q --no-build-isolation "GDAL==$(gdal-config --version)"
"$VENV/bin/pip" install -q --no-build-isolation "pygeoprocessing==2.4.11"
"$VENV/bin/pip" install -q --no-build-isolation "natcap.invest==3.20.2"
"$VENV/bin/python" -c "import natcap.invest; print('natcap.invest', natcap.invest.__version__, 'ready in $VENV')"
