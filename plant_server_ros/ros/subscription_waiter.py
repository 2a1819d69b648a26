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
subscribed by its absolute name.  Its QoS events are handed to ``node``, so
the executor that spins ``node`` warns, in ``node``'s name, of a publisher
whose QoS can never match (which would otherwise be silent).
"""

import time

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import qos_policy_name_from_kind


class SubscriptionWaiter:
    """A subscription read by :meth:`take`, with :meth:`wait` to block for it."""

    def __init__(self, node, msg_type, topic, qos, suffix):
        self._node = Node(f'_{node.get_name()}_{suffix}', namespace=node.get_namespace(),
                          context=node.context, use_global_arguments=False,
                          enable_rosout=False, start_parameter_services=False)
        self._msg_type = msg_type
        self.topic = node.resolve_topic_name(topic)
        topic_name = self.topic
        logger = node.get_logger()

        def incompatible(event):
            policy = qos_policy_name_from_kind(event.last_policy_kind)
            logger.warning(f'a publisher on {topic_name} offers a QoS incompatible with this '
                           f'subscription ({policy}): none of its messages will arrive; '
                           f'publish {qos_summary(qos)}')

        self._subscription = self._node.create_subscription(
            msg_type, self.topic, lambda _: None, qos,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=incompatible))
        self._owner = node
        self._events = list(self._subscription.event_handlers)
        for handler in self._events:
            node.add_waitable(handler)
        self._guard = self._node.create_guard_condition(lambda: None)
        self._wait_set = _rclpy.WaitSet(1, 1, 0, 0, 0, 0, node.context.handle)
        self._closed = False

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
            for handler in self._events:
                try:
                    self._owner.remove_waitable(handler)
                except ValueError:   # the owner was destroyed first
                    pass
            self._wait_set.destroy_when_not_in_use()
            self._node.destroy_node()


def qos_summary(qos):
    """``reliable, volatile`` for a profile: what a publisher must offer to match it."""
    return f'{qos.reliability.name.lower()}, {qos.durability.name.lower()}'
