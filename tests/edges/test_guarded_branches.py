"""A number computed before an if and used only in a branch not taken: its adjoint is exactly 0,
and its partial may be infinite there (sqrt at 0, log at 0): the reverse sweep runs its adjoint
only where the adjoint is not 0, as the tape, which never reaches it (0 times inf was NaN)."""

import math

import numpy as np
import pytest

import srcad
from srcad import check


def pair_energy(p):
    e = 0.0
    for i in range(p.shape[0]):
        for j in range(p.shape[0]):
            dx = p[i, 0] - p[j, 0]
            dy = p[i, 1] - p[j, 1]
            d = math.sqrt(dx * dx + dy * dy)
            if d > 1e-12:  # (the pair of a particle with itself: d = 0)
                e += 1.0 / d
    return e


def normalised_sum(x):
    n = np.sqrt(np.sum(x * x))
    if n < 1e-12:
        return np.sum(x)
    return np.sum(x) / n


def logs_of_the_nonzero(x):
    s = 0.0
    for i in range(x.shape[0]):
        r = math.log(abs(x[i]) + 0.0)
        if x[i] != 0.0:
            s += r * x[i]
    return s


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", False)])
def test_a_value_used_only_in_a_branch_not_taken_adds_no_nan(mode, jit, rng):
    p = rng.normal(size=(4, 2))
    for fn, args in ((pair_energy, p), (normalised_sum, np.zeros(3)),
                     (normalised_sum, rng.normal(size=3)),
                     (logs_of_the_nonzero, np.array([0.0, 0.7, -1.3]))):
        g = srcad.grad(fn, mode=mode, jit=jit)(args)
        if fn is normalised_sum and not np.any(args):
            np.testing.assert_array_equal(g, np.ones(3))  # (the branch taken: np.sum(x))
        elif fn is logs_of_the_nonzero:
            expected = np.where(args != 0.0, np.log(np.abs(np.where(args != 0, args, 1.0))) + 1,
                                0.0)
            np.testing.assert_allclose(g, expected, rtol=1e-12)
        else:
            check.compare(fn, (args,), [0], [g], rtol=1e-6, atol=1e-8)


def test_second_derivatives_through_the_guard(rng):
    p = rng.normal(size=(3, 2))
    v = rng.normal(size=(3, 2))
    gradient, eps = srcad.grad(pair_energy), 1e-6
    by_differences = (gradient(p + eps * v) - gradient(p - eps * v)) / (2 * eps)
    np.testing.assert_allclose(srcad.hvp(pair_energy)(p, v), by_differences, rtol=1e-5,
                               atol=1e-6)
    _, tangent = srcad.jvp(pair_energy, (p,), (v,))
    assert tangent == pytest.approx(np.sum(gradient(p) * v), rel=1e-10)
