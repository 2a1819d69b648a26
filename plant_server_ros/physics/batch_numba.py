"""
An optional compiled kernel for BatchDynamics (``pip install numba``); numpy stays the reference.

Still written once: the per-lane function is made from the source of
:func:`~.equations.make_accel`'s inner ``accel`` (its body, unchanged, with
the model constants turned from closure cells into arguments), and the
step is the integrator's straight-line code (:mod:`.integrators`, one
substep, no loop) with those constants passed as extra held inputs.  numba
compiles them with IEEE arithmetic (no fastmath, no contraction into FMA),
and the loop over lanes, whose body is then free of loops and calls,
becomes SIMD code: ``sin``/``cos`` are :mod:`.lane_trig`'s polynomials, not
libm calls (a call in the loop would keep it scalar).

Why: numpy's per-operation passes (about 770 of them and 28 ``sin``/``cos``
per rk6 period) cap the numpy batch far below the issue's targets
(``docs/tune_and_train.md``); a loop over lanes in machine code does each
lane's period in registers, several lanes per instruction.

A period in which an angle is beyond :data:`.lane_trig.LARGE` (or not
finite) at its start or end is computed again with libm's ``sin``/``cos``
(the same kernel, scalar), where the polynomial reduction loses digits.

``test/test_batch.py`` compares it with the numpy path.
"""

import hashlib
import importlib.util
import inspect
import os
from pathlib import Path
import sys
import textwrap
import types

import numpy as np

from . import equations, lane_trig
from .integrators import DEFAULT_INTEGRATOR, straight_line_source, TABLEAUX

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


# Why these choices (measured; vectorised: about 100 ns a lane-period here, scalar 350-600):
# - the accelerations and the step are inlined by numba itself (its IR): left
#   to LLVM, the calls stay and the lane loop stays scalar;
# - the trigonometry is left to LLVM, which inlines the small functions: numba
#   inlining them too copies their IR into every one of the 28 call sites,
#   and compiling took 52 s instead of about 9;
# - error_model='numpy': a division by zero gives inf (as numpy), not an
#   exception, whose branch would keep the loop scalar.
def _inline(function):
    return numba.njit(inline='always', error_model='numpy')(function)


def _compiled(function):
    return numba.njit(error_model='numpy')(function)


def _trig():
    """Return the compiled ``(sin, cos)`` of :mod:`.lane_trig`."""
    namespace = {name: _compiled(getattr(lane_trig, name))
                 for name in ('reduce', 'kernel_sin', 'kernel_cos')}
    functions = []
    for name in ('sin', 'cos'):
        # Re-bound so the helpers they call are the compiled ones.
        f = getattr(lane_trig, name)
        rebound = type(f)(f.__code__, {**lane_trig.__dict__, **namespace}, name)
        functions.append(_compiled(rebound))
    return tuple(functions)


_KERNELS = {}

# The lane loop of the kernel's module (below, with its accel and step).
# parallel=True even for one thread: numba's parallel lowering of this loop
# is what LLVM vectorises (a plain loop stays scalar, 3-4x slower: measured);
# the thread count is set per call.
_LANE_LOOP = """
@numba.njit(parallel=True, error_model='numpy', cache=True)
def advance(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps):
    n = x.shape[0]
    out = np.empty((6, n))
    out[0], out[1], out[2], out[3], out[4], out[5] = x, t1, t2, v, w1, w2
    for _ in range(substeps):
        for i in numba.prange(n):
            s = step((out[0, i], out[1, i], out[2, i], out[3, i], out[4, i], out[5, i]),
                     u[i], coefficients, q1[i], q2[i], c[0, i], c[1, i], c[2, i],
                     c[3, i], c[4, i], c[5, i], c[6, i], c[7, i], c[8, i], c[9, i],
                     c[10, i])
            out[0, i], out[1, i], out[2, i] = s[0], s[1], s[2]
            out[3, i], out[4, i], out[5, i] = s[3], s[4], s[5]
    return out
"""


def _scalar_loop(integrator):
    """
    Return the single plant's compiled period: the same ``step``, libm's ``sin``/``cos``.

    ``c``: the 11 model constants, ``w``: the tableau's weights (unscaled),
    ``h``: the substep.  The weights are scaled here as the Python stepper
    scales them (``w * h``), so a period is the Python plant's to the bit
    (``test/test_accuracy.py``); arrays, as a tuple of 30 floats costs the
    call more than the step.
    """
    t = TABLEAUX[integrator]
    count = sum(1 for row in t.a for a in row if a) + sum(1 for b in t.b if b)
    scaled = ', '.join(f'w[{j}] * h' for j in range(count))
    constants = ', '.join(f'c[{j}]' for j in range(len(CONSTANTS)))
    return (f"@numba.njit(error_model='numpy', cache=True)\n"
            f'def advance(x, t1, t2, v, w1, w2, u, q1, q2, c, w, h, substeps):\n'
            f'    coefficients = ({scaled},)\n'
            f'    s = (x, t1, t2, v, w1, w2)\n'
            f'    for _ in range(substeps):\n'
            f'        s = step(s, u, coefficients, q1, q2, {constants})\n'
            f'    return s\n')


def _module_source(integrator, trig, loop=_LANE_LOOP):
    """Return the kernel's whole source: accel, step, lane loop (``trig``: vector or libm)."""
    # Pass-through names of their own: the tableau's weights are called b0, b2, ...
    extra = ('q1', 'q2') + tuple(f'c_{name}' for name in CONSTANTS)
    return '\n'.join([
        '# Made by plant_server_ros.physics.batch_numba from equations.make_accel and the',
        "# integrator's straight-line step: a file, so that numba can cache the kernel.",
        'import math', '', 'import numba', 'import numpy as np',
        'from plant_server_ros.physics.batch_numba import _inline, _trig', '',
        'sin, cos = _trig()' if trig == 'vector' else 'sin, cos = math.sin, math.cos', '',
        _lane_accel_source(True), 'accel = _inline(accel)', '',
        straight_line_source(TABLEAUX[integrator], extra, bound=True),
        'step = _inline(step)', loop])


def cache_directory():
    """Return where the kernel's source files (and numba's cache of them) live."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'plant_server_ros' / 'batch_kernels'


def _build(integrator, trig, scalar=False):
    """
    Return the compiled lane loop, from a source file numba caches (about 9 s cold).

    The file's name holds a hash of everything its machine code depends on
    (its own source, lane_trig's, this module's, numba's version), so a
    changed kernel is a new file, never a stale cache.  Where the cache
    directory cannot be written, the source is compiled in memory, uncached.
    """
    source = _module_source(integrator, trig, _scalar_loop(integrator) if scalar else _LANE_LOOP)
    digest = hashlib.sha256('\0'.join((
        source, inspect.getsource(lane_trig), inspect.getsource(sys.modules[__name__]),
        numba.__version__, np.__version__)).encode()).hexdigest()[:16]
    name = f'dip_{"scalar" if scalar else "batch"}_{integrator}_{trig}_{digest}'
    path = cache_directory() / f'{name}.py'
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f'.{os.getpid()}.tmp')
            partial.write_text(source)
            os.replace(partial, path)           # whole, even with another process at it
    except OSError:
        module = types.ModuleType(name)
        exec(compile(source.replace('cache=True', 'cache=False'), f'<{name}>', 'exec'),
             module.__dict__)
        return module.advance
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # numba's cached code finds its module by name
    spec.loader.exec_module(module)
    return module.advance


def kernel(integrator=DEFAULT_INTEGRATOR, parallel=False):
    """
    Return the compiled ``advance(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps)``.

    ``c``: the ``(11, N)`` model constants; returns the new ``(6, N)`` state.
    ``parallel``: lanes over numba's threads (prange).
    """
    if numba is None:
        raise ImportError('the compiled batch kernel needs numba (pip install numba)')
    if integrator not in _KERNELS:
        _KERNELS[integrator] = (_build(integrator, 'vector'), _build(integrator, 'libm'))
    vector, libm = _KERNELS[integrator]

    def advance(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps):
        threads = numba.get_num_threads()
        if not parallel:
            numba.set_num_threads(1)
        try:
            out = vector(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps)
            # np.max is NaN where any angle is: the comparison is then False too.
            if not (np.max((np.abs(out[1:3]).max(), np.abs(t1).max(), np.abs(t2).max()))
                    <= lane_trig.LARGE):
                out = libm(x, t1, t2, v, w1, w2, u, q1, q2, c, coefficients, substeps)
        finally:
            numba.set_num_threads(threads)
        return out
    return advance


_SCALAR = {}


def scalar_kernel(integrator=DEFAULT_INTEGRATOR):
    """
    Return the single plant's compiled ``advance(x, t1, t2, v, w1, w2, u, q1, q2, c, w, h, n)``.

    ``n`` substeps of ``h`` (``c``: the 11 model constants, ``w``: the
    tableau's unscaled weights, both float arrays); returns the 6-tuple.
    Compiled once per machine (cached beside the batch's kernels), loaded
    when a plant is built: never in its loop.
    """
    if numba is None:
        raise ImportError('the compiled step needs numba (pip install numba)')
    if integrator not in _SCALAR:
        advance = _build(integrator, 'libm', scalar=True)
        # numba loads (or compiles) the machine code at the first call: here,
        # with the very argument types of DIPDynamics.step, not in a plant's loop.
        advance(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.ones(len(CONSTANTS)),
                np.zeros(sum(1 for row in TABLEAUX[integrator].a for a in row if a)
                         + sum(1 for b in TABLEAUX[integrator].b if b)), 0.01, 1)
        _SCALAR[integrator] = advance
    return _SCALAR[integrator]
