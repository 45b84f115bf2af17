"""Lists the function builds ([], [a, b], comprehensions, append) are lowered to an array of
their items and a count (compiler/lists.py): gradients, jvps and hvps against finite
differences, compiled and as Python; what a list's array cannot model (an item written in
place after it was appended, a list passed to a function of the user's, items of different
shapes) is refused, or raises, naming the list and the line."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def rows_made_into_a_matrix(x, W):
    rows = []
    for i in range(W.shape[0]):
        rows.append(np.tanh(W[i] * x))
    A = np.array(rows)
    return np.sum(A ** 2) + np.sum(A[:, 0])


def two_generators_and_a_condition(x, W):
    v = [x[i] * x[j] for i in range(x.shape[0]) for j in range(i) if x[j] > 0.0]
    return np.sum(np.array(v) ** 2) + W[0, 0]


def running_sums(x, W):
    acc = 0.0
    out = []
    for v in x:
        acc += v
        out.append(acc)
    return sum(out) + out[-1] * out[0] + W[0, 0]


def items_from_the_end_and_len(x, W):
    ys = [x[0], x[1] * 2.0, np.sin(x[2])]
    return ys[-1] * ys[-2] + ys[0] ** 2 + len(ys) * W[1, 1]


def enumerate_zip_reversed(x, W):
    a = [np.exp(v) for v in x]
    b = [v * v for v in W[0]]
    t = 0.0
    for k, (p, q) in enumerate(zip(a, b)):
        t += k * p * q
    for p in reversed(a):
        t = t * 0.5 + p
    return t


def items_replaced(x, W):
    ys = [x[0], x[1], x[2]]
    ys[1] = ys[0] * ys[2]
    ys[-1] = np.cos(ys[1]) * W[0, 1]
    return np.sum(np.array(ys) ** 2)


def a_list_of_indices(x, W):
    idx = [i for i in range(x.shape[0]) if i % 2 == 0]
    return np.sum(x[np.array(idx)] ** 2) + np.sum(W[idx] * x)


def integers_then_a_float(x, W):
    ys = [0, 1]
    ys.append(x[0] * 2.5)
    return np.sum(np.array(ys) * x[1]) + W[0, 0]


def _scaled_rows(v):
    out = []
    for k in range(3):
        out.append(v * (k + 1))
    return np.stack(out)


def built_in_a_helper(x, W):
    return np.sum(np.sin(_scaled_rows(x) @ W.T))


def made_again_each_trip(x, W):
    tot = 0.0
    for k in range(3):
        ys = []
        for i in range(x.shape[0]):
            ys.append(x[i] * W[k, i])
        tot += np.prod(np.array(ys))
    return tot


def states_of_a_while_loop(x, W):
    states = [x.copy()]
    while np.linalg.norm(states[-1]) > 0.1 and len(states) < 40:
        states.append(0.8 * states[-1] + 0.05 * np.sin(W @ states[-1]))
    return np.sum(np.array(states)) + len(states)


def reductions_of_a_list(x, W):
    zs = [np.sum(x * W[k]) for k in range(3)]
    return np.mean(zs) + np.max(zs) + np.std(np.array(zs))


def checked_for_items(x, W):
    ys = []
    if x[0] > 0.5:
        ys.append(x[0] * W[0, 0])
    if ys:
        return ys[0] * 3.0
    return x[1]


def comprehensions_in_calls(x, W):
    a = [v * 2.0 for v in x]
    b = np.array([w ** 2 for w in a if w > 0.5])
    inner = np.array([np.sum(np.array([x[i] * W[i, j] for j in range(3)])) for i in range(3)])
    return np.sum(b) + np.sum(inner) + np.sum(np.array([np.sin(v) for v in x]) * x)


def possibly_empty(x, W):
    ys = []
    for v in x:
        if v > 10.0:
            ys.append(v)
    return np.sum(np.array(ys)) + x[0] * W[0, 0]


def in_a_local_function_and_a_lambda(x, W):
    def rows(v):
        ys = [np.sin(v[i]) * W[i] for i in range(3)]
        return np.sum(np.array(ys) * v)
    squares = lambda v: np.sum(np.array([t * t for t in v]))  # noqa: E731
    return rows(x) + rows(x * 2.0) + squares(x) * x[0]


def integers_given_a_float_item(x, W):
    """(found by an attack: the items' dtype came from the literal alone, and the float stored
    into it was truncated to an integer, its derivative zero)"""
    ys = [0, 1, 2]
    ys[0] = x[0] * 3.7
    flags = [True, False]
    flags[1] = x[1] * W[0, 0]
    counts = [i for i in range(3)]
    for i in range(3):
        counts[i] = counts[i] + x[i] * 0.5
    return ys[0] + ys[1] + flags[0] + flags[1] + sum(counts)


def read_by_a_generator_and_stacked_along_an_axis(x, W):
    """(found by an attack: `sum(... for q in hs)` was refused as a slice)"""
    h = np.zeros(3)
    hs = []
    for _ in range(4):
        h = np.tanh(h * 0.5 + x @ W)
        hs.append(h)
    M = np.stack(hs, axis=1)
    return np.mean(hs[-1] * hs[0]) + sum(np.sum(q) for q in hs) + np.sum(M[0] * M[-1]) + \
        np.sum(np.stack(hs, -1) ** 2)


def moving_windows(x, W):
    ys = []
    total = 0.0
    for i in range(x.shape[0]):
        ys.append(x[i] ** 2 * W[i, 0])
        total += np.mean(ys[-2:]) * len(ys[-3:])
    for y in ys[1:]:
        total += y
    return total + sum(ys[::2]) + np.sum(np.array(ys[:-1]))


def repeated_and_sliced(x, W):
    acc = [0.0] * 3
    for i in range(x.shape[0]):
        acc[i % 3] = acc[i % 3] + x[i] ** 2 * W[i, i]
    ys = [x[i] * (i + 1) for i in range(3)]
    zs = ys[1:3]
    ws = ys[:]
    return np.sum(np.array(acc) * x) + zs[0] * zs[1] + ws[0]


def an_item_replaced_while_what_was_put_in_is_read(x, W):
    """(found refused by an attack, helper-141: replacing an item does not write the array put
    in, only the list's copy of it)"""
    y = x * 1.5
    hist = [y, x @ W]
    hist[0] = y * 2.0
    hist[1] = hist[0] * hist[1]
    return np.sum(hist[0] * y) + np.sum(hist[1] ** 2)


CASES = [an_item_replaced_while_what_was_put_in_is_read,
         in_a_local_function_and_a_lambda, repeated_and_sliced, moving_windows, integers_given_a_float_item,
         read_by_a_generator_and_stacked_along_an_axis, rows_made_into_a_matrix, two_generators_and_a_condition, running_sums,
         items_from_the_end_and_len, enumerate_zip_reversed, items_replaced, a_list_of_indices,
         integers_then_a_float, built_in_a_helper, made_again_each_trip, states_of_a_while_loop,
         reductions_of_a_list, checked_for_items, comprehensions_in_calls, possibly_empty]


def _inputs(rng):
    return rng.uniform(0.2, 1.0, 3), rng.uniform(-1.0, 1.0, (3, 3))


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_gradient_of_lists(fn, jit, rng):
    x, W = _inputs(rng)
    value, (gx, gW) = srcad.value_and_grad(fn, wrt=(0, 1), mode="source", jit=jit)(x, W)
    assert value == pytest.approx(fn(x, W), rel=1e-13)
    check.compare(fn, (x, W), [0, 1], [gx, gW])


@pytest.mark.parametrize("fn", CASES[::2], ids=lambda f: f.__name__)
def test_jvp_and_hvp_of_lists(fn, rng):
    x, W = _inputs(rng)
    v = rng.standard_normal(3)
    grad = srcad.grad(fn, jit=False)  # (the reference: test_gradient_of_lists compiles it)
    value, tangent = srcad.jvp(fn, (x, W), (v, np.zeros_like(W)), mode="source")
    assert value == pytest.approx(fn(x, W), rel=1e-13)
    assert tangent == pytest.approx(grad(x, W) @ v, rel=1e-9, abs=1e-12)
    hv = srcad.hvp(fn)(x, W, v)
    fd = (grad(x + 1e-5 * v, W) - grad(x - 1e-5 * v, W)) / 2e-5
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6)


def test_float32_lists_stay_float32(rng):
    x, W = (a.astype(np.float32) for a in _inputs(rng))
    g = srcad.grad(rows_made_into_a_matrix, mode="source")(x, W)
    assert g.dtype == np.float32
    check.compare(rows_made_into_a_matrix, (x.astype(float), W.astype(float)), [0], [g],
                  rtol=1e-4, atol=1e-5)


def test_the_generated_gradient_shows_the_lists_arrays(rng):
    x, W = _inputs(rng)
    text = srcad.source(srcad.grad(rows_made_into_a_matrix), x, W)
    assert "rows_len = 0" in text and "rows = rt.list_grown(rows, rows_len" in text


# ---- what a list's array cannot model ------------------------------------------------------

def written_after_it_was_appended(x):
    state = x.copy()
    hist = []
    for _ in range(3):
        state[0] += x[1]
        hist.append(state)  # (every item is the one array, as in Python)
    return np.sum(np.array(hist) ** 2)


def appended_twice_then_updated(x):
    a = x * 2.0
    ys = [a, a]
    a += 1.0
    return np.sum(np.array(ys) * x)


def an_item_read_then_replaced(x):
    ys = [x * 1.0, x * 2.0]
    first = ys[0]
    ys[0] = x * 3.0
    return np.sum(first) + np.sum(ys[0])


def an_item_written_in_place(x):
    ys = [x * 1.0, x * 2.0]
    ys[0][0] = 5.0
    return np.sum(np.array(ys) * x)


def one_array_repeated_then_written(x):
    rows = [np.zeros(3)] * 2  # (both items are the one array, as in Python)
    rows[0][1] = x[0]
    return np.sum(np.array(rows) * x)


@pytest.mark.parametrize("fn", [written_after_it_was_appended, appended_twice_then_updated,
                                an_item_read_then_replaced, an_item_written_in_place,
                                one_array_repeated_then_written],
                         ids=lambda f: f.__name__)
def test_items_shared_with_other_names_run_on_the_tape(fn, rng):
    """Python's list holds the arrays themselves, the lowered list copies: a write another
    name would see is refused, and the tape (whose lists are Python's) gets the numbers."""
    x = rng.uniform(0.2, 1.0, 3)
    with pytest.raises(srcad.AliasingError, match="changes"):
        srcad.grad(fn, mode="source")(x)
    _check_on_the_tape(fn, x)


def _check_on_the_tape(fn, x):
    """mode="auto" gives finite differences' numbers (from the tape)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        g = srcad.grad(fn)(x)
    check.compare(fn, (x,), [0], [g])


def popped(x):
    ys = [x[0], x[1]]
    v = ys.pop()
    return v * ys[0]


def _first_two(ys):
    return ys[0] + ys[1]


def passed_to_a_helper(x):
    ys = [x[0], x[1]]
    return _first_two(ys)


def made_from_itself(x):
    ys = [x[0], x[1]]
    ys = [y * 2 for y in ys]
    return ys[0] + ys[1]


def read_by_a_lambda(x):
    ys = [x[0], x[1]]
    f = lambda k: ys[k] * 2  # noqa: E731
    return f(0) + f(1)


def appended_while_iterated(x):
    ys = [x[0]]
    for y in ys:
        if len(ys) < 3:
            ys.append(y * 2)
    return ys[-1]


def concatenated(x):
    parts = [x, x * 2]
    return np.sum(np.concatenate(parts) ** 2)


def sliced(x):
    ys = [x[0], x[1]]
    zs = ys[1:] + [x[2]]  # (a list of its own: concatenated, not added)
    return zs[0] * zs[1]


def holding_tuples(x):
    pairs = []
    for i in range(2):
        pair = (x[i], x[i + 1] ** 2)
        pairs.append(pair)
    return pairs[0][0] * pairs[1][1]


def holding_lists(x):
    M = [[x[0], x[1]], [x[2], x[0]]]
    return np.sum(np.array(M) ** 2)


def updated_item(x):
    ys = [x[0], x[1]]
    ys[0] += x[1]
    return ys[0]


@pytest.mark.parametrize(("fn", "message"), [
    (popped, r"the list 'ys' is used where .* \(v = ys.pop\(\)\)"),
    (passed_to_a_helper, r"the list 'ys' is passed to _first_two\(\)"),
    (made_from_itself, "the list 'ys' is made from itself"),
    (read_by_a_lambda, "the list 'ys' is read by a lambda"),
    (appended_while_iterated, "is appended to while a for loop goes through it"),
    (concatenated, r"the list 'parts' is passed to np.concatenate\(\)"),
    (sliced, r"the list 'ys' is sliced where the slice is a list of its own"),
    (updated_item, r"has an item updated in place \(ys\[0\] op= v\)"),
    (holding_tuples, "the list 'pairs' holds tuples"),
    (holding_lists, "the list 'M' holds lists"),
], ids=lambda p: getattr(p, "__name__", ""))
def test_what_is_not_lowered_is_refused_by_name(fn, message, rng):
    x = rng.uniform(0.2, 1.0, 3)
    with pytest.raises(srcad.UnsupportedError, match=message) as raised:
        srcad.grad(fn, mode="source")(x)
    assert "test_lists.py:" in str(raised.value)
    _check_on_the_tape(fn, x)


def past_the_end(x):
    ys = [x[0], x[1]]
    return ys[2]


def ragged(x):
    ys = [x[:1], x[:2], x]
    t = 0.0
    for y in ys:
        t += np.sum(y ** 2)
    return t


def stacked_when_empty(x):
    ys = [v for v in x if v > 10.0]
    return np.sum(np.stack(ys)) + x[0]


def test_errors_of_lists_name_the_line(jit, rng):
    x = rng.uniform(0.2, 1.0, 3)
    with pytest.raises(ValueError, match=r"need at least one array to stack \(np.stack\(ys\) "
                                         r"at test_lists.py:\d+\)"):
        srcad.grad(stacked_when_empty, mode="source", jit=jit)(x)
    with pytest.raises(IndexError, match=r"list index 2 out of range .*ys\[2\] at test_lists"):
        srcad.grad(past_the_end, mode="source", jit=jit)(x)
    with pytest.raises(ValueError, match=r"an item of shape \(2,\) put in a list of items of "
                                         r"shape \(1,\).*mode='tape'"):
        srcad.grad(ragged, mode="source", jit=jit)(x)
    with pytest.warns(srcad.FallbackWarning, match=r"an item of shape \(2,\).*ys = \[\.\.\.\]"):
        g = srcad.grad(ragged, jit=jit)(x)  # (mode="auto": the tape)
    check.compare(ragged, (x,), [0], [g])


def index_lists_beside_slices(x, W):
    r = [0, 2]
    c = [1, 1]
    return np.sum(W[r, :] * x) + np.sum(W[:, r] ** 2) + np.sum(W[r, c]) + \
        sum(p * q for p, q in zip([v * 2.0 for v in x], r))


def test_index_lists_beside_slices_and_zips_in_generators(rng):
    """(found by an attack: refused, naming the generated `A[r[:r_len]]`)"""
    x, W = _inputs(rng)
    g = srcad.grad(index_lists_beside_slices, wrt=(0, 1), mode="source")(x, W)
    check.compare(index_lists_beside_slices, (x, W), [0, 1], list(g))


def _named(x):
    return x


def list_of_strings(x):
    names = ["a", "b"]
    return x * 2.0 + len(names)


def list_of_functions(x):
    fs = [_named]  # noqa: F841 (only made: the list is what is refused)
    return x * 3.0


@pytest.mark.parametrize("fn, what", [(list_of_strings, "strings"),
                                      (list_of_functions, "functions")])
def test_a_list_of_strings_or_functions_is_refused_and_runs_on_the_tape(fn, what, rng):
    """Found by an attack: such a list became a float array, and the generated code raised
    NumPy's ValueError (could not convert string to float) in every mode."""
    with pytest.raises(srcad.UnsupportedError, match=f"the list '\\w+' holds {what}"):
        srcad.grad(fn, mode="source", jit=False)(1.5)
    x = float(rng.uniform(0.5, 1.5))
    with pytest.warns(srcad.FallbackWarning):
        grad = srcad.grad(fn, jit=False)(x)
    assert grad == pytest.approx(check.numeric_grad(fn, (x,), 0), rel=1e-7)
