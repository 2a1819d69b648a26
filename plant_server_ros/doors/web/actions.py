"""
The live view's buttons: what a command from the page does at the door.

:class:`HostActions` on a plant host in this process (``PlantServer``'s);
the bridge node's, ROS calls, are :mod:`plant_server_ros.ros.live_view_door`.
Both hold a push for its duration with a :class:`Pulse`.  Nothing here
needs ``websockets``.
"""

import threading


class Pulse:
    """
    A disturbance held for ``duration`` seconds, then cleared, from a timer thread.

    ``set_disturbance(force, tau1, tau2)`` is the door's own (a
    ``PlantServer``'s, a schedule's).  A new pulse replaces one still held;
    :meth:`cancel` clears a held pulse at once.
    """

    def __init__(self, set_disturbance):
        self._set = set_disturbance
        self._lock = threading.Lock()
        self._timer = None
        self._held = 0              # number of the pulse held now (0: none)
        self._count = 0

    def __call__(self, force, tau1=0.0, tau2=0.0, duration=0.1):
        """Hold ``(force, tau1, tau2)`` from now for ``duration`` s; return what the door says."""
        with self._lock:
            values = self._set(force, tau1, tau2)      # raises: the held push stays timed
            if self._timer is not None:
                self._timer.cancel()
            self._count += 1
            self._held = self._count
            self._timer = threading.Timer(duration, self._clear, (self._count,))
            self._timer.daemon = True
            self._timer.start()
            return values

    def _clear(self, number):
        with self._lock:
            if self._held == number:
                self._held = 0
                self._timer = None
                self._set(0.0, 0.0, 0.0)

    def cancel(self):
        """Clear a pulse still held, now (idempotent)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._held:
                self._held = 0
                self._set(0.0, 0.0, 0.0)


class HostActions:
    """
    The live view's buttons, and what feeds it, on a plant host in this process.

    ``plant``: what the page reads (the host's
    :class:`~...runtime.views.PlantView`); :meth:`attach` makes a view hear
    the host's samples and events.  ``backend``: the host's legacy backend
    (:class:`~...legacy.host_backend.HostBackend`): a reset from the page is
    a legacy client's RESET.
    """

    def __init__(self, host, backend):
        self.host = host
        self.backend = backend
        self.plant = host.view
        self.pulse = Pulse(host.set_disturbance)

    def attach(self, view):
        """Let ``view`` hear every sample and event of the host (before it starts)."""
        self.host.add_observer(view)

    def reset(self):
        """Start a new episode (real time: at the next tick); the t = 0 ``(state, t)``."""
        return self.backend.reset(None)

    def push(self, force, tau1=0.0, tau2=0.0, duration=0.1):
        """Push the plant for ``duration`` s."""
        return self.pulse(force, tau1, tau2, duration)

    def estop(self):
        """Emergency stop; the halt reason."""
        return self.host.estop('live view e-stop')

    def fault(self, fault):
        """Inject a checked :class:`~....conditions.faults.Fault`; the fault as it runs."""
        return self.host.inject(fault).describe()

    def clear_faults(self):
        """Remove every fault of the episode."""
        self.host.clear_faults()
        return 'faults cleared'

    def close(self):
        """Clear a push still held."""
        self.pulse.cancel()


def PlantServerActions(server):     # noqa: N802 - the name it had as a class
    """Return the live view's buttons on a :class:`~...server.plant_server.PlantServer`."""
    return HostActions(server.host, server.backend)
