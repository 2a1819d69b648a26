#!/usr/bin/env bash
# Set up (first run only) and run the HIL plant: plant + bridge in one process
# (dip_hil), show a reference LQR client balancing it over the legacy TCP
# protocol, then keep serving until Ctrl-C.
#
#   scripts/hil.sh                    # plant on 127.0.0.1:5555, 10 s demo first
#   scripts/hil.sh --ros-demo         # the demo by the ROS controller node instead
#   scripts/hil.sh --no-demo -- -p mode:=lockstep -p port:=5556
#
# Arguments after -- are passed to dip_hil as --ros-args.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=1
ros_demo=0
ros_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-demo) demo=0 ;;
        --ros-demo) ros_demo=1 ;;
        --) shift; ros_args=("$@"); break ;;
        *) echo "usage: $0 [--no-demo | --ros-demo] [-- ROS_ARGS...]" >&2; exit 2 ;;
    esac
    shift
done
scripts/setup_venv.sh ros
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

# The live view in the browser is on unless web_port:=0 is given.
.venv/bin/dip_hil --ros-args -p web_port:=8080 "${ros_args[@]}" &
hil=$!
ctl=
stop_controller() {
    [ -n "$ctl" ] || return 0
    kill -INT "$ctl" 2>/dev/null || true; wait "$ctl" 2>/dev/null || true; ctl=
}
stop() { stop_controller; kill -INT "$hil" 2>/dev/null || true; wait "$hil" 2>/dev/null || true; }
trap stop INT TERM EXIT

if [ "$demo" = 1 ]; then
    if [ "$ros_demo" = 1 ]; then
        echo "== demo: the ROS controller node dip_controller (LQR, $ns/state -> $ns/control)" \
            "balances the pendulum for 10 s"
        log=$(mktemp)
        .venv/bin/dip_controller --ros-args -r "__ns:=$ns" >"$log" 2>&1 &
        ctl=$!
        for _ in $(seq 150); do   # until it has found the plant and answers its states
            grep -q 'first state answered' "$log" && break
            kill -0 "$ctl" 2>/dev/null || break
            sleep 0.1
        done
        cat "$log"
    else
        echo "== demo: the reference LQR client balances the pendulum for 10 s of plant time"
    fi
    for _ in $(seq 50); do   # until the bridge listens and has found the plant
        kill -0 "$hil" 2>/dev/null || { trap - EXIT; wait "$hil"; exit $?; }   # it could not start
        # A RESET: the episode starts from the initial state (and, for the ROS
        # demo, with the controller already answering every state).
        .venv/bin/dip_client --port "$port" --steps 1 >/dev/null 2>&1 && break
        sleep 0.2
    done
    if [ "$ros_demo" = 1 ]; then
        sleep 10
        stop_controller
        echo "== after 10 s, the ROS controller says:"
        grep 'answered [0-9]* states' "$log" || echo "   (nothing: it never heard a state; see above)"
        rm -f "$log"
    else
        .venv/bin/dip_client --port "$port" --seconds 10 || true
    fi
fi
kill -0 "$hil" 2>/dev/null || { trap - EXIT; wait "$hil"; exit $?; }
echo "== HIL plant serving the legacy protocol on 127.0.0.1:$port (ROS topics /dip/...); Ctrl-C stops it"
[ "$web" != 0 ] && echo "   live view: http://127.0.0.1:$web/"
echo "   (with no controller the pendulum falls and the plant waits: a client's RESET starts anew)"
[ "$ros_demo" = 0 ] && echo "   (scripts/hil.sh --ros-demo: the demo by the ROS controller node dip_controller)"
wait "$hil"
