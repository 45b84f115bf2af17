"""Walk every entry of srcad.rules.REGISTRY and check its derivative numerically.

The cases (tests/rule_cases.py, shared with the tape's walker) call each primitive on scalars,
vectors and broadcast shapes; the result is contracted with random weights so every entry of
the adjoint is exercised. Each case runs as generated Python; the last case of each rule (a call
with its options) also compiled with Numba, the simple forms being compiled throughout the suite.
The source transform must match finite differences or, for the few call forms listed in
SOURCE_REFUSES, raise UnsupportedError: never a wrong number. A rule without a
passing case fails the walk, so an untested rule cannot exist.
"""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import scipy.linalg

import srcad
from srcad import check, rules
from tests.rule_cases import make_args, rule_cases, short_name, write_module
from tests.tuple_programs import FUNCTIONS as TUPLE_FUNCTIONS

# call forms the tape differentiates and the source transform refuses with a clear error
SOURCE_REFUSES = {
    ("np.hstack((x, y))", "{'x': (), 'y': (2,)}"),  # a scalar among the arrays
}


def refused(expr, shapes):
    return expr in SOURCE_REFUSES or (expr, str(shapes)) in SOURCE_REFUSES

ALL = []  # (key, expression, shapes, jit)
_CASES = rule_cases()
for _k, (_key, _expr, _shapes) in enumerate(_CASES):
    ALL.append((_key, _expr, _shapes, False))
    _last = _k + 1 == len(_CASES) or _CASES[_k + 1][0] != _key
    if _expr is not None and _last and not refused(_expr, _shapes):
        ALL.append((_key, _expr, _shapes, True))  # (the last case: a call with its options)


@pytest.mark.parametrize("key,expr,shapes,jit", ALL,
                         ids=[f"{short_name(k)}:{e}:{s}:{'jit' if j else 'python'}"
                              for k, e, s, j in ALL])
def test_rule_matches_finite_differences(key, expr, shapes, jit, tmp_path):
    if expr is None:
        pytest.fail(f"no test case for the rule of {key!r}: add one to tests/rule_cases.py")
    args = make_args(key, expr, shapes, seed=7)
    fn = write_module(tmp_path, expr, shapes)
    wrt = tuple(range(len(shapes)))
    if refused(expr, shapes):
        with pytest.raises(srcad.UnsupportedError):
            srcad.grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # numba must compile it
        grads = srcad.grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


def test_every_rule_is_walked():
    walked = {k for k, e, s, _ in ALL if e is not None and not refused(e, s)}
    missing = [k for k, r in rules.REGISTRY.items() if not r.nondiff and k not in walked]
    assert not missing, f"rules without a numeric test: {missing}"
    assert len(walked) > 80


def test_every_template_reads_only_its_parameters():
    rules.check_templates()
    saved = rules.REGISTRY[np.sin]
    rules.REGISTRY[np.sin] = dataclasses.replace(saved, partials={"x": "g * np.cos(y)"})
    try:
        with pytest.raises(ValueError, match=r"np.cos\(y\)' uses \['y'\]"):
            rules.check_templates()
    finally:
        rules.REGISTRY[np.sin] = saved


def test_tuple_argument_rules(jit, rng):
    x, a = rng.uniform(0.3, 1.0, 4), 0.7
    for fn in TUPLE_FUNCTIONS:
        grads = srcad.grad(fn, wrt=(0, 1), mode="source", jit=jit)(x, a)
        check.compare(fn, (x, a), [0, 1], grads)


def _nan_reductions(x):
    return np.nansum(x * x) + np.sum(np.nanmean(np.sin(x), axis=1) ** 2) + \
        np.sum(np.nansum(x, 0, keepdims=True) * np.arange(4.0)) + np.nanmean(x[1, 1])


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", False)])
def test_nan_reductions_skip_the_missing_entries(mode, jit, rng):
    x = rng.normal(size=(3, 4))
    x[0, 0] = x[1, 2] = np.nan
    present = ~np.isnan(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(_nan_reductions, mode=mode, jit=jit)(x)
        t = np.where(present, rng.normal(size=x.shape), 0.0)
        _, tangent = srcad.jvp(_nan_reductions, (x,), (t,), mode=mode, jit=jit)
    expected = check.numeric_grad(lambda v: _nan_reductions(np.where(present, v, np.nan)),
                                  (np.where(present, x, 0.0),), 0)
    assert value == _nan_reductions(x)
    np.testing.assert_allclose(g[present], expected[present], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(tangent, np.sum(expected * t), rtol=1e-6)


def _singular_vectors(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(s) + np.sum(u[0] * vh[0])


def _singular_values_beside_unused_vectors(a):
    u, s, vh = np.linalg.svd(a)
    return np.sum(s * s) + u.shape[0] * s[0]


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_svd_refuses_a_derivative_through_its_singular_vectors(mode, rng):
    a = rng.normal(size=(4, 3))
    with pytest.raises((srcad.UnsupportedError, TypeError), match="singular vectors"):
        srcad.grad(_singular_vectors, mode=mode)(a)
    g = srcad.grad(_singular_values_beside_unused_vectors, mode=mode)(a)
    np.testing.assert_allclose(g, check.numeric_grad(_singular_values_beside_unused_vectors,
                                                     (a,), 0), rtol=1e-6, atol=1e-8)


def _hypot_plus_x(x):
    return math.hypot(x, 0.0) + np.hypot(x, 0.0) + x


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", False)])
def test_hypot_at_the_origin_has_the_zero_subgradient(mode, jit):
    """As abs and the norms have there (it was 0 / 0: NaN), and x / hypot elsewhere."""
    assert srcad.grad(_hypot_plus_x, mode=mode, jit=jit)(0.0) == 1.0
    assert srcad.jvp(_hypot_plus_x, (0.0,), (2.0,), mode=mode, jit=jit)[1] == 2.0
    assert srcad.grad(_hypot_plus_x, mode=mode, jit=jit)(-3.0) == -1.0


def _hypot_of_three_and_dist(x):
    return math.hypot(x, 2.0 * x + 1.0, 0.5) + math.hypot(x) + math.hypot() + \
        math.dist((x, 1.0), (0.0, x * x))


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", False)])
def test_hypot_of_any_number_of_coordinates_and_dist(mode, jit, rng):
    for x in rng.uniform(-2.0, 2.0, 3):
        value, tangent = srcad.jvp(_hypot_of_three_and_dist, (x,), (1.0,), mode=mode, jit=jit)
        assert np.isclose(value, _hypot_of_three_and_dist(x), rtol=1e-15)
        assert np.isclose(tangent, check.numeric_grad(_hypot_of_three_and_dist, (x,), 0),
                          rtol=1e-7)
    for scale in (1e-170, 1e200):  # (where a sum of squares under- or overflows)
        v = np.array([3.0, 4.0, 1.0]) * scale
        value, g = srcad.value_and_grad(_hypot_of_vector, mode=mode, jit=jit)(v)
        assert np.isclose(value, _hypot_of_vector(v), rtol=1e-15, atol=0.0)
        np.testing.assert_allclose(g, v / value, rtol=1e-14)


def _hypot_of_vector(v):
    return math.hypot(v[0], v[1], v[2])


def _written_sequences(x):
    return np.sum(np.convolve(x, [1.0, 2.0, 1.0]) ** 2) + \
        np.sum(np.interp(x, (-1.0, 0.0, 1.0), [1.0, 3.0, 2.0]) ** 2) + \
        np.sum(scipy.linalg.cho_solve((np.linalg.cholesky(np.diag(x ** 2 + 1.0)), True),
                                      [1.0, 2.0, 3.0]))


@pytest.mark.parametrize("mode,jit", [("source", True), ("source", False), ("tape", False)])
def test_a_list_or_tuple_written_for_an_array_parameter_is_that_array(mode, jit, rng):
    """np.convolve's v, np.interp's xp and fp, cho_solve's b (an internal AttributeError in
    every mode for a tuple xp; found by an attack)."""
    x = rng.uniform(-0.9, 0.9, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(_written_sequences, mode=mode, jit=jit)(x)
    assert np.isclose(value, _written_sequences(x), rtol=1e-14)
    np.testing.assert_allclose(g, check.numeric_grad(_written_sequences, (x,), 0), rtol=1e-6,
                               atol=1e-8)


def _picks(x):
    return np.sum(np.take(x, [0, 2, 2], axis=1) ** 2) + np.sum(x.take((1, -1)) ** 3) + \
        x.item(1) * x[0, 0] + x.item(2, 3) ** 2 + x.item((1, 1)) * x.item(-1) + x[0].item(0) + \
        x.take(5) * 2.0 + np.take(x, 2, axis=0)[1] ** 2


@pytest.mark.parametrize("jit", [True, False])
def test_take_with_written_indices_and_item_of_an_index(jit, rng):
    """np.take(x, [0, 2, 2], axis=1), x.take(...), x.take(5), x.item(k), x.item(i, j): refused
    or untyped before (found by attacks)."""
    x = rng.normal(size=(3, 4))
    value, g = srcad.value_and_grad(_picks, mode="source", jit=jit)(x)
    assert np.isclose(value, _picks(x), rtol=1e-14)
    np.testing.assert_allclose(g, check.numeric_grad(_picks, (x,), 0), rtol=1e-6, atol=1e-8)
    t = rng.normal(size=x.shape)
    _, tangent = srcad.jvp(_picks, (x,), (t,), mode="source", jit=jit)
    np.testing.assert_allclose(tangent, np.sum(g * t), rtol=1e-10)


def _matrices_written_as_lists(x):
    return np.linalg.slogdet([[x[0], 1.0], [0.3, x[1]]])[1] + \
        np.sum(np.linalg.eigh([[x[0], 0.3], [0.3, x[1]]])[0] ** 2) + \
        np.einsum('ij,j->', [[x[0], 1.0], [0.3, x[1]]], [1.0, 2.0]) + \
        np.sum(np.linalg.svd([[x[0], 1.0], [0.3, x[1]]], compute_uv=False))


@pytest.mark.parametrize("jit", [True, False])
def test_a_matrix_written_as_a_list_of_differentiated_values(jit, rng):
    """slogdet, eigh, einsum and svd of [[x[0], ...], ...]: the gradient was silently 0 (the
    nested list's entries were not followed; found by an attack)."""
    x = rng.uniform(0.5, 1.5, 2)
    g = srcad.grad(_matrices_written_as_lists, mode="source", jit=jit)(x)
    expected = check.numeric_grad(_matrices_written_as_lists, (x,), 0)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
    _, tangent = srcad.jvp(_matrices_written_as_lists, (x,), (np.ones(2),), mode="source",
                           jit=jit)
    assert np.isclose(tangent, np.sum(expected), rtol=1e-6)


def _nan_sums(x):
    return np.nansum(x) + np.nanmean(x)


def test_float32_nan_reductions_add_as_numpy_does():
    """Compiled, Numba's np.nansum adds float32 elements in turn (26149.6 for NumPy's 26214.4
    here; found by an attack): srcad's sums add them in blocks."""
    x = np.full(2 ** 18, 0.1, np.float32)
    value, g = srcad.value_and_grad(_nan_sums, mode="source")(x)
    assert np.isclose(value, _nan_sums(x), rtol=1e-6)
    np.testing.assert_allclose(g, 1.0 + 1.0 / x.size, rtol=1e-6)


def _weighted_power(a, n):
    return np.sum(np.linalg.matrix_power(a, n) * np.array([[1.0, 2.0], [-1.0, 0.5]]))


@pytest.mark.parametrize("jit", [True, False])
def test_matrix_power_of_a_large_exponent_by_its_squarings(jit):
    """The adjoint follows NumPy's squarings (log2 n matrices): it kept all n powers before, a
    MemoryError for a 100 x 100 matrix to the 1e5 (found by an attack). Against the analytic
    derivative at a diagonal matrix: (d_i^n - d_j^n) / (d_i - d_j) off the diagonal."""
    d, n = np.array([0.99991, 1.00004]), 100_003
    w = np.array([[1.0, 2.0], [-1.0, 0.5]])
    expected = w * (d[:, None] ** n - d[None, :] ** n) / np.where(
        np.eye(2) == 1, 1.0, d[:, None] - d[None, :])
    expected[np.diag_indices(2)] = np.diag(w) * n * d ** (n - 1)
    g = srcad.grad(_weighted_power, jit=jit)(np.diag(d), n)
    np.testing.assert_allclose(g, expected, rtol=1e-9)
    _, tangent = srcad.jvp(_weighted_power, (np.diag(d), n), (np.ones((2, 2)), None), jit=jit)
    assert np.isclose(tangent, np.sum(expected), rtol=1e-9)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_math_hypot_of_float32_values_computes_in_float64(mode):
    """As math does (the value was rounded to float32; found by an attack)."""
    v = np.array([1.0, -2.0, 3.0], np.float32)
    value, g = srcad.value_and_grad(_hypot_of_vector, mode=mode)(v)
    assert value == _hypot_of_vector(v)
    np.testing.assert_allclose(g, v / value, rtol=1e-6)


def _convolve_a_number(x):
    return np.sum(np.convolve(x, 2.0))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_convolve_of_a_number_is_refused_by_name(mode):
    """(an internal IndexError in its adjoint; found by an attack)"""
    with pytest.raises(ValueError, match="np.convolve of a number"):
        srcad.grad(_convolve_a_number, mode=mode, jit=False)(np.ones(3))


def _power_of_a_vector(x):
    return np.sum(np.linalg.matrix_power(x, 2))


def test_an_argument_after_the_array_is_an_axis_only_where_the_rule_says():
    """matrix_power(x, 2) of a vector was 'axis 2 is out of bounds' (its n read as an axis)."""
    with pytest.raises(srcad.UnsupportedError) as info:
        srcad.grad(_power_of_a_vector, mode="source")(np.ones(3))
    assert "axis" not in str(info.value)
