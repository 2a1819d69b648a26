"""
The test conditions of a batch, one numpy operation for all lanes.

Each class does what its single-plant counterpart in
:mod:`plant_server_ros.conditions` does, with the same arithmetic in the
same order (so a lane agrees with the plant to the bit where numpy's
``sin`` is not involved), over ``(N,)`` arrays.  What a class does not
model is refused when the batch is built, naming the setting: never a
silent difference from the single plant.
"""

import math

import numpy as np

from ..conditions.disturbances import cut_period, DisturbanceSchedule

_EPSILON = 1e-9          # s; as runtime/plant.py: a time this close to a period's end is in it


class LaneSensors:
    """Bias, white noise and quantisation per channel (the SensorModel's stages, in order)."""

    def __init__(self, model):
        if model.delay:
            raise ValueError('PlantBatch does not model sensor.delay yet')
        if model.velocities != 'measured':
            raise ValueError('PlantBatch does not model sensor.velocities: derived yet')
        for name, spec in zip(('x', 'theta1', 'theta2', 'x_dot', 'theta1_dot', 'theta2_dot'),
                              model.channels):
            for setting in ('drift_std', 'dropout'):
                if getattr(spec, setting):
                    raise ValueError(f'PlantBatch does not model sensor.{setting} yet '
                                     f'(channel {name})')
            if spec.stuck_from is not None:
                raise ValueError(f'PlantBatch does not model sensor.stuck_from yet '
                                 f'(channel {name})')
        self.channels = model.channels
        self.noisy = tuple(i for i, s in enumerate(model.channels) if s.noise_std)
        self.ideal = not any(s.bias or s.noise_std or s.quantum for s in model.channels)

    def measure(self, columns, lanes, draws):
        """Return the six measured ``(N,)`` columns (``lanes``: the lanes sampled now)."""
        if self.ideal:
            return columns
        z = draws.normals('sensor', len(self.noisy), lanes) if self.noisy else None
        out = list(columns)
        k = 0
        for i, spec in enumerate(self.channels):
            v = out[i]
            if spec.bias:
                v = v + spec.bias
            if spec.noise_std:
                v = v + z[k] * spec.noise_std
                k += 1
            if spec.quantum:
                v = np.round(v / spec.quantum) * spec.quantum
            out[i] = v
        return out


class LaneActuator:
    """Saturation (per lane), deadband, lag, slew limit and delay of the ActuatorModel."""

    def __init__(self, model, n, max_force):
        self.deadband = model.deadband
        self.alpha = model._alpha
        self.max_change = model._max_change
        self.delay = model.delay
        self.dynamic = model.dynamic
        self.max_force = max_force
        self.output = np.zeros(n)
        self._line = np.zeros((self.delay, n))
        self._head = 0

    def reset(self, lanes):
        """Output 0 and the delay line emptied, in ``lanes`` (a boolean mask)."""
        self.output[lanes] = 0.0
        self._line[:, lanes] = 0.0

    def _shape(self, u):
        limit = self.max_force
        u = np.minimum(np.maximum(u, -limit), limit)
        if self.deadband:
            u = np.where(np.abs(u) < self.deadband, 0.0, u)
        return u

    def apply(self, u, lanes):
        """
        Return the force each lane feels over this period for command ``u``.

        As Plant.set_control then ActuatorModel.step: shaped on arrival, and a
        motor with memory takes the shaped command at the period boundary.
        """
        u = self._shape(u)
        if not self.dynamic:
            return u
        if self.delay:
            line = self._line
            u, line[self._head] = line[self._head].copy(), u
            self._head = (self._head + 1) % self.delay
        target = self._shape(u)
        force = self.output
        new = target if self.alpha is None else force + self.alpha * (target - force)
        if self.max_change is not None:
            change = new - force
            new = np.where(change > self.max_change, force + self.max_change,
                           np.where(change < -self.max_change, force - self.max_change, new))
        self.output = np.where(lanes, new, force)
        return new


class LaneDisturbances:
    """
    A scenario's disturbances at each lane's own episode time.

    A period that a window edge cuts inside (rare: at most two periods per
    disturbance and episode) is reported per lane, with its pieces as
    DisturbanceSchedule.period gives them, for the batch to integrate
    piece by piece; every other period holds one ``(F, tau1, tau2)``.
    """

    def __init__(self, disturbances, dt, n):
        self.dt = dt
        schedule = DisturbanceSchedule(disturbances, dt, None if not any(
            d.kind == 'noise' for d in disturbances) else _NoRng())
        self._items = schedule._items
        self.empty = schedule.empty
        self.torques = any(item[0] > 0 for item in self._items)
        self._filters = np.zeros((max((item[7] + 1 for item in self._items
                                       if item[1] == 3), default=0), n))

    def reset(self, lanes):
        """Set the noise filter states back to 0 in ``lanes``."""
        self._filters[:, lanes] = 0.0

    def period(self, t0, lanes, draws):
        """
        Return ``(F, tau1, tau2, cut)`` for the period starting at ``t0`` (an ``(N,)`` array).

        ``cut``: None, or ``{lane: pieces}`` of the lanes whose period an edge
        cuts (pieces as DisturbanceSchedule.period returns them).
        """
        dt = self.dt
        base = [0.0, 0.0, 0.0]
        cut = None
        for slot, code, lo, hi, amp, w, phase, k in self._items:
            lo_off = lo - t0
            hi_off = hi - t0
            active = (lo_off < dt) & (hi_off > 0.0) & lanes
            if code == 0:
                value = amp
            elif code == 1:
                elapsed = t0 - lo
                value = amp * np.sin(np.where(elapsed > 0.0, w * elapsed + phase, phase))
            else:
                z = draws.normals('disturbance', 1, active)[0]
                if code == 2:
                    value = amp * z
                else:
                    value = w * self._filters[k] + amp * z
                    self._filters[k] = np.where(active, value, self._filters[k])
            partial = active & ((lo_off > 0.0) | (hi_off < dt))
            full = active & ~partial
            base[slot] = base[slot] + np.where(full, value, 0.0)
            if partial.any():
                cut = cut if cut is not None else {}
                value = np.broadcast_to(value, t0.shape)
                for i in np.flatnonzero(partial):
                    cut.setdefault(int(i), []).append(
                        (slot, float(value[i]), float(lo_off[i]), float(hi_off[i])))
        if cut is not None:
            cut = {i: _pieces(base, i, items, dt) for i, items in cut.items()}
        return base[0], base[1], base[2], cut


def _pieces(base, i, partial, dt):
    """DisturbanceSchedule.period's cutting, for one lane (the same code, the same numbers)."""
    return cut_period([float(b[i]) if np.ndim(b) else float(b) for b in base], partial, dt)


class _NoRng:
    """A stand-in generator: the batch draws its noise itself (never called)."""

    def gauss(self, mu, sigma):
        raise AssertionError('unreachable')


class LaneSafety:
    """The SafetyLimits of every lane, checked in SafetyLimits.check's order."""

    def __init__(self, limits, track_limit):
        self.limits = limits
        self.track_limit = track_limit            # (N,) array: per lane
        self.track_only = math.isinf(limits.fall_angle) and \
            math.isinf(limits.max_cart_speed) and math.isinf(limits.max_joint_rate)

    def check(self, columns):
        """Return the reason code per lane: 0 none, else an index of REASONS (1..4)."""
        x, t1, t2, v, w1, w2 = columns
        code = np.where(np.abs(x) > self.track_limit, 1, 0)
        if self.track_only:
            return code
        lim = self.limits
        code = np.where((code == 0) & ((np.abs(t1) > lim.fall_angle)
                                       | (np.abs(t2) > lim.fall_angle)), 2, code)
        code = np.where((code == 0) & (np.abs(v) > lim.max_cart_speed), 3, code)
        code = np.where((code == 0) & ((np.abs(w1) > lim.max_joint_rate)
                                       | (np.abs(w2) > lim.max_joint_rate)), 4, code)
        return code
