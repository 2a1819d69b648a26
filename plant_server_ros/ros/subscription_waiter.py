"""
Take one subscription's messages on the calling thread, without an executor.

For the two request/reply hot paths (the bridge waiting for the plant's
sample, the lock-step plant waiting for a control) an executor callback plus
a hand-off to another thread costs more than the DDS hop itself.  This waits
on an rcl wait set directly, as rclpy's own ``wait_for_message`` does:
measured here, a two-process ping-pong takes ~190 us per round trip this way,
~220 us with an EventsExecutor callback, ~300 us with a callback that wakes
a waiting thread.

The subscription lives on a hidden node (``_<node>_<suffix>``) that no
executor spins, in the same namespace and context as ``node``.  The hidden
node takes no command-line arguments (a launch file's ``-r __node:=plant``
would otherwise rename it to ``plant`` too, giving two nodes of one name):
the topic is resolved by ``node``, with every remap that applies to it, and
subscribed by its absolute name.  A publisher whose QoS can never match
would be silent, so ``node`` looks at the topic's publishers once a second
(a steady timer: a graph query, nothing on the hot path) and warns, in its
own name, once per such publisher.  Not through the subscription's QoS
event: an event handler spun by ``node``'s executor shares the
subscription's handle with :meth:`take`, and measured here it slowed the
lock-step round trip from ~1.5 ms p99 to ~100 ms.
"""

import time

from rclpy.clock import Clock, ClockType
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import qos_check_compatible, QoSCompatibility

CHECK_PERIOD = 1.0         # s between looks at the topic's publishers


class SubscriptionWaiter:
    """A subscription read by :meth:`take`, with :meth:`wait` to block for it."""

    def __init__(self, node, msg_type, topic, qos, suffix):
        self._node = Node(f'_{node.get_name()}_{suffix}', namespace=node.get_namespace(),
                          context=node.context, use_global_arguments=False,
                          enable_rosout=False, start_parameter_services=False)
        self._msg_type = msg_type
        self.topic = node.resolve_topic_name(topic)
        self._qos = qos
        self._subscription = self._node.create_subscription(
            msg_type, self.topic, lambda _: None, qos)
        self._owner = node
        self._warned = set()
        self._check = node.create_timer(CHECK_PERIOD, self._check_publishers,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._guard = self._node.create_guard_condition(lambda: None)
        self._wait_set = _rclpy.WaitSet(1, 1, 0, 0, 0, 0, node.context.handle)
        self._closed = False

    def _check_publishers(self):
        for info in self._owner.get_publishers_info_by_topic(self.topic):
            gid = bytes(info.endpoint_gid)
            if gid in self._warned:
                continue
            compatibility, reason = qos_check_compatible(info.qos_profile, self._qos)
            if compatibility == QoSCompatibility.ERROR:
                self._warned.add(gid)
                who = f'{info.node_namespace.rstrip("/")}/{info.node_name}'
                why = reason.removeprefix('ERROR: ').rstrip(';')
                self._owner.get_logger().warning(
                    f'{who} publishes on {self.topic} with a QoS incompatible with this '
                    f'subscription ({why}): none of its messages will arrive; publish '
                    f'{qos_summary(self._qos)}')

    def take(self):
        """Return the oldest message DDS holds, or None; never blocks."""
        taken = self._subscription.handle.take_message(self._msg_type, False)
        return None if taken is None else taken[0]

    def poll(self, seconds):
        """Try :meth:`take` for up to ``seconds`` without sleeping; the message or None."""
        msg = self.take()
        if msg is not None or seconds <= 0.0:
            return msg
        end = time.perf_counter() + seconds
        while msg is None and time.perf_counter() < end:
            msg = self.take()
        return msg

    def wait(self, timeout):
        """Block until a message may be there, :meth:`wake` is called, or ``timeout`` s."""
        ws = self._wait_set
        ws.clear_entities()
        ws.add_subscription(self._subscription.handle)
        ws.add_guard_condition(self._guard.handle)
        ws.wait(int(max(timeout, 0.0) * 1e9))

    def wake(self):
        """End the current (or next) :meth:`wait` at once; safe from any thread."""
        if not self._closed:
            self._guard.trigger()

    def close(self):
        """Release the wait set and the hidden node (no wait may be running)."""
        if not self._closed:
            self._closed = True
            self._owner.destroy_timer(self._check)
            self._wait_set.destroy_when_not_in_use()
            self._node.destroy_node()


def qos_summary(qos):
    """``reliable, volatile`` for a profile: what a publisher must offer to match it."""
    return f'{qos.reliability.name.lower()}, {qos.durability.name.lower()}'
