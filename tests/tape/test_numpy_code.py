"""User code on the tape computes what NumPy and Python compute: the keyword arguments of NumPy's
functions, integer results, numbers read out of arrays, floor division, empty reductions,
comparisons used as numbers, float32. Each function is checked against its own plain NumPy
value and central differences (tests/tape/numeric.check); what cannot be differentiated raises
an error that names it."""

import math
import re
import warnings

import numpy as np
import pytest

from srcad.tape import tensor, value_and_grad

from .numeric import check

X = np.array([0.3, 0.7, 0.45, 0.9, 0.55, 0.2])


# ---- keyword arguments of NumPy's functions ----


def sum_with_initial(x):
    return np.sum(x**2, initial=5.0) * np.sum(x)


def sum_and_prod_where(x):
    return np.sum(x**2, where=x > 0.5) + np.prod(x + 1.0, where=x < 0.6, axis=0)


def mean_where(x):
    return np.mean(x**2, where=x > 0.5) + x.mean(where=[True, False, True, True, False, True])


def max_where_and_initial(x):
    return np.max(x, where=x < 0.8, initial=0.1) + np.min(x.reshape(2, 3), axis=(0, 1))


def with_dtypes(x):
    ints = np.sum(x * 10.0, dtype=np.int64)  # NumPy casts each element first
    return np.sum(x.astype(np.int64) * x) + ints * x[0] + np.sum(x, dtype=np.float64)


def with_out(x):
    y = np.zeros(6)
    np.multiply(x, x, out=y)
    total = np.zeros(())
    np.sum(y * x, out=total)
    np.add(y, 1.0, out=y, where=x > 0.5)
    np.cumsum(x, out=y)
    return total + np.sum(y * y)


def joins(x):
    a, b = x[:2], x[2:].reshape(2, 2)
    out = np.zeros(4)
    np.dot(b, a, out=out[:2])
    flat = np.concatenate([a, b], axis=None)
    return np.sum(out * x[:4]) + np.sum(flat * x) + np.sum(np.stack([a, a * a], dtype=np.float64))


def spreads(x):
    A = x.reshape(2, 3)
    spread = np.std(A, axis=(0, 1), dtype=np.float64, keepdims=True)
    return np.var(A, axis=1, ddof=1)[0] + spread[0, 0]


def orders(x):
    A = x.reshape(2, 3)
    return np.sum(A.ravel(order="F") * x) + np.sum(np.reshape(x, (3, 2), order="F")[0] * x[:2])


def flatten_copies(x):
    A = x.reshape(2, 3) * 1.0
    flat = A.flatten()
    flat[0] = 100.0  # a copy: A does not change
    f_order = A.flatten("F")
    return np.sum(A * A) + np.sum(flat * f_order)


def differences_with_ends(x):  # (the tape refused prepend= and append=: found by an attack)
    A = x.reshape(2, 3)
    return np.sum(np.diff(x, append=0.0) ** 2) + np.sum(np.diff(x, n=2, prepend=x[0] * 2,
                                                                  append=[1.0, 2.0]) ** 3) + \
        np.sum(np.diff(A, axis=0, append=1.5) ** 2) + np.sum(np.diff(A, prepend=A[:, :1] * 3))


def quotients_and_remainders(x):  # (np.divmod had no tape derivative: found by an attack)
    q, r = np.divmod(x * 3.1, 0.37)
    return np.sum(r * r + q * x)


@pytest.mark.parametrize(
    "f",
    [
        differences_with_ends,
        quotients_and_remainders,
        sum_with_initial,
        sum_and_prod_where,
        mean_where,
        max_where_and_initial,
        with_dtypes,
        with_out,
        joins,
        spreads,
        orders,
        flatten_copies,
    ],
)
def test_keyword_arguments_are_honoured(f):
    check(f, (X + 0.013,), (0,))  # off the steps of the integer casts


def test_integer_results_carry_no_gradient():
    _, (grad,) = value_and_grad(lambda x: np.sum(x.astype(np.int64) * 1.0), (X * 3,), (0,))
    assert grad.tolist() == [0.0] * 6


OUTSIDE = np.zeros(())  # made outside the differentiated functions: a NumPy array there


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (lambda x: np.add(x, 1.0, casting="unsafe"), r"numpy\.add with casting="),
        (lambda x: np.var(x, mean=0.0), r"np\.var with mean="),
        (lambda x: np.exp(x, where=x > 0.5), r"where= and no out="),
        (lambda x: np.max(x, where=x > 0.5), "to use a where mask one has to specify 'initial'"),
        (lambda x: np.sum(x, out=OUTSIDE), "out= names a NumPy array"),
        (lambda x: np.reshape(x, 6, copy=False), r"np\.reshape with copy="),
    ],
)
def test_unsupported_keyword_arguments_name_themselves(f, message):
    with pytest.raises((TypeError, ValueError)) as raised:
        value_and_grad(f, (X,), (0,))
    assert re.search(message, str(raised.value).splitlines()[-1])  # not the quoted source line


def test_out_array_made_outside_is_still_written_when_nothing_is_tracked():
    out = np.zeros(6)

    def f(x):
        np.multiply(np.arange(6.0), 2.0, out=out)
        return np.sum(x * out)

    check(f, (X,), (0,))
    assert out.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def stores_through_repeated_indices(x):
    idx = np.array([1, 1, 2, 4, 4, 4])
    y = np.zeros(6)
    y[idx] = x  # NumPy keeps the last write to an index
    y[idx] += 1.0  # buffered: 1 is added once per distinct index
    y[idx] -= x * x
    y[idx[::-1]] *= x
    return np.sum(y * y * np.arange(1.0, 7.0))


def test_stores_through_repeated_indices_keep_numpy_s_last_write():
    check(stores_through_repeated_indices, (X,), (0,))


def writes_with_numpy_functions(x):
    y = np.zeros(4)
    z = y * x[:4]  # saves y, which the writes below must not change under it
    np.add.at(y, [0, 2, 0], x[:3])  # unbuffered: index 0 gets both
    np.subtract.at(y, np.array([1, 1]), x[4])
    np.copyto(y, y * x[:4], where=x[:4] > 0.5)
    A = np.ones((3, 3))
    np.fill_diagonal(A, x[5])
    rounded = np.zeros(4)
    np.round(x[:4] * 10.0, out=rounded)  # no gradient
    return np.sum(y * y) + np.sum(z) + np.sum(A * x[:3]) + np.sum(rounded * x[:4])


def test_numpy_functions_that_write_into_their_argument():
    check(writes_with_numpy_functions, (X + 0.013,), (0,))
    for f, name in [
        (lambda x: np.put(np.zeros(6), [0], x[0]), "numpy.put"),
        (lambda x: np.multiply.at(np.ones(6), [0], x[0]), r"numpy\.multiply\.at"),
    ]:
        with pytest.raises(TypeError) as raised:
            value_and_grad(f, (X,), (0,))
        assert re.search(name + " writes into a tensor", str(raised.value).splitlines()[-1])


def fills_in_place(x):
    y = np.zeros(3)
    y.fill(x[0])
    return np.sum(y**2) + x[1]


def test_fill():
    check(fills_in_place, (X,), (0,))


# ---- numbers read out of arrays ----


def through_item(x):
    return x[1].item() ** 2 + x[0] + x.reshape(2, 3).item(1, 2) * x.item(4)


def through_tolist(x):
    rows = x.reshape(2, 3).tolist()
    return sum(rows[0]) ** 2 + sum(v * v for v in rows[1])


def test_item_and_tolist_keep_the_gradient():
    check(through_item, (X,), (0,))
    check(through_tolist, (X,), (0,))


def test_item_outside_user_code_is_a_number_as_in_torch():
    x = tensor([1.5], requires_grad=True)
    assert type(x.item()) is float and x.tolist() == [1.5]


def rounds(x):
    return round(x[0], 1) * x[1] + round(x[2]) + x[3]


def test_round_has_no_gradient():
    check(rounds, (X * 4,), (0,))
    assert round(tensor([1.26, 2.5]), 1).tolist() == [1.3, 2.5]


# ---- floor division, remainder, empty reductions ----


def floor_division(x, c):
    q, r = divmod(x[0], 0.25)
    y = x * 1.0
    y //= 0.2
    return np.sum(x // c + x % c) + c // x[1] + q * r + np.sum(y * x)


def test_floor_division_has_no_gradient_and_remainder_has_one():
    check(floor_division, (X * 3 + 0.013, 0.4), (0, 1))  # off the steps of //


def mean_of_an_empty_slice(x):
    return np.mean(x[:0]) + np.mean(x[:0].reshape(0, 2), axis=0)[1] + x[0]


def test_mean_of_an_empty_slice_is_nan_with_numpy_s_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, (grad,) = value_and_grad(mean_of_an_empty_slice, (X,), (0,))
    assert math.isnan(value) and grad.tolist() == [1.0, 0, 0, 0, 0, 0]
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)


# ---- comparisons used as numbers ----


def counts_conditions(x):
    return ((x > 0.5) + (x > 0.1) + (~(x > 0.6) + 3) - (x > 0.2) - (-(x > 0.4))) * x


def counts_conditions_on_array_elements(x):
    both = (x[0] > 0.1) + (x[1] > 0.1)  # NumPy bools: logical or
    return both * x[0] + np.sum(((x > 0.5) + (x > 0.1)) * x)


def test_comparisons_follow_python_for_numbers_and_numpy_for_arrays():
    check(counts_conditions, (0.7,), (0,))
    assert value_and_grad(counts_conditions, (0.7,), (0,))[1] == (3.0,)
    check(counts_conditions_on_array_elements, (X,), (0,))


# ---- float32 ----


def test_float32_gives_float32_gradients():
    _, (grad,) = value_and_grad(lambda x: np.sum(x**400.0 + x), (X.astype(np.float32),), (0,))
    assert grad.dtype == np.float32 and grad.tolist() == [1.0] * 6  # x**399 underflows
    _, (grad,) = value_and_grad(lambda x: math.sqrt(x), (np.float32(0.5),), (0,))
    assert type(grad) is np.float32 and grad == pytest.approx(0.5 / math.sqrt(0.5), rel=1e-6)
    _, (grad,) = value_and_grad(lambda x: math.sqrt(x), (0.5,), (0,))
    assert type(grad) is float


# ---- ndarray attributes and methods in NumPy's meaning (probe round 2, F18) ----


def real_and_imag(x):
    return np.sum(x.real * x) + np.sum(x.imag * x) + np.sum(np.imag(x)) + np.sum(x.conjugate())


def sorts_in_place(x):
    y = x * np.sin(x)
    y.sort()
    rows = (x[:6] * 1.0).reshape(2, 3)
    rows.sort(axis=0)
    return np.sum(y * np.arange(1.0, 7.0)) + np.sum(rows * np.arange(6.0).reshape(2, 3))


def numpy_s_view(x):
    y = x * 1.0
    v = y.view()
    v[0] = v[0] * x[1]  # a view of the same memory
    return np.sum(y.view(np.ndarray) * x)


def repeats_each_element(x):
    """(found by an attack: x.repeat(2) tiled the array as torch's repeat does)"""
    rows = x.reshape(2, 3)
    return np.sum((x * x).repeat(2) * np.arange(12.0)) + \
        np.sum(rows.repeat(2, axis=0) * np.arange(12.0).reshape(4, 3)) + \
        np.sum(rows.repeat(3, 1) * np.arange(18.0).reshape(2, 9))


def indices_of_np_where(x):
    """np.where(condition) alone is np.nonzero's indices (it raised a TypeError)"""
    (kept,) = np.where(x > 0.4)
    rows, cols = np.where(x.reshape(2, 3) < 0.6)
    return np.sum(x[kept] ** 3) + np.sum(x.reshape(2, 3)[rows, cols] * x[cols])


def inner_products_and_steps(x):
    """np.inner and np.heaviside (x2's derivative where x1 is 0) were unknown to the tape"""
    a = x.reshape(2, 3)
    return np.inner(x[:3], x[3:]) + np.sum(np.inner(a, x[:3]) ** 2) + \
        np.sum(np.inner(x[3:], a) * 2.0) + np.sum(np.inner(a, a) ** 2) + \
        np.sum(np.heaviside(x - 0.5, x[0]) * x) + np.sum(np.heaviside(np.array([0.0, 1.0]), x[:2]))


def weighted_averages(x):
    """np.average was unknown to the tape (found by an attack: mode="auto" ended in a TypeError
    for weights along an axis, which the source transform refuses)"""
    rows = x.reshape(2, 3) + 1.0
    mean, count = np.average(rows, axis=0, returned=True)
    along, total = np.average(rows, axis=1, weights=x[:3] + 1.0, returned=True)
    return np.sum(np.average(rows, axis=-1, weights=x[3:] + 2.0) ** 2) + \
        np.average(x * x, weights=x + 2.0) + np.average(rows) + np.sum(mean * count) + \
        np.sum(along * total)


def gathers_ranges_and_polynomials(x):
    """np.ptp, np.polyval (of a list holding a tracked value), np.take_along_axis, np.take,
    .take, .cumprod and math.cbrt were unknown to the tape (a clear error, now NumPy's)"""
    rows = x.reshape(2, 3)
    return np.sum(np.ptp(rows, axis=1) ** 2) + np.ptp(x) + \
        np.sum(np.polyval(x[:3], x[3:]) ** 2) + np.polyval([1.0, 2.0, x[0]], 0.5) + \
        np.sum(np.take_along_axis(rows, np.array([[2, 0], [1, 1]]), axis=1) ** 2) + \
        np.sum(np.take(x, [0, 5, 5]) * x[:3]) + np.sum(rows.take([2, 0], axis=1) ** 3) + \
        np.sum(rows.cumprod(axis=1)) + math.cbrt(x[0] + 2.0)


@pytest.mark.parametrize("f", [real_and_imag, sorts_in_place, numpy_s_view, repeats_each_element,
                               indices_of_np_where, inner_products_and_steps, weighted_averages,
                               gathers_ranges_and_polynomials])
def test_ndarray_attributes_in_numpy_s_meaning(f):
    check(f, (X,), (0,))


def test_the_imaginary_part_of_a_real_array_is_read_only_zeros():
    def f(x):
        i = x.imag
        i[0] = 1.0
        return np.sum(x)

    with pytest.raises(ValueError, match="read-only"):
        value_and_grad(f, (X,), (0,))


@pytest.mark.parametrize(
    "body, message",
    [
        (lambda x: x.view(np.int64), r"ndarray.view\(<class 'numpy.int64'>\) is not supported"),
        (lambda x: x.flat[0], r"ndarray.flat is not supported"),
        (lambda x: x.put([0], 1.0), r"ndarray.put is not supported"),
    ],
    ids=["view(int64)", "flat", "put"],
)
def test_unsupported_ndarray_attributes_name_themselves_and_the_line(body, message):
    def f(x):
        return np.sum(body(x * 1.0))

    with pytest.raises((TypeError, AttributeError), match=message) as info:
        value_and_grad(f, (X,), (0,))
    assert "test_numpy_code.py:" in str(info.value)


# ---- writes through a reshape or ravel of an argument laid out in memory otherwise ----


def writes_through_its_ravel(X):
    flat = X.ravel()
    flat[0] = flat[0] * 5.0
    return np.sum(X * X)


def writes_through_its_reshape(X):
    rows = np.reshape(X, (2, -1))
    rows[0, 0] = rows[0, 0] * 5.0
    return np.sum(X * X)


LAYOUTS = {"reversed": lambda m: m[::-1, ::-1], "every other row": lambda m: m[::2],
           "reversed columns": lambda m: m[:, ::-1], "C": lambda m: m, "transposed": lambda m: m.T}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("f", [writes_through_its_ravel, writes_through_its_reshape])
def test_a_ravel_or_reshape_of_an_argument_is_a_view_where_numpy_s_is(f, layout):
    # (the function gets its argument laid out as given: NumPy's ravel of a reversed or
    # sliced array is a copy, and a write to it does not reach the argument)
    lay = LAYOUTS[layout]

    def at(values):  # f of an argument laid out as X, holding `values`
        argument = lay(np.arange(1.0, 13.0).reshape(4, 3))
        argument[...] = values
        return f(argument)
    X = lay(np.arange(1.0, 13.0).reshape(4, 3) / 7.0)
    value, (grad,) = value_and_grad(f, (X,), (0,))
    assert value == at(X)
    expected = np.zeros(X.shape)
    for k in np.ndindex(X.shape):
        step = np.zeros(X.shape)
        step[k] = 1e-6
        expected[k] = (at(X + step) - at(X - step)) / 2e-6
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


FRESH_PROCESS = """
import numpy as np, srcad
x = srcad.tensor([0.3, 0.9, 0.45], requires_grad=True)
np.cumprod(x).sum().backward()
print(list(x.grad.numpy()))
y = srcad.tensor([0.3, 0.9, 0.45], requires_grad=True)
(np.sort(y) * np.array([1.0, 2.0, 3.0])).sum().backward()
print(list(y.grad.numpy()))
"""


def test_functions_only_the_rules_differentiate_work_first_in_a_process():
    """(found by an attack: np.cumprod, np.sort, np.median, ... of a tensor raised 'no
    derivative' in a script until some tape gradient had run, which installs their handlers)"""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=root), check=True).stdout.split("\n")
    a, b, c = 0.3, 0.9, 0.45
    np.testing.assert_allclose(eval(out[0]), [1 + b + b * c, a + a * c, a * b], rtol=1e-12)
    np.testing.assert_allclose(eval(out[1]), [1.0, 3.0, 2.0])  # (sorted: 0.3, 0.45, 0.9)


def solve_with_a_factor_of_x(x):
    import scipy.linalg

    a = x[:4].reshape(2, 2)
    factor = np.linalg.cholesky(a @ a.T + np.eye(2))
    return np.sum(scipy.linalg.cho_solve((factor, True), x[4:]) ** 2)


def test_cho_solve_differentiates_its_factor():
    """Found by an attack: scipy.linalg.cho_solve((c, lower), b) refused a tracked factor c
    (the tape took (c, lower) for a constant); it is the source transform's cholesky_solve."""
    check(solve_with_a_factor_of_x, (X,), (0,))


def vector_norm(x):
    return np.linalg.norm(x)


def test_a_vector_s_norm_is_numpy_s_to_the_bit():
    """Found by an attack: the tape took sqrt(sum(x * x)), NumPy a dot product: values 1 ulp
    apart from the function's own."""
    rng = np.random.default_rng(8)
    for _ in range(50):
        x = rng.normal(size=7)
        value, _ = value_and_grad(vector_norm, (x,), (0,))
        assert value == np.linalg.norm(x)
    check(vector_norm, (X,), (0,))
