"""
The bridge's backend: the plant reached over its ROS topics.

A CONTROL is answered with the first ``state`` sample that arrives after the
request was taken (PROTOCOL.md): in real time that is the next tick, in
lock-step the sample this control produced, so one rule serves both modes
(:class:`~..runtime.replies.ReplyRule`, the one the in-process host uses).
Plant time is ``stamp - episode start``, and whether the plant runs, halted
or finished, from the plant's latched ``episode`` topic (:mod:`.contract`).

Reply path: the session thread takes ``state`` samples itself
(:class:`.subscription_waiter.SubscriptionWaiter`) instead of being woken by
the executor thread; everything else (episode, reset service, parameters)
stays on the bridge node and its executor.

Until the plant has been seen once (DDS discovery takes seconds here), a
request waits up to ``startup_grace`` for it instead of failing; after that,
``reply_timeout`` applies.
"""

import threading
import time

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header
from std_srvs.srv import Trigger

from . import contract
from .messages import NS_PER_S, stamp_ns, state_msg, state_of
from .subscription_waiter import SubscriptionWaiter
from ..legacy.backend import BadState, PlantBackend, PlantFinished, PlantHalted, \
    PlantUnavailable
from ..physics.state import check_state, InvalidStateError
from ..runtime.replies import ReplyRule
from ..runtime.settings import SETTINGS

WAIT_SLICE = 0.05      # s; a wait also ends at once on shutdown or a new episode


class PlantLink(PlantBackend):
    """Blocking ``control``/``reset`` calls for the legacy sessions of one bridge node."""

    def __init__(self, node, plant_node=SETTINGS['plant_node'].default,
                 reply_timeout=SETTINGS['reply_timeout'].default, busy_poll=0.0,
                 startup_grace=SETTINGS['startup_grace'].default):
        self.node = node
        self.reply_timeout = float(reply_timeout)
        self.startup_grace = float(startup_grace)
        self.busy_poll = float(busy_poll)   # s; used while the plant is in lock-step
        self._lockstep = False
        self.track_limit = None
        self._lock = threading.Lock()       # samples and episode
        self._io = threading.Lock()         # one request in flight at a time
        self._replies = ReplyRule()         # (state, stamp_ns) samples: PROTOCOL.md's rule
        self._episode_seq = 0
        self._episode_ns = None
        self._halted = None
        self._finished = False
        self._closed = False
        self._plant_ready = False           # seen once: from then on reply_timeout applies

        self._control_msg = Float64()
        self._control_pub = node.create_publisher(Float64, contract.CONTROL,
                                                  contract.CONTROL_QOS)
        self._reset_to_pub = node.create_publisher(JointState, contract.RESET_TO, 10)
        self._reset_client = node.create_client(Trigger, contract.RESET)
        self._params_client = node.create_client(GetParameters, f'{plant_node}/get_parameters')
        node.create_subscription(Header, contract.EPISODE, self._on_episode, contract.LATCHED)
        self._states = SubscriptionWaiter(node, JointState, contract.STATE, contract.STATE_QOS)

    # -- PlantBackend status -------------------------------------------------
    @property
    def halted(self):
        """Return why the plant stopped, as its ``episode`` topic said; None while it runs."""
        return self._halted

    @property
    def finished(self):
        """Return True once the plant said ``finished`` or the bridge is closing."""
        return self._finished or self._closed

    @property
    def seen_plant(self):
        """Return True once the plant's ``episode`` topic has been heard."""
        return self._episode_ns is not None

    # -- episode (executor thread) -------------------------------------------
    def _on_episode(self, msg):
        episode = contract.parse_episode(msg)
        with self._lock:
            self._finished = episode.status == contract.FINISHED
            if episode.status == contract.HALTED:
                self._halted = episode.reason or 'plant halted'
            elif episode.running:
                self._lockstep = episode.status == 'lockstep'
                self._halted = None
                self._episode_seq += 1
                self._episode_ns = episode.start_ns
        self._states.wake()

    # -- samples (session thread) --------------------------------------------
    def _take_all(self, poll=0.0):
        """
        Move every sample DDS holds into the history, oldest first.

        With ``poll``, first wait that long (busily) for one to arrive.
        """
        msg = self._states.poll(poll)
        while msg is not None:
            try:
                state = state_of(msg)
            except ValueError:
                state = None
            if state is not None:
                self._replies.published((state, stamp_ns(msg.header.stamp)))
            msg = self._states.take()

    def _wait_for(self, find, timeout, halt_ends=True):
        """Take samples until ``find()`` returns one; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        # In lock-step the reply comes within a few hundred microseconds:
        # polling that long first saves a thread wake-up (real time: no).
        poll = self.busy_poll if self._lockstep else 0.0
        while True:
            self._take_all(poll)
            poll = 0.0
            self._check_open(halt_ends)
            with self._lock:
                found = find()
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0.0:
                return None
            self._states.wait(min(remaining, WAIT_SLICE))

    def _await_plant(self):
        """Before the plant was first seen: wait (up to the grace) until it can be asked."""
        if self._plant_ready:
            return
        deadline = time.monotonic() + self.startup_grace
        while not (self.seen_plant and self._control_pub.get_subscription_count()
                   and self._reset_client.service_is_ready()):
            self._check_open(halt_ends=False)
            if time.monotonic() > deadline:
                raise PlantUnavailable(f'no plant found within {self.startup_grace:g} s')
            self._states.wait(WAIT_SLICE)
        self._plant_ready = True

    def _check_closed(self):
        # First thing under _io: once close() has run, the subscription is gone, and
        # a request that comes after it must not touch it (an RCLError, not FINISHED).
        if self._closed:
            raise PlantFinished('bridge shutting down')

    def _check_open(self, halt_ends=True):
        if self._closed:
            raise PlantFinished('bridge shutting down')
        if self._finished:
            raise PlantFinished('plant reached max_steps')
        if halt_ends and self._halted is not None:
            raise PlantHalted(self._halted, self._last_reply())

    def _first_after(self, mark):
        if self._episode_ns is None:
            return None
        return self._replies.first_after(mark)

    def _reply(self, sample):
        state, ns = sample
        with self._lock:
            return state, (ns - self._episode_ns) / NS_PER_S

    def _last_reply(self):
        latest = self._replies.latest()
        return self._reply(latest) if latest is not None and self._episode_ns \
            is not None else None

    # -- requests (session thread) -------------------------------------------
    def control(self, u):
        """Send ``u``; return ``(state, t)`` of the first sample after it."""
        with self._io:
            self._check_closed()
            self._await_plant()
            self._take_all()            # what arrived before this request is not its reply
            self._check_open()
            mark = self._replies.mark()
            self._control_msg.data = float(u)
            self._control_pub.publish(self._control_msg)
            sample = self._wait_for(lambda: self._first_after(mark), self.reply_timeout)
            if sample is None:
                raise PlantUnavailable(f'no plant state within {self.reply_timeout:g} s')
            return self._reply(sample)

    def reset(self, state=None):
        """Reset the plant (to ``state`` when given); return its t = 0 sample."""
        with self._io:
            self._check_closed()
            self._await_plant()
            if state is not None:
                self._check_state(state)
            self._take_all()
            self._check_open(halt_ends=False)
            mark, episode = self._replies.mark(), self._episode_seq
            if state is None:
                if not self._reset_client.service_is_ready():
                    raise PlantUnavailable('the plant reset service is not available')
                self._reset_client.call_async(Trigger.Request())
            else:
                self._reset_to_pub.publish(
                    state_msg(state, self.node.get_clock().now().to_msg()))

            def reset_sample():
                if self._episode_seq == episode:
                    return None
                start_ns = self._episode_ns
                return self._replies.first_after(mark, where=lambda s: s[1] == start_ns)

            sample = self._wait_for(reset_sample, self.reply_timeout, halt_ends=False)
            if sample is None:
                raise PlantUnavailable(f'no reset state within {self.reply_timeout:g} s')
            return self._reply(sample)

    def _check_state(self, state):
        limit = self.track_limit if self.track_limit is not None else self.fetch_track_limit()
        if limit is None:
            raise PlantUnavailable("cannot read the plant's track_limit")
        try:
            check_state(state, limit)
        except InvalidStateError as exc:
            raise BadState(str(exc)) from None

    def fetch_track_limit(self):
        """Read (and cache) the plant's ``track_limit`` parameter; None if unreachable."""
        if not self._params_client.wait_for_service(timeout_sec=self.reply_timeout):
            return None
        event = threading.Event()
        future = self._params_client.call_async(GetParameters.Request(names=['track_limit']))
        future.add_done_callback(lambda _: event.set())
        if not event.wait(self.reply_timeout) or future.result() is None:
            return None
        values = future.result().values
        if not values or values[0].type != ParameterType.PARAMETER_DOUBLE:
            return None
        self.track_limit = values[0].double_value
        return self.track_limit

    def close(self):
        """Wake the waiting session with FINISHED; then release the reply node."""
        if self._closed:
            return
        self._closed = True
        self._states.wake()
        with self._io:                  # the session thread has left its wait
            self._states.close()
