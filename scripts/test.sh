#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite: physics, plant node,
# bridge end to end, launch file (skipped without launch_ros), colcon build,
# ament flake8/pep257.  Extra arguments go to pytest.
# VENV=DIR uses (and sets up) another venv than .venv, as setup_venv.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
VENV="$venv" scripts/setup_venv.sh test
# DDS on loopback; unless ROS_DOMAIN_ID is set, test/conftest.py claims a
# domain no other DDS participant on this machine is on (pytest's header says which).
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
echo "== pytest"
set +e
"$venv/bin/python" -m pytest -ra "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$code"
