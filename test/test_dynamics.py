"""The physics against an independent derivation and against its invariants."""

import math

import numpy as np
from plant_server_ros.physics.dynamics import DIPDynamics, DIPParams
from plant_server_ros.physics.integrators import RK4, RK6_BUTCHER
import pytest
from scipy.integrate import solve_ivp
import scipy.linalg


def lagrangian_accelerations(params):
    """
    Derive M(q) qdd = tau symbolically from T - V and Rayleigh dissipation.

    The disturbance's generalised forces come from its virtual work,
    ``F dx + tau1 da1 + tau2 (da2 - da1)`` (tau1 at joint 1 between cart
    and link 1, tau2 at joint 2 between the links).
    """
    # Here, not at the top: a module-level skip ends the collection of the whole
    # folder under launch_testing's plugin (colcon test), see test_collection.py.
    sympy = pytest.importorskip('sympy',
                                reason='sympy derives the reference (requirements/test.txt)')
    t = sympy.symbols('t')
    u, f_ext, tau1, tau2 = sympy.symbols('u F tau1 tau2')
    dx, da1, da2 = sympy.symbols('dx da1 da2')
    virtual_work = f_ext * dx + tau1 * da1 + tau2 * (da2 - da1)
    x, a1, a2 = (sympy.Function(n)(t) for n in ('x', 'a1', 'a2'))
    p = params
    m0, m1, m2 = p.cart_mass, p.link1_mass, p.link2_mass
    big_l1, l1, l2 = p.link1_length, p.link1_com, p.link2_com
    i1, i2, g = p.link1_inertia, p.link2_inertia, p.gravity
    # Centres of mass in the plane; angles absolute from upright.
    c1 = sympy.Matrix([x + l1 * sympy.sin(a1), l1 * sympy.cos(a1)])
    c2 = sympy.Matrix([x + big_l1 * sympy.sin(a1) + l2 * sympy.sin(a2),
                       big_l1 * sympy.cos(a1) + l2 * sympy.cos(a2)])
    v1, v2 = c1.diff(t), c2.diff(t)
    kinetic = (m0 * x.diff(t) ** 2 + m1 * v1.dot(v1) + m2 * v2.dot(v2)
               + i1 * a1.diff(t) ** 2 + i2 * a2.diff(t) ** 2) / 2
    potential = g * (m1 * c1[1] + m2 * c2[1])
    lag = kinetic - potential
    dissipation = (p.cart_friction * x.diff(t) ** 2 + p.joint1_friction * a1.diff(t) ** 2
                   + p.joint2_friction * (a2.diff(t) - a1.diff(t)) ** 2) / 2
    forces = [u + virtual_work.diff(dx), virtual_work.diff(da1), virtual_work.diff(da2)]
    eqs = []
    for q, f in zip((x, a1, a2), forces):
        qd = q.diff(t)
        eqs.append(lag.diff(qd).diff(t) - lag.diff(q) + dissipation.diff(qd) - f)
    qdd = [q.diff(t, 2) for q in (x, a1, a2)]
    sol = sympy.solve(eqs, qdd, dict=True)[0]
    syms = sympy.symbols('X A1 A2 V W1 W2')
    subs = {x.diff(t): syms[3], a1.diff(t): syms[4], a2.diff(t): syms[5]}
    subs2 = {x: syms[0], a1: syms[1], a2: syms[2]}
    exprs = [sol[a].subs(subs).subs(subs2) for a in qdd]
    return sympy.lambdify((syms, u, (f_ext, tau1, tau2)), exprs, 'math')


@pytest.mark.parametrize('friction', [True, False])
def test_accelerations_match_independent_lagrangian(friction):
    params = DIPParams() if friction else DIPParams().without_friction()
    reference = lagrangian_accelerations(params)
    model = DIPDynamics(params)
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(3000):
        state = np.concatenate([rng.uniform(-1, 1, 1), rng.uniform(-math.pi, math.pi, 2),
                                rng.uniform(-5, 5, 3)])
        u = rng.uniform(-30, 30)
        want = np.array(reference(state, u, (0.0, 0.0, 0.0)), dtype=float)
        got = np.array(model.accelerations(state, u))
        worst = max(worst, np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
    assert worst <= 1e-10


@pytest.mark.parametrize('friction', [True, False])
def test_disturbance_accelerations_match_independent_lagrangian(friction):
    """With u = 0 and known torques (and a push), the virtual-work derivation agrees."""
    params = DIPParams() if friction else DIPParams().without_friction()
    reference = lagrangian_accelerations(params)
    model = DIPDynamics(params)
    rng = np.random.default_rng(2)
    worst = 0.0
    for _ in range(2000):
        state = np.concatenate([rng.uniform(-1, 1, 1), rng.uniform(-math.pi, math.pi, 2),
                                rng.uniform(-5, 5, 3)])
        disturbance = (rng.uniform(-10, 10), rng.uniform(-2, 2), rng.uniform(-2, 2))
        want = np.array(reference(state, 0.0, disturbance), dtype=float)
        got = np.array(model.accelerations(state, 0.0, disturbance))
        worst = max(worst, np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))
        # The stepper takes the same torques the accelerations do.
    assert worst <= 1e-10
    # A torque at joint 2 alone: equal and opposite on the two links, no net
    # work when they turn together.
    still = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert model.step(still, 0.0, 0.01, (0.0, 0.0, 0.5)) != model.step(still, 0.0, 0.01)
    assert model.disturbance_power((0, 0, 0, 0, 1.0, 1.0), (0.0, 0.0, 0.5)) == 0.0


def test_power_balance_with_a_disturbance():
    """dE/dt = (u + F) xdot + tau1 th1dot + tau2 (th2dot - th1dot) - 2D."""
    model = DIPDynamics()
    state = (0.1, 0.8, -0.5, 0.3, 1.0, -1.5)
    u, disturbance = 1.0, (-3.0, 0.4, -0.25)

    def rhs(_, y):
        d = model.derivative(y[:6], u, disturbance)
        power = u * y[3] + model.disturbance_power(y[:6], disturbance) \
            - model.dissipated_power(y[:6])
        return list(d) + [power]

    sol = solve_ivp(rhs, (0, 2.0), list(state) + [0.0], method='DOP853',
                    rtol=1e-12, atol=1e-12)
    end = sol.y[:, -1]
    assert model.energy(end[:6]) - model.energy(state) == pytest.approx(end[6], abs=1e-9)
    # The stepper integrates the same right-hand side to rk6 accuracy (over a
    # short stretch: large swings are chaotic and magnify any difference).
    reference = solve_ivp(lambda _, y: model.derivative(y, u, disturbance), (0, 0.2), state,
                          method='DOP853', rtol=1e-12, atol=1e-12).y[:, -1]
    stepped = tuple(state)
    for _ in range(20):
        stepped = model.step(stepped, u, 0.01, disturbance)
    np.testing.assert_allclose(stepped, reference, atol=1e-8)


def test_energy_conserved_without_friction():
    model = DIPDynamics(DIPParams().without_friction())
    state = (0.0, 2.5, -1.0, 0.0, 3.0, -2.0)   # large swings, both links going over
    e0 = model.energy(state)
    drift = 0.0
    for _ in range(1000):                      # 10 s
        state = model.step(state, 0.0, 0.01)
        drift = max(drift, abs(model.energy(state) - e0))
    # Reached here: 6.8e-8 J of drift against |E| = 0.42 J (1.6e-7 relative)
    # with the default rk6 at dt = 0.01; the bound leaves a factor of ~6.
    assert drift / abs(e0) < 1e-6


def test_power_balance_with_friction():
    """dE/dt = u xdot - 2D: energy change over a step equals the integrated power."""
    model = DIPDynamics()
    state = (0.1, 0.8, -0.5, 0.3, 1.0, -1.5)
    u = 2.0

    def rhs(_, y):
        d = model.derivative(y[:6], u)
        power = u * y[3] - model.dissipated_power(y[:6])
        return list(d) + [power]

    sol = solve_ivp(rhs, (0, 2.0), list(state) + [0.0], method='DOP853',
                    rtol=1e-12, atol=1e-12)
    end = sol.y[:, -1]
    assert model.energy(end[:6]) - model.energy(state) == pytest.approx(end[6], abs=1e-9)
    assert end[6] != pytest.approx(0.0, abs=1e-3)  # friction and u really did work


def lqr_gain(model):
    a, b = model.linearize()
    q = np.diag([10.0, 100.0, 100.0, 1.0, 1.0, 1.0])
    r = np.array([[0.1]])
    p = scipy.linalg.solve_continuous_are(a, b, q, r)
    return np.linalg.solve(r, b.T @ p)[0]


def test_linearisation_matches_finite_differences_and_is_unstable():
    model = DIPDynamics()
    a, b = model.linearize()
    eps = 1e-6
    zero = np.zeros(6)
    num_a = np.column_stack([
        (np.array(model.derivative(zero + eps * e, 0.0))
         - np.array(model.derivative(zero - eps * e, 0.0))) / (2 * eps) for e in np.eye(6)])
    num_b = (np.array(model.derivative(zero, eps)) - np.array(model.derivative(zero, -eps))) / (
        2 * eps)
    np.testing.assert_allclose(a, num_a, atol=1e-7)
    np.testing.assert_allclose(b[:, 0], num_b, atol=1e-7)
    assert np.max(np.linalg.eigvals(a).real) > 1.0


def test_lqr_on_linearisation_stabilises_nonlinear_model():
    model = DIPDynamics()
    k = lqr_gain(model)
    state = np.array([0.0, 0.05, -0.03, 0.0, 0.0, 0.0])
    for _ in range(1000):
        state = np.array(model.step(state, -k @ state, 0.01))
    assert np.max(np.abs(state)) < 1e-4


def integrate_reference(model, state, u, dt):
    return solve_ivp(lambda _, y: model.derivative(y, u), (0, dt), state, method='DOP853',
                     rtol=1e-12, atol=1e-12).y[:, -1]


def worst_period_error(model, dt, periods=200):
    k = lqr_gain(model)
    state = np.array([0.0, 0.05, -0.03, 0.0, 0.0, 0.0])
    worst = 0.0
    for _ in range(periods):
        u = float(-k @ state)
        ref = integrate_reference(model, state, u, dt)
        worst = max(worst, np.max(np.abs(np.array(model.step(state, u, dt)) - ref)))
        state = ref
    return worst


def test_default_integrator_within_1e9_per_period():
    assert worst_period_error(DIPDynamics(), 0.01) <= 1e-9


@pytest.mark.parametrize('tableau', [RK4, RK6_BUTCHER], ids=lambda t: t.name)
def test_integrator_order(tableau):
    """Halving the step divides the local error by about 2^(order+1) (one fixed step)."""
    model = DIPDynamics(integrator=tableau.name)
    state = np.array([0.0, 0.6, -0.4, 0.2, 1.0, -1.0])
    errors = []
    for dt in (0.04, 0.02):
        ref = integrate_reference(model, state, 3.0, dt)
        # The tableau's own step: the substep rule would split these periods.
        one = model._stepper.advance(tuple(state), 3.0, dt, 1)
        errors.append(np.max(np.abs(np.array(one) - ref)))
    rate = math.log2(errors[0] / errors[1])
    assert rate == pytest.approx(tableau.order + 1, abs=0.6)


def test_tableau_consistency():
    for t in (RK4, RK6_BUTCHER):
        assert sum(t.b) == 1
        for row, c in zip(t.a, t.c):
            assert sum(row) == c


def test_force_pushes_cart_forward():
    model = DIPDynamics()
    state = model.step((0.0,) * 6, 5.0, 0.01)
    assert state[3] > 0 and state[0] > 0
    # The links lag behind the accelerating cart: they tilt toward -x.
    assert state[4] < 0


def test_parameters_are_validated():
    with pytest.raises(ValueError):
        DIPParams(cart_mass=0.0)
    with pytest.raises(ValueError):
        DIPParams(gravity=float('nan'))
    with pytest.raises(ValueError):
        DIPDynamics(integrator='euler')
