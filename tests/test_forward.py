"""Forward mode (srcad.jvp): every program in programs.py along random directions of all its
float arguments, as Python (half of them compiled), against central finite differences."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check
from tests import programs


def _tangents(args, wrt, rng):
    return [None if k not in wrt else rng.normal(size=np.shape(a)) if np.ndim(a) else
            float(rng.normal()) for k, a in enumerate(args)]


# every program as Python; compiled, every eighth (test_higher compiles the hvp of every
# eighth of others): the suite stays within CI's time
JVP_CASES = [(fn, False) for fn in programs.PROGRAMS] + \
    [(fn, True) for k, fn in enumerate(programs.PROGRAMS) if k % 8 == 1]


@pytest.mark.parametrize("fn,jit", JVP_CASES,
                         ids=[f"{'jit' if j else 'python'}-{f.__name__}" for f, j in JVP_CASES])
def test_jvp_matches_finite_differences(fn, jit, rng):
    for _ in range(2):
        args = programs.make_inputs(fn, rng)
        wrt = programs.float_params(fn, args)
        tangents = _tangents(args, wrt, rng)
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with warnings.catch_warnings():
            warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
            value, tangent = srcad.jvp(fn, args, tangents, jit=jit)
        for a, b in zip(args, before):
            np.testing.assert_array_equal(a, b)  # the caller's arrays are never modified
        np.testing.assert_allclose(value, fn(*[np.copy(a) if isinstance(a, np.ndarray) else a
                                               for a in before]), rtol=1e-12, atol=1e-12)
        expected = check.along(fn, before, tangents)
        np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-6)


def test_primals_not_in_a_tuple_are_refused_by_name():
    """(found by an attack: an array for the primals read as one argument per element, and the
    error named wrt=1, which the user never gave)"""
    x = np.ones(3)
    with pytest.raises(TypeError, match=r"as tuples, one entry per parameter .*\(x,\), \(t,\)"):
        srcad.jvp(np.sin, x, np.ones(3))
    value, tangent = srcad.jvp(np.sin, [x], [np.ones(3)])
    np.testing.assert_allclose(tangent, np.cos(x))
