"""
N cart-pendulums integrated together: the plant's equations over numpy arrays.

One lane per plant, each with its own physical parameters.  The state is
kept as six ``(N,)`` columns (contiguous: numpy's element-wise loops are
fastest there), the accelerations are :func:`~.equations.make_accel` over
``(N,)`` constant arrays with ``numpy.sin``/``numpy.cos``, and the step is
the very straight-line code :mod:`.integrators` compiles for the scalar
plant (its tableau coefficients times arrays).  Nothing of the physics is
written twice.

A lane's step size may differ from the others' (an ``(N,)`` array of
``dt``): that is how a lane whose period is cut (a disturbance edge inside
it) is integrated piece by piece while the other lanes take their whole
period in one go (a zero piece leaves a lane untouched: ``x + 0 * k``).

Each lane takes the substeps :mod:`.substeps` gives the single plant in
its state (the one rule, over arrays): lanes are grouped by that count and
each group stepped on its own, so a spinning lane costs its own substeps,
not every lane's.  Near upright every lane has the configured count and
the period is the one call it always was.
"""

from dataclasses import fields

import numpy as np

from .dynamics import DIPParams
from .equations import make_accel, model_constants
from .integrators import DEFAULT_INTEGRATOR, DEFAULT_SUBSTEPS, SecondOrderStepper, TABLEAUX
from .substeps import chunks, SubstepRule

PARAMETER_NAMES = tuple(f.name for f in fields(DIPParams))
KERNELS = ('numpy', 'numba', 'numba-parallel', 'auto')


class LaneParams:
    """The physical parameters of N lanes: one ``(N,)`` float array per DIPParams field."""

    def __init__(self, n, params=None, **arrays):
        params = params if params is not None else DIPParams()
        for name in PARAMETER_NAMES:
            value = arrays.pop(name, getattr(params, name))
            value = np.array(np.broadcast_to(np.asarray(value, dtype=float), (n,)))
            setattr(self, name, value)
        if arrays:
            raise ValueError(f'unknown parameter(s) {sorted(arrays)}; known: {PARAMETER_NAMES}')

    @classmethod
    def from_list(cls, params_list):
        """Stack a list of DIPParams, one per lane."""
        n = len(params_list)
        return cls(n, **{name: [getattr(p, name) for p in params_list]
                         for name in PARAMETER_NAMES})

    def lane(self, i):
        """Return lane ``i``'s parameters as a DIPParams."""
        return DIPParams(**{name: float(getattr(self, name)[i]) for name in PARAMETER_NAMES})


class BatchDynamics:
    """The equations of motion and rk step of N lanes (``integrator`` as DIPDynamics)."""

    def __init__(self, lane_params, integrator=DEFAULT_INTEGRATOR, substeps=DEFAULT_SUBSTEPS,
                 kernel='numpy'):
        if integrator not in TABLEAUX:
            raise ValueError(f'integrator must be one of {sorted(TABLEAUX)}, got {integrator!r}')
        if kernel not in KERNELS:
            raise ValueError(f'kernel must be one of {KERNELS}, got {kernel!r}')
        if kernel == 'auto':
            from . import batch_numba
            kernel = 'numba' if batch_numba.available() else 'numpy'
        self.integrator = integrator
        self.substeps = int(substeps)
        self.kernel = kernel
        self.substep_rule = SubstepRule(integrator, substeps)
        # numpy: the reference; numba: physics/batch_numba.py (optional, the same source).
        self._compiled = None
        if kernel != 'numpy':
            from . import batch_numba
            self._compiled = batch_numba.kernel(integrator, parallel=kernel == 'numba-parallel')
        self.set_params(lane_params)

    def set_params(self, lane_params):
        """Use new per-lane parameters (after a reset that redrew some lanes)."""
        self.params = lane_params
        constants = model_constants(lane_params)
        n = lane_params.cart_mass.shape[0]
        self._constant_rows = np.array([np.broadcast_to(c, (n,)) for c in constants])
        self._accel = make_accel(constants, np.sin, np.cos)
        self._accel_q = make_accel(constants, np.sin, np.cos, torques=True)
        if hasattr(self, '_stepper'):
            # The compiled step is kept (compiling costs about a millisecond,
            # more than a period of 4,096 lanes); only the accelerations change.
            self._stepper.accel = self._accel
            self._stepper_q.accel = self._accel_q
            return
        tableau = TABLEAUX[self.integrator]
        self._stepper = SecondOrderStepper(self._accel, tableau, self.substeps)
        self._stepper_q = SecondOrderStepper(self._accel_q, tableau, self.substeps,
                                             extra=('q1', 'q2'))
        # The scalar stepper caches coefficients per step size; an array step
        # size is not hashable, so scale here.
        self._weights = tuple(float(a) for row in tableau.a for a in row if a) + \
            tuple(float(b) for b in tableau.b if b)

    def step(self, columns, u, dt, q1=None, q2=None):
        """
        Advance the six ``(N,)`` ``columns`` by ``dt`` (a float or ``(N,)``) under held ``u``.

        ``q1, q2``: generalised joint torques ``(tau1 - tau2, tau2)``, or None.
        Returns a new tuple of six columns.
        """
        m = chunks(dt if isinstance(dt, float) else float(np.max(dt)))
        if m > 1:              # a long period, chunk by chunk as the plant (lanes: alike)
            for _ in range(m):
                columns = self.step(columns, u, dt / m, q1, q2)
            return columns
        torque = 0.0 if q1 is None else abs(q1) + abs(q2)
        counts = self.substep_rule.counts(dt, columns[4], columns[5], u, torque)
        if not isinstance(counts, np.ndarray):          # near upright: every lane as set
            return self._advance(columns, u, dt, q1, q2, counts, None)
        out = [np.array(np.broadcast_to(c, counts.shape), dtype=float) for c in columns]
        for k in np.unique(counts):
            idx = np.flatnonzero(counts == k)
            part = self._advance(tuple(c[idx] for c in out), _pick(u, idx), _pick(dt, idx),
                                 _pick(q1, idx), _pick(q2, idx), int(k), idx)
            for c in range(6):
                out[c][idx] = part[c]
        return tuple(out)

    def _advance(self, columns, u, dt, q1, q2, substeps, idx):
        """Step ``columns`` (the lanes ``idx``, or all) in ``substeps`` equal substeps."""
        rows = self._constant_rows if idx is None else self._constant_rows[:, idx]
        if self._compiled is not None and isinstance(dt, float):
            n = rows.shape[1]
            zero = np.zeros(n)
            out = self._compiled(*(_lane_array(c, n) for c in columns), _lane_array(u, n),
                                 zero if q1 is None else _lane_array(q1, n),
                                 zero if q2 is None else _lane_array(q2, n),
                                 rows, self._stepper._coefficients(dt / substeps), substeps)
            return tuple(out)
        if idx is None:
            accel = self._accel if q1 is None else self._accel_q
        else:
            accel = make_accel(tuple(rows), np.sin, np.cos, q1 is not None)
        if isinstance(dt, float):
            coefficients = self._stepper._coefficients(dt / substeps)
        else:
            h = dt / substeps
            coefficients = tuple(w * h for w in self._weights)
        if q1 is None:
            return self._stepper._step(tuple(columns), u, coefficients, substeps, accel)
        return self._stepper_q._step(tuple(columns), u, coefficients, substeps, accel, q1, q2)


def _pick(value, idx):
    """Return the lanes ``idx`` of an ``(N,)`` array; a float (or None) is every lane's."""
    return value[idx] if isinstance(value, np.ndarray) and value.ndim else value


def _lane_array(value, n):
    """
    Return ``value`` as a writable C-contiguous ``(n,)`` float array (copied if need be).

    One array type for the compiled kernel: numba compiles a new version
    (seconds) for every other layout, a read-only or broadcast view among them.
    """
    a = np.asarray(value, dtype=float)
    if a.shape != (n,) or not a.flags.c_contiguous or not a.flags.writeable:
        a = np.array(np.broadcast_to(a, (n,)))
    return a
