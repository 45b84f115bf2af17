"""The kernels of srcad.kernels: every adjoint against central finite differences, every
forward helper against NumPy, in plain Python and compiled with Numba.

An adjoint is checked as autograd's check_vjp does: for a random cotangent g and a random
direction dx, <g, (f(x + e dx) - f(x - e dx)) / 2e> must equal <vjp(g), dx>. Each test runs
all its cases (several shapes and axes) as Python, and its first case (the most general: a
3-D array, a tuple of axes) through a `numba.njit` wrapper: Numba compiles a kernel again for
each new argument type, about a second each. The compiled reshaping for every kind of axis
(None, int, negative, tuple, keepdims) is checked once, in `test_rows_for_every_kind_of_axis`.
The loops over layouts compile strided and Fortran-ordered views (float32 among them), not
C-contiguous arrays: a kernel is written once for every layout, each layout and dtype is one
more compilation, and the rest of the suite passes C-contiguous arrays.
"""

import numba
import numpy as np
import pytest
import scipy.linalg
import scipy.special

from srcad import runtime
from srcad.kernels import arrays, linalg, reductions

EPS = 1e-6


@pytest.fixture(params=["python", "jit"])
def mode(request):
    return request.param


def compiled(fn, mode):
    return numba.njit(fn) if mode == "jit" else fn


def cases_for(mode, cases, compiled_cases=1):
    return cases if mode == "python" else cases[:compiled_cases]


def check_vjp(fun, vjp, args, wrt, rng, direction=None):
    """<g, J dx> by central differences of `fun` must equal <vjp(g, *args, ans), dx>, for a
    random g and a random dx (`direction` maps dx, e.g. to a symmetric matrix)."""
    ans = fun(*args)
    g = rng.standard_normal(np.shape(ans))
    dx = rng.standard_normal(np.shape(args[wrt]))
    dx = direction(dx) if direction else dx
    up, down = list(args), list(args)
    up[wrt] = args[wrt] + EPS * dx
    down[wrt] = args[wrt] - EPS * dx
    jvp = (np.asarray(fun(*up)) - np.asarray(fun(*down))) / (2 * EPS)
    adjoint = vjp(g, *args, ans)
    assert np.shape(adjoint) == np.shape(args[wrt])
    expected, actual = np.sum(g * jvp), np.sum(adjoint * dx)
    assert abs(actual - expected) <= 1e-6 * (1 + abs(expected)), (actual, expected)


def check_forward(numpy_fun, helper, cases, mode, compiled_cases=1):
    """The helper (compiled in jit mode) returns NumPy's numbers in NumPy's shape."""
    run = compiled(helper, mode)
    for args in cases_for(mode, cases, compiled_cases):
        expected, actual = numpy_fun(*args), run(*args)
        assert np.shape(actual) == np.shape(expected), args
        np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-14)


X3 = np.random.default_rng(0).standard_normal((2, 3, 4))
X2 = np.random.default_rng(1).standard_normal((3, 5))
X1 = np.random.default_rng(2).standard_normal(7)
REDUCTIONS = [(X3, (0, 2), True), (X2, 1, False), (X1, None, False), (X3, None, True),
              (X3, 0, False), (X3, -1, True), (X3, (2, 1, 0), False), (X1, 0, True),
              (X2, (1,), True)]


# ---- reductions ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "logsumexp"])
def test_reductions_forward(name, mode):
    numpy_fun = scipy.special.logsumexp if name == "logsumexp" else getattr(np, name)
    helper = getattr(reductions, name + "_along")
    check_forward(lambda x, a, k: numpy_fun(x, axis=a, keepdims=k),
                  lambda x, a, k: helper(x, a, k), REDUCTIONS, mode)


def test_var_std_cumsum_cumprod_forward(mode):
    cases = [(x, axis, keep % 2, keep) for x, axis, keep in REDUCTIONS]
    check_forward(lambda x, a, d, k: np.var(x, a, ddof=d, keepdims=k),
                  lambda x, a, d, k: reductions.var_along(x, a, d, k), cases, mode)
    check_forward(lambda x, a, d, k: np.std(x, a, ddof=d, keepdims=k),
                  lambda x, a, d, k: reductions.std_along(x, a, d, k), cases, mode)
    cases = [(X3, 1), (X1, None), (X2, 0), (X3, None), (X3, -1), (X1, 0)]
    check_forward(np.cumsum, lambda x, a: reductions.cumsum_along(x, a), cases, mode)
    check_forward(np.cumprod, lambda x, a: reductions.cumprod_along(x, a), cases, mode)


def test_rows_for_every_kind_of_axis(rng):
    forward = numba.njit(lambda x, a, k: reductions.sum_along(x, a, k))
    adjoint = numba.njit(lambda g, x, a, k, ans: reductions.sum_adjoint(g, x, a))
    for x, axis, keep in REDUCTIONS[:6]:
        expected = np.sum(x, axis=axis, keepdims=keep)
        got = forward(x, axis, keep)
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        check_vjp(lambda x, a, k: np.sum(x, axis=a, keepdims=k), adjoint, (x, axis, keep), 0,
                  rng)
    with pytest.raises(ValueError, match="repeated"):
        forward(X3, (1, -2), False)
    with pytest.raises(ValueError, match="out of bounds"):
        forward(X3, 3, False)


def test_one_axis_of_strided_and_empty_arrays(rng):
    """One integer axis takes loops of its own (rows.around; a matrix's sum and mean two
    loops): every axis, negative ones, strided and Fortran-ordered views and empty arrays,
    against NumPy."""
    forward = numba.njit(lambda x, a: reductions.sum_along(x, a, False))
    kept = numba.njit(lambda x, a: reductions.max_along(x, a, True))
    adjoint = numba.njit(lambda g, x, a: reductions.sum_adjoint(g, x, a))
    mean_kept = numba.njit(lambda x, a: reductions.mean_along(x, a, True))
    mean_adjoint = numba.njit(lambda g, x, a: reductions.mean_adjoint(g, x, a))
    extremum_adjoint = numba.njit(lambda g, x, m, a: reductions.extremum_adjoint(g, x, m, a))
    for shape in [(5, 7), (0, 3), (3, 0), (4,), (2, 3, 4), (2, 0, 3)]:
        x = rng.standard_normal(shape)
        fortran = (np.asfortranarray(x),) if x.ndim == 2 else ()  # (a layout of its own)
        for view in (x[..., ::2], x[::-1], *fortran):
            for axis in range(-view.ndim, view.ndim):
                np.testing.assert_allclose(forward(view, axis), np.sum(view, axis=axis),
                                           rtol=1e-14)
                g = rng.standard_normal(np.sum(view, axis=axis).shape)
                spread = np.broadcast_to(np.expand_dims(g, axis), view.shape)
                np.testing.assert_array_equal(adjoint(g, view, axis), spread)
                if view.shape[axis]:
                    np.testing.assert_array_equal(kept(view, axis),
                                                  np.max(view, axis=axis, keepdims=True))
                    np.testing.assert_allclose(mean_kept(view, axis),
                                               np.mean(view, axis=axis, keepdims=True),
                                               rtol=1e-14)
                    np.testing.assert_array_equal(mean_adjoint(g, view, axis),
                                                  spread / view.shape[axis])
                    if view.ndim == 2:  # (a matrix's max and its adjoint: loops of their own)
                        ans = np.max(view, axis=axis)
                        np.testing.assert_array_equal(
                            extremum_adjoint(g, view, ans, axis),
                            reductions.extremum_adjoint(g, view, ans, axis))



def test_a_matrix_s_logsumexp_var_and_std_over_one_axis_as_the_rows_kernels(rng):
    """logsumexp, var and std of a matrix over one axis, and their adjoints, run as loops over
    its lines (they compile faster): the numbers of the rows kernels, bit for bit, on strided,
    Fortran-ordered and float32 matrices, with ties and a zero std."""
    import scipy.special

    lse = numba.njit(lambda x, a, k: scipy.special.logsumexp(x, axis=a, keepdims=k))
    spread = {name: numba.njit(lambda x, a, d, k, f=f: f(x, a, d, k))
              for name, f in (("var", reductions.var_along), ("std", reductions.std_along))}
    lines = numba.njit(lambda g, x, s, a, d: (reductions.logsumexp_adjoint(g, x, s, a),
                                              reductions.var_adjoint(g, x, a, d),
                                              reductions.std_adjoint(g, x, s, a, d)))
    rows = numba.njit(lambda g, x, s, a, d: (reductions._logsumexp_adjoint_rows(g, x, s, a),
                                             reductions._var_adjoint_rows(g, x, a, d),
                                             reductions._std_adjoint_rows(g, x, s, a, d)))
    x = rng.standard_normal((5, 4))
    x[0] = 0.5  # (a row of ties: std 0)
    for view in (x[::-1, ::2], np.asfortranarray(x.astype(np.float32))):
        for axis, ddof, keep in ((0, 0, False), (1, 1, True), (-1, 0, True), (-2, 1, False)):
            np.testing.assert_allclose(lse(view, axis, keep), scipy.special.logsumexp(
                view, axis=axis, keepdims=keep), rtol=1e-6 if view.dtype == np.float32 else 1e-14)
            for name, f in (("var", np.var), ("std", np.std)):
                np.testing.assert_allclose(spread[name](view, axis, ddof, keep),
                                           f(view, axis=axis, ddof=ddof, keepdims=keep),
                                           rtol=1e-5 if view.dtype == np.float32 else 1e-13)
            s = np.std(view, axis=axis, ddof=ddof)
            g = rng.standard_normal(s.shape)
            for got, expected in zip(lines(g, view, s, axis, ddof), rows(g, view, s, axis, ddof),
                                     strict=True):
                assert got.dtype == expected.dtype
                np.testing.assert_array_equal(got, expected)


def test_scans_products_and_cumsum_s_adjoint_over_one_axis_as_the_rows_kernels(rng):
    """cumsum, cumprod, prod of a matrix over one axis and the adjoints of cumsum and prod as
    loops over its lines: the rows kernels' numbers bit for bit (a zero among the factors)."""
    from srcad.kernels.rows import from_rows, to_rows

    lines = numba.njit(lambda x, g, a: (
        reductions.cumsum_along(x, a), reductions.cumprod_along(x, a),
        reductions.prod_along(x, a, False), reductions.cumsum_adjoint(g, x, a),
        reductions.prod_adjoint(g[0] if a in (0, -2) else g[:, 0], x, a)))
    rows = numba.njit(lambda x, g, a: (
        from_rows(reductions.row_cumsum(to_rows(x, a)), x, a),
        from_rows(reductions.row_cumprod(to_rows(x, a)), x, a),
        reductions.row_prod(to_rows(x, a)),
        from_rows(reductions.suffix_sums(to_rows(np.ascontiguousarray(g).reshape(x.shape), a)),
                  x, a),
        reductions._prod_adjoint_rows(g[0] if a in (0, -2) else g[:, 0], x, a)))
    x = rng.standard_normal((5, 4))
    x[2, 1] = 0.0
    for view in (x[::-1, ::2], np.asfortranarray(x.astype(np.float32))):
        g = rng.standard_normal(view.shape)
        for axis in (0, 1, -1, -2):
            got = lines(view, g, axis)
            np.testing.assert_allclose(got[0], np.cumsum(view, axis=axis), rtol=1e-6)
            np.testing.assert_allclose(got[2], np.prod(view, axis=axis), rtol=1e-6)
            for value, row in zip(got, rows(view, g, axis), strict=True):
                assert value.dtype == row.dtype
                np.testing.assert_array_equal(value, row)


def test_softmax_and_log_softmax_of_a_matrix_over_one_axis_as_the_rows_kernels(rng):
    """softmax, log_softmax and their adjoints over one axis of a matrix, as loops over its
    lines: the rows kernels' numbers bit for bit (an inf, a row of -inf: NaN as SciPy's)."""
    import scipy.special

    from srcad.kernels.rows import from_rows, to_rows

    lines = numba.njit(lambda x, g, a: (
        scipy.special.softmax(x, axis=a), scipy.special.log_softmax(x, axis=a),
        reductions.softmax_adjoint(g, x, a), reductions.log_softmax_adjoint(g, x, a)))
    rows = numba.njit(lambda x, g, a: (
        from_rows(reductions.row_softmax(to_rows(x, a)), x, a),
        from_rows(reductions.row_log_softmax(to_rows(x, a)), x, a),
        from_rows(reductions.softmax_rows_adjoint(to_rows(g, a), to_rows(x, a)), x, a),
        from_rows(reductions.log_softmax_rows_adjoint(to_rows(g, a), to_rows(x, a)), x, a)))
    x = rng.standard_normal((5, 4))
    x[1, 2], x[2] = np.inf, -np.inf
    for view in (x[::-1, ::2], np.asfortranarray(x.astype(np.float32))):
        g = rng.standard_normal(view.shape)
        for axis in (0, 1, -1, -2):
            with np.errstate(all="ignore"):
                expected = [scipy.special.softmax(view, axis=axis),
                            scipy.special.log_softmax(view, axis=axis)]
            got = lines(view, g, axis)
            for value, scipys in zip(got, expected, strict=False):
                np.testing.assert_allclose(value, scipys, rtol=1e-6)
            for value, row in zip(got, rows(view, g, axis), strict=True):
                assert value.dtype == row.dtype
                np.testing.assert_array_equal(value, row)

def test_keepdims_must_be_a_constant():
    @numba.njit
    def total(x, keep):
        return reductions.sum_along(x, 0, keep)
    assert total(X2, True).shape == (1, 5)  # (Numba compiles again with keep as a literal)
    with pytest.raises(numba.core.errors.TypingError, match="keepdims"):
        numba.njit(lambda x: reductions.var_along(x, 0, 0, x.size > 2))(X2)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod",
                                  "logsumexp"])
def test_reduction_adjoints(name, mode, rng):
    numpy_fun = scipy.special.logsumexp if name == "logsumexp" else getattr(np, name)
    adjoint = getattr(reductions, {"max": "extremum", "min": "extremum"}.get(name, name) +
                      "_adjoint")
    if name in ("sum", "mean", "prod"):  # (the adjoints need not know keepdims k)
        vjp = compiled(lambda g, x, a, k, ans: adjoint(g, x, a), mode)
    elif name == "var":
        vjp = compiled(lambda g, x, a, k, ans: adjoint(g, x, a, 1), mode)
    elif name == "std":
        vjp = compiled(lambda g, x, a, k, ans: adjoint(g, x, ans, a, 1), mode)
    else:
        vjp = compiled(lambda g, x, a, k, ans: adjoint(g, x, ans, a), mode)
    ddof = {"ddof": 1} if name in ("var", "std") else {}
    for case in cases_for(mode, REDUCTIONS):
        check_vjp(lambda x, a, k: numpy_fun(x, axis=a, keepdims=k, **ddof), vjp, case, 0, rng)


def test_prod_adjoint_is_exact_with_zeros(mode):
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    got = compiled(lambda g, x: reductions.prod_adjoint(g, x, 1), mode)(np.ones(3), x)
    np.testing.assert_array_equal(got, [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_extremum_adjoint_shares_ties(mode):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    vjp = compiled(lambda g, x, ans: reductions.extremum_adjoint(g, x, ans, 1), mode)
    np.testing.assert_allclose(vjp(np.array([1.0, 3.0]), x, x.max(axis=1)),
                               [[0, 0.5, 0.5], [1, 1, 1]])


def test_extremum_tangent_is_the_transpose_of_its_adjoint(mode, rng):
    """<t, extremum_adjoint(g)> == <g, extremum_tangent(t)> for every kind of axis, with ties
    and with a NaN; compiled, the whole-array case (a loop of its own: it runs inside loops)."""
    x = rng.integers(0, 3, (3, 4, 2)).astype(float)  # (ties)
    nan = x.copy()
    nan[1, 2, 0] = np.nan
    cases = [(axis, keepdims) for axis in (None, 0, -1, (0, 2)) for keepdims in (False, True)]
    for axis, keepdims in cases_for(mode, cases):
        tangent = compiled(lambda t, x, ans, axis=axis, keepdims=keepdims:
                           reductions.extremum_tangent(t, x, ans, axis, keepdims), mode)
        for data in (x, nan, x[:, ::2], x.transpose(2, 0, 1)):
            t = rng.standard_normal(data.shape)
            ans = np.max(data, axis=axis, keepdims=keepdims)
            got = tangent(t, data, ans)
            g = rng.standard_normal(np.shape(ans))
            with np.errstate(divide="ignore", invalid="ignore"):  # (a NaN row: NaN)
                expected = np.sum(t * reductions.extremum_adjoint(g, data, ans, axis))
            np.testing.assert_allclose(np.sum(g * got), expected, rtol=1e-12)
            assert np.shape(got) == np.shape(ans)


def test_extremum_tangent_of_a_broadcast_or_scalar_tangent(mode, rng):
    """The whole-array case with a tangent of fewer axes or a number: the mean over the ties of
    the tangent broadcast to x (NaN where no element equals the extremum)."""
    tangent = compiled(lambda t, x, ans: reductions.extremum_tangent(t, x, ans, None), mode)
    x = rng.integers(0, 3, (3, 4)).astype(float)
    ties = x == x.max()
    for t in (rng.standard_normal(4), rng.standard_normal((1, 4)), 0.75):
        expected = np.mean(np.broadcast_to(t, x.shape)[ties])
        assert tangent(t, x, x.max()) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(tangent(0.75, x, np.nan))


def test_std_adjoint_is_zero_at_a_constant(mode):
    x = np.full((2, 3), 4.0)
    vjp = compiled(lambda g, x: reductions.std_adjoint(g, x, np.zeros(2), 1), mode)
    np.testing.assert_array_equal(vjp(np.ones(2), x), 0.0)


def test_scan_adjoints(mode, rng):
    cumsum = compiled(lambda g, x, a, ans: reductions.cumsum_adjoint(g, x, a), mode)
    cumprod = compiled(lambda g, x, a, ans: reductions.cumprod_adjoint(g, x, a), mode)
    for x, axis in cases_for(mode, [(X3, 1), (X1, None), (X2, -1), (X3, None), (X1, 0)], 2):
        check_vjp(lambda x, a: np.cumsum(x, a), cumsum, (x, axis), 0, rng)
        check_vjp(lambda x, a: np.cumprod(x, a), cumprod, (x, axis), 0, rng)
    with_zeros = np.array([[1.5, 0.0, 2.0, 0.0], [0.0, 3.0, -1.0, 2.0]])
    check_vjp(lambda x, a: np.cumprod(x, a), cumprod, (with_zeros, 1), 0, rng)


def test_softmax_adjoints(mode, rng):
    soft = compiled(lambda g, x, a, ans: reductions.softmax_adjoint(g, ans, a), mode)
    log_soft = compiled(lambda g, x, a, ans: reductions.log_softmax_adjoint(g, ans, a), mode)
    for x, axis in cases_for(mode, [(X3, (0, 2)), (X2, 1), (X1, None), (X3, None), (X1, 0)]):
        check_vjp(scipy.special.softmax, soft, (x, axis), 0, rng)
        check_vjp(scipy.special.log_softmax, log_soft, (x, axis), 0, rng)


# ---- linear algebra -----------------------------------------------------------------------

def _matrices(rng, n=4):
    a = rng.standard_normal((n, n)) + n * np.eye(n)
    spd = a @ a.T + np.eye(n)
    return a, spd, np.linalg.cholesky(spd)


def symmetric(dx):
    return dx + dx.T


def test_solve_inv_det_adjoints(mode, rng):
    a, _, _ = _matrices(rng)
    singular = a.copy()
    singular[3] = singular[0] - 2 * singular[1]
    solve_a = compiled(lambda g, a, b, ans: linalg.solve_adjoint_a(g, a, ans), mode)
    solve_b = compiled(lambda g, a, b, ans: linalg.solve_adjoint_b(g, a), mode)
    for b in cases_for(mode, (rng.standard_normal((4, 3)), rng.standard_normal(4))):
        check_vjp(np.linalg.solve, solve_a, (a, b), 0, rng)
        check_vjp(np.linalg.solve, solve_b, (a, b), 1, rng)
    check_vjp(np.linalg.inv, compiled(lambda g, a, ans: linalg.inv_adjoint(g, ans), mode),
              (a,), 0, rng)
    det = compiled(lambda g, a, ans: linalg.det_adjoint(g, a, ans), mode)
    check_vjp(np.linalg.det, det, (a,), 0, rng)
    check_vjp(np.linalg.det, det, (singular,), 0, rng)  # (the cofactors, not g det a^-T)
    check_vjp(lambda a: np.linalg.slogdet(a)[1],
              compiled(lambda g, a, ans: linalg.slogdet_adjoint(g, a), mode), (a,), 0, rng)
    with pytest.raises(ValueError, match="square"):
        compiled(lambda g, a: linalg.slogdet_adjoint(g, a), mode)(1.0, np.ones((2, 3)))
    stack = np.ones((2, 3, 3))  # (NumPy's stacks of matrices: refused, not misread)
    for refused in (lambda: linalg.inv_adjoint(stack, stack),
                    lambda: linalg.cholesky_adjoint(stack, stack),
                    lambda: linalg.kron_adjoint_a(np.ones((4, 9)), stack[0, :2], stack)):
        with pytest.raises(ValueError, match="stack|vectors or matrices"):
            refused()


def test_cholesky_and_eigh_adjoints(mode, rng):
    _, spd, _ = _matrices(rng)
    chol = compiled(lambda g, a, ans: linalg.cholesky_adjoint(g, ans), mode)
    check_vjp(np.linalg.cholesky, chol, (spd,), 0, rng, symmetric)
    check_vjp(np.linalg.cholesky, chol, (spd[:2, :2],), 0, rng, symmetric)

    def eigh(a):  # eigenvalues, then eigenvectors with the sign LAPACK may flip pinned
        w, v = np.linalg.eigh(a)
        return np.concatenate([w, (v * np.sign(v[0])).ravel()])

    def eigh_vjp(g, a, ans):
        n = a.shape[0]
        w, v = np.linalg.eigh(a)
        v = v * np.sign(v[0])
        return linalg.eigh_adjoint(g[:n], g[n:].reshape((n, n)), w, v)
    check_vjp(eigh, compiled(eigh_vjp, mode), (spd,), 0, rng, symmetric)
    # eigenvalues only, with a repeated one: finite (no eigenvector adjoint to divide)
    w, v = np.linalg.eigh(np.diag([1.0, 1.0, 3.0]))
    got = compiled(linalg.eigh_adjoint, mode)(np.ones(3), np.zeros((3, 3)), w, v)
    np.testing.assert_allclose(got, np.eye(3))


def test_triangular_and_cholesky_solve_adjoints(mode, rng):
    a, _, chol = _matrices(rng)
    vjp_a = compiled(lambda g, a, b, t, low, unit, ans:
                     linalg.solve_triangular_adjoint_a(g, a, ans, t, low, unit), mode)
    vjp_b = compiled(lambda g, a, b, t, low, unit, ans:
                     linalg.solve_triangular_adjoint_b(g, a, t, low, unit), mode)

    def solve(a, b, t, low, unit):
        return scipy.linalg.solve_triangular(a, b, trans=t, lower=low, unit_diagonal=unit)
    # a full matrix: the triangle that is not read must get no adjoint
    for trans in (0, 1, "T") if mode == "python" else (0, 1):  # (a string: one more compile)
        for lower in (True, False):
            for unit in (False, True):
                for b in cases_for(mode, (rng.standard_normal((4, 2)), rng.standard_normal(4))):
                    check_vjp(solve, vjp_a, (a, b, trans, lower, unit), 0, rng)
                    check_vjp(solve, vjp_b, (a, b, trans, lower, unit), 1, rng)
    cho_c = compiled(lambda g, c, low, b, ans: linalg.cho_solve_adjoint_c(g, (c, low), ans),
                     mode)
    cho_b = compiled(lambda g, c, low, b, ans: linalg.cho_solve_adjoint_b(g, (c, low)), mode)

    def cho_solve(c, low, b):
        return scipy.linalg.cho_solve((c, low), b)
    unread = np.triu(rng.standard_normal((4, 4)), 1)  # (the triangle cho_solve ignores)
    for lower, factor in ((True, chol + unread), (False, chol.T + unread.T)):
        for b in cases_for(mode, (rng.standard_normal((4, 3)), rng.standard_normal(4))):
            check_vjp(cho_solve, cho_c, (factor, lower, b), 0, rng)
            check_vjp(cho_solve, cho_b, (factor, lower, b), 2, rng)


NORMS = [(X3, 1, 0), (X2, 2, None), (X2, "nuc", None), (X1, None, None), (X2, "fro", None),
         (X3, None, None), (X3, None, 1), (X3, np.inf, -1), (X3, -np.inf, 1), (X3, 3, 2),
         (X3, 0.5, 2), (X1, 2, None), (X3, "fro", (0, 2)), (X2, -2, None), (X2, 1, None),
         (X2, -1, None), (X2, np.inf, None), (X2, -np.inf, (0, 1)), (X2, 1, (-2, -1)),
         (X2, 1, (1, 0)), (X2, 2, (-1, 0)), (X2, "nuc", (1, -2))]  # (the transpose's norms)


def test_norm_forward(mode):
    cases = [(x, order, axis, k % 2 == 0) for k, (x, order, axis) in enumerate(NORMS)]
    check_forward(np.linalg.norm, lambda x, o, a, k: linalg.norm_along(x, o, a, k), cases,
                  mode, 3)


def test_norm_adjoint(mode, rng):
    vjp = compiled(lambda g, x, o, a, ans: linalg.norm_adjoint(g, x, ans, o, a), mode)
    for case in cases_for(mode, NORMS, 3):  # (a vector, a matrix and the nuclear norm)
        check_vjp(np.linalg.norm, vjp, case, 0, rng)
    with pytest.raises(ValueError, match="Duplicate axes given"):
        compiled(lambda x: linalg.norm_adjoint(1.0, x, 1.0, 2, (1, -1)), mode)(X2)
    zero = compiled(lambda x: linalg.norm_adjoint(1.0, x, 0.0), mode)(np.zeros(3))
    np.testing.assert_array_equal(zero, 0.0)


def test_products(mode, rng):
    trace = compiled(lambda g, x, k, ans: linalg.trace_adjoint(g, x, k), mode)
    for offset in (0, 1, -2):
        check_vjp(lambda x, k: np.trace(x, k), trace, (X2, offset), 0, rng)
    diag = compiled(lambda g, v, k, ans: linalg.diag_adjoint(g, v, k), mode)
    for v, k in ((X1, 0), (X2, 2), (X1, -1), (X2, 0), (X2, -1), (X1, 2)):
        check_vjp(np.diag, diag, (v, k), 0, rng)
    outer_a = compiled(lambda g, a, b, ans: linalg.outer_adjoint_a(g, a, b), mode)
    outer_b = compiled(lambda g, a, b, ans: linalg.outer_adjoint_b(g, a, b), mode)
    check_vjp(np.outer, outer_a, (X2, X1), 0, rng)
    check_vjp(np.outer, outer_b, (X2, X1), 1, rng)
    kron_a = compiled(lambda g, a, b, ans: linalg.kron_adjoint_a(g, a, b), mode)
    kron_b = compiled(lambda g, a, b, ans: linalg.kron_adjoint_b(g, a, b), mode)
    for a, b in cases_for(mode, ((X2, X2[:2, :3]), (X1, X1[:3]), (X1[:3], X2), (X2, X1[:2])), 2):
        check_vjp(np.kron, kron_a, (a, b), 0, rng)
        check_vjp(np.kron, kron_b, (a, b), 1, rng)


TENSORDOTS = [(X3, X2[:2, :4], ((0, 2), (0, 1))), (X3, X3.transpose(2, 1, 0), 1),
              (X3, X2[:, :2].T, (1, 1)), (X3, X3.transpose(1, 2, 0), 2), (X2, X2.T, 1),
              (X3, X2[:, :2], ((1,), (0,))), (X3, X3, 3), (X1, X1, 0)]


def test_tensordot(mode, rng):
    check_forward(np.tensordot, lambda a, b, axes: linalg.tensordot(a, b, axes), TENSORDOTS,
                  mode, 2)
    vjp_a = compiled(lambda g, a, b, axes, ans: linalg.tensordot_adjoint_a(g, a, b, axes), mode)
    vjp_b = compiled(lambda g, a, b, axes, ans: linalg.tensordot_adjoint_b(g, a, b, axes), mode)
    for case in cases_for(mode, TENSORDOTS, 2):
        check_vjp(np.tensordot, vjp_a, case, 0, rng)
        check_vjp(np.tensordot, vjp_b, case, 1, rng)


# ---- arrays: sorting, quantiles, interpolation, rearrangements ----------------------------

SORTS = [(X3, 0), (X1, None), (X2, -1), (X3, None), (X3, -1), (X1, -1)]


def test_sort(mode, rng):
    check_forward(np.sort, lambda x, a: arrays.sort_along(x, a), SORTS, mode, 2)
    vjp = compiled(lambda g, x, a, ans: arrays.sort_adjoint(g, x, a), mode)
    for x, axis in cases_for(mode, SORTS, 2):
        check_vjp(np.sort, vjp, (x, axis), 0, rng)
    # ties (where finite differences cannot check): the stable order gives the adjoint of the
    # first of equal entries to the earlier one
    got = vjp(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 2.0, 0.5]), 0, None)
    np.testing.assert_array_equal(got, [3.0, 2.0, 4.0, 1.0])


QUANTILES = [(X3, (0, 2), True), (X1, None, False), (X2, 0, True), (X3, None, False),
             (X3, 1, False)]


def test_quantiles(mode, rng):
    quantile = compiled(lambda x, q, a, k: arrays.quantile_along(x, q, a, k), mode)
    percentile = compiled(lambda x, q, a, k: arrays.percentile_along(x, q, a, k), mode)
    median = compiled(lambda x, a, k: arrays.median_along(x, a, k), mode)
    quantile_vjp = compiled(lambda g, x, q, a, ans: arrays.quantile_adjoint(g, x, q, a), mode)
    percentile_vjp = compiled(lambda g, x, q, a, ans: arrays.percentile_adjoint(g, x, q, a),
                              mode)
    median_vjp = compiled(lambda g, x, a, ans: arrays.median_adjoint(g, x, a), mode)
    for q in (0.3, 1.0, np.array([0.0, 0.25, 0.5, 0.9])):
        for x, axis, keep in cases_for(mode, QUANTILES):
            for got, expected in ((quantile(x, q, axis, keep), np.quantile(x, q, axis,
                                                                           keepdims=keep)),
                                  (percentile(x, q * 100, axis, keep),
                                   np.percentile(x, q * 100, axis, keepdims=keep))):
                assert np.shape(got) == np.shape(expected)
                np.testing.assert_array_equal(got, expected)
            check_vjp(lambda x, q, a: np.quantile(x, q, a), quantile_vjp, (x, q, axis), 0, rng)
            check_vjp(lambda x, q, a: np.percentile(x, q, a), percentile_vjp,
                      (x, q * 100, axis), 0, rng)
    for x, axis, keep in cases_for(mode, QUANTILES):
        got, expected = median(x, axis, keep), np.median(x, axis, keepdims=keep)
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_array_equal(got, expected)
        check_vjp(lambda x, a: np.median(x, a), median_vjp, (x, axis), 0, rng)
    with_nan = X2.copy()
    with_nan[1, 2] = np.nan
    np.testing.assert_array_equal(median(with_nan, 1, False), np.median(with_nan, 1))
    with pytest.raises(ValueError, match="range"):
        quantile(X1, 1.5, None, False)


def test_interp(mode, rng):
    xp = np.sort(rng.uniform(0, 1, 6))
    fp = rng.standard_normal(6)
    vjp_x = compiled(lambda g, x, xp, fp, ans: arrays.interp_adjoint_x(g, x, xp, fp), mode)
    vjp_fp = compiled(lambda g, fp, x, xp, left, right, ans:
                      arrays.interp_adjoint_fp(g, x, xp, fp, left, right), mode)
    for x in cases_for(mode, (rng.uniform(-0.2, 1.2, (3, 4)), 0.5, rng.uniform(-0.2, 1.2, 9)),
                       2):  # (an array and a number)
        check_vjp(np.interp, vjp_x, (x, xp, fp), 0, rng)
        check_vjp(lambda fp, x, xp, left, right: np.interp(x, xp, fp, left, right), vjp_fp,
                  (fp, x, xp, None, None), 0, rng)
        check_vjp(lambda fp, x, xp, left, right: np.interp(x, xp, fp, left, right), vjp_fp,
                  (fp, x, xp, 0.0, 2.0), 0, rng)


def test_trapezoid(mode, rng):
    spacing = np.sort(rng.uniform(0, 3, (2, 3, 4)), axis=2)
    cases = [(X3, np.sort(X1[:3]), 1.0, 1), (X2, None, 2.0, 0), (X3, spacing, 1.0, 2),
             (X3, None, 0.7, -1), (X1, np.sort(rng.standard_normal(7)), 1.0, -1)]
    check_forward(np.trapezoid, lambda y, x, dx, a: arrays.trapezoid_along(y, x, dx, a),
                  cases, mode, 2)
    vjp_y = compiled(lambda g, y, x, dx, a, ans: arrays.trapezoid_adjoint_y(g, y, x, dx, a),
                     mode)
    vjp_x = compiled(lambda g, x, y, a, ans: arrays.trapezoid_adjoint_x(g, y, x, a), mode)
    vjp_dx = compiled(lambda g, dx, y, a, ans: arrays.trapezoid_adjoint_dx(g, y, a), mode)
    for y, x, dx, axis in cases_for(mode, cases, 2):
        check_vjp(np.trapezoid, vjp_y, (y, x, dx, axis), 0, rng)
        if x is None:
            check_vjp(lambda dx, y, a: np.trapezoid(y, None, dx, a), vjp_dx, (dx, y, axis), 0,
                      rng)
        else:
            check_vjp(lambda x, y, a: np.trapezoid(y, x, 1.0, a), vjp_x, (x, y, axis), 0, rng)


def test_diff_roll_flip_tril(mode, rng):
    diffs = [(X3, 2, 0), (X1, 3, -1), (X3, 1, -1), (X2, 1, 0)]
    check_forward(np.diff, lambda x, n, a: arrays.diff_along(x, n, a), diffs, mode)
    diff = compiled(lambda g, x, n, a, ans: arrays.diff_adjoint(g, x, n, a), mode)
    for case in cases_for(mode, diffs):
        check_vjp(np.diff, diff, case, 0, rng)
    rolls = [(X3, -2, 1), (X3, 1, None), (X1, 9, 0)]
    check_forward(np.roll, lambda x, s, a: arrays.roll_along(x, s, a), rolls, mode)
    roll = compiled(lambda g, x, s, a, ans: arrays.roll_adjoint(g, s, a), mode)
    for case in cases_for(mode, rolls):
        check_vjp(np.roll, roll, case, 0, rng)
    flips = [(X3, (0, 2)), (X3, None), (X2, 1), (X1, 0)]
    check_forward(np.flip, lambda x, a: arrays.flip_along(x, a), flips, mode, 2)
    flip = compiled(lambda g, x, a, ans: arrays.flip_adjoint(g, a), mode)
    for case in cases_for(mode, flips, 2):
        check_vjp(np.flip, flip, case, 0, rng)
    tril = compiled(lambda g, x, k, ans: arrays.tril_adjoint(g, k), mode)
    triu = compiled(lambda g, x, k, ans: arrays.triu_adjoint(g, k), mode)
    for k in (0, -1, 2):
        check_vjp(np.tril, tril, (X2, k), 0, rng)
        check_vjp(np.triu, triu, (X2, k), 0, rng)


def test_tile_repeat_take(mode, rng):
    tiles = [(X2, (2, 1, 2)), (X1, 2), (X3, (1, 2)), (X2, (2, 3)), (X3, 3), (X3, (1, 2, 1, 2))]
    check_forward(np.tile, lambda x, r: arrays.tile(x, r), tiles, mode)
    tile = compiled(lambda g, x, r, ans: arrays.tile_adjoint(g, x, r), mode)
    for case in cases_for(mode, tiles):
        check_vjp(np.tile, tile, case, 0, rng)
    repeats = [(X2, np.array([1, 0, 2, 1, 3]), 1), (X3, 2, None), (X3, 3, 1),
               (X1, np.array([1, 2, 0, 1, 1, 1, 2]), 0)]
    check_forward(np.repeat, lambda x, r, a: arrays.repeat_along(x, r, a), repeats, mode)
    repeat = compiled(lambda g, x, r, a, ans: arrays.repeat_adjoint(g, x, r, a), mode)
    for case in cases_for(mode, repeats):
        check_vjp(np.repeat, repeat, case, 0, rng)
    takes = [(X3, np.array([[0, 2], [2, 2]]), 1), (X3, np.array([0, 2, 2, 1]), None),
             (X1, np.array([1, 1, -1]), 0), (X2, np.array([2, 0, 2]), 0), (X3, 1, 2)]
    check_forward(np.take, lambda x, i, a: arrays.take_along(x, i, a), takes, mode)
    take = compiled(lambda g, x, i, a, ans: arrays.take_adjoint(g, x, i, a), mode)
    for case in cases_for(mode, takes):
        check_vjp(np.take, take, case, 0, rng)
    with pytest.raises(IndexError):
        compiled(lambda x: arrays.take_along(x, np.array([5]), 0), mode)(X2)

    def add_at(b, a, index):
        out = a.copy()
        np.add.at(out, index, b)
        return out
    values = compiled(lambda g, b, a, i, ans: arrays.add_at_adjoint_values(g, i), mode)
    check_vjp(add_at, values, (X2[:3], X2, np.array([0, 2, 2])), 0, rng)


def test_float32_stays_float32(mode):
    x = X3.astype(np.float32)
    got = compiled(lambda x: (reductions.var_adjoint(np.ones((2, 4), np.float32), x, 1),
                              arrays.quantile_along(x, 0.5, 2)), mode)(x)
    assert [np.asarray(v).dtype for v in got] == [np.float32] * 2


@numba.njit
def _unbroadcast_compiled(g, shape):
    return runtime.unbroadcast(g, shape)


@pytest.mark.parametrize(("big", "shape"), [
    ((5, 4, 3), (1, 4, 3)), ((5, 4, 3), (5, 4, 1)), ((5, 4, 3), (1, 1, 3)),
    ((5, 4, 3), (5, 1, 1)), ((5, 4, 3), (1, 4, 1)), ((5, 4, 3), (1, 1, 1)), ((5, 1, 3), (1, 1, 3)),
    ((6, 4), (1, 4)), ((6, 4), (6, 1)), ((6, 4), (1, 1)), ((5, 4, 3), (4, 3)), ((5, 4, 3), (3,)),
    ((2, 5, 4, 3), (1, 4, 1))])
def test_compiled_unbroadcast_sums_to_the_operands_shape(big, shape, rng):
    """(the sums of 2-D and 3-D adjoints run as loops of their own, no longer np.ndindex's)"""
    g = rng.standard_normal(big)
    for layout in (g, np.asfortranarray(g), g[..., ::-1]):
        out = _unbroadcast_compiled(layout, shape)
        lead = tuple(range(g.ndim - len(shape)))
        kept = tuple(k + len(lead) for k, n in enumerate(shape) if n == 1)
        expected = layout.sum(axis=lead + kept, keepdims=True).reshape(shape)
        np.testing.assert_allclose(out, expected, rtol=1e-12)


@numba.njit
def _unbroadcast_product_compiled(a, b, shape):
    return runtime.unbroadcast_product(a, b, shape)


@pytest.mark.parametrize(("big", "other", "shape"), [
    ((5, 4, 3), (1, 4, 3), (1, 4, 3)), ((5, 4, 3), (5, 4, 1), (5, 4, 1)),
    ((5, 4, 3), (5, 4, 1), (1, 4, 3)), ((5, 4, 3), (1, 1, 3), (5, 1, 1)),
    ((5, 4, 3), (5, 4, 3), (1, 1, 1)), ((5, 4, 3), (5, 1, 3), (5, 4, 3)),
    ((6, 4), (1, 4), (6, 1)), ((6, 4), (6, 1), (1, 4)), ((6, 4), (6, 4), (6, 4)),
    ((1, 4, 3), (5, 4, 3), (1, 4, 3)), ((5, 4, 3), (4, 3), (3,))])
def test_compiled_unbroadcast_of_a_product_sums_its_elements(big, other, shape, rng):
    """(the sums of a product's elements, taken without the product's array)"""
    a, b = rng.standard_normal(big), rng.standard_normal(other)
    for layout in (a, np.asfortranarray(a), a[..., ::-1]):
        out = _unbroadcast_product_compiled(layout, b, shape)
        np.testing.assert_allclose(out, runtime.unbroadcast(layout * b, shape), rtol=1e-12)
        assert out.shape == shape
    out32 = _unbroadcast_product_compiled(a.astype(np.float32), b.astype(np.float32), shape)
    assert out32.dtype == np.float32


@pytest.mark.parametrize("x", [np.array([0.5, 2.0, -1.0, 2.0]), np.array([[0.5, 2.0], [2.0, 1.0]]),
                               np.array([1.0, np.nan, 3.0]), np.array([3.0])])
def test_adding_an_extremum_adjoint_in_place_is_adding_it(x):
    """kn.add_extremum_adjoint(out, g, x, ans) is `out += extremum_adjoint(g, x, ans)` (ties
    share g; a NaN maximum gives NaN everywhere), compiled and as Python."""
    from numba import njit
    ans = np.max(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = 0.25 + reductions.extremum_adjoint(1.5, x, ans)
    for add in (reductions.add_extremum_adjoint, njit(lambda o, g, v, a:
                                                      reductions.add_extremum_adjoint(o, g, v, a))):
        out = np.full(x.shape, 0.25)
        with np.errstate(invalid="ignore", divide="ignore"):
            add(out, 1.5, x, ans)
        np.testing.assert_array_equal(out, expected)


def test_a_vector_norm_adjoint_where_the_norm_under_or_overflowed(rng):
    """Given NumPy's norm (0.0 or inf of entries that are neither), the adjoint is that of the
    exact norm, compiled and as Python."""
    direction = rng.normal(size=(2, 4))
    compiled = numba.njit(lambda g, x, a, p, axis: linalg.norm_adjoint(g, x, a, p, axis))
    for scale, lost in ((1e-200, 0.0), (1e200, np.inf)):
        x = direction * scale
        for p in (2, 3):
            exact = np.linalg.norm(direction, p, axis=1)
            expected = np.sign(direction) * (np.abs(direction) / exact[:, None]) ** (p - 1)
            g, ans = np.ones(2), np.full(2, lost)
            for adjoint in (linalg.norm_adjoint, compiled):
                np.testing.assert_allclose(adjoint(g, x, ans, p, 1), expected, rtol=1e-13)
