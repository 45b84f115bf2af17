"""Second order, composed from the transforms: hvp (reverse over forward) against central
differences of srcad's gradient, over the whole program corpus as Python (half of it compiled)
and over every rule's last case; the Hessian's symmetry; grad of grad nested two and three deep
against known derivatives; the Jacobian in both modes against finite differences."""

import math
import re
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.special

import srcad
from srcad import check
from srcad.compiler import pytrees
from tests import programs, test_rules
from tests.test_custom import cubic_poly
from tests.rule_cases import make_args, short_name, write_module


def _fd_of_gradient(fn, args, k, v, eps=1e-6):
    grad = srcad.grad(fn, wrt=k, mode="source", jit=False)

    def at(step):
        moved = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
        moved[k] = moved[k] + step * v
        return np.asarray(grad(*moved), dtype=np.float64)
    return (at(eps) - at(-eps)) / (2 * eps)


# every program as Python; compiled, every eighth (test_forward compiles the jvp of every
# fourth; test_programs every gradient): the suite stays within CI's time
HVP_CASES = [(fn, False) for fn in programs.PROGRAMS] + \
    [(fn, True) for fn in programs.PROGRAMS[::8]]


@pytest.mark.parametrize("fn,jit", HVP_CASES,
                         ids=[f"{'jit' if j else 'python'}-{f.__name__}" for f, j in HVP_CASES])
def test_hvp_matches_finite_differences_of_the_gradient(fn, jit, rng):
    args = programs.make_inputs(fn, rng)
    k = programs.float_params(fn, args)[0]
    v = rng.normal(size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.normal())
    before = [np.copy(a) if isinstance(a, np.ndarray) else a for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        hv = srcad.hvp(fn, wrt=k, jit=jit)(*args, v)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(hv, _fd_of_gradient(fn, before, k, v), rtol=1e-4, atol=1e-5)


# the curvature kernels of the second derivatives of np.prod, np.linalg.norm and expm, of the
# third of np.cumprod (the tape's fourth) and np.linalg.det, and of the second of
# np.linalg.matrix_power, pinv, lstsq, qr and the singular values, have no derivative rule of
# their own: the next derivative is refused by name, or taken by the tape where it can
NO_SECOND_DERIVATIVE = {"prod_adjoint": "x", "norm_adjoint": "x",
                        "cumprod_tangent_adjoint_x": "x", "cumprod_cross_tangent": "x",
                        "det_tangent": "a", "matrix_power": "a",
                        "singular_values": "a", "pinv": "a", "lstsq_solution": "a",
                        "qr_q": "a", "qr_r": "a", "expm_frechet": "a"}  # (the arguments refused)
LAST_CASES = [(key, expr, shapes) for key, expr, shapes, jit in test_rules.ALL if jit]


@pytest.mark.parametrize("key,expr,shapes", LAST_CASES,
                         ids=[f"{short_name(k)}:{e}" for k, e, _ in LAST_CASES])
def test_second_derivative_of_every_rule(key, expr, shapes, tmp_path):
    """hvp along each float argument of each rule's case (as Python) against finite
    differences of its gradient, or refused by name."""
    args = make_args(key, expr, shapes, seed=11)
    fn = write_module(tmp_path, expr, shapes)
    rng = np.random.default_rng(5)
    for k, (name, a) in enumerate(zip(shapes, args, strict=False)):
        v = rng.normal(size=np.shape(a)) if np.ndim(a) else float(rng.normal())
        if name in NO_SECOND_DERIVATIVE.get(short_name(key), ""):  # (or the tape's numbers)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    hv = srcad.hvp(fn, wrt=k, jit=False)(*args, v)
            except srcad.UnsupportedError as exc:
                assert "a kernel of srcad's own derivatives" in str(exc)
                continue
            assert "a kernel of srcad's own derivatives" in str(caught[0].message)
        else:
            hv = srcad.hvp(fn, wrt=k, jit=False)(*args, v)
        np.testing.assert_allclose(hv, _fd_of_gradient(fn, args, k, v), rtol=1e-4, atol=1e-5)


def cholesky_cubes(x):
    L = np.linalg.cholesky(np.outer(x, x) + 3.0 * np.eye(x.size))
    return np.sum(L * L * L)


def eigen_parts(x):
    w, v = np.linalg.eigh(np.outer(x, x) + np.diag(x))
    return np.sum(w ** 3) + np.sum(v[:, 0] ** 4) + np.sum(np.linalg.eigvalsh(np.diag(x * x)))


def triangular_cubes(x):
    a = np.tril(np.outer(x, x)) + 4.0 * np.eye(x.size)
    b = np.outer(x, x[::-1])
    return np.sum(scipy.linalg.solve_triangular(a, b, trans="T", lower=True) ** 3) + \
        np.sum(scipy.linalg.solve_triangular(a.T, x, unit_diagonal=True) ** 2)


def products_with_zero(x):
    m = np.outer(x, x)
    m[1, 1] = 0.0  # (a zero inside the running products)
    return np.sum(np.cumprod(m, axis=1) ** 2 * x[0]) + np.sum(x.cumprod() * x)


def gaussian_process_loss(x):
    """A GP's negative log-likelihood in its hyperparameters: SciPy's lower factor, cho_solve."""
    points = np.linspace(0.0, 1.0, 5)
    d = points[:, None] - points[None, :]
    K = np.exp(x[1]) * np.exp(-0.5 * d * d * np.exp(-2.0 * x[0])) + \
        (np.exp(x[2]) + 0.1) * np.eye(5)
    L = scipy.linalg.cholesky(K, lower=True)
    alpha = scipy.linalg.cho_solve((L, True), np.sin(3.0 * points))
    return 0.5 * np.dot(np.sin(3.0 * points), alpha) + np.sum(np.log(np.diag(L)))


def upper_factor_solves(x):
    a = np.outer(x, x) + 3.0 * np.eye(3)
    U = scipy.linalg.cholesky(a)
    b = np.outer(x, x[::-1])
    return np.sum(scipy.linalg.cho_solve((U, False), b, check_finite=False) ** 2) + \
        np.sum(U ** 3)


@pytest.mark.parametrize("fn,jit", [(cholesky_cubes, False), (eigen_parts, True),
                                    (triangular_cubes, False), (products_with_zero, True),
                                    (gaussian_process_loss, True), (upper_factor_solves, False)])
def test_hessian_of_linalg_and_cumprod(fn, jit, rng):
    """Their tangents are compositions of primitives with rules (cumprod's a kernel with its
    own): the Hessian against finite differences of the gradient, and symmetric. Half of them
    compiled (a compile takes 4-11 s; each rule's tangent is compiled in test_forward_rules)."""
    x = rng.normal(size=3)
    np.testing.assert_allclose(srcad.grad(fn, jit=False)(x), check.numeric_grad(fn, (x,), 0),
                               rtol=1e-6, atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        H = srcad.hessian(fn, jit=jit)(x)
    fd = np.stack([_fd_of_gradient(fn, (x,), 0, e) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=1e-9)


def determinant(a):
    return np.linalg.det(a)


def _adjugate_transposed(a):
    """The cofactors of a 3 x 3 matrix, each a 2 x 2 determinant written out."""
    out = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            m = np.delete(np.delete(a, i, 0), j, 1)
            out[i, j] = (-1) ** (i + j) * (m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])
    return out


@pytest.mark.parametrize("singular", ["exactly", "to rounding"])
def test_the_determinant_at_a_singular_matrix(singular, jit, rng):
    """Found by a helper's attack: at a matrix singular to rounding (det 1e-17) the hvp came
    from det(a) a^-1 terms, each near 1e16 times too big, and was wrong in every digit. The
    first derivatives use the cofactors from the SVD where a is ill conditioned, the second
    the minors' cofactors (a second helper found the error it first was: det is a polynomial)."""
    a = rng.normal(size=(3, 3))
    a[2] = a[0] + a[1] if singular == "to rounding" else 2.0 * a[0]
    t = rng.normal(size=(3, 3))
    for mode in ("source", "tape"):  # (the tape inverted a singular matrix: LinAlgError)
        np.testing.assert_allclose(srcad.grad(determinant, mode=mode, jit=jit)(a),
                                   _adjugate_transposed(a), rtol=1e-9, atol=1e-12)
    _, tangent = srcad.jvp(determinant, (a,), (t,), jit=jit)
    assert tangent == pytest.approx(np.sum(_adjugate_transposed(a) * t), rel=1e-9, abs=1e-12)
    for b in (a, a + np.eye(3)):  # (the second well conditioned: from the inverse)
        np.testing.assert_allclose(srcad.hvp(determinant, jit=jit)(b, t),
                                   _fd_of_gradient(determinant, (b,), 0, t), rtol=1e-6,
                                   atol=1e-8)
        H = srcad.hessian(determinant, jit=jit)(b).reshape(9, 9)
        np.testing.assert_allclose(H.reshape(3, 3, 3, 3)[0, 0, 0, 0], 0.0, atol=1e-12)
        np.testing.assert_allclose(H, H.T, atol=1e-9)


def one_by_one(a):
    return np.linalg.det(np.array([[a]]))


def test_the_second_derivative_of_a_one_by_one_determinant_at_zero(jit):
    assert srcad.grad(srcad.grad(one_by_one, jit=jit), jit=jit)(0.0) == 0.0


@pytest.mark.parametrize("fn", [cholesky_cubes, eigen_parts, triangular_cubes,
                                gaussian_process_loss, upper_factor_solves, products_with_zero])
def test_third_derivative_of_linalg(fn, rng):
    x, direction = rng.normal(size=3), rng.normal(size=3)
    along = lambda s: fn(x + s * direction)
    second = srcad.grad(srcad.grad(along, jit=False), jit=False)
    third = srcad.grad(second, jit=False)(0.2)
    eps = 1e-5
    assert third == pytest.approx((second(0.2 + eps) - second(0.2 - eps)) / (2 * eps),
                                  rel=1e-5, abs=1e-6)


def statistics(x, w):
    return np.var(x) + np.sum(w * scipy.special.logsumexp(x, axis=1))


def test_hvp_of_statistics_compiled(rng):
    x, w, v = rng.uniform(0.5, 1.5, (3, 4)), rng.normal(size=3), rng.normal(size=(3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        hv = srcad.hvp(statistics)(x, w, v)
    np.testing.assert_allclose(hv, _fd_of_gradient(statistics, (x, w), 0, v), rtol=1e-5,
                               atol=1e-6)


def gated_cell(w, x, c):
    # (an LSTM cell's shape: slices of w whose bounds are not constants, of x's shape)
    b = x.shape[0]
    gate = 1.0 / (1.0 + np.exp(-(x * w[0:b] + w[b:2 * b])))
    cell = c * gate + np.tanh(x * w[2 * b:3 * b])
    return np.sum(gate * np.tanh(cell) * x)


@pytest.mark.parametrize("size", [5, 1])
def test_hvp_of_a_cell_spreads_no_tangent(size, jit, rng):
    """The tangent of an elementwise result is spread over the result's shape where its
    operands' shapes may broadcast; in an hvp whose reverse sweep takes them to have one shape
    (checked as it runs) it is a copy that fusion folds into the loop. A w of 3 x 5 elements
    with x of 1 broadcasts: that call runs the hvp generated without the assumption."""
    w, x, c = rng.normal(size=15), rng.normal(size=size), rng.normal(size=size)
    v = rng.normal(size=15)
    product = srcad.hvp(gated_cell, jit=jit)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        hv = product(w, x, c, v)
    np.testing.assert_allclose(hv, _fd_of_gradient(gated_cell, (w, x, c), 0, v), rtol=1e-5,
                               atol=1e-7)
    if size > 1:
        code = [line for line in srcad.source(product, w, x, c, v).splitlines()
                if not line.strip().startswith("#")]
        assert not any("broadcast_tangent(" in line for line in code)


def spectral_norm(x):
    return np.linalg.norm(x, 2)


def test_a_matrix_norm_has_no_second_derivative(rng):
    x = rng.normal(size=(3, 3))
    with pytest.raises(srcad.UnsupportedError, match="matrix norm of order 2"):
        srcad.hvp(spectral_norm, jit=False)(x, x)


def cube(x):
    return x ** 3


def mixed(x, y):
    return math.sin(x * y) + x ** 2 * y


def loop_power(x, n):
    p = 1.0
    k = 0
    while k < n:
        p = p * x + math.exp(0.1 * x)
        k += 1
    return p


def power_zero(x):
    return x ** 0


def power_one(x):
    return x ** 1


def power_of_argument(x, n):
    return x ** n


def power_of_both(x, y):
    return x ** y


def summed_power_zero(x):
    return np.sum(x ** 0 + x)


def test_every_derivative_of_a_lower_power_is_zero_at_zero(jit):
    """Found by an attack: d2/dx2 x ** 0 and d3/dx3 x ** 1 at x = 0 were NaN (0 times the
    infinite x ** -2 of the first derivative's own derivative); they are 0 (JAX agrees)."""
    grad = srcad.grad
    assert srcad.hessian(power_zero, jit=jit)(0.0) == 0.0
    assert grad(grad(power_zero))(0.0) == 0.0
    assert srcad.hvp(power_zero, jit=jit)(0.0, 1.0) == 0.0
    assert srcad.hessian(power_of_argument, jit=jit)(0.0, 0) == 0.0
    assert srcad.hessian(power_of_argument, jit=jit)(0.0, 1) == 0.0
    assert srcad.hessian(power_of_argument, jit=jit)(0.0, 2) == 2.0
    assert grad(grad(grad(power_one)))(0.0) == 0.0
    assert grad(grad(grad(power_of_argument)))(0.0, 2) == 0.0
    assert grad(grad(grad(power_of_argument)))(0.0, 3) == 6.0
    np.testing.assert_array_equal(srcad.hessian(summed_power_zero, jit=jit)(np.array([0.0, 2.0])),
                                  np.zeros((2, 2)))


def test_second_derivatives_of_a_power_in_both(jit, rng):
    x, y = (float(v) for v in rng.uniform(0.5, 2.5, 2))
    for k in (0, 1):
        def fd(i, j, eps=1e-5):  # (d/d(arg j) of the gradient's entry i)
            first = srcad.grad(power_of_both, wrt=i, jit=False)
            step = [0.0, 0.0]
            step[j] = eps
            return (first(x + step[0], y + step[1]) - first(x - step[0], y - step[1])) / (2 * eps)
        second = srcad.grad(srcad.grad(power_of_both, wrt=k, jit=jit), wrt=(0, 1), jit=jit)
        np.testing.assert_allclose(second(x, y), (fd(k, 0), fd(k, 1)), rtol=1e-6)


def test_grad_of_grad(jit, rng):
    x = float(rng.uniform(0.5, 2.0))
    grad = srcad.grad
    assert grad(grad(cube, jit=jit), jit=jit)(x) == pytest.approx(6 * x)
    assert grad(grad(grad(cube)))(x) == pytest.approx(6.0)
    assert srcad.value_and_grad(grad(cube))(x) == pytest.approx((3 * x * x, 6 * x))
    y = float(rng.uniform(0.5, 2.0))
    expected = math.cos(x * y) - x * y * math.sin(x * y) + 2 * x
    assert grad(grad(mixed, wrt=0), wrt=1)(x, y) == pytest.approx(expected)
    assert grad(grad(mixed, wrt=1), wrt=0)(x, y) == pytest.approx(expected)
    second = grad(grad(loop_power, jit=jit), jit=jit)
    eps = 1e-4
    first = grad(loop_power, jit=False)
    assert second(x, 4) == pytest.approx((first(x + eps, 4) - first(x - eps, 4)) / (2 * eps),
                                         rel=1e-6)


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def logistic_loss(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z))) + 0.5 * np.dot(w, w)


def test_hessians(jit, rng):
    x = rng.normal(size=6)
    H = srcad.hessian(rosenbrock, jit=jit)(x)
    np.testing.assert_allclose(H, H.T, atol=1e-9)
    eps = 1e-6
    grad = srcad.grad(rosenbrock, jit=False)
    fd = np.stack([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in np.eye(6)])
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-4)
    X, y, w = rng.normal(size=(20, 4)), np.sign(rng.normal(size=20)), rng.normal(size=4)
    H = srcad.hessian(logistic_loss, jit=jit)(w, X, y)
    p = 1.0 / (1.0 + np.exp(y * (X @ w)))
    np.testing.assert_allclose(H, X.T @ np.diag(p * (1 - p)) @ X + np.eye(4), rtol=1e-10)


def max_times_norm(x):
    return np.max(x) * np.sum(x ** 2)


def sum_of_cubes(x):
    return np.sum(x ** 3)


@pytest.mark.parametrize("jit", [True, False])
def test_the_hessian_of_an_empty_array(jit):
    # (found by an attack: it was an empty matrix where the function, its jvp and hvp raise)
    with pytest.raises(ValueError, match="zero-size array"):
        srcad.hessian(max_times_norm, jit=jit)(np.zeros(0))
    assert srcad.hessian(sum_of_cubes, jit=jit)(np.zeros((0, 2))).shape == (0, 2, 0, 2)


def vector_field(x, a):
    return np.sin(x) * x[0] + a * np.cumsum(x)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian(mode, jit, rng):
    x, a = rng.normal(size=4), 0.3
    J = srcad.jacobian(vector_field, mode=mode, jit=jit)(x, a)
    eps = 1e-6
    fd = np.stack([(vector_field(x + eps * e, a) - vector_field(x - eps * e, a)) / (2 * eps)
                   for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)


def widened(x):
    return np.cumsum(x) * WEIGHTS


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_a_jacobians_dtype_is_the_same_in_both_modes(mode, rng):
    x = rng.normal(size=3).astype(np.float32)  # (a float64 output: the Jacobian is float64)
    J = srcad.jacobian(widened, mode=mode)(x)
    assert J.dtype == np.float64
    np.testing.assert_allclose(J, np.tril(np.ones((3, 3))) * WEIGHTS[:, None], rtol=1e-6)
    J = srcad.jacobian(np.cumsum, mode=mode)(x)
    assert J.dtype == np.float32 and np.array_equal(J, np.tril(np.ones((3, 3))))


def squares(x):
    return np.sum(x * x) * 0.1


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_the_jacobian_of_a_scalar_output_has_the_gradients_dtype(mode, rng):
    """A scalar output comes back a Python float: its Jacobian of a float32 x was float64
    where srcad.grad, hessian and hvp give float32 (found by an attack)."""
    x = rng.normal(size=3).astype(np.float32)
    J = srcad.jacobian(squares, mode=mode)(x)
    assert J.dtype == srcad.grad(squares)(x).dtype == np.float32
    np.testing.assert_allclose(J, 0.2 * x, rtol=1e-6)


WEIGHTS = np.array([0.5, 2.0, 1.5])


def pair_of_outputs(x):
    return x * 2.0, x * 3.0


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_a_jacobian_of_a_tuple_names_itself(mode):
    with pytest.raises(TypeError, match="returns a tuple; srcad.jacobian "
                       "differentiates a function returning a number or an array"):
        srcad.jacobian(pair_of_outputs, mode=mode)(np.ones(2))


def weighted_quartic(X, a):
    return a * np.sum(WEIGHTS * np.sum(X ** 4, axis=0)) + np.sum(np.sin(X[0]) * X[1])


PAIR = (np.array([1.0, 2.0, 3.0]), 2.0)


def tuple_weighted(x):
    return PAIR[1] * np.sum(PAIR[0] * x ** 3) + np.sum(PAIR[0] * x) ** 2


def weighted_field(X, a):
    return np.tanh(X @ WEIGHTS) * a + X[:, 0]


def test_hessians_and_jacobians_run_their_columns_in_one_compiled_loop(rng, monkeypatch):
    """After the first column, the columns come from one compiled loop over the kernel, which
    takes the data f reads from globals as they are now."""
    from srcad import higher
    loops, blocks = [], []
    spy, block_spy = higher._compiled_columns, higher._run_as_block
    monkeypatch.setattr(higher, "_compiled_columns", lambda *a: loops.append(a) or spy(*a))
    monkeypatch.setattr(higher, "_run_as_block",
                        lambda *a, **k: blocks.append(a) or block_spy(*a, **k))
    X, eps = rng.normal(size=(2, 3)), 1e-6
    unit = np.eye(6).reshape(6, 2, 3)
    for weights in (WEIGHTS, rng.uniform(0.5, 2.0, 3)):
        monkeypatch.setattr(sys.modules[__name__], "WEIGHTS", weights)
        grad = srcad.grad(weighted_quartic, jit=False)
        fd = np.stack([(grad(X + eps * e, 0.7) - grad(X - eps * e, 0.7)) / (2 * eps)
                       for e in unit], axis=-1).reshape(2, 3, 2, 3)
        np.testing.assert_allclose(srcad.hessian(weighted_quartic)(X, 0.7), fd, rtol=1e-6,
                                   atol=1e-6)
        fd = np.stack([(weighted_field(X + eps * e, 0.7) - weighted_field(X - eps * e, 0.7)) /
                       (2 * eps) for e in unit], axis=-1).reshape(2, 2, 3)
        for mode in ("fwd", "rev"):
            J = srcad.jacobian(weighted_field, mode=mode)(X, 0.7)
            np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)
    # (the Hessian and the Jacobians run once for the block of all unit vectors)
    assert (len(loops), len(blocks)) == (0, 6)
    x = rng.normal(size=3)  # (a tuple read from a global: one hvp per column, a TypingError was)
    expected = 12.0 * np.diag(PAIR[0] * x) + 2.0 * np.outer(PAIR[0], PAIR[0])
    np.testing.assert_allclose(srcad.hessian(tuple_weighted)(x), expected, rtol=1e-12)
    assert (len(loops), len(blocks)) == (0, 6)


def loop_with_a_recurrence(x, A):
    y = np.tanh(A @ x)
    out = np.empty(y.shape[0] + 1)
    out[:-1] = y * x[0]
    s = 0.0
    for i in range(x.shape[0]):
        s = s * 0.5 + x[i] ** 3
    out[-1] = s
    return out


def regularised_logistic(w, X, y, lam):
    return np.sum(np.log1p(np.exp(-y * (X @ w)))) + 0.5 * lam * (w @ w)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
@pytest.mark.parametrize("fn", programs.PROGRAMS[::6], ids=lambda f: f.__name__)
def test_a_jacobian_runs_one_sweep_for_a_block_of_tangents(fn, mode, rng, monkeypatch):
    """transforms/batching.py: the jvp (the vjp) generated for a block of tangents (of seeds),
    each value computed from them with a leading axis, gives the Jacobian the columns (rows)
    give, where it has a block form; where it has none the columns run."""
    from srcad import higher
    args = programs.make_inputs(fn, rng)
    wrt = programs.float_params(fn, args)
    if not wrt:
        return
    try:
        J = srcad.jacobian(fn, wrt=wrt[0], mode=mode)(*args)
    except (srcad.UnsupportedError, TypeError):
        return  # (forward mode refuses it; test_forward covers the message)
    monkeypatch.setattr(higher, "_run_as_block", lambda *a, **k: None)
    np.testing.assert_allclose(J, srcad.jacobian(fn, wrt=wrt[0], mode=mode)(*args),
                               rtol=1e-12, atol=1e-12)


def test_blocks_through_loops_products_and_the_logistic_hessian(rng):
    from srcad import higher
    x, A = rng.normal(size=6), rng.normal(size=(4, 6))
    eps = 1e-6
    fd = np.stack([(loop_with_a_recurrence(x + eps * e, A) -
                    loop_with_a_recurrence(x - eps * e, A)) / (2 * eps) for e in np.eye(6)], 1)
    before = len(higher._BLOCKS)
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(srcad.jacobian(loop_with_a_recurrence, mode=mode)(x, A), fd,
                                   rtol=1e-6, atol=1e-8)
    assert [v[-1] is not None for v in list(higher._BLOCKS.values())[before:]] == [True, True]
    X, y = rng.normal(size=(50, 6)), np.sign(rng.normal(size=50))
    s = 1.0 / (1.0 + np.exp(-y * (X @ x)))
    expected = X.T @ (X * (s * (1.0 - s))[:, None]) + 0.3 * np.eye(6)
    np.testing.assert_allclose(srcad.hessian(regularised_logistic)(x, X, y, 0.3), expected,
                               rtol=1e-10)
    assert [v[-1] is not None for v in list(higher._BLOCKS.values())[before:]] == [True] * 3


def test_source_shows_the_code_a_jacobian_or_hessian_runs(rng, monkeypatch):
    """srcad.source of a Jacobian (each mode) and of a Hessian is the block form that runs,
    with what it computes; where there is none, the code run once per column."""
    from srcad import higher
    x = rng.normal(size=4)
    text = srcad.source(srcad.jacobian(vector_field, mode="fwd"), x, 0.3)
    assert text.startswith("# the jvp along every unit vector") and "_K = dx.shape[0]" in text
    text = srcad.source(srcad.jacobian(vector_field, mode="rev"), x, 0.3)
    assert text.startswith("# the vjp of every unit seed") and "def vector_field_grad" in text
    text = srcad.source(srcad.hessian(rosenbrock), x)
    assert text.startswith("# the Hessian-vector product along every unit vector") and \
        "def rosenbrock_jvp_grad" in text
    X, y = rng.normal(size=(5, 4)), np.sign(rng.normal(size=5))
    # (a rule's zero partial, the shape donor of a broadcast tangent, adds no term)
    assert "* 0.0" not in srcad.source(srcad.hvp(regularised_logistic), x, X, y, 0.3, x)
    monkeypatch.setattr(higher, "_BLOCKS", {})
    monkeypatch.setattr(higher, "_block_form", lambda *a, **k: (None, None))
    text = srcad.source(srcad.jacobian(vector_field, mode="fwd"), x, 0.3)
    assert text.startswith("# the jvp, run once per entry of x") and "_K" not in text
    text = srcad.source(srcad.hessian(rosenbrock), x)
    assert text.startswith("# the Hessian-vector product, run once per entry of x")
    monkeypatch.undo()
    assert srcad.source(srcad.jacobian(lambda v: np.sin(v) * v), 0.5).startswith(
        "# the jvp, run once")  # (a scalar x: one column)


def test_second_order_refusals():
    with pytest.raises(TypeError, match="needs a float there"):
        srcad.grad(srcad.grad(rosenbrock))(np.ones(3))
    with pytest.raises(srcad.UnsupportedError, match="one argument, without has_aux"):
        srcad.grad(srcad.grad(mixed, wrt=(0, 1)))
    with pytest.raises(TypeError, match="srcad.hessian differentiates with respect to one"):
        srcad.hessian(mixed, wrt=(0, 1))  # (it said srcad.hvp)


def sorted_cubes(x):
    v = np.array([x, 1.0 - x * x, -x, 0.5 * x])
    return np.sum(np.sort(v) ** 3 * np.array([1.0, 2.0, 3.0, 4.0]))


def cumulative_products(x):
    return np.sum(np.cumprod(np.array([x, 2.0 * x, x + 1.0])))


def test_every_derivative_through_a_sort_on_the_tape_and_the_order_limit_named(rng):
    """(found by an attack: the tape's fourth derivative through np.sort raised 'sort_adjoint
    has no rule of its own'; past np.cumprod's third the tape named only a kernel)"""
    nested = {0: sorted_cubes}
    for k in range(1, 5):
        nested[k] = srcad.grad(nested[k - 1], mode="tape")
    x, eps = rng.uniform(0.1, 0.4), 1e-5
    for k in (3, 4):
        assert nested[k](x) == pytest.approx(
            (nested[k - 1](x + eps) - nested[k - 1](x - eps)) / (2 * eps), rel=1e-5, abs=1e-5)
    assert nested[4](x) != 0.0  # (a quintic in x between the points where the order changes)
    fourth = cumulative_products
    for _ in range(4):
        fourth = srcad.grad(fourth, mode="tape")
    with pytest.raises(TypeError, match="np.cumprod and np.linalg.det at the third"):
        fourth(0.7)


def test_the_generated_code_is_readable():
    text = srcad.source(srcad.hvp(rosenbrock), np.ones(4), np.ones(4))
    assert text.startswith("def rosenbrock_jvp_grad(x, dx, b_out=1.0):")
    assert "# reverse sweep" in text
    text = srcad.source(srcad.grad(srcad.grad(cube)), 2.0)
    assert "def cube_jvp_grad(x, dx" in text


def two_outputs(x):
    return np.array([x[0] * x[1], x[2] ** 2])


def doubled_cumsum(x):
    return np.cumsum(x) * 2.0


def squared_matrix(X):
    return X @ X


@pytest.mark.parametrize("fn,shape", [(two_outputs, (4,)), (doubled_cumsum, (4,)),
                                      (squared_matrix, (3, 3))],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_reverse_jacobians_of_array_outputs(fn, shape, jit, rng):
    # (vjp seeded an array output's adjoint with a scalar: an IndexError or a wrong shape)
    x = rng.normal(size=shape)
    J = srcad.jacobian(fn, mode="rev", jit=jit)(x)
    np.testing.assert_allclose(J, srcad.jacobian(fn, mode="fwd", jit=jit)(x), rtol=1e-12)
    eps = 1e-6
    fd = np.stack([(fn(x + eps * e.reshape(shape)) - fn(x - eps * e.reshape(shape))) / (2 * eps)
                   for e in np.eye(x.size)], axis=-1).reshape(J.shape)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)


def scaled(x, a, b=1.0, *, c=2.0):
    return a * np.sum(x ** 3) + b * np.sum(x ** 2) + c


def test_keywords_defaults_and_names(rng):
    import functools
    x, v = rng.normal(size=3), rng.normal(size=3)
    H = 6.0 * 0.5 * np.diag(x) + 2.0 * 1.5 * np.eye(3)
    np.testing.assert_allclose(srcad.hvp(scaled)(x, 0.5, 1.5, v), H @ v)
    np.testing.assert_allclose(srcad.hvp(scaled)(x, 0.5, v, b=1.5), H @ v)
    np.testing.assert_allclose(srcad.hessian(scaled, wrt="x")(x, a=0.5, b=1.5, c=0.0), H)
    np.testing.assert_allclose(srcad.hessian(scaled)(np.zeros(0), 0.5), np.zeros((0, 0)))
    J = srcad.jacobian(vector_field, wrt="x")(x, a=0.3)
    assert J.shape == (3, 3)
    # a keyword-only parameter takes its default; without one, jvp (by position) refuses it
    assert srcad.jvp(scaled, (x, 0.5, 1.5), (v, None, None))[1] == \
        pytest.approx(srcad.grad(scaled)(x, 0.5, 1.5) @ v)
    with pytest.raises(TypeError, match="parameter 'c' is keyword-only"):
        srcad.jvp(lambda x, *, c: c * np.sum(x), (x,), (v,))
    # a partial of a Python function is differentiated as the function it calls
    np.testing.assert_allclose(srcad.jvp(functools.partial(rosenbrock), (x,), (v,))[1],
                               srcad.grad(rosenbrock)(x) @ v)
    np.testing.assert_allclose(srcad.hvp(functools.partial(rosenbrock))(x, v),
                               srcad.hvp(rosenbrock)(x, v))
    assert srcad.grad(srcad.grad(functools.partial(cube)))(1.5) == pytest.approx(9.0)
    H = srcad.hessian(functools.partial(scaled, a=0.5, c=4.0))(x, b=1.5)
    np.testing.assert_allclose(H, 6.0 * 0.5 * np.diag(x) + 2.0 * 1.5 * np.eye(3))
    J = srcad.jacobian(functools.partial(vector_field, a=0.3))(x)
    np.testing.assert_allclose(J, srcad.jacobian(vector_field, wrt="x")(x, a=0.3))
    with pytest.raises(srcad.UnsupportedError, match="of a srcad derivative"):
        srcad.jacobian(srcad.hvp(rosenbrock))
    with pytest.raises(srcad.UnsupportedError, match="assumes a float for each: pass example"):
        srcad.source(srcad.hvp(rosenbrock))
    assert "def rosenbrock_jvp_grad" in srcad.source(srcad.hessian(rosenbrock), x)
    assert "def vector_field_jvp" in srcad.source(srcad.jacobian(vector_field), x, 0.3)


SCALE = 2.0


def cubes(x, a=1.5):
    return a * SCALE * np.sum(x ** 3)


def quartics(x, a=1.5):
    return a * np.sum(x ** 4)


def test_repeated_hvp_calls_see_what_changed(rng):
    """A repeated call goes straight to the compiled outer gradient; it must still notice a
    rebound global, replaced code, a direction of another shape or dtype, and keywords."""
    global SCALE
    x, v = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    product = srcad.hvp(cubes)
    for _ in range(2):
        np.testing.assert_allclose(product(x, 0.7, v), 6 * 0.7 * SCALE * x * v)
    try:
        SCALE = 3.0
        np.testing.assert_allclose(product(x, 0.7, v), 6 * 0.7 * 3.0 * x * v)
    finally:
        SCALE = 2.0
    np.testing.assert_allclose(product(x, v, a=0.2), 6 * 0.2 * SCALE * x * v)
    np.testing.assert_allclose(product(x, 0.7, v.astype(np.float32)), 6 * 0.7 * SCALE * x * v,
                               rtol=1e-6)
    with pytest.raises(ValueError, match=r"the tangent of 'x' has shape \(3,\)"):
        product(x, 0.7, v[:3])
    with pytest.raises(TypeError, match="the tangent of 'x' must be real, not complex"):
        product(x, 0.7, v + 1j)  # (found by an attack: its imaginary part was dropped)
    original = cubes.__code__
    try:
        cubes.__code__ = quartics.__code__
        np.testing.assert_allclose(product(x, 0.7, v), 12 * 0.7 * x ** 2 * v)
    finally:
        cubes.__code__ = original
    np.testing.assert_allclose(product(x, 0.7, v), 6 * 0.7 * SCALE * x * v)


def sines(x):
    return np.sin(x)


def test_a_new_hessian_or_hvp_of_a_function_reuses_its_generated_code(rng, monkeypatch):
    from srcad import pipeline
    x = rng.normal(size=5)
    H = srcad.hessian(rosenbrock)(x)
    transforms = []
    transform = pipeline.transform
    monkeypatch.setattr(pipeline, "transform",
                        lambda *a, **k: transforms.append(a) or transform(*a, **k))
    np.testing.assert_array_equal(srcad.hessian(rosenbrock)(x), H)  # (a Newton loop's way)
    np.testing.assert_allclose(srcad.hvp(rosenbrock)(x, x), H @ x, rtol=1e-12)
    assert transforms == []


def power(x):
    return x[0] ** x[1]


def test_second_derivatives_of_a_power_at_a_zero_base(jit, rng):
    # (the partials of x ** y at x == 0 patch log(x) with 0; their derivatives too)
    x = np.array([0.0, 2.0])
    np.testing.assert_array_equal(srcad.hessian(power, jit=jit)(x), [[2.0, 0.0], [0.0, 0.0]])
    v = rng.normal(size=2)
    np.testing.assert_array_equal(srcad.hvp(power, jit=jit)(x, v), [2.0 * v[0], 0.0])
    x = rng.uniform(0.5, 2.0, size=2)
    gradient = srcad.grad(power, jit=jit)
    columns = [check.along(gradient, (x,), (e,)) for e in np.eye(2)]
    np.testing.assert_allclose(srcad.hessian(power, jit=jit)(x), np.array(columns).T,
                               rtol=1e-6)


def pair(x):
    return x[0], x[1]


def test_second_order_messages_name_the_users_function(rng):
    x = rng.normal(size=3)
    with pytest.raises(TypeError, match=r"sines returns an array \(float\[1d\]\): hvp, hessian"):
        srcad.hvp(sines)(x, x)
    returns_a_pair = r"test_higher.py:\d+: pair returns a tuple; hvp"  # (was a KeyError)
    with pytest.raises(TypeError, match=returns_a_pair):
        srcad.hvp(pair)(x, x)
    with pytest.raises(TypeError, match=returns_a_pair):
        srcad.hessian(pair)(x)
    with pytest.raises(TypeError, match="the direction v comes last, by position"):
        srcad.hvp(scaled)(x, 0.5, v=x)


def _rebound_in_a_loop(a, b):
    s0 = 0.0
    for i in range(1):  # noqa: B007
        s0 = s0 + math.cos(a)
        a = a + math.sin(b)
    return 0.5 * a + 0.5 * b + 0.5 * s0


def test_hvp_of_an_argument_rebound_in_a_loop():
    """(found by the property tests: the tangent `da = d_t4; d_t4 = da` was taken for a bool,
    whose `-da` became `-int(da)`, and the hvp was 0)"""
    args, v = (0.4108850619643629, -0.6906398587083891), 0.37
    gradient = srcad.grad(_rebound_in_a_loop, mode="source", jit=False)
    expected = (gradient(args[0] + 1e-6 * v, args[1]) -
                gradient(args[0] - 1e-6 * v, args[1])) / 2e-6
    assert srcad.hvp(_rebound_in_a_loop, jit=False)(*args, v) == pytest.approx(expected, rel=1e-6)


def writes_into_its_argument(x):
    x[0] = x[0] ** 2
    x[1:] *= x[0]
    return np.sum(np.sin(x) * x)


def test_an_hvp_along_the_argument_itself(rng):
    """(found by an attack: v = x shared memory with the argument f writes into, and the hvp
    raised AliasingError naming the generated jvp's parameters)"""
    x = rng.uniform(-1.0, 1.0, 3)
    H = srcad.hessian(writes_into_its_argument)(x)
    product = srcad.hvp(writes_into_its_argument)
    for _ in range(2):  # (the second call takes the path of calls seen before)
        np.testing.assert_allclose(product(x, x), H @ x, rtol=1e-10)
        np.testing.assert_allclose(product(x, x[::-1]), H @ x[::-1], rtol=1e-10)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    fd = [(srcad.grad(writes_into_its_argument)(x + eps * e) -
           srcad.grad(writes_into_its_argument)(x - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(H, np.array(fd).T, rtol=1e-5, atol=1e-7)


def cube_sine(x, y):
    return math.sin(x) * x ** 3 * y


def sum_sine_cubed(x):
    return np.sum(np.sin(x) * x ** 3)


def test_messages_name_the_mistake_in_forward_and_second_order_calls():
    """Found by an attack: a missing direction v was reported as a missing x, and a tangent
    given for an integer argument as "no float argument has a tangent"."""
    x = np.array([0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match=r"hvp of sum_sine_cubed was given f's arguments but "
                                        r"no direction v"):
        srcad.hvp(sum_sine_cubed)(x)
    with pytest.raises(TypeError, match="argument 0 of cube_sine is a value of type int, which "
                                        "carries no derivative"):
        srcad.jvp(cube_sine, (2, 3), (1.0, None))
    with pytest.raises(TypeError, match="argument 0 of sum_sine_cubed is an array of dtype "
                                        "int64"):
        srcad.jvp(sum_sine_cubed, (np.arange(3),), (np.ones(3),))
    with pytest.warns(srcad.FallbackWarning), \
            pytest.raises(srcad.UnsupportedError, match="srcad.jvp of sum_sine_cubed was called "
                                                        "on tape tensors"):
        srcad.grad(lambda z: srcad.jvp(sum_sine_cubed, (z,), (np.ones(3),))[1])(x)


def test_source_of_a_second_derivative_without_arguments_assumes_floats():
    for derivative in (srcad.grad(srcad.grad(cube_sine)), srcad.hvp(cube_sine),
                       srcad.hessian(cube_sine), srcad.jacobian(cube_sine)):
        assert "def cube_sine_jvp" in srcad.source(derivative)


def test_grad_of_grad_with_respect_to_a_structure_keeps_its_leaves(rng):
    """grad(grad(f), wrt=<a dict or tuple>) gave the first leaf's derivative alone (an attack
    found it): every leaf's, in the argument's structure."""
    def f(a, c):
        return a ** 4 * c["k"] + a * c["m"] ** 2 + a * a * c["t"][0]
    a, c = float(rng.uniform(0.5, 2.0)), {"k": 3.0, "m": float(rng.normal()), "t": (0.7,)}
    expected = {"k": 4 * a ** 3, "m": 2 * c["m"], "t": (2 * a,)}
    got = srcad.grad(srcad.grad(f), wrt=1)(a, c)
    assert got.keys() == expected.keys() and isinstance(got["t"], tuple)
    for key in ("k", "m"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    assert got["t"][0] == pytest.approx(2 * a, rel=1e-12)
    value, both = srcad.value_and_grad(srcad.grad(f), wrt=(0, 1))(a, c)
    assert value == pytest.approx(4 * a ** 3 * c["k"] + c["m"] ** 2 + 2 * a * 0.7, rel=1e-12)
    assert both[0] == pytest.approx(12 * a * a * c["k"] + 1.4, rel=1e-12)
    assert both[1]["m"] == pytest.approx(2 * c["m"], rel=1e-12)
    third = srcad.grad(srcad.grad(srcad.grad(f)), wrt=1)(a, c)
    assert third["k"] == pytest.approx(12 * a * a, rel=1e-12) and third["t"] == (2.0,)


def test_hvp_through_a_custom_jvp_summed_by_name(rng):
    """A helper's result bound to a name, then summed: the fused loop checked the shape of the
    name it had fused away (NameError; found by an attack)."""
    @srcad.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defvjp
    def softplus_vjp(g, ans, x):
        return g / (1.0 + np.exp(-x))

    @softplus.defjvp
    def softplus_jvp(t, ans, x):
        return t / (1.0 + np.exp(-x))

    def loss(x):
        d = softplus(x)
        return np.sum(d)
    x, v = rng.normal(size=5), rng.normal(size=5)
    s = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(srcad.hvp(loss)(x, v), s * (1 - s) * v, rtol=1e-12)


def test_a_forward_jacobian_is_an_array_of_its_own(rng):
    """It was a read-only view of a broadcast (found by an attack)."""
    x = rng.normal(size=3)
    for fn in (np.sin, lambda v: v[0:2] * 1.0, lambda v: np.zeros(2) + 1.0):
        J = srcad.jacobian(fn, mode="fwd")(x)
        assert J.flags.writeable
        J[0, 0] = 5.0


# ---- hvp on the tape where the source transform refuses f ---------------------------------

def rows_written_through_a_view(x, steps):
    h = np.zeros((steps + 1, x.shape[0]))
    h[0] = x
    for i in range(steps):
        r = h[i]
        h[i + 1] = r * 2.0
        r *= x  # (a write through a view the source transform refuses)
        h[i + 1] += r
    return np.sum(np.sin(h) * h)


def nested_sines(x, depth):
    if depth == 0:
        return np.sum(np.sin(x) * x)
    return nested_sines(x * 1.1, depth - 1)


@srcad.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


softplus.defvjp(lambda g, ans, x: (g / (1.0 + np.exp(-x)),))


def softplus_weighted(x, scale):
    return np.sum(softplus(x) * x) * scale


@pytest.mark.parametrize("fn", [rows_written_through_a_view, nested_sines, softplus_weighted],
                         ids=lambda f: f.__name__)
def test_hvp_runs_on_the_tape_where_the_source_transform_refuses(fn, rng):
    """A view written in place, recursion, a custom_vjp with no jvp: the gradient falls back to
    the tape, and so do the hvp (its gradient recorded, then differentiated) and the Hessian,
    with one FallbackWarning naming the reason; the numbers match differences of the tape's
    gradient."""
    hvp = srcad.hvp(fn)
    grad = srcad.grad(fn, mode="tape")
    for n in (4, 1):
        x, v = rng.uniform(0.2, 1.0, n), rng.uniform(-1, 1, n)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hv = hvp(x, 2, v)
        assert [w.category for w in caught] == ([srcad.FallbackWarning] if n == 4 else []), \
            [str(w.message) for w in caught]
        assert "runtime tape" in str(caught[0].message) if caught else True
        fd = (grad(x + 1e-6 * v, 2) - grad(x - 1e-6 * v, 2)) / 2e-6
        np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        hvp(x, 2, v[:0])
    assert np.array_equal(hvp(x, 2, None), np.zeros_like(x))  # (found by an attack: NaN)
    if fn is not rows_written_through_a_view:  # (a NumPy scalar falls back too)
        h32 = hvp(np.float32(0.7), 2, np.float32(1.0))
        assert isinstance(h32, np.float32) and h32 == pytest.approx(hvp(0.7, 2, 1.0), rel=1e-5)
    x, v = rng.uniform(0.2, 1.0, 3), rng.uniform(-1, 1, 3)
    with pytest.warns(srcad.FallbackWarning, match="runtime tape"):
        hessian = srcad.hessian(fn)(x, 2)  # (a column at a time)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hessian @ v, hvp(x, 2, v), rtol=1e-10, atol=1e-12)


def columns_swapped_by_index_lists(A):
    B = A * 1.0
    B[:, [1, 0]] = B[:, [0, 1]] * 2.0
    return np.sum(np.sin(B) * B ** 2)


def test_hvp_falls_back_where_only_the_reverse_over_the_jvp_refuses(rng):
    """A store through an index list beside a slice: the jvp takes it, the reverse transform of
    the jvp (built at the outer gradient's first call) refuses it. hvp and hessian ran the
    source path and raised (found by an attack); they run on the tape with a FallbackWarning."""
    fn = columns_swapped_by_index_lists
    grad = srcad.grad(fn, mode="tape")
    A, V = rng.uniform(0.2, 1.0, (3, 2)), rng.uniform(-1, 1, (3, 2))
    with pytest.warns(srcad.FallbackWarning, match="runtime tape"):
        hv = srcad.hvp(fn)(A, V)
    fd = (grad(A + 1e-6 * V) - grad(A - 1e-6 * V)) / 2e-6
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6)
    with pytest.warns(srcad.FallbackWarning, match="runtime tape"):
        hessian = srcad.hessian(fn)(A)
    np.testing.assert_allclose(hessian.reshape(6, 6) @ V.ravel(), hv.ravel(), rtol=1e-10)
    with pytest.raises(srcad.UnsupportedError, match="matrix norm of order 2"):  # (the tape's)
        srcad.hvp(spectral_norm_of_swapped_columns)(A, V)


def spectral_norm_of_swapped_columns(A):
    B = A * 1.0
    B[:, [1, 0]] = B[:, [0, 1]]
    return np.linalg.norm(B, 2)


SCRATCH = np.zeros(2)


def through_a_module_array(x):
    SCRATCH[0] = x[0] * 2.0
    return np.sum(x**2) + SCRATCH[0]


def test_a_derivative_written_into_a_module_array_is_named_in_every_transform(rng):
    """grad takes the write; forward mode refuses it and the tape cannot carry it. jvp, hvp and
    hessian raised NumPy's "setting an array element with a sequence" with the tape's message
    only as its cause (found by an attack); they raise the tape's message, naming the line."""
    x = rng.uniform(-1, 1, 2)
    np.testing.assert_allclose(srcad.grad(through_a_module_array)(x), 2 * x + [2.0, 0.0])
    line = "SCRATCH[0] = x[0] * 2.0"
    calls = [
        lambda: srcad.jvp(through_a_module_array, (x,), (np.ones(2),)),
        lambda: srcad.hvp(through_a_module_array)(x, np.ones(2)),
        lambda: srcad.hessian(through_a_module_array)(x),
    ]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(RuntimeError, match=f"{re.escape(line)}\nsrcad.tape: float"):
                call()
        assert any("'SCRATCH', a global" in str(w.message) for w in caught)


def nested_sines_of_params(params, x, depth):
    """A dict and a tuple argument, recursion: only the tape differentiates it."""
    if depth == 0:
        w, (a, b) = params["w"], params["ab"]
        return np.sum(np.sin(w * x) * a) + np.sum(np.cos(b) * w) * params["c"]
    return nested_sines_of_params(params, x * 1.1, depth - 1)


def test_hvp_on_the_tape_of_a_structured_argument(rng):
    """Found by an attack: a dict or tuple argument got no tape fallback (the transform's
    refusal was raised). H v comes back in the argument's structure and matches differences of
    the tape's gradient."""
    def params_like(n):
        return {"w": rng.uniform(-1, 1, n), "ab": (rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)),
                "c": rng.uniform(0.5, 1.0)}
    p, v, x = params_like(4), params_like(4), rng.uniform(-1, 1, 4)
    with pytest.warns(srcad.FallbackWarning, match="runtime tape"):
        hv = srcad.hvp(nested_sines_of_params)(p, x, 2, v)
    grad = srcad.grad(nested_sines_of_params, mode="tape")
    leaves, treedef = pytrees.flatten(p)
    directions = pytrees.flatten(v)[0]
    along = [treedef.unflatten(a + s * 1e-6 * d for a, d in zip(leaves, directions, strict=True))
             for s in (1, -1)]
    fd = [(np.asarray(hi) - lo) / 2e-6 for hi, lo in
          zip(*(pytrees.flatten(grad(q, x, 2))[0] for q in along), strict=True)]
    assert isinstance(hv["ab"], tuple) and isinstance(hv["c"], float)
    for got, want in zip(pytrees.flatten(hv)[0], fd, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="structure"):
        srcad.hvp(nested_sines_of_params)(p, x, 2, {"w": v["w"]})


@srcad.custom_vjp
def _smoothed(x):
    return x * x


_smoothed.defvjp(lambda g, ans, x: (g * np.unwrap(x * x),))  # (no derivative on the tape)


def test_hvp_says_the_tape_cannot_differentiate_a_custom_vjp(rng):
    """Found by an attack: the hvp of a custom_vjp with no jvp runs its vjp on the tape; a vjp
    the tape cannot differentiate (np.unwrap) is named, with the way out (defjvp); one it can
    (np.polyval) is differentiated."""
    x, v = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        message = r"(?s)vjp of custom_vjp function _smoothed.*unwrap.*defjvp"
        with pytest.raises(TypeError, match=message):
            srcad.hvp(lambda x: np.sum(_smoothed(x)))(x, x)
        np.testing.assert_allclose(srcad.hvp(lambda x: np.sum(cubic_poly(x)))(x, v),
                                   6.0 * x * v, rtol=1e-12)



def squares_added_in_place(x):
    for i in range(x.shape[0]):
        x[i] += x[i] ** 2
    return np.sum(x * x)


def test_a_write_into_a_read_only_argument_names_the_users_function(rng):
    """(the second derivative's message named the generated squares_added_in_place_jvp)"""
    x = rng.normal(size=3)
    x.setflags(write=False)
    for second in (srcad.hessian(squares_added_in_place),
                   lambda x: srcad.hvp(squares_added_in_place)(x, np.ones(3))):
        with pytest.raises(ValueError, match=r"^squares_added_in_place writes into its "
                           r"argument 'x', which is read-only"):
            second(x)
    gradient, eps = srcad.grad(squares_added_in_place), 1e-6
    by_differences = np.array([(gradient(x + eps * e) - gradient(x - eps * e)) / (2 * eps)
                               for e in np.eye(3)])
    np.testing.assert_allclose(srcad.hessian(squares_added_in_place)(x.copy()), by_differences,
                               rtol=1e-5, atol=1e-6)
