#!/usr/bin/env bash
# Create ./.venv (Python 3.10-3.13), install the ROS 2 wheels and this package.
# Usage: scripts/setup_venv.sh [ros|test]   (test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-ros}"
python="${PYTHON:-python3}"
venv="${VENV:-.venv}"

"$python" - <<'PY'
import sys
if not (3, 10) <= sys.version_info[:2] <= (3, 13):
    sys.exit(f'plant_server_ros needs Python 3.10-3.13 (the ROS 2 wheels), found {sys.version.split()[0]}; '
             'set PYTHON=python3.12, say')
PY
if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
echo "== installing the ROS 2 wheels and plant_server_ros into $venv"
"${pip[@]}" install 'setuptools<80' wheel
if [ "$what" = test ]; then
    "${pip[@]}" install -r requirements/test.txt
else
    "${pip[@]}" install -r requirements/ros.txt -r requirements/record.txt 'websockets>=17.0'
fi
# A regular (not editable) install: it puts dip_hil, dip_client, ... in
# .venv/bin (an editable one would follow setup.cfg's colcon layout).
"${pip[@]}" install .
