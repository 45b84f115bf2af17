"""Index arrays written as arithmetic (`x[idx - 1]`, `x[idx % 2]`, `y[idx - 1] = v`) and pairs
of index arrays (`x[rows, cols]`), found by a helper's black-box attack: the arithmetic stayed
in the subscript, where the reverse sweep took it for a number's index and added with `+=`
(repeated indices lost; a store's last write not the only one), and `x[rows, cols]` was typed
with x's rank (forward mode's fused loop failed with an internal IndexError); the columns
`x[:, idx]` of a matrix and stores `y[idx, :] = v` (refused). Gradients, tangents and Hessian-vector
products against finite differences, with repeated indices."""

import numpy as np
import pytest

import srcad
from srcad import check


def shifted(x, idx):
    return np.sum(x[idx - 1] ** 2)


def negated(x, idx):
    return np.sum(x[-idx] ** 3)


def modulo_and_halves(x, idx):
    return np.sum(x[idx % 2] * x[idx // 2])


def rows_of_a_matrix(x, idx):
    m = x.reshape(2, 2)
    return np.sum(m[idx % 2, :] ** 2) + np.sum(m[(idx + 1) % 2] * m[idx // 2, :])


def stored_shifted(x, idx):
    y = x.copy()
    y[idx - 1] = x ** 2  # (NumPy keeps the last write of a repeated index)
    return np.sum(y * np.arange(1.0, 5.0))


def added_at_halves(x, idx):
    y = x * 1.0
    y[idx // 2] += x ** 2  # (a buffered add: NumPy adds once per distinct index)
    return np.sum(y * y)


def rows_stored_and_added(x, idx):
    y = np.zeros((3, 2))
    y[idx - 1, :] = x.reshape(2, 2)[idx % 2] ** 2  # (rows 1, 0, 1, 0: the last writes stay)
    z = np.ones((2, 2))
    z[idx % 2, :] += x.reshape(2, 2)[idx // 2] ** 2  # (buffered: once per distinct row)
    return np.sum(y * np.arange(6.0).reshape(3, 2)) + np.sum(z * z)


def columns_of_a_matrix(x, idx):
    m = x.reshape(2, 2)
    return np.sum(m[:, idx % 2] ** 2 * np.arange(1.0, 5.0)) + np.sum(np.sin(m[:, idx - 1]))


def pairs(x, rows, cols):
    return np.sum(x.reshape(2, 2)[rows, cols] ** 2)


def picked_log_probabilities(x, rows, cols):
    p = np.exp(x.reshape(2, 2))
    return -np.sum(np.log(p[np.arange(2), cols[:2]] / np.sum(p, axis=1)))


INDEXED = [shifted, negated, modulo_and_halves, rows_of_a_matrix, stored_shifted,
           added_at_halves, rows_stored_and_added, columns_of_a_matrix]
PAIRED = [pairs, picked_log_probabilities]


def arguments(fn, rng):
    x = rng.uniform(0.5, 1.5, 4)
    if fn in PAIRED:
        return x, np.array([0, 1, 1, 0]), np.array([1, 1, 0, 1])
    return x, np.array([2, 1, 2, 1])  # (idx - 1 is [1, 0, 1, 0]: repeated)


@pytest.mark.parametrize("fn", INDEXED + PAIRED, ids=lambda f: f.__name__)
def test_gradient_tangent_and_hvp(fn, jit, rng):
    args = arguments(fn, rng)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    check.compare(fn, args, [0], [g], rtol=1e-6, atol=1e-8)
    t = rng.normal(size=4)
    _, tangent = srcad.jvp(fn, args, (t,) + (None,) * (len(args) - 1), mode="source", jit=jit)
    assert tangent == pytest.approx(check.along(fn, list(args), [t] + [None] * (len(args) - 1)),
                                    rel=1e-6, abs=1e-8)
    fd = check.along(srcad.grad(fn, jit=False), list(args), [t] + [None] * (len(args) - 1))
    np.testing.assert_allclose(srcad.hvp(fn, jit=jit)(*args, t), fd, rtol=1e-5, atol=1e-6)


def test_an_index_out_of_range_names_the_users_expression():
    with pytest.raises(IndexError, match=r"x\[idx - 1\] at test_index_expressions.py:\d+"):
        srcad.grad(shifted)(np.ones(4), np.array([1, 9]))


@pytest.mark.parametrize("transform", ["hvp", "hessian"])
def test_an_index_out_of_range_in_a_second_derivative_names_the_users_line(transform):
    # (it named the generated tangent code: dx[_t4] at <srcad ..._jvp ...>:10)
    x, idx = np.ones(4), np.array([1, 9])
    run = srcad.hvp(shifted) if transform == "hvp" else srcad.hessian(shifted)
    with pytest.raises(IndexError, match=r"return np.sum\(x\[idx - 1\] \*\* 2\) at "
                                         r"test_index_expressions.py:\d+\)"):
        run(x, idx, x) if transform == "hvp" else run(x, idx)


def an_element_of_columns(x, idx):
    return np.sum(x.reshape(2, 2)[1, idx % 2] ** 2)


def test_an_index_array_beside_a_number_is_refused_by_name(rng):
    x, idx = arguments(shifted, rng)
    with pytest.raises(srcad.UnsupportedError, match="an integer-array index beside other "):
        srcad.grad(an_element_of_columns, mode="source")(x, idx)
    with pytest.warns(srcad.FallbackWarning, match="runtime tape"):  # (mode="auto")
        g = srcad.grad(an_element_of_columns)(x, idx)
    check.compare(an_element_of_columns, (x, idx), [0], [g], rtol=1e-6, atol=1e-8)
