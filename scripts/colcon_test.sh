#!/usr/bin/env bash
# The ROS route: this checkout as a ROS 2 package in a workspace of its own,
# `colcon build`, `colcon test`, `colcon test-result --all`; then a check that
# the number of tests colcon ran is the suite's (what `pytest --collect-only`
# counts in the same tree), so that a collection stopped early can never read
# as green.  Uses .venv (scripts/setup_venv.sh test), or PYTHON=...
# Extra arguments go to pytest (through colcon's --pytest-args).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || { echo "colcon_test.sh: no $python (run scripts/setup_venv.sh test)" >&2; exit 2; }
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# ROS_DOMAIN_ID stays unset unless the caller set it: test/conftest.py claims a
# domain of this run's own.
ws=$(mktemp -d "${TMPDIR:-/tmp}/plant_server_ros_ws.XXXXXX")
trap 'rm -rf "$ws"' EXIT
src="$ws/src/plant_server_ros"
mkdir -p "$src"
# The clone's files (tracked, and new ones not ignored), not its venvs or outputs.
git ls-files -z --cached --others --exclude-standard |
    (cd "$repo" && xargs -0 cp --parents -t "$src" 2>/dev/null || true)
[ -f "$src/package.xml" ] || { echo "colcon_test.sh: could not copy the clone" >&2; exit 2; }

cd "$ws"
colcon=("$python" -m colcon --log-base "$ws/log")
echo "== colcon build ($ws)"
"${colcon[@]}" build --base-paths src --build-base build --install-base install \
    --event-handlers console_cohesion- >/dev/null ||
    { cat "$ws"/log/latest_build/plant_server_ros/stdout_stderr.log >&2 || true; exit 1; }
echo "== colcon test"
start=$SECONDS
set +e
# colcon takes an argument that looks like an option after a space: " -k".
pytest_args=()
for arg in "$@"; do pytest_args+=(" $arg"); done
"${colcon[@]}" test --base-paths src --build-base build --install-base install \
    --event-handlers console_direct+ ${pytest_args[@]+--pytest-args "${pytest_args[@]}"}
set -e
echo "== colcon test took $((SECONDS - start)) s"
echo "== colcon test-result --all"
set +e
summary=$("${colcon[@]}" test-result --all --verbose --test-result-base build)
result=$?
set -e
echo "$summary"
ran=$(sed -n 's/^Summary: \([0-9]*\) tests.*/\1/p' <<<"$summary")
errors=$(sed -n 's/^Summary: .*, \([0-9]*\) errors*,.*/\1/p' <<<"$summary")
failures=$(sed -n 's/^Summary: .*, \([0-9]*\) failures*,.*/\1/p' <<<"$summary")

# The suite's count, in the same tree with the same interpreter and pytest arguments,
# without launch_testing's plugin (where it is installed): its collection hook is
# what can stop a colcon test's collection early.
collected=$(cd "$src" && "$python" -m pytest --collect-only -q -p no:cacheprovider \
    -p no:launch_testing "$@" 2>&1 |
    sed -n 's/^\([0-9][0-9]*\)\(\/[0-9]*\)\{0,1\} tests\{0,1\} collected.*/\1/p' | tail -1)
echo "== colcon ran ${ran:-?} tests (${errors:-?} errors, ${failures:-?} failures);" \
     "pytest collects ${collected:-?}"
if [ "$result" -ne 0 ] || [ "${errors:-1}" != 0 ] || [ "${failures:-1}" != 0 ]; then
    echo "colcon test: errors or failures" >&2
    exit 1
fi
if [ -z "$ran" ] || [ -z "$collected" ] || [ "$ran" != "$collected" ]; then
    echo "colcon test ran ${ran:-no} tests where the suite has ${collected:-an unknown number}:" \
         "its collection stopped early (a false green)" >&2
    exit 1
fi
