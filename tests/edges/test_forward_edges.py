"""Forward mode at its edges: arguments written into (also through views) with or without a
tangent, globals written into, broadcast bounds, empty reductions, einsum views, structured
and keyword-less calls, and the errors for what it refuses. Found by attacking srcad.jvp."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check

BUFFER = np.zeros(3)


def argument_written_without_tangent(x, y):
    y[0] = x[0] * 2.0
    return y * 1.0


def scalar_argument_made_active(x, a):
    for i in range(x.shape[0]):
        a = a * x[i]
    return a


def write_through_a_view(x):
    z = x[1:]
    z[0] = 5.0
    return z * z


def write_through_a_second_name(x):
    z = x
    z[0] = 5.0
    return z * x


def write_into_a_global(x):
    BUFFER[0] = x[0] * 2.0
    return BUFFER * x


def clip_to_broadcast_bounds(a, b):
    return np.clip(a, b, 10.0)


def product_of_nothing(x):
    return np.prod(x)


def einsum_view_written(A):
    z = np.einsum("ij->ij", A)
    z[0, 0] = 1.0
    return np.sum(z * A)


def dict_parameters(d):
    return np.sum(d["x"] ** 2) * d["w"]


def dict_with_a_count(d):
    return np.sum(d["x"]) * d["n"]


def collects(*xs):
    return xs[0] * 2.0


def pair(x):
    return x, x


@srcad.custom_vjp
def clipped(x):
    return min(x, 1.0)


clipped.defvjp(lambda g, ans, x: g * (x < 1.0))


def calls_custom(x):
    return clipped(x) * 2.0


def _check(fn, primals, tangents, jit):
    primals_before = [np.copy(p) if isinstance(p, np.ndarray) else p for p in primals]
    tangents_before = [np.copy(t) if isinstance(t, np.ndarray) else t for t in tangents]
    value, tangent = srcad.jvp(fn, primals, tangents, jit=jit)
    for now, before in zip(list(primals) + list(tangents), primals_before + tangents_before):
        if isinstance(now, np.ndarray):
            np.testing.assert_array_equal(now, before)  # the caller's arrays never change
    np.testing.assert_allclose(value, fn(*[np.copy(p) if isinstance(p, np.ndarray) else p
                                           for p in primals_before]))
    np.testing.assert_allclose(tangent, check.along(fn, primals_before, tangents_before),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn,primals,held", [
    (argument_written_without_tangent, [(3,), (3,)], {1}),
    (scalar_argument_made_active, [(4,), ()], {1}),
    (write_through_a_view, [(4,)], set()),
], ids=lambda v: getattr(v, "__name__", ""))
def test_writes_into_arguments(fn, primals, held, jit, rng):
    primals = [float(rng.uniform(0.5, 1.5)) if s == () else rng.uniform(0.5, 1.5, s)
               for s in primals]
    tangents = [None if k in held else rng.normal(size=np.shape(p)) if np.ndim(p) else 0.7
                for k, p in enumerate(primals)]
    _check(fn, primals, tangents, jit)


def test_refusals_name_the_construct(jit):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(srcad.AliasingError, match="shares its memory"):
        srcad.jvp(write_through_a_second_name, (x,), (x,), jit=jit, mode="source")
    with pytest.raises(srcad.AliasingError, match="shares its memory"):
        srcad.jvp(einsum_view_written, (np.eye(2),), (np.eye(2),), jit=jit, mode="source")
    with pytest.raises(srcad.UnsupportedError, match="'BUFFER', a global"):
        srcad.jvp(write_into_a_global, (x,), (x,), jit=jit, mode="source")
    with pytest.raises(srcad.UnsupportedError, match="custom_vjp"):
        srcad.jvp(calls_custom, (0.5,), (1.0,), jit=jit, mode="source")
    with pytest.raises(TypeError, match="srcad.jvp differentiates a function returning a number"):
        srcad.jvp(pair, (1.0,), (1.0,), jit=jit)


def test_call_errors():
    x = np.ones(3)
    with pytest.raises(TypeError, match=r"collects its arguments in \*xs"):
        srcad.jvp(collects, (1.0,), (1.0,))
    with pytest.raises(ValueError, match=r"has shape \(2,\), the argument \(3,\)"):
        srcad.jvp(write_through_a_view, (x,), (np.ones(2),))
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        srcad.jvp(write_through_a_view, (x,), (x, x))
    with pytest.raises(TypeError, match="no float argument has a tangent"):
        srcad.jvp(write_through_a_view, (x,), (None,))
    with pytest.raises(TypeError, match=r"'d\['n'\]' is .* int.*give None or 0"):
        srcad.jvp(dict_with_a_count, ({"x": x, "n": 3},), ({"x": x, "n": 1},))


def test_structured_argument_with_a_constant_leaf(jit, rng):
    x, t = rng.normal(size=3), rng.normal(size=3)
    value, tangent = srcad.jvp(dict_parameters, ({"x": x, "w": 2.0},),
                               ({"x": t, "w": None},), jit=jit)
    np.testing.assert_allclose(tangent, 2.0 * np.sum(2.0 * x * t))
    value, tangent = srcad.jvp(dict_parameters, ({"x": x, "w": 2.0},),
                               ({"x": t, "w": 0.5},), jit=jit)
    np.testing.assert_allclose(tangent, 2.0 * np.sum(2.0 * x * t) + 0.5 * np.sum(x ** 2))


def test_clip_broadcasts_its_bounds_when_compiled(jit):
    a, b = np.array([0.5]), np.array([0.0, 1.0, 2.0, 0.2])
    _check(clip_to_broadcast_bounds, (a, b), (np.array([1.0]), None), jit)
    # (the gradient computed the value with Numba's clip, which keeps a's shape: 0.5, not 4.0)
    value, grad = srcad.value_and_grad(lambda a, b: np.sum(np.clip(a, b, 10.0)), jit=jit)(a, b)
    assert value == pytest.approx(4.0) and grad == pytest.approx([2.0])


def test_product_of_an_empty_array(jit):
    value, tangent = srcad.jvp(product_of_nothing, (np.zeros(0),), (np.zeros(0),), jit=jit)
    assert value == 1.0 and tangent == 0.0
    assert srcad.grad(product_of_nothing, jit=jit)(np.zeros(0)).shape == (0,)


def test_einsum_view_written_is_refused_by_the_gradient_too(jit):
    with pytest.raises(srcad.AliasingError, match="shares its memory"):
        srcad.grad(einsum_view_written, mode="source", jit=jit)(np.eye(2))


def repeated_count(n, x):
    s = 0.0
    for i in range(n):
        s += x * x
    return s


def gathered(idx, x):
    return np.sum(x[idx] ** 2)


def with_default(x, a=2.0):
    return x * a


def keyword_only_scale(x, *, w):
    return x * w


def weighted_sines(x, w, n):
    return w * np.sum(np.sin(x) ** n)


def test_a_repeated_jvp_runs_its_kernel_directly_and_leaves_for_other_calls(rng):
    """A jvp of already-seen argument types runs a fast path written for them (7 us -> 1.3 us
    per call); any other call (tangents of another type, shape or pattern of None, new
    arguments' types) takes the general path, with the right numbers."""
    x, v = rng.uniform(0.2, 1.0, 4), rng.normal(size=4)

    def expected(x, w, n, dx, dw):
        return np.sum(dx * w * n * np.sin(x) ** (n - 1) * np.cos(x)) + dw * np.sum(np.sin(x) ** n)

    for _ in range(2):
        value, tangent = srcad.jvp(weighted_sines, (x, 1.5, 3), (v, 0.5, None))
        assert tangent == pytest.approx(expected(x, 1.5, 3, v, 0.5))
    assert srcad.api._JVP_RECENT[(weighted_sines, ("auto", True, None, False))] is not None
    calls = [((x, 1.5, 3), (v, 0, None)), ((x, 1.5, 3), (v, None, None)),
             ((x, 2.5, 2), (v, 1.0, 0)), ((x[:3], 1.5, 3), (v[:3], 1.0, None)),
             ((x, 1.5, 3), (v, np.float64(2.0), None)), ((x, 1.5, 3), (v, 0.5, None))]
    for primals, tangents in calls:
        dw = tangents[1] or 0.0
        assert srcad.jvp(weighted_sines, primals, tangents)[1] == \
            pytest.approx(expected(*primals, tangents[0], dw))
    with pytest.raises(ValueError, match="has shape"):
        srcad.jvp(weighted_sines, (x, 1.5, 3), (v[:3], 0.5, None))
    with pytest.raises(TypeError, match="carries no derivative"):
        srcad.jvp(weighted_sines, (x, 1.5, 3), (v, 0.5, 1))


def test_the_memos_of_jvp_and_vjp_keep_only_the_newest_functions(monkeypatch):
    """(a new lambda per call is a new key: the memos kept every one)"""
    monkeypatch.setattr(srcad.api, "_REMEMBERED", 2)
    for k in range(4):
        scale = float(k + 1)
        assert srcad.jvp(lambda x: x * x * scale, (1.5,), (1.0,), jit=False) == \
            pytest.approx((2.25 * scale, 3.0 * scale))
        value, pullback = srcad.vjp(lambda x: x * x * scale, 1.5, jit=False)
        assert pullback(1.0) == pytest.approx(3.0 * scale)
    for memo in (srcad.api._JVPS, srcad.api._VJPS, srcad.api._JVP_KNOWN):
        assert len(memo) <= 2


def test_repeated_calls_take_the_fast_path_correctly(rng):
    # (the fast path passed an integer's zero tangent, read .shape of it, dropped defaults)
    for _ in range(3):
        assert srcad.jvp(repeated_count, (3, 2.0), (0, 1.0)) == (12.0, 12.0)
        assert srcad.jvp(with_default, (3.0,), (1.0,)) == (6.0, 2.0)
        value, tangent = srcad.jvp(gathered, (np.array([0, 2]), np.arange(3.0)), (0, np.ones(3)))
        assert (value, tangent) == (4.0, 4.0)
    with pytest.raises(TypeError, match="carries no derivative"):
        srcad.jvp(repeated_count, (3, 2.0), (1, 1.0))
    with pytest.raises(ValueError, match="has shape"):
        srcad.jvp(gathered, (np.array([0, 2]), np.arange(3.0)), (None, np.ones(2)))
    import functools
    assert srcad.jvp(functools.partial(keyword_only_scale, w=2.0), (1.5,), (1.0,)) == (3.0, 2.0)


TRIPS = 2.5


def float_trip_count(x):
    s = 0.0
    for i in range(TRIPS):
        s += x * x
    return s


def test_a_float_range_bound_is_a_type_error(jit):
    # (compiled, Numba truncated it to 2 trips and the reverse sweep ran 3: a wrong gradient)
    with pytest.raises(TypeError, match=r"range\(\) takes integers; 'TRIPS' is a float"):
        srcad.grad(float_trip_count, jit=jit)(1.5)
    with pytest.raises(TypeError, match=r"forward_edges.py:\d+: range\(\) takes integers"):
        srcad.jvp(float_trip_count, (1.5,), (1.0,), jit=jit)


def float_slice_bound(x, n):
    return np.sum(x[:n] ** 2) + np.sum(x[1:n + 1])


def float_index(x, n):
    return x[n - 1] * 2.0


def test_a_float_slice_bound_or_index_is_an_error(jit):
    # (found by a helper's attack: compiled, Numba truncated x[:2.0], where Python raises)
    x = np.arange(4.0)
    with pytest.raises(TypeError, match=r"forward_edges.py:\d+: slice indices must be integers; "
                                        "'n' is a float"):
        srcad.grad(float_slice_bound, jit=jit)(x, 2.0)
    with pytest.raises(TypeError, match="'n - 1' is a float, not an index"):
        srcad.jvp(float_index, (x, 2.0), (np.ones(4), None), jit=jit)
    assert np.array_equal(srcad.grad(float_slice_bound, jit=jit)(x, 2), [0.0, 3.0, 1.0, 0.0])


QUANTILES = np.array([0.2, 0.7])


def quantiles(x):
    return np.quantile(x, QUANTILES)


def percentiles_along_an_axis(X):
    return np.percentile(X, [10.0, 50.0, 90.0], axis=1, keepdims=True)


def quantiles_of_a_matrix_of_q(X):
    return np.quantile(X, np.array([[0.1, 0.5], [0.6, 0.9]]), axis=(0, 2))


def quantile_mixture(x):
    return np.sum(np.quantile(x, QUANTILES) * np.array([1.0, 2.0])) + np.percentile(x, 40.0)


@pytest.mark.parametrize("fn", [quantiles, percentiles_along_an_axis,
                                quantiles_of_a_matrix_of_q, quantile_mixture],
                         ids=lambda f: f.__name__)
def test_quantiles_of_several_q(fn, jit, rng):
    """Each quantile's tangent is its own (the slicewise rule summed the partials of every q
    into each: a wrong jvp, found by a helper); a q of any rank, along axes, with keepdims."""
    x = rng.normal(size=5) if fn in (quantiles, quantile_mixture) else rng.normal(size=(2, 3, 4))
    t = rng.normal(size=x.shape)
    _, tangent = srcad.jvp(fn, (x,), (t,), jit=jit)
    np.testing.assert_allclose(tangent, check.along(fn, (x,), (t,)), rtol=1e-6, atol=1e-8)
    for mode in ("fwd", "rev"):
        J = srcad.jacobian(fn, mode=mode, jit=jit)(x)
        np.testing.assert_allclose(np.tensordot(J, t, axes=t.ndim), tangent, rtol=1e-10,
                                   atol=1e-12)


def float32_loss(x):
    return np.sum(np.tanh(x) * x ** 2)


def test_library_functions_and_float32_values(jit, rng):
    """jvp and jacobian of a NumPy ufunc take its rule's parameters (they refused np.sin: its
    'where' is keyword-only); a scalar tangent has the value's type, compiled or not."""
    x = rng.uniform(0.1, 1.0, 3)
    np.testing.assert_allclose(srcad.jacobian(np.sin, jit=jit)(x), np.diag(np.cos(x)))
    np.testing.assert_allclose(srcad.jacobian(np.arctan2, wrt=1, mode="rev", jit=jit)(x, x),
                               np.diag(-x / (2 * x * x)))
    np.testing.assert_allclose(srcad.jvp(np.exp, (x,), (x,), jit=jit)[1], np.exp(x) * x)
    value, tangent = srcad.jvp(float32_loss, (x.astype(np.float32),),
                               (np.ones(3, np.float32),), jit=jit)
    assert type(value) is type(tangent) is float
    expected = np.sum((1 - np.tanh(x) ** 2) * x ** 2 + 2 * x * np.tanh(x))
    assert tangent == pytest.approx(expected, rel=1e-5)


def recursive_power(x, n):
    if n == 0:
        return x
    return x * recursive_power(x, n - 1)


def recursive_power_of_one(x):
    return recursive_power(x, 3) + x


def test_a_jacobian_runs_on_the_tape_where_the_source_cannot(rng):
    x = rng.uniform(0.5, 1.5, 3)
    with pytest.warns(srcad.FallbackWarning, match="recursive"):  # (once per function)
        J = srcad.jacobian(recursive_power, mode="rev")(x, 2)
    np.testing.assert_allclose(J, np.diag(3 * x ** 2), rtol=1e-12)
    for mode in ("auto", "fwd"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", srcad.FallbackWarning)  # (the jvp's, once)
            J = srcad.jacobian(recursive_power, mode=mode)(x, 2)
        np.testing.assert_allclose(J, np.diag(3 * x ** 2), rtol=1e-12)
    with pytest.raises(srcad.UnsupportedError, match="recursive call"):
        srcad.jvp(recursive_power, (x, 2), (x, None), mode="source")


def recursive_cholesky(a, n):
    return np.linalg.cholesky(a) if n == 0 else recursive_cholesky(a, n - 1)


def test_jacobians_of_a_cholesky_on_the_tape(rng):
    """Found by an attack: jacobian(mode="rev"), and "auto" where the source cannot, ran the jvp
    on the tape first (a vjp's derivative), which failed through np.linalg.cholesky: a reverse
    Jacobian needs vjps only (and the tape's cholesky now has a second derivative too)."""
    b = rng.uniform(-1, 1, (3, 3))
    a = b @ b.T + 3 * np.eye(3)
    cholesky = srcad.jacobian(np.linalg.cholesky)(a)  # (the source transform's)
    for mode in ("rev", "auto", "fwd"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", srcad.FallbackWarning)
            J = srcad.jacobian(recursive_cholesky, mode=mode)(a, 2)
        np.testing.assert_allclose(J, cholesky, rtol=1e-10, atol=1e-12)


def test_a_wrapper_collecting_its_arguments_is_named_as_such(rng):
    """A functools.wraps wrapper of np.sin is differentiated as the wrapper: its *args is what
    forward mode refuses (the message named np.sin's keyword-only 'where')."""
    import functools

    @functools.wraps(np.sin)
    def wrapper(*args, **kwargs):
        return np.sin(*args, **kwargs)

    x = rng.normal(size=2)
    with pytest.raises(TypeError, match=r"collects its arguments in \*args"):
        srcad.jvp(wrapper, (x,), (x,))


def sinc_sum(x):
    return np.sum(np.sinc(x))


def det_of(a):
    return np.linalg.det(a)


def test_second_and_third_derivatives_of_sinc_at_and_near_zero(rng):
    """sinc's derivative was (cos(pi x) - sinc(x)) / x with 0 at 0: its own derivative there
    was inf * 0 = NaN (found by an attack); its derivatives of every order are now one rule,
    exact at and near 0. Against sinc's Taylor series at 0 and central differences elsewhere."""
    x = np.concatenate([[0.0, 1e-9, -0.5, 0.999, 1.0], rng.uniform(-4.0, 4.0, 5)])
    second = srcad.hessian(sinc_sum)(x)
    np.testing.assert_allclose(second[0, 0], -np.pi ** 2 / 3, rtol=1e-14)
    np.testing.assert_array_equal(second - np.diag(np.diag(second)), 0.0)
    first = srcad.grad(sinc_sum)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = 1e-6
        np.testing.assert_allclose(second[k, k], (first(x + e) - first(x - e))[k] / 2e-6,
                                   rtol=1e-6, atol=1e-6)
    third = srcad.grad(srcad.grad(srcad.grad(np.sinc)))
    for t in (0.0, 0.3, -1.7):
        fd = (srcad.grad(srcad.grad(np.sinc))(t + 1e-5) -
              srcad.grad(srcad.grad(np.sinc))(t - 1e-5)) / 2e-5
        assert third(t) == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("jit", [True, False])
def test_det_forward_mode_on_a_singular_matrix_and_its_hessian(jit, rng):
    """det's tangent solved with the matrix (LinAlgError on a singular one, whose derivative
    is its cofactors: found by an attack); its second derivative is checked too."""
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    t = rng.normal(size=(2, 2))
    cofactors = np.array([[4.0, -2.0], [-2.0, 1.0]])
    assert srcad.jvp(det_of, (singular,), (t,), jit=jit)[1] == pytest.approx(np.sum(cofactors * t))
    np.testing.assert_allclose(srcad.jacobian(det_of, mode="fwd", jit=jit)(singular), cofactors)
    a = rng.normal(size=(3, 3))
    hessian = srcad.hessian(det_of, jit=jit)(a).reshape(9, 9)
    grad = srcad.grad(det_of)
    for k in range(9):
        e = np.zeros(9)
        e[k] = 1e-6
        fd = (grad(a + e.reshape(3, 3)) - grad(a - e.reshape(3, 3))).ravel() / 2e-6
        np.testing.assert_allclose(hessian[:, k], fd, rtol=1e-5, atol=1e-7)


def max_of_a_list(x):
    return np.max([x[0], x[1], x[2]])


def test_a_reduction_of_a_list_of_values_is_the_reduction_of_its_array(jit, rng):
    """(found by an attack: an internal AttributeError called it a bug in srcad; then refused by
    name; a list where NumPy reads an array is now the array NumPy makes of it)"""
    x, t = rng.normal(size=3), rng.normal(size=3)
    value, tangent = srcad.jvp(max_of_a_list, (x,), (t,), jit=jit)
    assert value == max_of_a_list(x)
    assert tangent == pytest.approx(check.along(max_of_a_list, [x], [t]), rel=1e-6)
    np.testing.assert_array_equal(srcad.hessian(max_of_a_list, jit=jit)(x), np.zeros((3, 3)))


@pytest.mark.parametrize("fn,shape,match", [
    (write_through_a_second_name, (3,), "shares its memory"),
    (einsum_view_written, (2, 2), "shares its memory"),
    (calls_custom, (), "custom_vjp"),
    (recursive_power_of_one, (), "recursive call"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_what_the_source_transform_refuses_runs_on_the_tape(fn, shape, match, rng):
    """mode="auto" falls back to the tape, which differentiates its vjp once more (and
    mode="tape" asks for that)."""
    x = rng.uniform(0.5, 0.9, shape) if shape else float(rng.uniform(0.5, 0.9))
    t = rng.normal(size=shape) if shape else float(rng.normal())
    with pytest.warns(srcad.FallbackWarning, match=match):
        value, tangent = srcad.jvp(fn, (x,), (t,))
    np.testing.assert_allclose(value, fn(np.copy(x)), rtol=1e-12)
    np.testing.assert_allclose(tangent, check.along(fn, [np.copy(x)], [t]), rtol=1e-6,
                               atol=1e-8)
    again = srcad.jvp(fn, (x,), (t,), mode="tape")
    np.testing.assert_allclose(again[1], tangent, rtol=1e-12)
    assert srcad.source(srcad.jvp, fn, (x,), (t,)).startswith(
        f"# the jvp of {fn.__qualname__} runs on the runtime tape")


def _recursive_cube(x, n):
    return x if n == 0 else x * _recursive_cube(x, n - 1)


def test_fallback_warnings_name_the_user_s_line(rng):
    """Found by an attack: through jacobian, hessian or a nested grad the FallbackWarning was
    attributed to a line inside srcad; it names the caller's line, whichever entry point."""
    x = rng.uniform(0.5, 1.5, 3)
    calls = [lambda f: srcad.jacobian(f, mode="rev")(x, 2),
             lambda f: srcad.hessian(lambda x: np.sum(f(x, 2)))(x),
             lambda f: srcad.grad(srcad.grad(lambda a: f(a, 2)))(0.7),
             lambda f: srcad.jvp(f, (x, 2), (x, None))]
    for call in calls:
        def fresh(x, n):  # (each derivative object warns once)
            return _recursive_cube(x, n)
        with pytest.warns(srcad.FallbackWarning) as record:
            call(fresh)
        assert {w.filename for w in record} == {__file__}, [w.filename for w in record]


# a stack of n matrices of n x n: the rules' partials, written for one matrix, broadcast by
# accident and gave wrong numbers in forward mode and on the tape (found by an attack)
STACKED = [lambda R: np.linalg.svd(R, compute_uv=False), lambda R: np.linalg.pinv(R),
           lambda R: np.linalg.slogdet(R)[1], lambda R: np.linalg.eigvalsh(R)]


@pytest.mark.parametrize("mode", ["source", "tape"])
@pytest.mark.parametrize("fn", STACKED, ids=["svd", "pinv", "slogdet", "eigvalsh"])
def test_a_stack_of_matrices_is_refused_by_linear_algebra_rules(fn, mode, rng):
    R = rng.standard_normal((3, 3, 3)) + 2 * np.eye(3)
    error = srcad.UnsupportedError if mode == "source" else TypeError
    with pytest.raises(error, match="at most 2 dimension"):
        srcad.jvp(fn, (R,), (np.ones_like(R),), mode=mode)
    with pytest.raises(error, match="at most 2 dimension"):
        srcad.grad(lambda R: np.sum(fn(R)), mode=mode)(R)
