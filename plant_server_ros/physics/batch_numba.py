"""
An optional compiled kernel for BatchDynamics (``pip install numba``); numpy stays the reference.

Still written once: the per-lane function is made from the source of
:func:`~.equations.make_accel`'s inner ``accel`` (its body, unchanged, with
the model constants turned from closure cells into arguments), and the
step is the integrator's straight-line code (:mod:`.integrators`) with
those constants passed as extra held inputs.  numba compiles both with
``math.sin``/``math.cos`` and IEEE arithmetic (no fastmath), looping over
the lanes.  Why: numpy's per-operation passes (about 770 of them and 28
``sin``/``cos`` per rk6 period) cap the numpy batch far below the issue's
targets on this machine (``docs/tune_and_train.md``); a loop over lanes in
machine code does each lane's period in registers.

``test/test_batch.py`` compares it with the numpy path.
"""

import inspect
import math
import textwrap

import numpy as np

from . import equations
from .integrators import _straight_line, TABLEAUX

CONSTANTS = ('mt', 'h1', 'h2', 'h3', 'j1', 'j2', 'g1', 'g2', 'b0', 'b1', 'b2')

try:
    import numba
except ImportError:          # the optional extra is not installed
    numba = None


def available():
    """Tell whether numba is installed."""
    return numba is not None


def _lane_accel_source(torques):
    """Return the source of ``accel`` with the constants as trailing arguments."""
    source = textwrap.dedent(inspect.getsource(equations.make_accel))
    body = source.split('    def accel(th1, th2, v, w1, w2, u, q1=0.0, q2=0.0):\n', 1)[1]
    body = body.split('\n    return accel', 1)[0]
    args = ', '.join(CONSTANTS)
    return (f'def accel(th1, th2, v, w1, w2, u, q1, q2, {args}):\n'
            f'    j1j2 = j1 * j2\n'
            f'    torques = {torques}\n'
            + textwrap.indent(textwrap.dedent(body), '    '))


_KERNELS = {}


def kernel(integrator='rk6', parallel=False):
    """
    Return the compiled ``advance(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps)``.

    ``c``: the ``(11, N)`` model constants; returns the new ``(6, N)`` state.
    ``parallel``: lanes over numba's threads (prange).
    """
    if numba is None:
        raise ImportError('the compiled batch kernel needs numba (pip install numba)')
    if (integrator, parallel) in _KERNELS:
        return _KERNELS[integrator, parallel]
    namespace = {'sin': math.sin, 'cos': math.cos}
    exec(compile(_lane_accel_source(True), '<lane accel>', 'exec'), namespace)
    accel = numba.njit(namespace['accel'])
    # Pass-through names of their own: the tableau's weights are called b0, b2, ...
    extra = ('q1', 'q2') + tuple(f'c_{name}' for name in CONSTANTS)
    step = numba.njit(_straight_line(TABLEAUX[integrator], extra))

    @numba.njit(parallel=parallel)
    def advance(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps):
        n = x.shape[0]
        out = np.empty((6, n))
        for i in numba.prange(n):
            s = step((x[i], t1[i], t2[i], v[i], w1[i], w2[i]), u[i], coefficients, substeps,
                     accel, q1[i], q2[i], c[0, i], c[1, i], c[2, i], c[3, i], c[4, i],
                     c[5, i], c[6, i], c[7, i], c[8, i], c[9, i], c[10, i])
            for k in range(6):
                out[k, i] = s[k]
        return out

    _KERNELS[integrator, parallel] = advance
    return advance
