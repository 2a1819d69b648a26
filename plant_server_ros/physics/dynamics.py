"""
Nonlinear double inverted pendulum on a cart (no ROS in here).

Conventions
-----------
State ``[x, th1, th2, xdot, th1dot, th2dot]`` in SI units; ``u`` is the force
on the cart along +x.  Angles are absolute, measured from the upright
vertical; a positive angle tilts the link's far end toward +x, so the tip of
link 1 sits at ``(x + L1 sin th1, L1 cos th1)``.

External disturbances enter as a horizontal force ``F`` on the cart and
torques ``tau1`` at joint 1 (cart-link 1) and ``tau2`` at joint 2 (between
the links: +tau2 on link 2, -tau2 on link 1); with absolute angles their
generalised forces are ``[u + F, tau1 - tau2, tau2]``.

The equations of motion come from the Lagrangian of the cart and two rigid
links (centre-of-mass distance ``l_i``, inertia ``I_i`` about the centre of
mass), with Rayleigh dissipation
``D = b0 xdot^2/2 + b1 th1dot^2/2 + b2 (th2dot - th1dot)^2/2``: viscous cart
friction, and each joint's friction acting on that joint's relative rate.
``M(q) qddot = tau(q, qdot, u)`` is solved in closed form (3x3 cofactors).

The hot path works on plain Python floats: for a 6-state system, numpy's
per-call overhead costs ten times more than the arithmetic
(``bench/bench_dynamics.py`` prints both).
"""

from dataclasses import asdict, dataclass, fields
from math import cos, sin

import numpy as np

from .equations import make_accel, model_constants
from .integrators import DEFAULT_INTEGRATOR, DEFAULT_SUBSTEPS, SecondOrderStepper, TABLEAUX
from .substeps import _CHUNK_SLACK as CHUNK_SLACK, chunks, SubstepRule


@dataclass(frozen=True)
class DIPParams:
    """Physical parameters (SI) of the original plant's configuration."""

    cart_mass: float = 1.5
    link1_mass: float = 0.2
    link2_mass: float = 0.15
    link1_length: float = 0.4
    link2_length: float = 0.3
    link1_com: float = 0.2
    link2_com: float = 0.15
    link1_inertia: float = 0.0081
    link2_inertia: float = 0.0034
    gravity: float = 9.81
    cart_friction: float = 0.2
    joint1_friction: float = 0.005
    joint2_friction: float = 0.004

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not np.isfinite(value) or value < 0.0:
                raise ValueError(f'{f.name} must be finite and >= 0, got {value!r}')
        for name in ('cart_mass', 'link1_mass', 'link2_mass', 'link1_length', 'link2_length'):
            if getattr(self, name) <= 0.0:
                raise ValueError(f'{name} must be > 0')
        _check_mass_matrix(self)

    def without_friction(self):
        """Return the same plant with all friction removed."""
        return DIPParams(**{**asdict(self), 'cart_friction': 0.0,
                            'joint1_friction': 0.0, 'joint2_friction': 0.0})


# The smallest reciprocal condition number of M(q) a plant may have: below
# it, solving M qddot = tau loses all but a few of a double's 16 digits.
MIN_RCOND = 1e-12
# M(q) depends on th1 and th2 through cos th1, cos th2 and cos(th1 - th2):
# a 5-degree grid over a full turn of each holds every extreme of those.
_GRID = np.radians(np.arange(0.0, 360.0, 5.0))
# cos th1, cos th2 and cos(th1 - th2) over that grid, computed once: every
# parameter set (each episode's draw, each batch lane's) is checked on them.
_TH1, _TH2 = np.meshgrid(_GRID, _GRID, indexing='ij')
_COS_GRID = (np.cos(_TH1), np.cos(_TH2), np.cos(_TH1 - _TH2))


def _check_mass_matrix(p):
    """Refuse parameters whose mass matrix is singular or ill-conditioned anywhere."""
    # Once per parameter set (vectorised over the grid), never per step.
    m0, m1, m2 = p.cart_mass, p.link1_mass, p.link2_mass
    h1 = m1 * p.link1_com + m2 * p.link1_length
    h2 = m2 * p.link2_com
    h3 = m2 * p.link1_length * p.link2_com
    j1 = m1 * p.link1_com ** 2 + m2 * p.link1_length ** 2 + p.link1_inertia
    j2 = m2 * p.link2_com ** 2 + p.link2_inertia
    th1, th2 = _TH1, _TH2
    c1, c2, c12 = _COS_GRID
    mt = m0 + m1 + m2
    det = (mt * j1 * j2 - mt * h3 ** 2 * c12 ** 2 - h1 ** 2 * j2 * c1 ** 2
           + 2.0 * h1 * h2 * h3 * c1 * c2 * c12 - h2 ** 2 * j1 * c2 ** 2)
    # Fast path: lambda_min / lambda_max >= det / trace**3 for a positive
    # definite 3x3 matrix; only a doubtful set pays for the eigenvalues.
    if np.all(np.isfinite(det)) and det.min() / (mt + j1 + j2) ** 3 >= MIN_RCOND:
        return
    mm = np.empty(th1.shape + (3, 3))
    mm[..., 0, 0] = m0 + m1 + m2
    mm[..., 0, 1] = mm[..., 1, 0] = h1 * np.cos(th1)
    mm[..., 0, 2] = mm[..., 2, 0] = h2 * np.cos(th2)
    mm[..., 1, 2] = mm[..., 2, 1] = h3 * np.cos(th1 - th2)
    mm[..., 1, 1] = j1
    mm[..., 2, 2] = j2
    with np.errstate(all='ignore'):
        eig = np.linalg.eigvalsh(mm)
        rcond = eig[..., 0] / eig[..., -1]
    worst = np.unravel_index(np.argmin(rcond), rcond.shape)
    if np.all(np.isfinite(rcond)) and rcond[worst] >= MIN_RCOND:
        return
    # Name the link that has (next to) no inertia about its joint.
    if j2 <= MIN_RCOND ** 0.5 * j1 or p.link2_com == 0.0 and p.link2_inertia == 0.0:
        names = 'link2_com and link2_inertia (link 2 has no inertia about joint 2)'
    elif j1 <= MIN_RCOND ** 0.5 * (m0 + m1 + m2):
        names = 'link1_com, link1_inertia and link1_length (link 1 has no inertia)'
    else:
        names = 'the masses, lengths, centres of mass and inertias together'
    raise ValueError(f'the mass matrix is singular or ill-conditioned (reciprocal condition '
                     f'{float(rcond[worst]):.3g} < {MIN_RCOND:g} at theta1 = '
                     f'{np.degrees(_GRID[worst[0]]):g} deg, theta2 = '
                     f'{np.degrees(_GRID[worst[1]]):g} deg): check {names}')


class DIPDynamics:
    """Equations of motion and an error-controlled rk integrator for one plant."""

    def __init__(self, params=None, integrator=DEFAULT_INTEGRATOR, substeps=DEFAULT_SUBSTEPS,
                 compiled=False):
        if integrator not in TABLEAUX:
            raise ValueError(f'integrator must be one of {sorted(TABLEAUX)}, got {integrator!r}')
        self.params = params if params is not None else DIPParams()
        self.integrator = integrator
        self.substeps = substeps
        # ``compiled``: the period in machine code (:mod:`.batch_numba`'s scalar
        # kernel, the batch's very source); this Python step stays the reference.
        self.compiled = bool(compiled)
        self._kernel = None
        if self.compiled:
            from .batch_numba import scalar_kernel
            tableau = TABLEAUX[integrator]
            self._kernel = scalar_kernel(integrator)
            self._kernel_constants = np.array(model_constants(self.params), dtype=float)
            self._kernel_weights = np.array(
                [float(a) for row in tableau.a for a in row if a]
                + [float(b) for b in tableau.b if b])
        (self._m_total, self._h1, self._h2, self._h3, self._j1, self._j2) = \
            model_constants(self.params)[:6]
        self._accel = self._make_accel()
        self._accel_q = self._make_accel(torques=True)
        self._stepper = SecondOrderStepper(self._accel, TABLEAUX[integrator], substeps)
        self._stepper_q = SecondOrderStepper(self._accel_q, TABLEAUX[integrator], substeps,
                                             extra=('q1', 'q2'))
        # At least ``substeps`` per period, more where the state moves fast.
        self.substep_rule = SubstepRule(integrator, substeps)
        # Bound once: the hot path of :meth:`step` (the stepper's own parts).
        self._count = self.substep_rule.count
        self._advance = self._stepper._step
        self._scaled = self._stepper._coefficients

    def _make_accel(self, torques=False):
        # The formulas are shared with the batch (physics/equations.py): here
        # over floats with math.sin/cos, there over arrays with numpy's.
        return make_accel(model_constants(self.params), sin, cos, torques)

    def with_params(self, params):
        """Return the same model (integrator, substeps) for other physical parameters."""
        return DIPDynamics(params, self.integrator, self.substeps, self.compiled)

    def accelerations(self, state, u, disturbance=None):
        """
        Return ``(xddot, th1ddot, th2ddot)`` at ``state`` under force ``u``.

        ``disturbance``: ``(F, tau1, tau2)`` acting besides ``u``, or None.
        """
        _, th1, th2, v, w1, w2 = state
        args = (float(th1), float(th2), float(v), float(w1), float(w2))
        if disturbance is None:
            return self._accel(*args, float(u))
        f, tau1, tau2 = (float(d) for d in disturbance)
        return self._accel_q(*args, float(u) + f, tau1 - tau2, tau2)

    def derivative(self, state, u, disturbance=None):
        """Return the state derivative as a 6-tuple."""
        a = self.accelerations(state, u, disturbance)
        return (float(state[3]), float(state[4]), float(state[5])) + a

    def step(self, state, u, dt, disturbance=None):
        """
        Advance ``state`` by ``dt`` with ``u`` (and ``disturbance``) held (zero-order hold).

        ``disturbance``: ``(F, tau1, tau2)`` or None; without torques the
        step is the plain one (no extra work, the same result to the bit).
        The period is split into the substeps :mod:`.substeps` asks for.
        """
        x, t1, t2, v, w1, w2 = state
        state = (float(x), float(t1), float(t2), float(v), float(w1), float(w2))
        dt = float(dt)
        if dt > CHUNK_SLACK:                      # a long period: counted chunk by chunk
            m = chunks(dt)
            for _ in range(m):
                state = self.step(state, u, dt / m, disturbance)
            return state
        if disturbance is None:
            force = float(u)
            if self._kernel is None:              # the plant's common period: fewest calls
                n = self._count(dt, state[4], state[5], force)
                return self._advance(state, force, self._scaled(dt / n), n, self._accel)
        else:
            f, tau1, tau2 = disturbance
            force = float(u) + float(f)
            if tau1 or tau2:
                q1, q2 = float(tau1) - float(tau2), float(tau2)
                n = self.substep_rule.count(dt, state[4], state[5], force, abs(q1) + abs(q2))
                if self._kernel is not None:
                    return self._kernel(*state, force, q1, q2, self._kernel_constants,
                                        self._kernel_weights, dt / n, n)
                return self._stepper_q.advance(state, force, dt, n, q1, q2)
        n = self.substep_rule.count(dt, state[4], state[5], force)
        if self._kernel is not None:
            return self._kernel(*state, force, 0.0, 0.0, self._kernel_constants,
                                self._kernel_weights, dt / n, n)
        return self._stepper.advance(state, force, dt, n)

    def mass_matrix(self, state):
        """Return the 3x3 generalised mass matrix ``M(q)``."""
        _, th1, th2 = state[:3]
        m01 = self._h1 * cos(th1)
        m02 = self._h2 * cos(th2)
        m12 = self._h3 * cos(th1 - th2)
        return np.array([[self._m_total, m01, m02],
                         [m01, self._j1, m12],
                         [m02, m12, self._j2]])

    def energy(self, state):
        """Total mechanical energy: kinetic plus potential (zero at rail height)."""
        _, th1, th2 = state[:3]
        qd = np.asarray(state[3:6], dtype=float)
        kinetic = 0.5 * qd @ self.mass_matrix(state) @ qd
        g = self.params.gravity
        potential = g * (self._h1 * cos(th1) + self._h2 * cos(th2))
        return float(kinetic + potential)

    def disturbance_power(self, state, disturbance):
        """Return the power ``F xdot + tau1 th1dot + tau2 (th2dot - th1dot)`` of a disturbance."""
        f, tau1, tau2 = disturbance
        _, _, _, v, w1, w2 = state
        return f * v + tau1 * w1 + tau2 * (w2 - w1)

    def dissipated_power(self, state):
        """Return the power lost to friction, ``2 D`` (>= 0)."""
        p = self.params
        _, _, _, v, w1, w2 = state
        return p.cart_friction * v * v + p.joint1_friction * w1 * w1 \
            + p.joint2_friction * (w2 - w1) ** 2

    def linearize(self):
        """
        Return ``(A, B)`` of the model linearised about the upright rest.

        Exact at ``q = 0, qdot = 0``: velocity-squared terms vanish there and
        ``sin th ~ th``, leaving ``M0 qddot = K q - D qdot + e1 u``.
        """
        p = self.params
        m0 = self.mass_matrix(np.zeros(3))
        k = np.diag([0.0, self._h1 * p.gravity, self._h2 * p.gravity])
        b0, b1, b2 = p.cart_friction, p.joint1_friction, p.joint2_friction
        d = np.array([[b0, 0.0, 0.0], [0.0, b1 + b2, -b2], [0.0, -b2, b2]])
        m_inv = np.linalg.inv(m0)
        a = np.zeros((6, 6))
        a[:3, 3:] = np.eye(3)
        a[3:, :3] = m_inv @ k
        a[3:, 3:] = -m_inv @ d
        b = np.zeros((6, 1))
        b[3:, 0] = m_inv[:, 0]
        return a, b
