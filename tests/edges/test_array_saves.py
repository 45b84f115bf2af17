"""Arrays a loop saves per trip go into the rows of a buffer (rt.save_array), not a list: the
rows must give back each trip's array whatever its shape (growing, shrinking, 2-D, not
contiguous, integer or bool), in for and while loops, nested loops, and where the saved
variable is a view of an array written in place (kept in a list: a copy would miss the write
undone). Each gradient is checked against finite differences, compiled and as Python."""

import warnings

import numba
import numpy as np
import pytest

import srcad
from srcad import check


def growing_then_shrinking(x, w):
    s = 0.0
    v = x[:1] * w[0]
    for t in range(2 * x.shape[0]):
        n = t + 1 if t < x.shape[0] else 2 * x.shape[0] - t
        v = np.exp(-x[:n] * w[t % w.shape[0]]) + np.sum(v) * 0.1
        s += np.sum(v * v)
    return s


def transposed_rows(x, y):
    s = 0.0
    for k in range(1, x.shape[0] + 1):
        m = (x[:k, None] * y[None, :k + 1]).T
        e = np.tanh(m)
        s += np.sum(e * m)
    return s


def while_loop_saves(x, limit):
    v = x * 1.0
    s = 0.0
    while np.sum(v) < limit:
        v = np.sqrt(v * v + x) + 0.1
        s += np.sum(np.sin(v))
    return s


def halved_until_small(x):
    y = x.copy()
    while np.max(np.abs(y)) > 0.1:  # (the reverse sweep never reads y: it is not saved)
        y = y * 0.5
    return np.sum(y * x)


def nested_loops(x, w):
    s = 0.0
    h = x * 1.0
    for t in range(3):
        for i in range(w.shape[0]):
            h = np.tanh(h * w[i] + x)
            s += np.sum(h * w[i])
    return s


def masked_trips(x):
    s = 0.0
    v = x * 1.0
    for t in range(4):
        mask = v > 0.1 * t
        v = np.where(mask, v * v, -v) + x
        s += np.sum(np.where(mask, v, 0.5 * v))
    return s


def rows_of_a_state_written_in_place(x, w):
    state = np.outer(w, x)
    s = 0.0
    for t in range(3):
        h = x * 1.0
        for i in range(state.shape[0]):
            state[i] = np.tanh(state[i] * w[i] + h)
            h = state[i]
            s += np.sum(h * h)
    return s


def saved_in_one_branch(x, w):
    s = 0.0
    v = x * 1.0
    for t in range(5):
        if w[t] > 0:
            v = np.exp(-v * w[t])
        s += np.sum(v * x)
    return s


CASES = [
    (growing_then_shrinking, lambda rng: (rng.uniform(0.2, 1.0, 4), rng.uniform(0.2, 1.0, 3)),
     (0, 1)),
    (transposed_rows, lambda rng: (rng.standard_normal(4), rng.standard_normal(5)), (0, 1)),
    (while_loop_saves, lambda rng: (rng.uniform(0.5, 1.0, 3), 40.0), (0,)),
    (halved_until_small, lambda rng: (rng.uniform(0.5, 3.0, 4),), (0,)),
    (nested_loops, lambda rng: (rng.standard_normal(3), rng.uniform(0.2, 0.9, 4)), (0, 1)),
    (masked_trips, lambda rng: (rng.uniform(-1.0, 1.0, 6),), (0,)),
    (rows_of_a_state_written_in_place, lambda rng: (rng.standard_normal(3),
                                                    rng.uniform(0.2, 0.9, 4)), (0, 1)),
    (saved_in_one_branch, lambda rng: (rng.uniform(0.2, 1.0, 4),
                                       np.array([0.5, -1.0, 0.3, 0.7, -0.2])), (0,)),
]


@pytest.mark.parametrize(("fn", "make", "wrt"), CASES, ids=[c[0].__name__ for c in CASES])
def test_arrays_saved_per_trip(fn, make, wrt, jit, rng):
    args = make(rng)
    g = srcad.grad(fn, wrt=wrt, mode="source", jit=jit)
    check.compare(fn, args, list(wrt), list(g(*args)))


def test_fresh_arrays_are_saved_in_rows_and_views_of_written_arrays_in_lists(rng):
    x, w = rng.standard_normal(3), rng.uniform(0.2, 0.9, 4)
    text = srcad.source(srcad.grad(nested_loops, wrt=(0, 1)), x, w)
    assert "rt.save_array(_h_saves" in text and ".append(" not in text, text
    text = srcad.source(srcad.grad(rows_of_a_state_written_in_place, wrt=(0, 1)), x, w)
    assert "_h_saves.append(h)" in text, text  # (h is a row of state, which is written)


def test_a_row_buffer_keeps_each_shape():
    from srcad import runtime as rt
    buffer, shapes = np.empty((3, 0)), np.empty((3, 2), np.int64)
    arrays = [np.arange(6.0).reshape(2, 3), np.ones((1, 1)), np.arange(12.0).reshape(3, 4).T]
    for k, a in enumerate(arrays):
        buffer = rt.save_array(buffer, shapes, k, a)
    for k, a in enumerate(arrays):
        np.testing.assert_array_equal(rt.saved_array(buffer, shapes, k, 2), a)


def test_a_save_into_a_row_that_holds_the_array_keeps_the_buffer():
    from srcad import runtime as rt
    compiled = numba.njit(lambda buffer, shapes, k, value: rt.saved_in_row(buffer, shapes, k,
                                                                             value))
    for saved_in_row in (rt.saved_in_row, compiled):
        buffer, shapes = np.zeros((2, 6)), np.zeros((2, 2), np.int64)
        assert saved_in_row(buffer, shapes, 1, np.arange(6.0).reshape(3, 2).T)
        np.testing.assert_array_equal(rt.saved_array(buffer, shapes, 1, 2),
                                      np.arange(6.0).reshape(3, 2).T)
        assert not saved_in_row(buffer, shapes, 0, np.ones((2, 4)))  # (wider than a row)
        np.testing.assert_array_equal(buffer[0], 0.0)
    assert not rt.saved_in_row(buffer, shapes, 0, np.ones(2, complex))  # (save_array converts)


def float64_state_in_a_float32_call(x):
    acc = np.zeros(x.shape[0])  # (float64, as NumPy allocates it)
    for _ in range(4):
        acc = np.tanh(acc * 0.5 + x)
    return np.sum(acc * acc)


def test_float32_and_float64_arrays_saved_in_a_float32_call(jit, rng):
    """A float32 call saves its float32 arrays in float32 rows; a float64 array it saves is not
    rounded to them (compiled, the generated Python runs instead)."""
    x32 = rng.uniform(-0.5, 0.5, 5).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        g = srcad.grad(float64_state_in_a_float32_call, mode="source", jit=jit)(x32)
        h = srcad.grad(nested_loops, wrt=0, mode="source", jit=jit)(x32, np.float32([0.5, 0.7]))
    check.compare(float64_state_in_a_float32_call, [x32.astype(np.float64)], [0], [g],
                  rtol=1e-6, atol=1e-8)
    assert h.dtype == np.float32
    check.compare(nested_loops, [x32.astype(np.float64), np.array([0.5, 0.7])], [0], [h],
                  rtol=1e-4, atol=1e-5)


def iterates_the_array_it_rebinds(x, w):
    v = x * 1.0
    s = 0.0
    for i, e in enumerate(v):  # (Python iterates over the array the loop started with)
        v = v * w[i]
        s += e * w[i]
    for a, b in zip(v, w):
        v = np.sin(v) * b
        s += a * b
    return s + np.sum(v)


def test_a_loop_over_an_array_its_body_rebinds(jit, rng):
    """Found by a helper's attack: the loop read the rebound array (value 17 for 6)."""
    x, w = rng.uniform(0.2, 1.0, 3), rng.uniform(0.5, 1.5, 3)
    g = srcad.grad(iterates_the_array_it_rebinds, wrt=(0, 1), mode="source", jit=jit)
    value_and_grads = srcad.value_and_grad(iterates_the_array_it_rebinds, wrt=(0, 1),
                                           mode="source", jit=jit)(x, w)
    assert np.isclose(value_and_grads[0], iterates_the_array_it_rebinds(x, w), rtol=1e-12)
    check.compare(iterates_the_array_it_rebinds, (x, w), [0, 1], list(g(x, w)))


def nonzero_in_a_loop(x, w):
    s = 0.0
    for i in range(w.shape[0]):
        nz = np.nonzero(x > w[i])[0]
        s += np.sum(x[nz] ** 2)
    return s


def nonzero_in_a_recurrence(x, w):  # (s carried from trip to trip: the trips are saved)
    s = 0.0
    for i in range(w.shape[0]):
        nz = np.nonzero(x > w[i])[0]
        s = 0.5 * s + np.sum(x[nz] ** 2)
    return s


def flatnonzero_in_a_loop(x, w):
    s = 0.0
    for i in range(w.shape[0]):
        nz = np.flatnonzero(x > w[i])
        s += np.sum(x[nz] ** 2)
    return s


def test_a_tuple_rebound_in_a_loop_is_refused_by_name(rng):
    """Found by a helper's attack: np.nonzero's tuple saved per trip was 'KeyError: tuple; a
    bug in srcad'. Refused naming the line and what works; np.flatnonzero is differentiated,
    and so is a loop whose trips are reversed as they run (nothing saved per trip)."""
    x, w = rng.uniform(0.0, 1.0, 6), np.array([0.3, 0.6])
    with pytest.raises(srcad.UnsupportedError, match=r"test_array_saves.py:\d+: \w+ \(a tuple\) is "
                                                     r"rebound .*np.flatnonzero"):
        srcad.grad(nonzero_in_a_recurrence, mode="source", jit=False)(x, w)
    for fn in (flatnonzero_in_a_loop, nonzero_in_a_loop):
        g = srcad.grad(fn, mode="source", jit=False)(x, w)
        check.compare(fn, (x, w), [0], [g])


def integer_array_becoming_float(w, n):
    idx = np.arange(n)
    s = 0.0
    for i in range(w.shape[0]):
        idx = idx * w[i]  # (int64 before the first trip, float64 after: Numba cannot type it)
        s += np.sum(idx * idx)
    return s


def test_a_crash_inside_numbas_compiler_runs_the_generated_python(rng):
    """Found by a helper's attack: Numba's typing of this gradient crashed (AttributeError
    inside numba) and the error reached the user; it falls back like any Numba error."""
    w = rng.uniform(0.5, 1.5, 3)
    # (the warning names the variable and its two types: the first line of Numba's message
    # named only the stage that failed; found by a helper's attack)
    with pytest.warns(srcad.FallbackWarning, match=r"numba could not compile .* 'idx' is "
                      r"array\(int64, 1d, C\) at one point and array\(float64, 1d, C\)"):
        g = srcad.grad(integer_array_becoming_float, wrt=0)(w, 4)
    check.compare(integer_array_becoming_float, (w, 4), [0], [g])
