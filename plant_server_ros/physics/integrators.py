"""
Explicit Runge-Kutta steps for the cart-pendulum's second-order system.

The state is ``(x, th1, th2, xdot, th1dot, th2dot)``; the model supplies the
accelerations ``accel(th1, th2, xdot, th1dot, th2dot, u)``.  Position rates
are the velocities themselves, and the cart position never enters the
accelerations (the rail is translation invariant), so ``x`` is only summed.

Butcher's 7-stage sixth-order method is the default: at the 10 ms control
period near upright it stays below 1e-9 per period in one step, where
classical RK4 needs five substeps and more time (``bench/bench_dynamics.py``
prints both).  How many substeps a period takes elsewhere is
:mod:`.substeps`' rule; :meth:`SecondOrderStepper.advance` takes its count.
"""

from dataclasses import dataclass
from fractions import Fraction as F
import functools


@dataclass(frozen=True)
class ButcherTableau:
    """Coefficients of an explicit Runge-Kutta method (lower-triangular ``a``)."""

    name: str
    order: int
    a: tuple
    b: tuple
    c: tuple


RK4 = ButcherTableau(
    name='rk4', order=4,
    a=((), (F(1, 2),), (0, F(1, 2)), (0, 0, 1)),
    b=(F(1, 6), F(1, 3), F(1, 3), F(1, 6)),
    c=(0, F(1, 2), F(1, 2), 1))

# J. C. Butcher (1964), "On Runge-Kutta processes of high order".
RK6_BUTCHER = ButcherTableau(
    name='rk6', order=6,
    a=((),
       (F(1, 3),),
       (0, F(2, 3)),
       (F(1, 12), F(1, 3), F(-1, 12)),
       (F(-1, 16), F(9, 8), F(-3, 16), F(-3, 8)),
       (0, F(9, 8), F(-3, 8), F(-3, 4), F(1, 2)),
       (F(9, 44), F(-9, 11), F(63, 44), F(18, 11), 0, F(-16, 11))),
    b=(F(11, 120), 0, F(27, 40), F(27, 40), F(-4, 15), F(-4, 15), F(11, 120)),
    c=(0, F(1, 3), F(2, 3), F(1, 3), F(1, 2), F(1, 2), 1))

TABLEAUX = {t.name: t for t in (RK4, RK6_BUTCHER)}
# The model's own choice: the settings table's defaults of ``integrator`` and
# ``substeps`` are these (physics stands below the table, which reads them here).
DEFAULT_INTEGRATOR = RK6_BUTCHER.name
DEFAULT_SUBSTEPS = 1


def _straight_line(tableau, extra=(), accel=None):
    """
    Compile ``tableau`` into one straight-line step function (no inner loops).

    The loops over a tableau's entries cost more than the arithmetic they
    do; unrolled, a rk6 period costs about a quarter less
    (``bench/bench_dynamics.py``).  Operations keep the order of the textbook
    loop (each stage sum accumulated left to right), so results are the
    same to the bit.  The coefficients come in already scaled by ``h``.
    ``accel``: bound into the step instead of passed, and one substep
    without a loop: ``step(state, u, coefficients, *extra)``.  A compiler
    vectorising a loop over lanes (:mod:`.batch_numba`) needs a body free of
    loops and of calls through arguments.
    """
    namespace = {'accel': accel}
    exec(compile(straight_line_source(tableau, extra, accel is not None),
                 f'<{tableau.name} step>', 'exec'), namespace)
    return namespace['step']


def straight_line_source(tableau, extra=(), bound=False):
    """Return the source of :func:`_straight_line`'s step (``bound``: ``accel`` a global)."""
    rows = [[j for j, a in enumerate(row) if a] for row in tableau.a]
    weights = [j for j, b in enumerate(tableau.b) if b]
    names = [f'a{i}_{j}' for i, row in enumerate(rows) for j in row] + \
        [f'b{j}' for j in weights]
    tail = ''.join(f', {name}' for name in extra)     # more held inputs after u
    lines = [f'def step(state, u, coefficients, substeps, accel{tail}):' if not bound
             else f'def step(state, u, coefficients{tail}):',
             f'    ({", ".join(names)},) = coefficients',
             '    x, t1, t2, v, w1, w2 = state',
             # ``if True:`` keeps the body's indentation; compilers drop it.
             '    for _ in range(substeps):' if not bound else '    if True:']
    for i, row in enumerate(rows):
        sums = {}
        for var, part in (('t1', 'q1'), ('t2', 'q2'), ('v', 'p0'), ('w1', 'p1'),
                          ('w2', 'p2')):
            sums[var] = var + ''.join(f' + a{i}_{j} * {part}_{j}' for j in row)
        lines.append(f'        q0_{i}, q1_{i}, q2_{i} = {sums["v"]}, {sums["w1"]}, '
                     f'{sums["w2"]}')
        lines.append(f'        p0_{i}, p1_{i}, p2_{i} = accel({sums["t1"]}, {sums["t2"]}, '
                     f'q0_{i}, q1_{i}, q2_{i}, u{tail})')
    for var, part in (('x', 'q0'), ('t1', 'q1'), ('t2', 'q2'), ('v', 'p0'), ('w1', 'p1'),
                      ('w2', 'p2')):
        terms = ''.join(f' + b{j} * {part}_{j}' for j in weights)
        lines.append(f'        {var} = {var}{terms}')
    lines.append('    return (x, t1, t2, v, w1, w2)')
    return '\n'.join(lines) + '\n'


class SecondOrderStepper:
    """Fixed-step explicit RK for ``accel``, ``substeps`` steps per call."""

    def __init__(self, accel, tableau=RK6_BUTCHER, substeps=DEFAULT_SUBSTEPS, extra=()):
        if substeps < 1:
            raise ValueError('substeps must be >= 1')
        self.accel = accel
        self.tableau = tableau
        self.substeps = int(substeps)
        # ``extra``: names of further held inputs passed to ``accel`` after u.
        self._step = _straight_line(tableau, tuple(extra))
        # A few sizes recur (the period; partial periods around a control;
        # the substeps of a spinning plant).
        self._coefficients = functools.lru_cache(maxsize=32)(self._scale)

    def _scale(self, h):
        # Scaling by h once per step size keeps those multiplies out of the step.
        t = self.tableau
        return tuple(float(a) * h for row in t.a for a in row if a) + \
            tuple(float(b) * h for b in t.b if b)

    def step(self, state, u, dt, *extra):
        """Advance ``state`` by ``dt`` with ``u`` (and ``extra`` inputs) held."""
        return self._step(state, u, self._coefficients(dt / self.substeps), self.substeps,
                          self.accel, *extra)

    def advance(self, state, u, dt, substeps, *extra):
        """Advance ``state`` by ``dt`` in ``substeps`` equal steps (:mod:`.substeps` picks n)."""
        return self._step(state, u, self._coefficients(dt / substeps), substeps,
                          self.accel, *extra)
