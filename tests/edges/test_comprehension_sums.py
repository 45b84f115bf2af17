"""sum() of a generator expression or list comprehension is lowered to the loop it is (its
variables names of their own, `if` clauses and several `for`s in order, a start; `sum(x)` of
an array, a term per item of a tuple): gradients
against finite differences, compiled and as Python; a sum of arrays without an array start is
refused naming the sum."""

import numpy as np
import pytest

import srcad
from srcad import check


def sums_of_terms(x):
    i = 7  # (the comprehension's own i does not change it)
    a = sum(x[i] ** 2 for i in range(x.shape[0]))
    b = sum([np.sin(v) * w for v, w in zip(x, x[::-1]) if v > 0.3], 1.5)
    c = sum(x[i] * x[j] for i in range(3) for j in range(i, 3) if i != j)
    return a + b + c + i


def builtin_sums(x, M):
    a = sum(x) * 2.0 + sum(x, 1.5) + sum((x[0], x[1]))
    b = sum(c * x[2] for c in (1.0, 2.0, 3.0) if c != 2.0)
    return a + b + np.sum(sum(M, np.zeros(M.shape[1])) ** 2)


def sums_with_a_start_keyword(x):
    return sum(x, start=1.5) * sum((v * v for v in x), start=x[0]) + sum([x[1]], start=2.0)


def start_given_twice(x):
    return sum(x, 1.0, start=2.0)


def rows_weighted(X, w):
    return np.sum(sum((w[i] * X[i] for i in range(X.shape[0])), np.zeros(X.shape[1])) ** 2)


def rows_weighted_from_zero(X, w):
    return np.sum(sum(w[i] * X[i] for i in range(X.shape[0])) ** 2)


def test_sums_of_comprehensions(jit, rng):
    x = rng.uniform(0.0, 1.0, 5)
    value, g = srcad.value_and_grad(sums_of_terms, mode="source", jit=jit)(x)
    assert value == pytest.approx(sums_of_terms(x), rel=1e-12)
    check.compare(sums_of_terms, (x,), [0], [g])
    X, w = rng.standard_normal((4, 3)), rng.standard_normal(4)
    g = srcad.grad(rows_weighted, wrt=(0, 1), mode="source", jit=jit)(X, w)
    check.compare(rows_weighted, (X, w), [0, 1], list(g))
    g = srcad.grad(builtin_sums, wrt=(0, 1), mode="source", jit=jit)(x, X)
    check.compare(builtin_sums, (x, X), [0, 1], list(g))


def test_start_by_keyword(jit, rng):
    x = rng.uniform(0.0, 1.0, 5)
    value, g = srcad.value_and_grad(sums_with_a_start_keyword, mode="source", jit=jit)(x)
    assert value == pytest.approx(sums_with_a_start_keyword(x), rel=1e-12)
    check.compare(sums_with_a_start_keyword, (x,), [0], [g])
    with pytest.raises(srcad.UnsupportedError, match=r"sum\(\) other than"):
        srcad.grad(start_given_twice, mode="source")(x)


def test_a_sum_of_arrays_from_zero_is_refused_by_name(rng):
    X, w = rng.standard_normal((4, 3)), rng.standard_normal(4)
    with pytest.raises(srcad.UnsupportedError, match=r"test_comprehension_sums.py:\d+: cannot "
                                                     r"infer the type of 'sum\(.*adds "
                                                     r"float\[1d\] terms"):
        srcad.grad(rows_weighted_from_zero, mode="source")(X, w)


def pairs_past_the_end(x, n):
    return sum(x[i] * x[i + 1] for i in range(n))


def test_an_index_out_of_range_is_reported_with_the_users_names(jit):
    """The comprehension's variable is renamed apart in the generated code (i2): the message
    wrote x[i2 + 1]."""
    with pytest.raises(IndexError, match=r"\(x\[i \+ 1\] at test_comprehension_sums.py:\d+\)"):
        srcad.grad(pairs_past_the_end, mode="source", jit=jit)(np.ones(3), 3)
