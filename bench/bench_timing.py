"""
Real-time timing of the plant node, seen from a subscriber in another process.

The plant (realtime mode) and a reference publisher (bench/reference_publisher.py:
absolute deadlines, final busy-wait, nothing else) run at the same time; one
subscriber in this process records arrival times of both.  Printed per
configuration: messages missing, the latest arrival after its nominal stamp,
arrival-interval jitter p50/p99 of |interval - dt| for plant and reference
(and their ratio), and the plant process's CPU in % of one core.

    python bench/bench_timing.py                       # 100 Hz, 60 s, both executors
    python bench/bench_timing.py --rate 1000 --seconds 10 --priority 0 50
    python bench/bench_timing.py --control     # a ROS controller in the loop
    python bench/bench_timing.py --executor events --record off on   # recording's cost
"""

import argparse
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

from _common import cpu_seconds, isolate_dds, NodeProcess
import numpy as np

HERE = Path(__file__).resolve().parent


def measure(rate, seconds, executor, priority, control, record=False):
    import rclpy
    from rclpy.experimental import EventsExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64

    dt = 1.0 / rate
    arrivals = {'plant': [], 'ref': []}
    stamps = {'plant': [], 'ref': []}
    rclpy.init()
    node = Node('timing_subscriber')
    control_pub = node.create_publisher(Float64, '/timing/control', 10)
    zero = Float64(data=0.0)

    recording = threading.Event()

    def recorder(name):
        def cb(msg):
            if not recording.is_set():
                return
            arrivals[name].append(time.time_ns())
            stamps[name].append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            if control and name == 'plant':     # a ROS controller closing the loop
                control_pub.publish(zero)
        return cb

    node.create_subscription(JointState, '/timing/state', recorder('plant'), 1000)
    node.create_subscription(JointState, '/timing_ref/state', recorder('ref'), 1000)
    spin = EventsExecutor()
    spin.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [spin.spin_once(timeout_sec=0.05)
                                               for _ in iter(stop.is_set, True)])
    spinner.start()
    record_args = []
    if record:
        import tempfile
        record_dir = tempfile.mkdtemp(prefix='bench_timing_record_')
        record_args = ['-p', f'record:={record_dir}']
    plant = NodeProcess('plant_node', '-r', '__ns:=/timing', '-p', f'dt:={dt}',
                        '-p', f'realtime_priority:={priority}', *record_args,
                        env={'PLANT_SERVER_EXECUTOR': executor})
    ref = subprocess.Popen([sys.executable, str(HERE / 'reference_publisher.py'),
                            '/timing_ref/state', str(dt), str(seconds + 1.0)], env=os.environ)
    try:
        time.sleep(2.5)                               # discovery; plant and ref warm up
        recording.set()
        cpu0, w0 = cpu_seconds(plant.proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu = (cpu_seconds(plant.proc.pid) - cpu0) / (time.monotonic() - w0)
        recording.clear()
    finally:
        ref.wait(30)
        plant.stop()
        warnings = plant.output
        stop.set()
        spinner.join()
        node.destroy_node()
        rclpy.try_shutdown()

    def stats(name):
        a = np.array(arrivals[name], dtype=np.int64)
        s = np.array(stamps[name], dtype=np.int64)
        n = len(a)
        k = np.round((s - s[0]) / (dt * 1e9)).astype(np.int64)
        missing = int(k[-1] + 1 - len(np.unique(k))) if n else 0
        jitter = np.abs(np.diff(a) / 1e9 - dt) * 1e6
        late = (a - s) / 1e9
        return n, missing, jitter, late

    print(f'-- {rate:g} Hz for {seconds:g} s, plant executor {executor}, '
          f'realtime_priority {priority}, control per sample: {control}, '
          f'recording: {"on" if record else "off"}')
    jit = {}
    for name in ('plant', 'ref'):
        n, missing, jitter, late = stats(name)
        jit[name] = np.percentile(jitter, 99)
        print(f'{name:5s}: {n} msgs, {missing} missing, latest arrival after stamp '
              f'{late.max() * 1e3:.3f} ms ({late.max() / dt:.2f} dt), '
              f'intervals over 1.5 dt: {int(np.sum(np.diff(arrivals[name]) > 1.5 * dt * 1e9))}, '
              f'jitter |interval-dt| p50 {np.percentile(jitter, 50):.0f} us '
              f'p99 {np.percentile(jitter, 99):.0f} us max {jitter.max():.0f} us')
    print(f'jitter ratio plant/ref (p99): {jit["plant"] / jit["ref"]:.2f}; '
          f'plant CPU {cpu * 100:.1f} % of a core')
    for line in warnings.splitlines():
        if 'SCHED_FIFO' in line or 'late' in line:
            print('plant said:', line.strip()[:160])
            break


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--rate', type=float, default=100.0)
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--executor', nargs='+', default=['events', 'single'])
    parser.add_argument('--priority', type=int, nargs='+', default=[0])
    parser.add_argument('--control', action='store_true',
                        help='answer every plant sample with a control message')
    parser.add_argument('--record', nargs='+', choices=('off', 'on'), default=['off'],
                        help='run without and/or with the MCAP recording of every episode')
    args = parser.parse_args()
    isolate_dds()
    for executor in args.executor:
        for priority in args.priority:
            for record in args.record:
                measure(args.rate, args.seconds, executor, priority, args.control,
                        record == 'on')


if __name__ == '__main__':
    main()
