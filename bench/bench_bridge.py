"""
Lock-step round trip through bridge + plant, beside a raw TCP echo (the floor).

Plant and bridge run as separate processes, as the launch file starts them.
Prints round-trip percentiles, steps/s and CPU per step, all from one run:
    python bench/bench_bridge.py [--steps 5000] [--executor events|single] [--one-process]
"""

import argparse
from pathlib import Path
import socket
import subprocess
import sys
import threading
import time

from _common import (cpu_seconds, isolate_dds, NodeProcess, percentiles, stop_gracefully,
                     wait_until_served)


def echo_server():
    """Start a 64-byte loopback TCP echo in a thread; return its port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(64, socket.MSG_WAITALL)
            if len(data) < 64:
                return
            conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def echo_round_trips(port, n):
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    frame = bytes(64)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        sock.sendall(frame)
        sock.recv(64, socket.MSG_WAITALL)
        out.append((time.perf_counter() - t) * 1e6)
    sock.close()
    return out


def dds_round_trips(n):
    """Float64 out, JointState back, through bench/dds_echo.py: the rclpy floor."""
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64

    from plant_server_ros.ros.subscription_waiter import SubscriptionWaiter
    echo = subprocess.Popen([sys.executable, str(Path(__file__).with_name('dds_echo.py')),
                             '/bench_floor', '120'])
    rclpy.init()
    node = Node('dds_floor', namespace='/bench_floor')
    pub = node.create_publisher(Float64, 'ping', 10)
    pongs = SubscriptionWaiter(node, JointState, 'pong', 100, 'pongs')
    out = []
    try:
        deadline = time.monotonic() + 30
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        ping = Float64(data=1.0)
        for i in range(n + 200):
            t = time.perf_counter()
            pub.publish(ping)
            while pongs.take() is None:
                pongs.wait(1.0)
            if i >= 200:
                out.append((time.perf_counter() - t) * 1e6)
    finally:
        pongs.close()
        node.destroy_node()
        rclpy.try_shutdown()
        stop_gracefully(echo)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--steps', type=int, default=5000)
    parser.add_argument('--executor', choices=('events', 'single'), default='events')
    parser.add_argument('--port', type=int, default=0, help='TCP port (default: a free one)')
    parser.add_argument('--poll-us', type=int, nargs=2, metavar=('PLANT', 'BRIDGE'),
                        help='busy_poll_us of the plant and of the bridge (default: config)')
    parser.add_argument('--one-process', action='store_true',
                        help='run dip_hil (both nodes in one process) instead of two processes')
    args = parser.parse_args()
    isolate_dds()
    if not args.port:
        probe = socket.socket()
        probe.bind(('127.0.0.1', 0))
        args.port = probe.getsockname()[1]
        probe.close()
    from plant_server_ros.clients import controllers
    from plant_server_ros.clients.tcp_client import LegacyClient

    env = {'PLANT_SERVER_EXECUTOR': args.executor}
    plant_poll = ['-p', f'busy_poll_us:={args.poll_us[0]}'] if args.poll_us else []
    bridge_poll = ['-p', f'busy_poll_us:={args.poll_us[1]}'] if args.poll_us else []
    if args.one_process:
        plant = bridge = NodeProcess('hil', '-r', '__ns:=/bench', '-p', 'mode:=lockstep',
                                     '-p', 'seed:=1', '-p', f'port:={args.port}',
                                     *plant_poll, env=env)
    else:
        plant = NodeProcess('plant_node', '-r', '__ns:=/bench', '-p', 'mode:=lockstep',
                            '-p', 'seed:=1', *plant_poll, env=env)
        bridge = NodeProcess('bridge_node', '-r', '__ns:=/bench', '-p', f'port:={args.port}',
                             *bridge_poll, env=env)
    try:
        wait_until_served(args.port)
        echo = echo_round_trips(echo_server(), args.steps)
        floor = dds_round_trips(args.steps)
        controller = controllers.lqr(0.01)
        with LegacyClient(port=args.port) as c:
            state, _ = c.reset()
            for _ in range(200):                        # warm-up
                state, _ = c.control(controller(state))
            state, _ = c.reset()
            c.round_trips.clear()
            cpu0 = cpu_seconds(plant.proc.pid), cpu_seconds(bridge.proc.pid)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                state, _ = c.control(controller(state))
            wall = time.perf_counter() - t0
            cpu1 = cpu_seconds(plant.proc.pid), cpu_seconds(bridge.proc.pid)
        rtt = [r * 1e6 for r in c.round_trips]
        layout = 'dip_hil (one process)' if args.one_process else 'plant + bridge processes'
        polls = f'busy_poll_us plant/bridge {args.poll_us[0]}/{args.poll_us[1]}' \
            if args.poll_us else 'busy_poll_us from config'
        print(f'{layout}, executor: {args.executor}, {polls}, {args.steps} lock-step steps')
        print(percentiles(echo, 'raw TCP echo round trip '))
        print(percentiles(floor, 'rclpy ping-pong (2 proc)'))
        print(percentiles(rtt, 'bridge+plant round trip  '))
        import numpy as np
        floor = float(np.percentile(floor, 50) + np.percentile(echo, 50))
        print(f'p50 ratio bridge+plant / (rclpy ping-pong + TCP echo) = '
              f'{np.percentile(rtt, 50) / floor:.2f} (target <= 1.4)')
        print(f'steps/s (client loop incl. LQR): {args.steps / wall:.0f}')
        if args.one_process:
            print(f'CPU per step: dip_hil {(cpu1[0] - cpu0[0]) / args.steps * 1e6:.0f} us')
        else:
            print(f'CPU per step: plant {(cpu1[0] - cpu0[0]) / args.steps * 1e6:.0f} us, '
                  f'bridge {(cpu1[1] - cpu0[1]) / args.steps * 1e6:.0f} us')
        print(f'final |th1|={abs(state[1]):.4f} rad (balanced: {abs(state[1]) < 0.3})')
    finally:
        bridge.stop()
        if plant is not bridge:
            plant.stop()


if __name__ == '__main__':
    main()
