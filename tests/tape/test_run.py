"""run.value_and_grad / run.vjp on plain NumPy functions: math.* on tensors, arrays filled in
loops, while loops, recursion, helpers, in-place NumPy code, and the errors that replace a
silently dropped gradient."""

import functools
import inspect
import math
import re
from math import exp

import numpy as np
import pytest

from srcad.tape import value_and_grad, vjp

from .numeric import check, numerical_grad

SEEDS = [0, 1, 2]


def tutorial(x1, x2, c):
    return (math.sin(x2) + c) / (x2 + math.exp(x1)) + x1 * x2


def power(x, n):
    return 1.0 if n == 0 else x * power(x, n - 1)


def horner(coefficients, x, k=0):
    if k == len(coefficients) - 1:
        return coefficients[k]
    return coefficients[k] + x * horner(coefficients, x, k + 1)


def fill_then_sum(x):
    n = len(x)
    y = np.zeros(n)
    for i in range(n):
        y[i] = math.sin(x[i]) * x[i]
    return np.sum(y)


def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


def logistic(v):
    return exp(v) / (1.0 + exp(v))


def sum_of_logistics(x, scale):
    s = 0.0
    for i in range(len(x)):
        s = s + logistic(scale * x[i])
    return s


def softmax_in_place(x):
    e = np.exp(x)
    e /= e.sum()
    return np.sum(e * x)


def pairwise_matrix(x):
    n = len(x)
    a = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            a[i][j] = math.cos(x[i] - x[j]) * x[j]
    b = a.copy()
    b *= 2.0
    return np.sum(b @ x)


def euler_with_aliases(x, steps):
    position, velocity = x[0], x[1]
    dt = 0.1
    for _ in range(steps):
        previous = velocity
        velocity += dt * -math.sin(position)
        position += dt * previous
    return position * velocity


def converted_with_float(x):
    total = float(0)
    for v in x:
        total += float(v) ** 2
    assert isinstance(total, float) and np.zeros(2, dtype=float).dtype == np.float64
    return total


def converted_with_float64(x):
    head = np.float64(x[0])  # a tensor of its own, as float(t)
    rest = np.float64(x[1:])  # of an array: the array, as in NumPy
    assert isinstance(head, np.float64) and not isinstance(rest, np.float64)
    assert np.zeros(2, dtype=np.float64).dtype == np.float64 and x.dtype == np.float64
    return head * np.sum(rest ** 2) + np.float64(2) * head


def converted_with_float32(x):
    head = np.float32(x[0])  # (a DroppedGradientError before; found by an attack)
    assert isinstance(head, np.float32) and not isinstance(head, np.float64)
    return float(head * np.float32(2.0)) * x[1] + np.sum(np.float32(x) ** 2)


def updated_from_itself(x):
    y = x * 1.0
    y *= y  # (torch's "modified by an inplace operation" before; NumPy reads, then writes)
    y[1:] *= y[:-1]
    z = x * 2.0
    z[1:] += z[:-1] * z[1:]
    return np.sum(y * y) + np.sum(z ** 2)


def trajectory(x0, steps):
    states = np.zeros((steps + 1, 2))
    states[0] = x0
    for k in range(steps):
        states[k + 1] = states[k] + 0.05 * np.array([states[k][1], -(states[k][0] ** 3)])
    return np.sum(states[-1] ** 2)


@pytest.mark.parametrize("math_functions", ["math", "numpy"])
def test_tutorial_gradient(math_functions):
    if math_functions == "math":
        f = tutorial
    else:

        def f(x1, x2, c):
            return (np.sin(x2) + c) / (x2 + np.exp(x1)) + x1 * x2

    value, grads = value_and_grad(f, (1.5, 0.5, 1.0), (0, 1, 2))
    assert [round(g, 4) for g in grads] == [0.2328, 1.6165, 0.2007]
    assert value == pytest.approx(tutorial(1.5, 0.5, 1.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_recursion(seed):
    rng = np.random.default_rng(seed)
    check(power, (rng.uniform(0.5, 1.5), 6), (0,))
    check(horner, (rng.normal(size=5), rng.uniform(-1, 1)), (0, 1))


@pytest.mark.parametrize("seed", SEEDS)
def test_array_filled_in_a_loop(seed):
    check(fill_then_sum, (np.random.default_rng(seed).normal(size=7),), (0,))


@pytest.mark.parametrize("seed", SEEDS)
def test_while_loop_with_data_dependent_stop(seed):
    a = np.random.default_rng(seed).uniform(0.5, 5.0)
    value, (grad,) = value_and_grad(newton_sqrt, (a,), (0,))
    assert value == pytest.approx(math.sqrt(a)) and grad == pytest.approx(0.5 / math.sqrt(a))
    check(newton_sqrt, (a,), (0,), rtol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_helper_function_using_math_exp(seed):
    rng = np.random.default_rng(seed)
    check(sum_of_logistics, (rng.normal(size=5), rng.uniform(0.5, 2.0)), (0, 1))


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_style_in_place_code(seed):
    rng = np.random.default_rng(seed)
    check(softmax_in_place, (rng.normal(size=4),), (0,))
    check(pairwise_matrix, (rng.normal(size=3),), (0,))
    check(euler_with_aliases, (rng.normal(size=2), 5), (0,))
    check(trajectory, (rng.normal(size=2), 4), (0,))


def test_float_keeps_the_gradient_and_stays_a_float_type():
    check(converted_with_float, (np.array([1.0, -2.0, 0.5]),), (0,))


@pytest.mark.parametrize("seed", SEEDS)
def test_np_float64_keeps_the_gradient_and_stays_a_numpy_type(seed):
    check(converted_with_float64, (np.random.default_rng(seed).normal(size=3),), (0,))


@pytest.mark.parametrize("seed", SEEDS)
def test_an_array_updated_in_place_from_itself(seed):
    check(updated_from_itself, (np.random.default_rng(seed).normal(size=4),), (0,))


def test_np_float32_keeps_the_gradient_and_computes_in_float32():
    x = np.array([1.5, -2.0, 0.25])  # (exact in float32: the analytic gradient is exact)
    value, (g,) = value_and_grad(converted_with_float32, (x,), (0,))
    assert value == converted_with_float32(x)
    np.testing.assert_array_equal(g, [2.0 * x[1] + 2.0 * x[0], 2.0 * x[0] + 2.0 * x[1],
                                      2.0 * x[2]])


def test_closures_and_lambdas():
    offset = np.array([0.5, 1.0])

    def inner(v):
        return math.tanh(v)

    def f(x, k):
        squares = functools.reduce(lambda total, t: total + t * t, x, 0.0)
        return sum(inner(x[i] * k) + offset[i] for i in range(2)) + squares

    check(f, (np.array([0.3, -0.4]), 1.5), (0, 1))


def _softplus_scaled(v, k=1.0):
    return math.log1p(math.exp(v * k))


_softplus_twice = functools.partial(_softplus_scaled, k=2.0)


def test_helpers_behind_numba_njit_and_functools_partial_run_on_the_tape():
    numba = pytest.importorskip("numba")
    jitted = numba.njit(_softplus_scaled)

    def f(a, b):
        return jitted(a) * _softplus_twice(b) + math.sin(a)

    check(f, (0.3, -0.7), (0, 1))
    check(numba.njit(tutorial), (1.5, 0.5, 1.0), (0, 1))  # the function itself is jitted
    assert jitted(0.3) == _softplus_scaled(0.3)  # still compiled code outside the tape


def test_gradient_types_and_untouched_arguments():
    x, weights, n, flag = np.array([1.0, 2.0]), np.array([3.0, 4.0]), 2, True

    def f(x, w, n, flag, scale):
        x[0] = 10.0 * x[0]  # writes into the arguments: the caller's arrays must not change
        w *= 2.0
        assert isinstance(n, int) and flag is True
        return np.sum(x * w) * scale if flag else 0.0

    value, (gx, gscale) = value_and_grad(f, (x, weights, n, flag, 2.0), (0, 4))
    assert x.tolist() == [1.0, 2.0] and weights.tolist() == [3.0, 4.0]
    assert isinstance(gscale, float) and isinstance(gx, np.ndarray) and gx.shape == (2,)
    np.testing.assert_allclose(gx, [120.0, 16.0])
    assert value == 2.0 * (10 * 6.0 + 16.0) and gscale == 10 * 6.0 + 16.0
    _, (g_int,) = value_and_grad(power, (2, 3), (0,))
    assert g_int == 12.0
    _, (g_unused,) = value_and_grad(lambda a, b: b * 2.0, (np.ones(3), 1.0), (0,))
    assert g_unused.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(TypeError, match="numbers and numeric arrays"):
        value_and_grad(lambda b: 1.0, (True,), (0,))


def test_vjp_of_a_non_scalar_function():
    x = np.array([0.3, 0.7, 1.1])

    def f(x):
        y = np.zeros(3)
        for i in range(3):
            y[i] = math.exp(x[i]) * x[(i + 1) % 3]
        return y

    value, pullback = vjp(f, (x,), (0,))
    np.testing.assert_allclose(value, f(x))
    cotangent = np.array([1.0, -2.0, 0.5])
    expected = numerical_grad(f, (x,), 0, cotangent)
    for _ in range(2):  # repeated pullbacks do not accumulate
        np.testing.assert_allclose(pullback(cotangent)[0], expected, rtol=1e-6)
    scalar_value, scalar_pullback = vjp(tutorial, (1.5, 0.5, 1.0), (1,))
    assert isinstance(scalar_value, float) and round(scalar_pullback(1.0)[0], 4) == 1.6165
    with pytest.raises(ValueError, match="cotangent has shape"):
        pullback(np.ones(2))
    with pytest.raises(TypeError, match="use vjp"):
        value_and_grad(f, (x,), (0,))


SCRATCH = np.zeros(3)


def into_module_array(x):
    SCRATCH[0] = x[0] * 2
    return SCRATCH[0]


def into_a_copy_of_a_module_array(x):  # (a copy by ndarray's method is NumPy's: found by an attack)
    y = SCRATCH.copy()
    y[1:] = y[1:] + x * 2.0
    return y[1]


def through_remainder(x):
    return math.remainder(x[0], 1.0)


def through_unknown_numpy_function(x):
    return np.unwrap(x)[-1]


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (into_module_array, "drop its gradient"),
        (through_remainder, r"no derivative for math\.remainder"),
        (through_unknown_numpy_function, r"no derivative for numpy\.unwrap"),
    ],
)
def test_what_would_drop_a_gradient_raises(f, message):
    with pytest.raises((RuntimeError, TypeError)) as raised:
        value_and_grad(f, (np.array([1.5, 2.0]),), (0,))
    # the tape's message itself, not NumPy's "setting an array element with a sequence"
    text = str(raised.value)
    assert re.search(message, text)
    _, line = inspect.getsourcelines(f)
    assert f"{__file__}:{line + 1}: {inspect.getsource(f).splitlines()[1].strip()}" in text


def test_a_store_into_a_copy_of_a_module_array_says_to_write_np_copy():
    with pytest.raises(RuntimeError, match=r"G\.copy\(\) of a global.*write np\.copy\(G\)"):
        value_and_grad(into_a_copy_of_a_module_array, (np.array([1.5, 2.0]),), (0,))


def test_non_differentiable_math_functions_work_on_tracked_values():
    def f(x):
        return x * math.floor(x) + (1.0 if math.isfinite(x) else 0.0)

    check(f, (2.5,), (0,))


def with_varargs(x, *weights):
    return x**2 * len(weights) + x * weights[0]


def with_keyword_only(x, *, scale=2.0):
    return scale * x**2


def with_positional_only(x, /, scale=2.0):
    return scale * x**3


def with_var_keywords(x, shift=0.0, **options):
    return (x + shift) ** 2 * options.get("scale", 1.0)


@pytest.mark.parametrize(
    ("f", "args", "kwargs"),
    [
        (with_varargs, (0.7, 3.0, 1.0), {}),
        (with_keyword_only, (0.7,), {"scale": 3.0}),
        (with_keyword_only, (0.7,), {}),
        (with_positional_only, (0.7, 1.5), {}),
        (with_var_keywords, (0.7,), {"scale": 4.0}),
    ],
)
def test_every_kind_of_parameter_is_bound_as_python_binds_it(f, args, kwargs):
    # srcad.api passes one value per parameter, as Signature.bind gives them
    bound = inspect.signature(f).bind(*args, **kwargs)
    bound.apply_defaults()
    value, (grad,) = value_and_grad(f, tuple(bound.arguments.values()), (0,))
    assert value == f(*args, **kwargs)
    expected = numerical_grad(lambda x: f(x, *args[1:], **kwargs), (args[0],), 0)
    assert grad == pytest.approx(expected, rel=1e-6)


def test_a_list_of_differentiated_numbers_in_arithmetic_keeps_its_gradient(rng):
    """[x0, x1] * y is NumPy's array of the list: the tape stacks the list's tensors (their
    gradients were silently zero)."""
    def weighted(x, y):
        return np.sum(x * y) + np.sum(y - x) * 2.0
    x, y = [float(v) for v in rng.uniform(-1, 1, 2)], rng.uniform(-1, 1, 2)
    for args in ((x, y), (tuple(x), y)):
        value, (grad,) = value_and_grad(weighted, args, (0,))
        expected = y - 2.0
        np.testing.assert_allclose(grad, expected, rtol=1e-12)
        assert type(grad) is type(args[0]) and value == pytest.approx(weighted(*args))


def reductions_of_lists(x):
    ys = [x[:2] * k for k in range(1, 4)]
    return np.sum(np.mean(ys, axis=0) ** 2) + np.max([x[0], x[1] * 2.0]) + \
        np.std((x[2], x[0])) + np.sum(np.cumsum([x[0], x[1]])) + np.sum(np.concatenate(ys))


def products_of_lists(x):
    ys = [x[:2] * k for k in range(1, 4)]
    return np.sum(np.dot(x, ys)) + np.sum(np.matmul(ys, x[1:] ** 2)) + \
        np.inner(ys[0], [x[2], 1.0]) + np.sum(np.outer([x[0], x[1]], ys[2]))


@pytest.mark.parametrize("f", [reductions_of_lists, products_of_lists])
def test_numpy_reductions_and_products_take_lists_of_tensors(f):
    """np.mean(ys) of a list of tensors converted them to an array, dropping the gradient
    (found by an attack: the tape then failed where the source transform refuses the list);
    np.dot(w, ys) likewise."""
    check(f, (np.array([0.3, 1.2, -0.7]),), (0,))


def reductions_of_a_0d_array_along_axis_0(x):
    y = x * 2.0
    return np.max(y, axis=0) + np.nanmax(x, axis=0) + np.min(x, axis=0, keepdims=True) + \
        np.sum(x, axis=-1) + np.prod(y, axis=0) ** 2


def test_reductions_of_a_0d_array_along_its_axis_0():
    """(NumPy takes axis 0 or -1 for a 0-d array; the tape's adjoints failed with NumPy's
    broadcast error)"""
    check(reductions_of_a_0d_array_along_axis_0, (np.array(0.7),), (0,))


CACHE = {}
HISTORY = [0.0]
LAST = None
GIVEN = None


def fills_globals(x):
    global LAST
    CACHE["h"] = np.tanh(x)
    HISTORY[0] = np.sum(x)
    LAST = x[0] * 3.0
    return np.sum(x * x) + np.sum(GIVEN * x)


MEMO = {}


def remembered_power(x, n):
    MEMO[n] = 1.0 if n == 0 else x * remembered_power(x, n - 1)
    return MEMO[n]


def cubed_through_a_memo(x):
    return remembered_power(x, 3)  # (the memo is the helper's global only)


def test_a_helpers_memo_is_plain_after_a_run(rng):
    # (found by an attack: the helper's global memo kept tensors; the second call raised
    # "Trying to backward through the graph a second time")
    x = rng.uniform(0.5, 1.5)
    for _ in range(2):
        _, (grad,) = value_and_grad(cubed_through_a_memo, (x,), (0,))
        assert grad == pytest.approx(3 * x * x, rel=1e-12)
        assert type(MEMO[3]) is np.float64


def test_values_left_in_globals_are_plain_as_a_call_leaves_them(rng):
    """Found by an attack: a run on the tape left tensors in the module's globals and in the
    dicts and lists they hold (a cache the function fills), where calling it leaves arrays and
    numbers; a tensor the caller put there stays."""
    global GIVEN
    import srcad
    from srcad.tape.tensor import Tensor
    GIVEN = srcad.tensor([1.0, 2.0, 3.0])
    given = GIVEN
    x = rng.uniform(0.5, 1.5, 3)
    _, (grad,) = value_and_grad(fills_globals, (x,), (0,))
    assert grad == pytest.approx(2 * x + np.array([1.0, 2.0, 3.0]), rel=1e-12)
    assert type(CACHE["h"]) is np.ndarray and CACHE["h"] == pytest.approx(np.tanh(x))
    assert type(HISTORY[0]) is np.float64 and HISTORY[0] == pytest.approx(np.sum(x))
    assert type(LAST) is np.float64 and LAST == pytest.approx(3.0 * x[0])
    assert GIVEN is given and isinstance(GIVEN, Tensor)
