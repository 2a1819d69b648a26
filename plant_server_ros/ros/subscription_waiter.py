"""
Take one subscription's messages on the calling thread, without an executor.

For the two request/reply hot paths (the bridge waiting for the plant's
sample, the lock-step plant waiting for a control) an executor callback plus
a hand-off to another thread costs more than the DDS hop itself.  This waits
on an rcl wait set directly, as rclpy's own ``wait_for_message`` does:
measured here, a two-process ping-pong takes ~190 us per round trip this way,
~220 us with an EventsExecutor callback, ~300 us with a callback that wakes
a waiting thread.

The subscription belongs to ``node`` itself, so the graph tells the truth
(``ros2 node info /dip/plant`` lists ``/dip/control``, rqt_graph draws the
edge), but it is made below rclpy's :class:`~rclpy.node.Node` API: an rcl
subscription on the node's handle that is in none of its callback groups,
so no executor ever waits on it or takes from it; only :meth:`take` does, on
the calling thread.  The topic is resolved by rcl as for any subscription
of ``node``, with every remap that applies to it.  A publisher whose QoS can
never match would be silent, so ``node`` looks at the topic's publishers
once a second (a steady timer: a graph query, nothing on the hot path) and
warns, in its own name, once per such publisher.  Not through the
subscription's QoS event: an event handler spun by ``node``'s executor
shares the subscription's handle with :meth:`take`, and measured here it
slowed the lock-step round trip from ~1.5 ms p99 to ~100 ms.  (Until this
design the subscription lived on a hidden helper node, ``_plant_controls``
or ``_bridge_replies``, which hid the control path from introspection.)
"""

import time

from rclpy.clock import Clock, ClockType
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.qos import qos_check_compatible, QoSCompatibility, QoSProfile
from rclpy.type_support import check_is_valid_msg_type

CHECK_PERIOD = 1.0         # s between looks at the topic's publishers


class SubscriptionWaiter:
    """A subscription read by :meth:`take`, with :meth:`wait` to block for it."""

    def __init__(self, node, msg_type, topic, qos, suffix=None):
        # ``suffix``: once the hidden helper node's name; kept for callers, unused.
        self._msg_type = msg_type
        self.topic = node.resolve_topic_name(topic)
        self._qos = qos = QoSProfile(depth=qos) if isinstance(qos, int) else qos
        check_is_valid_msg_type(msg_type)
        with node.handle:
            self._subscription = _rclpy.Subscription(
                node.handle, msg_type, topic, qos.get_c_qos_profile(), None)
        self._owner = node
        self._warned = set()
        self._check = node.create_timer(CHECK_PERIOD, self._check_publishers,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._guard = _rclpy.GuardCondition(node.context.handle)
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
        taken = self._subscription.take_message(self._msg_type, False)
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
        ws.add_subscription(self._subscription)
        ws.add_guard_condition(self._guard)
        ws.wait(int(max(timeout, 0.0) * 1e9))

    def wake(self):
        """End the current (or next) :meth:`wait` at once; safe from any thread."""
        if not self._closed:
            with self._guard:
                self._guard.trigger_guard_condition()

    def close(self):
        """Release the wait set, the guard and the subscription (no wait may be running)."""
        if not self._closed:
            self._closed = True
            self._owner.destroy_timer(self._check)
            self._wait_set.destroy_when_not_in_use()
            self._guard.destroy_when_not_in_use()
            self._subscription.destroy_when_not_in_use()


def qos_summary(qos):
    """``reliable, volatile`` for a profile: what a publisher must offer to match it."""
    return f'{qos.reliability.name.lower()}, {qos.durability.name.lower()}'
