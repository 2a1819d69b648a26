"""
How many Runge-Kutta substeps a period needs: one rule for the plant and every lane of a batch.

A fixed rk6 step at a 10 ms period is the exact solution to 1e-10 near
upright but not once the links spin (1e-9 at |theta dot| ~ 7.5 rad/s,
1e-6 past 15 rad/s, issue 28).  The period is therefore split into ``n``
equal substeps, with ``n`` from a bound of how fast the state moves at the
period's (or the piece's) start::

    rate = sqrt(th1dot**2 + th2dot**2) + FORCE_RATE * (|u + F| + TORQUE_FORCE * (|q1| + |q2|))
           + floor
    n    = ceil((dt * rate / span) ** ((order + 1) / order)),   1 <= n <= MAX_SUBSTEPS

(a method of order ``p`` makes an error ~ ``(h rate)**(p+1)`` per substep,
so ``n`` substeps make ``n * (dt rate / n)**(p+1)``: the power keeps the
bound for any period, not only 10 ms).  ``span`` per tableau and the
force's weight were measured against DOP853 (rtol = atol = 1e-13) over
random states with any angles, |theta dot| <= 40 rad/s, |x dot| <= 5 m/s,
|u| <= 20 N and every mass +-10 %: the fit to 1e-10 per period, a tenth of
the promised 1e-9 (rk6 needs no ``floor``: its error at rest is ~1e-11;
rk4's is set by gravity's own time scale, so it has one, and 5 substeps
at rest) (``bench/bench_accuracy.py`` prints the error over
10,000 states; ``test/test_accuracy.py`` checks it with its own
reference).  Near upright ``dt * rate <= span`` and ``n`` is what it was
(the configured ``substeps``): the reference run is unchanged there.
``MAX_SUBSTEPS`` bounds a period's work (rk6 needs ~25 at 40 rad/s).

The rate at a period's start bounds the period only if the period is
short: the rule was fitted on 10 ms.  A longer period (the ``dt``
setting goes to 1 s) is first cut into equal chunks of at most
:data:`CHUNK`, each counted at its own start (:func:`chunks`); without,
a 50 ms period from rest at a horizontal link was off by 1e-7.

The rate is written once (:func:`rate`) over floats or ``(N,)`` arrays
with an injected ``sqrt`` (``math.sqrt`` and ``numpy.sqrt`` are both
correctly rounded): a lane gets the count the single plant gets.
"""

import math

import numpy as np

from .integrators import DEFAULT_SUBSTEPS

MAX_SUBSTEPS = 256
# The longest stretch one count covers [s] (the period the rule was fitted on).
CHUNK = 0.01
_CHUNK_SLACK = CHUNK * (1.0 + 1e-9)      # 0.01 in any rounding is one chunk
# The largest ``dt * rate`` one substep may span, and the rate at rest, per
# tableau (measured, see above: fits 0.0373 and 0.0090, kept below them).
SPANS = {'rk6': 0.036, 'rk4': 0.0085}
FLOORS = {'rk6': 0.0, 'rk4': 3.0}
ORDERS = {'rk6': 6, 'rk4': 4}
# rad/s of rate per newton on the cart (fitted with the span).
FORCE_RATE = 0.05
# A joint torque of 1 N m moves a link about as much as this force on the cart
# moves it (measured as the span: 20 left torques of 1-5 N m at 3e-9, 40 at
# 5e-10, 60 at 1e-10).
TORQUE_FORCE = 60.0


def rate(w1, w2, force, torque, floor, sqrt):
    """Return the bound of how fast the state moves (1/s): floats or ``(N,)`` arrays."""
    return sqrt(w1 * w1 + w2 * w2) + FORCE_RATE * (abs(force) + TORQUE_FORCE * torque) + floor


def chunks(dt):
    """Return how many equal chunks of at most :data:`CHUNK` a period ``dt`` is cut into."""
    return 1 if dt <= _CHUNK_SLACK else math.ceil(dt / _CHUNK_SLACK)


class SubstepRule:
    """The substep count of a tableau, at least the configured ``substeps``."""

    def __init__(self, integrator, substeps=DEFAULT_SUBSTEPS):
        if integrator not in SPANS:
            raise ValueError(f'integrator must be one of {sorted(SPANS)}, got {integrator!r}')
        self.span = SPANS[integrator]
        self.floor = FLOORS[integrator]
        self.power = (ORDERS[integrator] + 1) / ORDERS[integrator]
        self.least = int(substeps)

    def count(self, dt, w1, w2, force, torque=0.0, sqrt=math.sqrt):
        """Return the substeps of a period ``dt`` from rates ``w1, w2`` under ``force``."""
        reach = dt * rate(w1, w2, force, torque, self.floor, sqrt)
        if reach <= self.span:             # near upright: one test, nothing else
            return self.least
        if not reach < math.inf:           # a diverged state: the step halts the plant anyway
            return self.least
        return max(self.least, min(MAX_SUBSTEPS, math.ceil((reach / self.span) ** self.power)))

    def counts(self, dt, w1, w2, force, torque=0.0):
        """
        Return the substeps of N lanes (``dt``: a float or ``(N,)``).

        Near upright, every lane's: the int ``least``, from a bound of the
        lanes' rates by a few reductions (sqrt(a^2 + b^2) <= |a| + |b|), as
        the rule's passes over every lane would cost a compiled period of
        4,096 lanes some tens of per cent.  Else the ``(N,)`` int counts.
        """
        bound = _largest(dt) * (_largest(w1) + _largest(w2) + FORCE_RATE * (
            _largest(force) + TORQUE_FORCE * _largest(torque)) + self.floor)
        if bound <= self.span:
            return self.least
        reach = dt * rate(w1, w2, force, torque, self.floor, np.sqrt)
        with np.errstate(invalid='ignore', over='ignore'):
            need = np.ceil((reach / self.span) ** self.power)
        need = np.where((reach <= self.span) | ~np.isfinite(need), 1.0, need)
        return np.maximum(self.least, np.minimum(MAX_SUBSTEPS, need)).astype(np.int64)


def _largest(a):
    """Return ``max |a|`` of an array or a number (a NaN may be missed: its lane counts least)."""
    if isinstance(a, np.ndarray) and a.ndim:
        return abs(a).max()
    return abs(float(a))
