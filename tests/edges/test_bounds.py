"""Out-of-range indices raise IndexError in every mode, as Python does, never read or write
out of bounds; valid indices (negative ones included) never raise, also where a check was
hoisted out of a loop."""

import numpy as np
import pytest

import srcad
from srcad import check


def shifted_sum(x, k):
    s = 0.0
    for i in range(len(x)):
        s += x[i + k] * 2.0
    return s


def one_past_the_end(x):
    s = 0.0
    for i in range(len(x) + 1):
        s += x[i] * x[i]
    return s


def diagonal_product(A):
    return A[0, 0] * A[1, 1]


def store_past_the_end(x, n):
    y = np.zeros(3)
    for i in range(n):
        y[i] = x[0] * i
    return np.sum(y)


def gather(x, idx):
    return np.sum(x[idx] * x[idx])


def masked(x, mask):
    return np.sum(x[mask] ** 2)


def divide_index(x, d):
    return x[len(x) // d] * 2.0


def triangle(A):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(i + 2):
            s += A[i, j] * A[j, i]
    return s


def lower_triangle(A):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(i + 1):
            s += A[i, j] * A[j, i]
    return s


def backwards(x, k):
    s = 0.0
    for i in range(len(x) - 1, -1, -1):
        s += x[i - k] ** 2
    return s


def counter_index(x, n):
    s = 0.0
    idx = 0
    for i in range(n):
        s += x[idx] * x[idx]
        idx += 2
    return s


def while_index(x, n):
    s = 0.0
    i = 0
    while i < n:
        s += x[i] * 3.0
        i += 1
    return s


CASES = [  # (function, arguments)
    (shifted_sum, (np.ones(3), 1000)),
    (shifted_sum, (np.ones(3), 10 ** 5)),
    (shifted_sum, (np.ones(3), -4)),
    (one_past_the_end, (np.ones(3),)),
    (diagonal_product, (np.ones((1, 1)),)),
    (diagonal_product, (np.ones((2, 1)),)),
    (store_past_the_end, (np.ones(2), 4)),
    (gather, (np.ones(3), np.array([0, 7]))),
    (gather, (np.ones(3), np.array([-4]))),
    (triangle, (np.ones((3, 3)),)),
    (backwards, (np.ones(3), -1)),
    (counter_index, (np.ones(5), 4)),
    (while_index, (np.ones(3), 4)),
]


@pytest.mark.parametrize("fn, args", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_out_of_range_raises_index_error(fn, args, jit):
    with pytest.raises(IndexError):
        fn(*args)  # Python raises
    with pytest.raises(IndexError, match="out of bounds"):
        srcad.grad(fn, jit=jit, mode="source")(*args)


def test_the_message_names_the_index_the_axis_the_size_and_the_place(jit):
    # (compiled code passes the numbers to the exception, which formats them in Python)
    with pytest.raises(IndexError, match=r"^index 3 is out of bounds for axis 0 with size 3 "
                                         r"\(x\[i\] at test_bounds.py:\d+\)$"):
        srcad.grad(one_past_the_end, jit=jit, mode="source")(np.ones(3))


def test_a_mask_of_the_wrong_shape_raises(jit):
    with pytest.raises(IndexError, match="did not match the indexed array along axis 0"):
        srcad.grad(masked, jit=jit)(np.ones(3), np.array([True, False]))


def test_an_integer_division_by_zero_raises(jit):
    with pytest.raises(ZeroDivisionError, match=r"division or modulo by zero \(.*test_bounds"):
        srcad.grad(divide_index, jit=jit)(np.ones(3), 0)


def quotients_of_elements(x, a):
    q = a[0] // a[1]
    return x * q + x * (a[0] % a[1]) + x * (a[2] // a[1]) + x * x * a[2]


def test_a_numpy_integer_divided_by_zero_is_zero_as_numpy_s(jit, rng):
    """(found by an attack: a // b of an array's elements raised ZeroDivisionError; NumPy's
    integers give 0, with a RuntimeWarning)"""
    x, a = float(rng.uniform(0.5, 2.0)), np.array([7, 0, -3])
    with np.errstate(divide="ignore"):
        expected = quotients_of_elements(x, a)
        value, grad = srcad.value_and_grad(quotients_of_elements, jit=jit)(x, a)
    assert value == expected == -3.0 * x * x and grad == pytest.approx(-6.0 * x, rel=1e-14)


VALID = [
    (shifted_sum, (np.arange(1.0, 6.0), -2)),  # negative indices wrap, as in Python
    (shifted_sum, (np.arange(1.0, 6.0), -5)),
    (backwards, (np.arange(1.0, 5.0), 1)),  # x[-1] at i = 0
    (lower_triangle, (np.arange(1.0, 17.0).reshape(4, 4),)),
    (counter_index, (np.arange(1.0, 8.0), 4)),
    (while_index, (np.arange(1.0, 5.0), 4)),
    (gather, (np.arange(1.0, 4.0), np.array([0, 2, -1, 2]))),
    (divide_index, (np.arange(1.0, 5.0), 2)),
    (store_past_the_end, (np.arange(1.0, 4.0), 3)),
]


@pytest.mark.parametrize("fn, args", VALID, ids=lambda c: getattr(c, "__name__", ""))
def test_valid_indices_never_raise_and_gradients_are_right(fn, args, jit):
    srcad.gradcheck(fn, args, jit=jit)


def guarded(x, n):
    s = 0.0
    for i in range(n):
        if i < len(x):
            s += x[i] * x[i]
    return s


def stops_early(x, n):
    s = 0.0
    for i in range(n):
        if i >= len(x):
            break
        s += x[i] ** 2
    return s


def inner_bound_from_data(x, m):
    s = 0.0
    for i in range(len(x)):
        for j in range(m[i]):
            s += x[j] * x[i]
    return s


@pytest.mark.parametrize("fn, args", [
    (guarded, (np.arange(1.0, 4.0), 10)),
    (stops_early, (np.arange(1.0, 4.0), 10)),
    (inner_bound_from_data, (np.arange(1.0, 4.0), np.array([3, 0, 2]))),
])
def test_accesses_a_trip_does_not_reach_are_not_checked(fn, args, jit):
    fn(*args)  # Python runs it
    srcad.gradcheck(fn, args, jit=jit)


def test_checks_leave_loops_whose_range_is_known():
    def rosenbrock(x):
        s = 0.0
        for i in range(len(x) - 1):
            s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return s
    text = srcad.source(srcad.grad(rosenbrock), np.ones(4))
    loop = text.index("for i in range")
    assert text.count("rt.check_index") == 4 and text.rindex("rt.check_index") < loop


def into_a_slice(x, y):
    z = x * 1.0
    z[1:] = y * 2.0
    z[:2] += y[:2] * z[1:3]
    return np.sum(z * z)


def test_a_slice_assigned_another_shape_raises_numpys_error(jit, rng):
    x, y = rng.normal(size=5), rng.normal(size=3)
    with pytest.raises(ValueError, match=r"could not broadcast input array from shape \(3,\) "
                                         r"into shape \(4,\)"):
        into_a_slice(x, y)
    with pytest.raises(ValueError, match=r"could not broadcast input array from shape \(3,\) "
                                         r"into shape \(4,\)"):
        srcad.grad(into_a_slice, jit=jit)(x, y)
    y = rng.normal(size=4)
    g = srcad.grad(into_a_slice, jit=jit)(x, y)
    np.testing.assert_allclose(g, check.numeric_grad(into_a_slice, (x, y), 0), rtol=1e-6)


# A counter stepped once per trip (`idx += c` at the loop's top level) indexes affinely in
# the trip: its checks leave the loop, made at the first and last trip's values.

def packed_triangle(icf, x):
    s = 0.0
    idx = len(x)
    for c in range(len(x)):
        for r in range(c + 1, len(x)):
            s += icf[idx] * x[c] * x[r]
            idx += 1
    return s


def counting_down(x, n):
    s = 0.0
    idx = len(x) - 1
    for i in range(n):
        s += x[idx] ** 2
        idx -= 1
    return s


def stepped_then_read(x, n):
    s = 0.0
    idx = -1
    for i in range(n):
        idx = idx + 3
        s += x[idx] * x[idx - 1]
    return s


def read_before_and_after_the_step(x, n):
    s = 0.0
    idx = 0
    for i in range(n - 1, -1, -1):
        s += x[idx] * x[i]
        idx = 2 + idx
        s += x[idx - 1] ** 2
    return s


def stepped_only_sometimes(x, n):
    s = 0.0
    idx = 0
    for i in range(n):
        s += x[idx] * x[i]
        if x[i] > 0.0:
            idx += 1
    return s


def reset_in_the_loop(x, n):
    s = 0.0
    idx = 0
    for i in range(n):
        s += x[idx] * x[i]
        idx += 1
        if idx == 2:
            idx = 0
    return s


COUNTERS = [  # (function, arguments): some valid, some out of range at the last trip only
    (packed_triangle, (np.arange(1.0, 11.0), np.arange(1.0, 5.0))),  # 4 + 6 = 10: valid
    (packed_triangle, (np.arange(1.0, 10.0), np.arange(1.0, 5.0))),  # icf[9]: one too far
    (counting_down, (np.arange(1.0, 4.0), 6)),  # down to x[-3]: valid
    (counting_down, (np.arange(1.0, 4.0), 7)),  # x[-4]
    (stepped_then_read, (np.arange(1.0, 8.0), 2)),  # x[5], x[4]
    (stepped_then_read, (np.arange(1.0, 6.0), 2)),  # x[5]
    (read_before_and_after_the_step, (np.arange(1.0, 8.0), 3)),  # x[6] last
    (read_before_and_after_the_step, (np.arange(1.0, 6.0), 3)),  # x[5] after the last step
    (stepped_only_sometimes, (np.array([1.0, -1.0, 2.0]), 3)),
    (reset_in_the_loop, (np.arange(1.0, 4.0), 3)),
]


@pytest.mark.parametrize("fn, args", COUNTERS, ids=lambda c: getattr(c, "__name__", ""))
def test_indices_from_a_counter_are_checked_as_python_does(fn, args, jit):
    try:
        fn(*args)
    except IndexError:
        with pytest.raises(IndexError, match=r"out of bounds for axis 0 with size \d+ \(x|icf"):
            srcad.grad(fn, jit=jit, mode="source")(*args)
    else:
        srcad.gradcheck(fn, args, jit=jit)


def test_a_counters_checks_leave_its_loop():
    text = srcad.source(srcad.grad(packed_triangle), np.ones(10), np.ones(4))
    inner = text.index("for r in range")
    assert "rt.check_index(idx + " in text[:inner] and "check_index" not in \
        text[inner:text.index("# reverse sweep")]
