#!/usr/bin/env bash
# Set up (first run only) and run the HIL plant: plant + bridge in one process
# (dip_hil), show a reference LQR client balancing it over the legacy TCP
# protocol, then keep serving until Ctrl-C.
#
#   scripts/hil.sh                    # plant on 127.0.0.1:5555, 10 s demo first
#   scripts/hil.sh --ros-demo         # the demo by the ROS controller node instead
#   scripts/hil.sh --no-demo -- -p mode:=lockstep -p port:=5556
#   scripts/hil.sh --demo-seconds 3    # a shorter demo
#
# Arguments after -- are passed to dip_hil as --ros-args.  VENV=DIR uses
# DIR/bin's commands (default .venv); HIL_SETUP=0 skips setting it up (the
# tests run it so, with commands from the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
demo=1
ros_demo=0
seconds=10
ros_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-demo) demo=0 ;;
        --ros-demo) ros_demo=1 ;;
        --demo-seconds) shift; seconds="${1:?--demo-seconds needs a number}" ;;
        --) shift; ros_args=("$@"); break ;;
        *) echo "usage: $0 [--no-demo | --ros-demo] [--demo-seconds N] [-- ROS_ARGS...]" >&2
           exit 2 ;;
    esac
    shift
done
venv="${VENV:-.venv}"
[ "${HIL_SETUP:-1}" = 0 ] || scripts/setup_venv.sh ros
# DDS stays on this machine unless you say otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
port=5555
web=8080
ns=/dip
for ((i = 0; i < ${#ros_args[@]}; i++)); do
    [[ "${ros_args[$i]}" =~ ^port:=([0-9]+)$ ]] && port="${BASH_REMATCH[1]}"
    [[ "${ros_args[$i]}" =~ ^__ns:=(.+)$ ]] && ns="${BASH_REMATCH[1]}"
    [[ "${ros_args[$i]}" =~ ^web_port:=([0-9]+)$ ]] && web="${BASH_REMATCH[1]}"
done

# The live view in the browser is on unless web_port:=0 is given.  For a demo
# the plant holds its initial state until the demo's first control
# (wait_for_control): it does not fall while the demo starts.  Your -p wins.
hold=()
[ "$demo" = 1 ] && hold=(-p wait_for_control:=true)
hil_log=$(mktemp)
"$venv"/bin/dip_hil --ros-args -p web_port:=8080 "${hold[@]}" "${ros_args[@]}" \
    > >(tee "$hil_log") 2>&1 &
hil=$!
ctl=
stop_controller() {
    [ -n "$ctl" ] || return 0
    kill -INT "$ctl" 2>/dev/null || true; wait "$ctl" 2>/dev/null || true; ctl=
}
stop() {
    stop_controller; kill -INT "$hil" 2>/dev/null || true; wait "$hil" 2>/dev/null || true
    rm -f "$hil_log"
}
trap stop INT TERM EXIT
# Up when the bridge says it listens (nothing is sent to it: the demo's own
# RESET, or the controller's first control, starts the episode).
for _ in $(seq 300); do
    grep -q 'legacy TCP protocol on' "$hil_log" && break
    kill -0 "$hil" 2>/dev/null || { trap - EXIT; wait "$hil"; exit $?; }   # it could not start
    sleep 0.1
done

if [ "$demo" = 1 ]; then
    if [ "$ros_demo" = 1 ]; then
        echo "== demo: the ROS controller node dip_controller (LQR, $ns/state -> $ns/control)" \
            "balances the pendulum for $seconds s"
        log=$(mktemp)
        "$venv"/bin/dip_controller --ros-args -r "__ns:=$ns" >"$log" 2>&1 &
        ctl=$!
        # Until it has found the plant and answers its states: the held plant's
        # episode starts at its first control.
        for _ in $(seq 300); do
            grep -q 'first state answered' "$log" && break
            kill -0 "$ctl" 2>/dev/null || break
            sleep 0.1
        done
        cat "$log"
    else
        echo "== demo: the reference LQR client balances the pendulum for $seconds s of plant time"
    fi
    if [ "$ros_demo" = 1 ]; then
        sleep "$seconds"
        stop_controller
        echo "== after $seconds s, the ROS controller says:"
        grep 'answered [0-9]* states' "$log" || echo "   (nothing: it never heard a state; see above)"
        rm -f "$log"
    else
        "$venv"/bin/dip_client --port "$port" --seconds "$seconds" || true
    fi
fi
kill -0 "$hil" 2>/dev/null || { trap - EXIT; wait "$hil"; exit $?; }
echo "== HIL plant serving the legacy protocol on 127.0.0.1:$port (ROS topics /dip/...); Ctrl-C stops it"
[ "$web" != 0 ] && echo "   live view: http://127.0.0.1:$web/"
echo "   (with no controller the pendulum falls and the plant waits: a client's RESET starts anew)"
[ "$ros_demo" = 0 ] && echo "   (scripts/hil.sh --ros-demo: the demo by the ROS controller node dip_controller)"
wait "$hil"
