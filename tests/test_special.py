"""srcad.special: SciPy's special functions, triangular and Cholesky solves compiled by Numba
give SciPy's numbers (scalars, arrays of any rank and layout, broadcasting, float32), the
functions written for Numba also run as plain Python, and compiled code that calls SciPy's C
exports caches to disk and loads from the cache in a new process.
"""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
import scipy.linalg
import scipy.special as sc
from numba.core.errors import TypingError

from srcad import special

RNG = np.random.default_rng(3)
POSITIVE = RNG.uniform(0.05, 6.0, (3, 4))
REAL = RNG.uniform(-6.0, 6.0, (3, 4))
UNIT = RNG.uniform(-0.999, 0.999, (3, 4))  # (-1, 1)
PROBABILITY = RNG.uniform(0.001, 0.999, (3, 4))  # (0, 1)
EDGES = {  # values where a naive formula loses digits or overflows
    "real": np.array([-800.0, -40.0, -1e-9, 0.0, 1e-12, 0.3, 37.5, 800.0]),
    "probability": np.array([1e-300, 1e-8, 0.3, 0.4999999, 0.5, 0.65, 1 - 1e-12]),
}

UNARY = {  # function: (inputs, edge inputs)
    sc.gammaln: (POSITIVE, np.array([1e-300, 0.5, 1.0, 2.0, 171.7, 1e300, -2.5, 0.0])),
    sc.psi: (POSITIVE, np.array([1e-8, -0.5, -2.5, 0.0, 1e15])),
    sc.digamma: (REAL, None),
    sc.erf: (REAL, EDGES["real"]),
    sc.erfc: (REAL, EDGES["real"]),
    sc.erfinv: (UNIT, np.array([-1.0, -0.999999, 0.0, 1e-10, 0.999999, 1.0, 1.5])),
    sc.erfcinv: (PROBABILITY * 2, np.array([0.0, 1e-300, 1.0, 1.999999, 2.0])),
    sc.ndtr: (REAL, EDGES["real"]),
    sc.log_ndtr: (REAL, np.array([-1e5, -40.0, -5.0, 0.0, 5.0, 10.0, 40.0])),
    sc.ndtri: (PROBABILITY, EDGES["probability"]),
    sc.gamma: (REAL, np.array([0.5, 1.0, 171.0, 172.0, -1.5, -2.0, 0.0])),
    sc.expit: (REAL, EDGES["real"]),
    sc.logit: (PROBABILITY, EDGES["probability"]),
    sc.log_expit: (REAL, EDGES["real"]),
    sc.i0: (REAL, EDGES["real"]),
    sc.i0e: (REAL, EDGES["real"]),
    sc.i1: (REAL, EDGES["real"]),
    sc.i1e: (REAL, EDGES["real"]),
    sc.entr: (POSITIVE, np.array([-1.0, 0.0, 1e-300, 0.5, 1.0, 1e300])),
}
BINARY = {
    sc.betaln: (POSITIVE, POSITIVE[::-1]),
    sc.xlogy: (REAL, POSITIVE),
    sc.xlog1py: (REAL, POSITIVE - 0.04),
    sc.kl_div: (POSITIVE, POSITIVE[::-1]),
    sc.rel_entr: (POSITIVE, POSITIVE[::-1]),
    sc.huber: (POSITIVE[::-1], REAL),
    sc.beta: (POSITIVE, POSITIVE[::-1]),
    sc.iv: (REAL, POSITIVE),
    sc.ive: (REAL, POSITIVE),
}


def same(actual, expected, rtol=4e-16):
    assert np.shape(actual) == np.shape(expected)
    assert np.asarray(actual).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0)


@pytest.mark.parametrize("fn", list(UNARY), ids=lambda f: f.__name__)
def test_unary_functions_match_scipy(fn):
    x, edges = UNARY[fn]
    compiled = numba.njit(lambda x: fn(x))
    with np.errstate(all="ignore"):
        for value in (x[:, ::2], np.tile(edges if edges is not None else x[0], (2, 2))[:, ::2]):
            same(compiled(value), fn(value))  # (one compile: both non-contiguous 2-D)
        same(compiled(x[0].astype(np.float32)), fn(x[0].astype(np.float32)), rtol=4e-7)
        same(compiled(float(x[1, 2])), float(fn(x[1, 2])))


@pytest.mark.parametrize("fn", list(BINARY), ids=lambda f: f.__name__)
def test_binary_functions_broadcast_as_scipy(fn):
    x, y = BINARY[fn]
    compiled = numba.njit(lambda x, y: fn(x, y))
    for a, b in ((x[:, :1], y[0]), (x[None, :2], y.T[:, :2, None]), (x, float(y[0, 0])),
                 (float(x[0, 0]), y)):
        same(compiled(a, b), fn(a, b))
    same(compiled(float(x[0, 1]), float(y[0, 1])), float(fn(x[0, 1], y[0, 1])))


@pytest.mark.parametrize("fn", [sc.xlogy, sc.xlog1py], ids=lambda f: f.__name__)
def test_xlogy_and_xlog1py_at_zero(fn):
    values = np.array([[0.0, 0.0, 0.0, 2.0], [0.0, np.inf, np.nan, -1.0]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(numba.njit(lambda x, y: fn(x, y))(*values), fn(*values))


def test_polygamma_matches_scipy():
    compiled = numba.njit(lambda n, x: sc.polygamma(n, x))
    x = np.concatenate([POSITIVE.ravel(), [1e-6, 0.5, 9.5, 30.0, 1e4, -0.5, -2.5, -7.25]])
    for n in (0, 1, 2, 3, 4):
        np.testing.assert_allclose(compiled(n, x), sc.polygamma(n, x), rtol=1e-14)
    np.testing.assert_allclose(compiled(np.array([1, 2]), x[:, None]),
                               sc.polygamma(np.array([1, 2]), x[:, None]), rtol=1e-14)
    with np.errstate(all="ignore"):
        for n, value in ((1, 0.0), (1, -3.0), (2, np.inf), (1, np.nan), (1.5, 2.0), (-1, 2.0)):
            np.testing.assert_equal(compiled(n, value), sc.polygamma(n, value))


def test_numba_written_functions_run_as_python():
    for x in EDGES["real"][1:-1]:  # (Python's math.exp raises where Numba's overflows to inf)
        assert special._expit(x) == sc.expit(x)
        assert special._log_expit(x) == sc.log_expit(x)
    for p in EDGES["probability"]:
        assert special._logit(p) == sc.logit(p)
    assert special._xlogy(0.0, 0.0) == 0.0 and np.isnan(special._xlogy(0.0, np.nan))
    np.testing.assert_allclose(special.hurwitz_zeta(3.0, 0.7), sc.zeta(3.0, 0.7), rtol=1e-15)


def test_complex_arguments_are_refused():
    with pytest.raises(TypingError, match="real"):
        numba.njit(lambda z: sc.gammaln(z))(np.ones(2, np.complex128))


@pytest.mark.parametrize("fn", [sc.logsumexp, sc.softmax, sc.log_softmax],
                         ids=lambda f: f.__name__)
def test_softmax_family_matches_scipy(fn):
    compiled = numba.njit(lambda x, axis: fn(x, axis=axis))
    x = RNG.standard_normal((2, 3, 4)) * 30
    for axis in (None, 0, -1, (0, 2)):
        np.testing.assert_allclose(compiled(x, axis), fn(x, axis=axis), rtol=1e-14, atol=1e-300)
    with np.errstate(all="ignore"):
        infinite = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [-np.inf, 2.0]])
        np.testing.assert_allclose(compiled(infinite, 1), fn(infinite, axis=1))


def test_logsumexp_keepdims_and_refused_arguments():
    x = RNG.standard_normal((3, 4))
    got = numba.njit(lambda x: sc.logsumexp(x, axis=1, keepdims=True))(x)
    np.testing.assert_allclose(got, sc.logsumexp(x, axis=1, keepdims=True), rtol=1e-15)
    with pytest.raises(TypingError, match="return_sign"):
        numba.njit(lambda x: sc.logsumexp(x, b=x))(x)


# ---- scipy.linalg -------------------------------------------------------------------------

def _triangular(rng, n=5, dtype=np.float64):
    a = rng.standard_normal((n, n)) + n * np.eye(n)
    return a.astype(dtype)  # (both triangles full: each solve must read only its own)


def test_solve_triangular_matches_scipy():
    rng = np.random.default_rng(4)
    a = _triangular(rng)
    compiled = numba.njit(lambda a, b, t, low, unit:
                          scipy.linalg.solve_triangular(a, b, t, low, unit))
    b = rng.standard_normal((5, 3))
    for trans in (0, 1, 2, "N", "T", "C"):
        for lower in (True, False):
            for unit in (False, True):
                for rhs in (b, b[:, 0], np.asfortranarray(b), b[::-1])[
                        :4 if isinstance(trans, int) else 1]:  # (layouts: each a compile)
                    expected = scipy.linalg.solve_triangular(a, rhs, trans, lower, unit)
                    np.testing.assert_allclose(compiled(a, rhs, trans, lower, unit), expected,
                                               rtol=1e-13, atol=1e-15)
    default = numba.njit(lambda a, b: scipy.linalg.solve_triangular(a, b))
    np.testing.assert_allclose(default(a.T, b), scipy.linalg.solve_triangular(a.T, b))
    single = compiled(a.astype(np.float32), b.astype(np.float32), 0, True, False)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, scipy.linalg.solve_triangular(a, b, lower=True),
                               rtol=1e-5)
    kept = b.copy()
    compiled(a, b, 0, True, False)
    np.testing.assert_array_equal(b, kept)  # (b is not overwritten)


def test_solve_triangular_errors():
    rng = np.random.default_rng(5)
    a = _triangular(rng)
    compiled = numba.njit(lambda a, b: scipy.linalg.solve_triangular(a, b, lower=True))
    singular = a.copy()
    singular[2, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        compiled(singular, np.ones(5))
    with pytest.raises(ValueError, match="incompatible"):
        compiled(a, np.ones(4))
    with pytest.raises(ValueError, match="infs or NaNs"):
        compiled(a, np.full(5, np.nan))
    with pytest.raises(ValueError, match="trans"):
        numba.njit(lambda a, b: scipy.linalg.solve_triangular(a, b, trans=3))(a, np.ones(5))


def test_cho_solve_and_cholesky_match_scipy():
    rng = np.random.default_rng(6)
    m = rng.standard_normal((5, 5))
    spd = m @ m.T + 5 * np.eye(5)
    skewed = spd + np.triu(rng.standard_normal((5, 5)), 1)  # (each factor reads one triangle)
    cholesky = numba.njit(lambda a, low: scipy.linalg.cholesky(a, lower=low))
    for lower in (True, False):
        np.testing.assert_allclose(cholesky(skewed, lower),
                                   scipy.linalg.cholesky(skewed, lower=lower), rtol=1e-13)
    np.testing.assert_allclose(numba.njit(lambda a: scipy.linalg.cholesky(a))(spd),
                               scipy.linalg.cholesky(spd), rtol=1e-13)
    with pytest.raises(np.linalg.LinAlgError):
        cholesky(-spd, True)
    cho_solve = numba.njit(lambda c, low, b: scipy.linalg.cho_solve((c, low), b))
    for lower in (True, False):
        factor = scipy.linalg.cholesky(spd, lower=lower)
        factor = factor + (np.triu(np.ones((5, 5)), 1) if lower else np.tril(np.ones((5, 5)), -1))
        for b in (rng.standard_normal(5), rng.standard_normal((5, 2))):
            np.testing.assert_allclose(cho_solve(factor, lower, b),
                                       scipy.linalg.cho_solve((factor, lower), b), rtol=1e-12)


def test_compiled_code_caches_and_loads_in_a_new_process(tmp_path):
    module = tmp_path / "uses_special.py"
    module.write_text(textwrap.dedent("""
        import numba, numpy as np, scipy.linalg, scipy.special
        import srcad.special  # registers the overloads and the C symbols

        @numba.njit(cache=True)
        def f(x, a):
            return scipy.special.gammaln(x) + scipy.special.erfinv(x / 10) + \\
                scipy.linalg.solve_triangular(a, x, lower=True)

        x, a = np.arange(1.0, 4.0), np.eye(3) * 2.0
        assert np.allclose(f(x, a), scipy.special.gammaln(x) + scipy.special.erfinv(x / 10)
                           + x / 2)
        print(sum(f.stats.cache_hits.values()))
    """))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(sys.path))
    runs = [subprocess.run([sys.executable, "-W", "error::numba.NumbaWarning", str(module)],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
            for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    assert [run.stdout.strip() for run in runs] == ["0", "1"]  # compiled, then loaded


def huber_kl_rel(delta, r, x, y):
    return sc.huber(delta, r) + sc.kl_div(x, y) + sc.rel_entr(x, y)


@pytest.mark.parametrize("jit", [True, False])
def test_partials_are_nan_where_the_function_is_a_constant_infinity(jit):
    # (an attack found the other branch's formula there: huber(-1, 0.5) had gradient
    # (1.5, -1.0), kl_div(-1, 1) 2.0 with respect to y)
    import srcad
    grad = srcad.grad(huber_kl_rel, wrt=(0, 1, 2, 3), mode="source", jit=jit)
    assert np.isnan(grad(-1.0, 0.5, 0.5, 1.0)[:2]).all()
    assert np.isnan(grad(1.0, 0.5, -1.0, 1.0)[2:]).all()
    finite = grad(1.0, 0.5, 0.5, 1.0)  # (inside: r, log(x/y) + ... as NumPy's formulas)
    assert finite == pytest.approx((0.0, 0.5, 2 * np.log(0.5) + 1.0, 1.0 - 0.5 - 0.5))
