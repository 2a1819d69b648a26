"""
The closed-form accelerations of the cart-pendulum, written once for floats and arrays.

:func:`make_accel` returns ``accel(th1, th2, v, w1, w2, u[, q1, q2])``
built over the model constants ``(mt, h1, h2, h3, j1, j2, g1, g2, b0, b1,
b2)`` and an injected ``sin``/``cos``.  Its body uses ``+ - * /`` only, so
one source serves both callers:

- the scalar plant (:class:`~.dynamics.DIPDynamics`) passes plain floats
  and ``math.sin``/``math.cos``: the same operations in the same order as
  the closure it replaces, so a period is the same to the bit (the
  reference-run sha256 in ``test/test_conditions.py``) and no slower (the
  constants and ``sin``/``cos`` are closure cells, as cheap as the module
  globals they were: ``bench/bench_equations.py`` times the two in one run);
- :class:`~.batch.BatchDynamics` passes ``(N,)`` arrays (one lane per
  plant, each with its own parameters) and ``numpy.sin``/``numpy.cos``.

Why a factory over injected functions rather than source generation: the
formulas stay readable Python that flake8 and a reader check, the scalar
closure is the very object that was measured, and nothing is exec'd beyond
what :mod:`.integrators` already compiles.  The integrator's straight-line
step works unchanged on tuples of arrays (its coefficients times arrays),
so the rk6 tableau is shared too.  Only ``numpy``'s ``sin``/``cos`` may
differ from ``math``'s in the last bit; the batch agrees with the plant to
well below 1e-12 per period (``test/test_batch.py``).
"""


def model_constants(params):
    """
    Return ``(mt, h1, h2, h3, j1, j2, g1, g2, b0, b1, b2)`` of a DIPParams.

    Works on arrays too (each field an ``(N,)`` array): only ``+ * **``.
    """
    p = params
    m0, m1, m2 = p.cart_mass, p.link1_mass, p.link2_mass
    mt = m0 + m1 + m2
    h1 = m1 * p.link1_com + m2 * p.link1_length
    h2 = m2 * p.link2_com
    h3 = m2 * p.link1_length * p.link2_com
    j1 = m1 * p.link1_com ** 2 + m2 * p.link1_length ** 2 + p.link1_inertia
    j2 = m2 * p.link2_com ** 2 + p.link2_inertia
    return (mt, h1, h2, h3, j1, j2, h1 * p.gravity, h2 * p.gravity,
            p.cart_friction, p.joint1_friction, p.joint2_friction)


def make_accel(constants, sin, cos, torques=False):
    """
    Return ``accel(th1, th2, v, w1, w2, u, q1=0.0, q2=0.0)`` -> ``(xdd, th1dd, th2dd)``.

    ``M(q) qddot = tau(q, qdot, u)`` solved by 3x3 cofactors.  With
    ``torques`` the generalised joint torques ``q1 = tau1 - tau2`` and
    ``q2 = tau2`` are added (without, nothing is added: the common case).
    """
    # Constants live in closure cells: much cheaper than attribute look-ups
    # in a function called several times per control period.
    mt, h1, h2, h3, j1, j2, g1, g2, b0, b1, b2 = constants
    j1j2 = j1 * j2

    def accel(th1, th2, v, w1, w2, u, q1=0.0, q2=0.0):
        s1 = sin(th1)
        c1 = cos(th1)
        s2 = sin(th2)
        c2 = cos(th2)
        s12 = s1 * c2 - c1 * s2
        m01 = h1 * c1
        m02 = h2 * c2
        m12 = h3 * (c1 * c2 + s1 * s2)
        rel = w2 - w1
        f0 = u - b0 * v + h1 * s1 * w1 * w1 + h2 * s2 * w2 * w2
        f1 = g1 * s1 - h3 * s12 * w2 * w2 - b1 * w1 + b2 * rel
        f2 = g2 * s2 + h3 * s12 * w1 * w1 - b2 * rel
        if torques:
            f1 = f1 + q1
            f2 = f2 + q2
        a00 = j1j2 - m12 * m12
        a01 = m02 * m12 - m01 * j2
        a02 = m01 * m12 - m02 * j1
        a11 = mt * j2 - m02 * m02
        a12 = m01 * m02 - mt * m12
        a22 = mt * j1 - m01 * m01
        inv = 1.0 / (mt * a00 + m01 * a01 + m02 * a02)
        return ((a00 * f0 + a01 * f1 + a02 * f2) * inv,
                (a01 * f0 + a11 * f1 + a12 * f2) * inv,
                (a02 * f0 + a12 * f1 + a22 * f2) * inv)

    return accel
