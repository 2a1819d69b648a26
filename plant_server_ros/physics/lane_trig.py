"""
``sin`` and ``cos`` a compiler can vectorise: fdlibm's kernels after a Cody-Waite reduction.

Why not ``math.sin``: numba compiles it to a call into libm, one lane at a
time, and a call in a loop keeps LLVM from vectorising the loop over lanes.
numba's own vector trigonometry needs Intel's SVML *and* an SVML-patched
llvmlite, which the PyPI wheels are not (``numba -s``: "SVML Operational:
False").  These functions use only ``+ - *``, ``rint``, ``floor`` and
selects, so the loop over lanes becomes SIMD code.

The polynomials are fdlibm's ``__kernel_sin``/``__kernel_cos`` (Sun, 1993;
the coefficients glibc's and musl's double versions also use), on the
argument reduced by ``pi/2`` in three parts (fdlibm's ``pio2_1..3``), and
agree with libm to within an ulp or so for ``|x| <= LARGE``
(``test/test_lane_trig.py``).  Beyond ``LARGE`` the three-part reduction loses
digits, so the compiled kernel re-runs such a period with libm (an angle of
10^5 rad is a pendulum that has spun for hours).

Plain Python over floats too (slowly): the tests check them without numba.
"""

import numpy as np

LARGE = 1.0e5            # rad: above it, callers use libm (the reduction loses digits)

_TWO_OVER_PI = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e+00      # the first 33 bits of pi/2: k * _PIO2_1 is exact
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


def reduce(x):
    """Return ``(r, q)``: ``x = r + k pi/2`` with ``|r| <= pi/4`` and ``q = k mod 4`` (a float)."""
    k = np.rint(x * _TWO_OVER_PI)
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    # In floats, not ints: an infinite or NaN x gives a NaN r (and a NaN result), never UB.
    return r, k - 4.0 * np.floor(k * 0.25)


def kernel_sin(r):
    """Return sin(r) for ``|r| <= pi/4`` (fdlibm's __kernel_sin without the tail)."""
    z = r * r
    return r + z * r * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))


def kernel_cos(r):
    """Return cos(r) for ``|r| <= pi/4`` (fdlibm's __kernel_cos without the tail)."""
    z = r * r
    p = z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + p)


def sin(x):
    """Return the sine of ``x`` (to an ulp or so for ``|x| <= LARGE``)."""
    r, q = reduce(x)
    v = kernel_cos(r) if (q == 1.0 or q == 3.0) else kernel_sin(r)
    return -v if q >= 2.0 else v


def cos(x):
    """Return the cosine of ``x`` (to an ulp or so for ``|x| <= LARGE``)."""
    r, q = reduce(x)
    v = kernel_sin(r) if (q == 1.0 or q == 3.0) else kernel_cos(r)
    return -v if (q == 1.0 or q == 2.0) else v
