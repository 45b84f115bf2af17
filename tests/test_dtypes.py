"""dtypes: float32 arguments give float32 gradients computed in float32 (as NumPy and JAX do),
mixed float32/float64 follows NumPy's promotion, float16 and complex are refused by name."""

import math
import warnings

import numpy as np
import pytest
import scipy.special

import srcad
from tests.structured_helpers import (assert_tree_close, mode, numeric_grad,  # noqa: F401
                                      options)

f32 = np.float32


def loop_loss(x, a):
    s = 0.0
    for i in range(len(x)):
        s = s + a * x[i] * x[i] + 0.5 * np.sin(x[i])
    return s


def vector_loss(params, x):
    h = np.tanh(x @ params["W"] + params["b"])
    return np.mean(h ** 2) + 0.1 * np.sum(params["W"] ** 2) * params["scale"]


def as64(tree):
    from srcad.compiler import pytrees
    return pytrees.tree_map(lambda v: v.astype(np.float64) if isinstance(v, np.ndarray) else
                            float(v) if isinstance(v, np.floating) else v, tree)


def test_float32_in_float32_out(mode, rng):
    x = rng.standard_normal(4).astype(f32)
    gx, ga = srcad.grad(loop_loss, wrt=(0, 1), **options(mode))(x, 1.5)
    assert gx.dtype == f32 and isinstance(ga, float)
    expected = numeric_grad(loop_loss, (x.astype(np.float64), 1.5), 0)
    np.testing.assert_allclose(gx, expected, rtol=1e-5, atol=1e-5)

    params = {"W": rng.standard_normal((3, 2)).astype(f32), "b": rng.standard_normal(2)
              .astype(f32), "scale": f32(0.5)}
    xs = rng.standard_normal((4, 3)).astype(f32)
    g = srcad.grad(vector_loss, **options(mode))(params, xs)
    assert g["W"].dtype == g["b"].dtype == f32 and type(g["scale"]) is f32
    assert_tree_close(as64(g), numeric_grad(vector_loss, (as64(params), as64(xs)), 0),
                      rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("jit", [True, False])
def test_compiled_in_float32(jit, rng):
    params = {"W": rng.standard_normal((3, 2)).astype(f32), "b": rng.standard_normal(2)
              .astype(f32), "scale": f32(0.5)}
    g = srcad.grad(vector_loss, mode="source", jit=jit)
    g(params, rng.standard_normal((4, 3)).astype(f32))
    assert "np.float32(0.1)" in srcad.source(g)
    if jit:  # every result of the compiled gradient is float32
        (signature,) = g._last.call.nopython_signatures
        assert "float64" not in str(signature.return_type)
    g64 = srcad.grad(vector_loss, mode="source", jit=jit)
    g64(as64(params), rng.standard_normal((4, 3)))
    assert "float32" not in srcad.source(g64)


def stencil_with_a_float32_constant(u, k, steps):
    for _ in range(steps):
        lap = u[:-2] + u[2:] - np.float32(2.0) * u[1:-1]  # (a float32 number saved per trip)
        u = u.copy()
        u[1:-1] += k * np.tanh(lap)
    return np.sum(u * u)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_numbers_a_float32_loop_saves_keep_their_precision(jit, rng):
    """A float32 number saved per trip was restored as float64 and met float32 arrays
    (Numba could not unify them, and the fallback refused the float32 constant; found by
    probing float32 loops)."""
    u = rng.standard_normal(6)
    g = srcad.grad(stencil_with_a_float32_constant, mode="source", jit=jit)
    got = g(u.astype(f32), f32(0.3), 3)
    assert got.dtype == f32
    expected = numeric_grad(stencil_with_a_float32_constant, (u, 0.3, 3), 0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def mixed(x, y):
    return np.sum(x * y) + np.sum(x ** 2)


def test_mixed_precision_follows_promotion(mode, rng):
    x, y = rng.standard_normal(3).astype(f32), rng.standard_normal(3)
    gx, gy = srcad.grad(mixed, wrt=(0, 1), **options(mode))(x, y)
    assert gx.dtype == f32 and gy.dtype == np.float64
    np.testing.assert_allclose(gx, y + 2 * x.astype(np.float64), rtol=1e-6)
    np.testing.assert_allclose(gy, x, rtol=1e-12)  # float64 math on float32 values


def scaled_by_integers(x, k):
    y = x * k
    return np.sum(y * y)


def test_float32_times_an_integer_array_computes_in_float64(mode, rng):
    """NumPy computes float32 times int64 in float64; compiled, Numba computed it in float32
    (value wrong at 1e-8 relative)."""
    x, k = rng.uniform(0.5, 1.5, 5).astype(f32), rng.integers(10 ** 5, 10 ** 6, 5)
    value, g = srcad.value_and_grad(scaled_by_integers, **options(mode))(x, k)
    exact = x.astype(np.float64) * k
    np.testing.assert_allclose(value, np.sum(exact * exact), rtol=1e-14)
    assert g.dtype == f32
    np.testing.assert_allclose(g, 2 * exact * k, rtol=1e-7)


def shifted_and_scaled(x, k):
    z = (x * k + 1e4) - 1e4  # (in float32 the shift rounds z to 2**-10)
    return np.sum(z * z)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint8, np.uint16, np.bool_])
def test_float32_times_a_narrow_integer_array_stays_float32(dtype, mode, rng):
    """Found by an attack: float32 times int8 (or a boolean array) is float32 in NumPy; srcad
    converted every integer array to float64 first."""
    x, k = rng.uniform(0.05, 0.5, 6).astype(f32), rng.integers(0, 2, 6).astype(dtype)
    value, g = srcad.value_and_grad(shifted_and_scaled, **options(mode))(x, k)
    assert value == pytest.approx(float(shifted_and_scaled(x, k)), rel=1e-6)
    assert value != pytest.approx(float(shifted_and_scaled(x.astype(np.float64), k)),
                                  rel=1e-6)  # (the float64 answer differs here)
    assert g.dtype == f32
    z = (x * k + f32(1e4)) - f32(1e4)  # (what NumPy computes in float32)
    np.testing.assert_allclose(g, 2 * z * k, rtol=1e-6)


def mixed_in_numpy_calls(x, k):
    return np.sum(np.maximum(x, k) + k) + np.sum(np.where(x > 1.0, x, k))


def test_float32_meeting_an_int64_array_in_a_numpy_call_is_float64(mode, rng):
    """Found by an attack: np.maximum(x32, k64) computed in float32 compiled (NumPy: float64)."""
    x = np.array([1e8, 2.0, rng.uniform(0.5, 1.5)], f32)
    k = np.array([3, 5, 1], np.int64)
    value, g = srcad.value_and_grad(mixed_in_numpy_calls, **options(mode))(x, k)
    assert value == float(mixed_in_numpy_calls(x, k))
    np.testing.assert_allclose(g, (x > k).astype(f32) + (x > 1.0), rtol=1e-7)
    assert g.dtype == f32


def float64_workspace(x):
    z = np.zeros(x.shape[0]) + 100000007.0  # (NumPy: float64, the constant exact)
    w = z * 0.1
    return np.sum(w * x) + np.sum(x * 0.1)


def test_constants_meeting_float64_arrays_in_a_float32_call_stay_exact(mode, rng):
    """They were written np.float32(c) like every constant of a float32 call: 100000007.0
    became 100000008.0."""
    x = rng.uniform(0.5, 1.5, 5).astype(f32)
    value, g = srcad.value_and_grad(float64_workspace, **options(mode))(x)
    np.testing.assert_allclose(value, float64_workspace(x), rtol=1e-15)
    assert g.dtype == f32
    np.testing.assert_allclose(g, 10000000.7 + np.float32(0.1), rtol=1e-7)


def converted_to_float64(x):
    y = x.astype(np.float64)
    z = np.zeros(x.shape[0])
    z[0] = 0.1
    s = y[0] + 100000007.0 - 100000000.0 + np.sum(np.where(y > 0.3, y, 0.0)) + x[0] * z[0]
    s = s + float(x[1]) * 100000007.0 + np.sum(x * np.float64(0.1))
    return s * 2.0 if y[0] > 0.3 else s * 3.0


def test_float64_values_in_a_float32_call_meet_exact_constants(mode, rng):
    """Found by a helper's attack: constants meeting conversions to float64, Python floats
    and stores into float64 arrays were rounded to float32 (0.3 took the wrong branch)."""
    x = np.float32([0.3, 0.7, 1.1, 0.05])
    value, g = srcad.value_and_grad(converted_to_float64, **options(mode))(x)
    np.testing.assert_allclose(value, converted_to_float64(x), rtol=1e-14)
    assert g.dtype == f32  # (x[0] = float32(0.3) > 0.3: the branch doubling s, y[0] counted)
    np.testing.assert_allclose(g, 2 * np.array([2.2, 100000008.1, 1.1, 0.1]), rtol=1e-7)


def test_float32_vjp(mode, rng):
    x = rng.standard_normal(3).astype(f32)
    value, pullback = srcad.vjp(np.sin, x, **options(mode))
    g = pullback(np.ones(3, f32))
    assert g.dtype == f32
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)


@pytest.mark.parametrize("bad, name", [
    (np.ones(3, np.float16), "float16"), (np.ones(3, np.complex128), "complex128"),
    (1j, "complex")])
def test_float16_and_complex_are_refused_by_name(mode, bad, name):
    with pytest.raises(TypeError, match=rf"argument 'x' is {name}"):
        srcad.grad(mixed, **options(mode))(bad, np.ones(3))
    with pytest.raises(TypeError, match=rf"argument 'y' is {name}"):
        srcad.grad(mixed, **options(mode))(np.ones(3), bad)
    with pytest.raises(TypeError, match=rf"argument 'params\['b'\]' is {name}"):
        srcad.grad(vector_loss, **options(mode))({"W": np.ones((3, 2)), "b": bad,
                                                  "scale": 1.0}, np.ones((4, 3)))


def exps_subtracted(x):
    return (math.exp(x[1]) - math.exp(x[0])) * x[2]


def test_math_of_float32_elements_computes_in_float64_as_python(mode):
    """math.exp of a float32 element is a Python float (float64); compiled it was computed in
    float32, and the difference of two close exponentials lost three digits (an attack found
    it; the generated Python and the compiled code disagreed too)."""
    if mode[0] == "tape":
        pytest.skip("the tape computes a float32 tensor's math.exp in float32, as torch does")
    x = np.float32([10.0, 10.0001, 1.0])
    value, g = srcad.value_and_grad(exps_subtracted, **options(mode))(x)
    exact = exps_subtracted(x.astype(np.float64))
    assert value == pytest.approx(exact, rel=1e-7)
    assert g.dtype == f32 and g[2] == pytest.approx(exact, rel=1e-7)


def logistic(w, X, y):
    return np.sum(np.log1p(np.exp(-y * (X @ w))))


@pytest.mark.parametrize("jit", [True, False])
def test_float32_data_with_float64_weights_compiles(jit, rng):
    """Numba's matrix product takes operands of one dtype: `X32 @ w64` fell back to the
    generated Python with a message naming nothing (found by an attack). Such a call runs
    compiled with its float32 arrays passed as float64, each gradient in its argument's dtype."""
    X, y = rng.normal(size=(40, 3)).astype(f32), np.sign(rng.normal(size=40)).astype(f32)
    w = rng.normal(size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, (gw, gX) = srcad.value_and_grad(logistic, wrt=(0, 1), jit=jit)(w, X, y)
        value64, (gw64, gX64) = srcad.value_and_grad(logistic, wrt=(0, 1), jit=jit)(
            w, X.astype(np.float64), y.astype(np.float64))
    assert value == pytest.approx(value64, rel=1e-14) and gw.dtype == np.float64
    np.testing.assert_allclose(gw, gw64, rtol=1e-13)
    assert gX.dtype == f32
    np.testing.assert_allclose(gX, gX64, rtol=1e-6)
    assert srcad.jvp(logistic, (w, X, y), (np.ones(3), None, None), jit=jit)[1] == \
        pytest.approx(np.sum(gw64), rel=1e-12)


def test_second_derivatives_of_float32_data_with_float64_weights(rng):
    """hessian and jacobian ran the kernel of a mixed call directly (Numba's TypingError: its
    matrix products take operands of one dtype; found by an attack)."""
    X = rng.normal(size=(4, 3))
    w = rng.normal(size=3)

    def loss(w, X):
        return np.sum(np.tanh(X @ w) ** 2)

    def field(w, X):
        return np.tanh(X @ w)
    H = srcad.hessian(loss)(w, X.astype(f32))
    np.testing.assert_allclose(H, srcad.hessian(loss)(w, X.astype(f32).astype(np.float64)),
                               rtol=1e-12)
    for jacobian_mode in ("fwd", "rev"):
        J = srcad.jacobian(field, mode=jacobian_mode)(w, X.astype(f32))
        np.testing.assert_allclose(J, srcad.jacobian(field, mode=jacobian_mode)(
            w, X.astype(f32).astype(np.float64)), rtol=1e-12)


def spread_plus(x):
    return np.var(x) + np.std(x, ddof=1) + np.sum(x) * 0.0


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_float32_variance_takes_its_mean_in_blocks(jit, rng):
    """2**20 float32 elements of 10000 (plus a spike): Numba's np.mean and np.var add them one
    after another in float32, whose running sum loses the ones past 2**24 / 625 (var and std of
    a constant came out far from 0, in value, gradient and tangent); srcad takes the mean in
    blocks, as NumPy's pairwise sum is exact here."""
    x = np.full(2 ** 20, 10000.0, dtype=f32)
    x[rng.integers(x.size)] = 10001.0
    exact = x.astype(np.float64)
    expected = np.var(exact) + np.std(exact, ddof=1)
    value, grad = srcad.value_and_grad(spread_plus, jit=jit)(x)
    assert value == pytest.approx(expected, rel=1e-3)
    t = rng.normal(size=x.size).astype(f32)
    _, tangent = srcad.jvp(spread_plus, (x,), (t,), jit=jit)
    expected_grad = 2 * (exact - exact.mean()) / x.size + \
        (exact - exact.mean()) / ((x.size - 1) * np.std(exact, ddof=1))
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-3, atol=1e-7)
    assert tangent == pytest.approx(float(expected_grad @ t), rel=1e-3, abs=1e-6)


def quantized(x):
    y = x.astype(np.float32)
    z = y * 1e-8 + 1.0  # (1.0 in NumPy's float32; 1.00000001 in float64)
    return np.sum(z * x)


def quantized_by_name(x):
    return np.sum((x.astype("f4") * 1e-8 + 1.0) * x)  # (a string given the tape's `to`)


def quantized_imported(x):
    return np.sum((x.astype(f32) * 1e-8 + 1.0) * x)  # (numpy's float32 imported by name)


def stored_into_float32(x):
    y = np.zeros(x.shape[0], dtype=np.single)  # (was a float64 tensor on the tape)
    y[:] = x
    return np.sum((y * 1e-8 + 1.0) * x)


@pytest.mark.parametrize("fn", [quantized_by_name, quantized_imported, stored_into_float32])
def test_every_spelling_of_float32_runs_on_the_tape_in_numpy_s_arithmetic(fn, rng):
    """(found by probing the refusal below: a name imported from numpy was missed, the tape
    took "f4" for a device, and allocated float32 arrays as float64)"""
    x = rng.uniform(0.5, 1.5, 3)
    with pytest.warns(srcad.FallbackWarning, match="np.float32 values"):
        value, g = srcad.value_and_grad(fn)(x)
    assert value == fn(x)
    np.testing.assert_allclose(g, numeric_grad(fn, (x,), 0), rtol=1e-6)


def test_float32_made_from_float64_arguments_runs_on_the_tape(rng):
    """(found by an attack: the compiled jvp of `x.astype(np.float32) * 2` returned float64,
    and float32 arithmetic with Python floats was computed in float64)"""
    x = rng.uniform(0.5, 1.5, 3)
    with pytest.raises(srcad.UnsupportedError, match=r"test_dtypes\.py:\d+: np\.float32 values "
                                                     r"in a call with float64 arguments"):
        srcad.grad(quantized, mode="source")(x)
    with pytest.warns(srcad.FallbackWarning, match="np.float32 values"):
        value, g = srcad.value_and_grad(quantized)(x)
    assert value == quantized(x)  # NumPy's float32 arithmetic, to the bit
    np.testing.assert_allclose(g, numeric_grad(quantized, (x,), 0), rtol=1e-6)
    with pytest.warns(srcad.FallbackWarning, match="np.float32 values"):
        v, t = srcad.jvp(lambda x: x.astype(np.float32) * 2, (x,), (np.ones(3),))
    assert v.dtype == t.dtype == np.float32


def solved_in_float32(a, b):
    return np.sum(np.linalg.solve(a, b)) + np.sum(np.linalg.inv(a) @ b) + \
        np.linalg.slogdet(a)[1] + np.sum(np.linalg.svd(a, compute_uv=False))


def test_float32_linear_algebra_has_numpys_values(rng):
    """(NumPy computes float32 linear algebra in float64 and rounds the result; Numba's computed
    in float32: 1% off NumPy's solve of a matrix of condition 1e6, found by an attack on lstsq)"""
    u, v = np.linalg.qr(rng.normal(size=(6, 6)))[0], np.linalg.qr(rng.normal(size=(6, 6)))[0]
    a = (u @ np.diag(np.logspace(0, -6, 6)) @ v.T).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    value, g = srcad.value_and_grad(solved_in_float32, wrt=1)(a, b)
    assert g.dtype == np.float32
    assert value == pytest.approx(solved_in_float32(a, b), rel=1e-6)


def powers_by_an_int(x, n):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] ** n
    return s


def test_an_int_beyond_int64_is_refused_by_the_source_transform_and_taken_by_the_tape():
    """(an attack: it reached the generated code, which raised OverflowError inside srcad)"""
    x = np.array([0.5, 0.9, 1.1])
    gradient = srcad.grad(powers_by_an_int, mode="source")
    np.testing.assert_allclose(gradient(x, 3), 3 * x ** 2, rtol=1e-12)
    with pytest.raises(srcad.UnsupportedError, match=r"argument 'n' of powers_by_an_int is the "
                       r"int 100000000000000000000, which does not fit the 64-bit integers"):
        gradient(x, 10 ** 20)
    with pytest.warns(srcad.FallbackWarning, match="does not fit the 64-bit integers"), \
            np.errstate(over="ignore"):
        np.testing.assert_array_equal(srcad.grad(powers_by_an_int)(x, 10 ** 20), [0, 0, np.inf])


def integer_statistics(w, n):
    m = n.reshape(2, 3)
    b = n > 0
    return w * (np.var(n, ddof=1) + np.std(m, axis=1)[0] + np.quantile(n, 0.3) +
                np.percentile(m, 40.0, axis=1)[1] + np.median(n[:4]) +
                np.mean(m, axis=0)[2] + scipy.special.logsumexp(m, axis=1)[0] +
                scipy.special.softmax(n)[0] + np.trapezoid(n, dx=0.5) +
                np.var(b, ddof=1) + np.mean(b.reshape(2, 3), axis=1)[0]) + w * w


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_statistics_of_integer_arrays_are_computed_in_float64(dtype, jit, rng):
    """(found by an attack, helper-144: compiled, they were computed in the integers' dtype,
    truncated: var([3, -1, 4, 1, 5], ddof=1) was 5.0; of bools too)"""
    n = rng.integers(-4, 6, 6).astype(dtype)
    w = float(rng.uniform(0.5, 1.5))
    value, grad = srcad.value_and_grad(integer_statistics, jit=jit)(w, n)
    assert value == pytest.approx(integer_statistics(w, n), rel=1e-13)
    assert grad == pytest.approx(numeric_grad(integer_statistics, (w, n), 0), rel=1e-7)


def integer_sums(x, m):
    return np.sum(x * np.sum(m, axis=0)) + np.sum(x * np.cumsum(m, axis=0)[-1]) + \
        np.sum(x * np.prod(m, axis=0) * 1e-3) + np.sum(x * np.cumprod(m, axis=0)[-1] * 1e-3) + \
        np.sum(np.kron(m[0], x) ** 2) * 1e-4


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int8, np.int16, np.int32])
def test_compiled_sums_and_products_of_narrow_integers_are_numpy_s(dtype, rng):
    """Sums and products of bools and integers narrower than 64 bits are taken in int64 (or
    uint64), and np.kron of integers and floats is a float array, as NumPy's (found by an
    attack, helper-145: compiled along axis 0 they wrapped in the elements' type, a bool sum
    was an `or`, and the kron was truncated to integers)."""
    m = (rng.integers(0, 2, (2, 3)) if dtype is np.bool_ else
         np.array([[120, 16, 3], [100, 17, 5]]) * (1000 if dtype is np.int32 else 1)
         if dtype in (np.int8, np.uint8, np.int32) else
         np.array([[30000, 16, 3], [30000, 17, 5]])).astype(dtype)
    x = rng.uniform(0.5, 1.5, 3)
    value, grad = srcad.value_and_grad(integer_sums)(x, m)
    assert value == pytest.approx(integer_sums(x, m), rel=1e-12)
    assert grad == pytest.approx(numeric_grad(integer_sums, (x, m), 0), rel=1e-6)


def special_of_integers(x, u, n):
    return np.sum(x * scipy.special.expit(u)) + np.sum(x * scipy.special.log_expit(-n)) + \
        np.sum(x * scipy.special.xlogy(u, n + 5)) + np.sum(x * scipy.special.gammaln(u + 1))


def test_special_functions_of_unsigned_integers_compute_in_floats(rng):
    """(found by an attack, helper-145: compiled, expit(u) of a uint8 u negated u in uint8)"""
    u = rng.integers(0, 8, 4).astype(np.uint8)
    n = rng.integers(-3, 4, 4)
    x = rng.uniform(-1.0, 1.0, 4)
    value, grad = srcad.value_and_grad(special_of_integers)(x, u, n)
    assert value == pytest.approx(special_of_integers(x, u, n), rel=1e-12)
    assert grad == pytest.approx(numeric_grad(special_of_integers, (x, u, n), 0), rel=1e-6)


def scaled_by_uint(x, n, a):
    return x * (n - 1) + x * x * (a[0] - 1)


def test_uint64_values_beyond_int64_run_on_the_tape(rng):
    """A np.uint64 or a uint64 array's element from 2**63 does not fit compiled code's int64
    (Numba computes `n - 1` of a uint64 in int64: the value and gradient were negative, found
    by an attack, helper-147); such a call falls back to the tape, saying why, also after a
    call with small values compiled the gradient (its fast path checks them)."""
    x = float(rng.uniform(0.5, 1.5))
    small, a_small = np.uint64(rng.integers(2, 100)), np.array([7, 9], np.uint64)
    value, grad = srcad.value_and_grad(scaled_by_uint)(x, small, a_small)
    assert value == pytest.approx(scaled_by_uint(x, small, a_small), rel=1e-13)
    assert grad == pytest.approx(numeric_grad(scaled_by_uint, (x, small, a_small), 0), rel=1e-7)
    for n, a in [(np.uint64(2 ** 63 + 5), a_small), (small, np.array([1, 2 ** 63 + 9], np.uint64))]:
        g = srcad.value_and_grad(scaled_by_uint)
        g(x, small, a_small)
        g(x, small, a_small)  # (the fast path of these types)
        with pytest.warns(srcad.FallbackWarning, match="does not fit the 64-bit"):
            value, grad = g(x, n, a)
        assert value == pytest.approx(scaled_by_uint(x, n, a), rel=1e-13)
        # (d/dx: n - 1 + 2 x (a[0] - 1), taken in floats)
        assert grad == pytest.approx(float(n) - 1 + 2 * x * (float(a[0]) - 1), rel=1e-13)


def math_of_narrow_integers(x, n, u):
    return x * math.sqrt(n) + x * x * math.log(u[0]) + math.atan2(x, n)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_math_functions_of_narrow_integers_compute_in_float64(dtype, rng):
    """math's functions return Python floats whatever they are given (found by an attack,
    helper-147: the generated Python computed math.sqrt of an int8 as np.sqrt does, in
    float16)."""
    x = float(rng.uniform(0.5, 1.5))
    n, u = dtype(rng.integers(2, 9)), rng.integers(2, 9, 2).astype(dtype)
    for jit in (False, True):
        value, grad = srcad.value_and_grad(math_of_narrow_integers, jit=jit)(x, n, u)
        assert value == pytest.approx(math_of_narrow_integers(x, n, u), rel=1e-14)
        assert grad == pytest.approx(numeric_grad(math_of_narrow_integers, (x, n, u), 0),
                                     rel=1e-7)


def times_fraction(x, n):
    return x * x * n


def test_a_fraction_argument_runs_on_the_tape(rng):
    """(found by an attack, helper-147: the tape's gradient of a tensor times a
    fractions.Fraction was a Python float, and summing it raised AttributeError)"""
    import fractions
    x, n = float(rng.uniform(0.5, 1.5)), fractions.Fraction(1, 3)
    with pytest.warns(srcad.FallbackWarning, match="cannot infer the type"):
        value, grad = srcad.value_and_grad(times_fraction)(x, n)
    assert (value, grad) == pytest.approx((x * x / 3, 2 * x / 3), rel=1e-14)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_jvp_s_scalar_tangent_is_a_float_on_every_call(jit, rng):
    """(found by an attack, helper-147: with jit=False, a np.float64 from the second call on)"""
    x, t = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    for _ in range(3):
        value, tangent = srcad.jvp(sum_of_squares, (x,), (t,), jit=jit)
        assert type(value) is float and type(tangent) is float
        assert tangent == pytest.approx(2 * np.sum(x * t), rel=1e-13)


def sum_of_squares(x):
    return np.sum(x * x)


WEIGHTS64 = np.array([1.0, 2.0, 3.0])
SCALE = 0.3


def weak_python_numbers(x, n):
    c = math.cos(x[0])
    return ((c * x[1] + 1e8) - 1e8) + ((x[2] * n + 1e8) - 1e8) + np.sum(WEIGHTS64 * 0.1) + \
        np.sum(x * SCALE) * float(x[1])


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_python_numbers_meet_float32_values_as_in_numpy(jit, rng):
    """A Python float (math.cos(v), a global float) or a Python int argument beside a float32
    value is float32 in NumPy, Numba took it as float64; a global float64 array keeps a float
    constant beside it exact (found by an attack, helper-147: `(math.cos(x) * x + 1e8) - 1e8`
    was 0.43879 where NumPy's is 0.0; compiled, `x32 * n` was float64)."""
    x = rng.uniform(0.3, 0.6, 3).astype(np.float32)
    n = int(rng.integers(3, 9))
    value, grad = srcad.value_and_grad(weak_python_numbers, jit=jit)(x, n)
    assert value == weak_python_numbers(x, n)
    # (analytic: finite differences cannot see past the float32 roundings of 1e8)
    assert grad.dtype == np.float32
    assert grad == pytest.approx([-np.sin(x[0]) * x[1] + SCALE * x[1],
                                  math.cos(x[0]) + SCALE * x[1] + np.sum(x * SCALE),
                                  n + SCALE * x[1]], rel=1e-5)


def fmod_of_integers(x, k, a):
    s = 0.0
    for i in range(-k, k):
        s += x * math.fmod(i, 4)
    return s + np.sum(x * np.fmod(a, -3)) + np.sum(x * np.fmod(a, np.abs(a[::-1]) + 1)) + \
        x * math.fmod(k, -3)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_fmod_of_integers_has_the_sign_of_the_dividend(jit, rng):
    """(found by an attack, helper-159: compiled, Numba's np.fmod of integers was an unsigned
    remainder, fmod(-7, 3) 0 instead of -1)"""
    x, a = float(rng.uniform(0.5, 1.5)), rng.integers(-20, 20, 6)
    value, grad = srcad.value_and_grad(fmod_of_integers, jit=jit)(x, 5, a)
    assert value == pytest.approx(fmod_of_integers(x, 5, a), rel=1e-14)
    assert grad == pytest.approx(fmod_of_integers(1.0, 5, a), rel=1e-14)  # (linear in x)


def items_times_three(x, y):
    return x[0].item() * 3.0 + y.item() * 3.0 + (x[0].item() * 3.0 + x[1]) * 2.0


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_item_of_a_float32_is_a_python_float(jit, rng):
    """(found by an attack, helper-159: x[0].item() * 3.0 of a float32 array was computed in
    float32; .item() is a Python float, exact in float64)"""
    x, y = rng.uniform(0.1, 1.0, 2).astype(np.float32), np.float32(rng.uniform(0.1, 1.0))
    value, grads = srcad.value_and_grad(items_times_three, wrt=(0, 1), jit=jit)(x, y)
    assert value == items_times_three(x, y)
    np.testing.assert_allclose(grads[0], [9.0, 2.0], rtol=1e-6)
    assert grads[1] == pytest.approx(3.0)
