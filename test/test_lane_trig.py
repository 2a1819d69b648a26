"""lane_trig: the compiled kernel's sin/cos agree with libm; past LARGE the kernel uses libm."""

import math

from _hypothesis import given, settings, st
import numpy as np
from plant_server_ros.physics import lane_trig
from plant_server_ros.physics.batch import BatchDynamics, LaneParams
import pytest

ULP_1 = 2.0 ** -52          # one ulp of a number in [1, 2): |sin|, |cos| <= 1


@settings(max_examples=3000, deadline=None)
@given(st.floats(-lane_trig.LARGE, lane_trig.LARGE))
def test_sin_and_cos_agree_with_libm_to_an_ulp(x):
    assert abs(lane_trig.sin(x) - math.sin(x)) <= ULP_1
    assert abs(lane_trig.cos(x) - math.cos(x)) <= ULP_1


@pytest.mark.parametrize('x', [0.0, math.pi / 4, math.pi / 2, math.pi, 3 * math.pi / 2,
                               -math.pi / 4 - 1e-12, 1e-300, 12345.678])
def test_the_quadrant_edges(x):
    assert abs(lane_trig.sin(x) - math.sin(x)) <= ULP_1
    assert abs(lane_trig.cos(x) - math.cos(x)) <= ULP_1


@pytest.mark.parametrize('x', [math.inf, -math.inf, math.nan])
def test_a_non_finite_angle_gives_nan(x):
    with np.errstate(invalid='ignore'):
        assert math.isnan(lane_trig.sin(x)) and math.isnan(lane_trig.cos(x))


def test_the_compiled_kernel_uses_libm_beyond_large_and_for_non_finite_angles():
    pytest.importorskip('numba', reason='the optional compiled kernel (pip install numba)')
    n = 8
    columns = [np.zeros(n) for _ in range(6)]
    columns[1][:] = np.linspace(-0.2, 0.2, n)
    columns[2][3] = 3.0 * lane_trig.LARGE           # one lane spun for hours
    columns[4][5] = np.nan                          # one lane diverged
    u = np.linspace(-5.0, 5.0, n)
    numpy_path = BatchDynamics(LaneParams(n)).step(tuple(columns), u, 0.01)
    compiled = BatchDynamics(LaneParams(n), kernel='numba').step(tuple(columns), u, 0.01)
    # The same libm and the same operations: the same bits (NaN where NaN),
    # in the ordinary lanes too (the polynomials differ from libm by an ulp in
    # about one value in five, so a period of 8 lanes' 28 calls would show it).
    np.testing.assert_array_equal(np.array(compiled), np.array(numpy_path))
