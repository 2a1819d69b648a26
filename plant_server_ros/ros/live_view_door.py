"""
The live view on the ROS door: the bridge feeds it from the plant's topics.

The bridge holds no plant of its own: it keeps the same
:class:`~..runtime.views.PlantView` a local plant keeps (period, geometry,
episode, halt, push), filled from the plant's ``episode``, ``episode_info``,
``events`` and ``ground_truth`` topics; the
page's buttons call the plant's ``reset`` and ``estop`` services and push
through its ``disturbance`` topic, as any ROS user could.  The page itself
is opened with the other doors (:class:`~..doors.assembly.Doors`).
"""

import json
import threading

from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header, String
from std_srvs.srv import Trigger

from . import contract
from .messages import stamp_ns, state_of
from ..doors.web.actions import Pulse
from ..physics.dynamics import DIPParams
from ..runtime.plant import Event
from ..runtime.schedule import PlantListener, Sample
from ..runtime.views import EpisodeView, NO_PUSH, PlantView

SERVICE_WAIT = 2.0     # s a button waits for the plant's service to answer


def episode_view(description, last):
    """Return the EpisodeView of an ``episode_info`` record (``last``'s where it is silent)."""
    try:
        params = DIPParams(**description.get('parameters', {}))
    except (TypeError, ValueError):
        params = last.params               # keep the last geometry that made sense
    scenario = description.get('scenario', {})
    return EpisodeView(
        number=description.get('episode', last.number),
        dt=float(description.get('dt', last.dt)), params=params,
        track_limit=float(description.get('track_limit', last.track_limit)),
        max_force=last.max_force,
        scenario=scenario.get('name') if isinstance(scenario, dict) else None,
        description=description)


class BridgeLiveView:
    """
    The live view's feed and buttons on the bridge node: its subscriptions, ROS calls.

    ``plant``: what the page reads, kept from the plant's topics;
    :meth:`attach` gives it the view to feed (until then, no one hears).
    """

    def __init__(self, node):
        self.node = node
        self.plant = PlantView()
        self.episode_ns = None           # stamp of the current episode's t = 0
        self.view = PlantListener()
        self._reset = node.create_client(Trigger, contract.RESET)
        self._estop = node.create_client(Trigger, contract.ESTOP)
        self._push = node.create_publisher(Float64MultiArray, contract.DISTURBANCE, 10)
        self._faults = node.create_publisher(String, contract.FAULTS, 10)
        self.pulse = Pulse(self._set_disturbance)
        node.create_subscription(Header, contract.EPISODE, self._on_episode, contract.LATCHED)
        node.create_subscription(String, contract.EPISODE_INFO, self._on_info, contract.LATCHED)
        node.create_subscription(String, contract.EVENTS, self._on_event, contract.EVENTS_QOS)
        node.create_subscription(JointState, contract.GROUND_TRUTH, self._on_state,
                                 contract.STATE_QOS)

    def attach(self, view):
        """Feed ``view`` (a :class:`~..doors.web.live_view.LiveView`) from the plant's topics."""
        self.view = view

    def close(self):
        """Clear a push still held (while ROS still runs)."""
        try:
            self.pulse.cancel()
        except Exception:  # noqa: B902 - shutting down: the push dies with the plant's link
            pass

    # -- the plant's topics (the bridge's executor thread) -------------------
    def _on_episode(self, msg):
        episode = contract.parse_episode(msg)
        if episode.status == contract.HALTED:
            self.plant.fault = episode.reason
            self.view.on_halt(episode.reason)
        elif episode.status == contract.FINISHED:
            self.view.on_finish()
        else:
            self.plant.fault = None
            self.episode_ns = episode.start_ns
            self.view.on_halt(None)

    def _on_info(self, msg):
        try:
            self.plant.episode = episode_view(json.loads(msg.data), self.plant.episode)
        except (ValueError, AttributeError):
            return
        self.plant.live_disturbance = NO_PUSH
        self.view.on_episode(0)
        if self.plant.fault is not None:       # the latched halt may have come first
            self.view.on_halt(self.plant.fault)

    def _on_event(self, msg):
        try:
            event = json.loads(msg.data)
            self.view.on_event(Event(float(event['t']), str(event['kind']),
                                     str(event['detail'])))
        except (ValueError, KeyError, TypeError):
            pass

    def _on_state(self, msg):
        if self.episode_ns is None:
            return
        try:
            state = state_of(msg)
        except ValueError:
            return
        dt_ns = round(self.plant.dt * 1e9)
        stamp = stamp_ns(msg.header.stamp)
        # The index counts on across episodes (as the core's does); t restarts.
        index = round(stamp / dt_ns)
        t = round((stamp - self.episode_ns) / dt_ns) * self.plant.dt
        force = msg.effort[0] if msg.effort else 0.0
        self.view.on_sample(Sample(index, t, state, state, force))

    # -- the page's buttons (the live view's command thread) -----------------
    def reset(self):
        """Reset the plant through its ``reset`` service."""
        return self._call(self._reset, 'reset')

    def estop(self):
        """Stop the plant through its ``estop`` service."""
        return self._call(self._estop, 'estop')

    def push(self, force, tau1=0.0, tau2=0.0, duration=0.1):
        """Push the plant for ``duration`` s through its ``disturbance`` topic."""
        return self.pulse(force, tau1, tau2, duration)

    def fault(self, fault):
        """Send a checked fault to the plant's ``faults`` topic (its events tell the rest)."""
        self._faults.publish(String(data=json.dumps(fault.to_dict())))
        return fault.describe()

    def clear_faults(self):
        """Ask the plant to remove every fault of the episode."""
        self._faults.publish(String(data='clear'))
        return 'faults cleared'

    def _set_disturbance(self, force, tau1=0.0, tau2=0.0):
        self.plant.live_disturbance = (float(force), float(tau1), float(tau2))
        if self.node.context.ok():             # after Ctrl-C there is no one to tell
            self._push.publish(Float64MultiArray(data=list(self.plant.live_disturbance)))
        return self.plant.live_disturbance

    def _call(self, client, name):
        if not client.service_is_ready():
            raise RuntimeError(f'the plant service {name} is not available')
        done = threading.Event()
        future = client.call_async(Trigger.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(SERVICE_WAIT) or future.result() is None:
            raise RuntimeError(f'the plant service {name} did not answer')
        result = future.result()
        if not result.success:
            raise RuntimeError(result.message)
        return result.message
