"""Stores into a new array (`a = np.empty(n)`, then `a[i] = ...`) save nothing when no read of
that array can run before them: the overwritten values were never seen. Whenever a read can
(the array read before the store, on the way round a loop, or the new array bound in only one
branch), the old value must still be saved. Every case is checked against
finite differences, compiled and as Python; the first ones also check that no element is saved. (A view of the array read after a store
into it is refused by the aliasing check, tests/edges/test_writes.py.)"""

import re

import numpy as np
import pytest

import srcad
from srcad import check


def fill_then_sum(x):
    n = x.shape[0]
    a = np.empty(n)
    for i in range(n):
        a[i] = np.sin(x[i]) * x[i]
    return np.sum(a * a)


def refill_per_step(x, steps):
    n = x.shape[0]
    s = 0.0
    h = x.copy()
    for _ in range(steps):
        g = np.empty(n)
        for j in range(n):
            g[j] = 1.0 / (1.0 + np.exp(-h[j]))
        for j in range(n):
            h[j] = h[j] * g[j]
        s += np.sum(g)
    return s + np.sum(h)


def zeros_then_accumulate(x):
    n = x.shape[0]
    a = np.zeros(n)
    for i in range(n):
        a[i] += x[i] * x[i]
    return np.sum(np.cos(a))


def read_before_store_in_the_loop(x):
    n = x.shape[0]
    a = np.zeros(n)
    a[0] = x[0]
    for i in range(1, n):
        a[i] = a[i - 1] * x[i] + 1.0
    return np.sum(a * a)


def read_then_overwrite(x):
    a = x * 2.0
    s = a[0] * a[1]
    a[0] = np.sin(x[1])
    return s * a[0]


def new_in_one_branch_only(x, flag):
    a = x * 1.0
    s = a[0] * a[1]
    if flag > 0:
        a = np.zeros(3)
    a[0] = x[2] * x[2]
    return s * a[0] + a[1]


def store_after_the_loop_reads_it(x):
    n = x.shape[0]
    a = np.empty(n)
    for i in range(n):
        a[i] = x[i] * x[i]
    s = np.sum(np.sin(a))
    a[0] = x[1] * 5.0
    return s * a[0]


def carried_between_trips(x, steps):
    a = np.empty(3)
    a[0] = 1.0
    a[1] = 1.0
    a[2] = 1.0
    for _ in range(steps):
        b = np.empty(3)
        for j in range(3):
            b[j] = a[j] * x[j] + a[(j + 1) % 3]
        a = b
    return np.sum(a * a)


CASES = [
    (fill_then_sum, lambda rng: (rng.standard_normal(6),), True),
    (refill_per_step, lambda rng: (rng.standard_normal(5), 4), True),
    (zeros_then_accumulate, lambda rng: (rng.standard_normal(5),), True),
    (read_before_store_in_the_loop, lambda rng: (rng.uniform(0.5, 1.0, 6),), False),
    (read_then_overwrite, lambda rng: (rng.standard_normal(3),), False),
    (new_in_one_branch_only, lambda rng: (rng.standard_normal(3), 1), False),
    (new_in_one_branch_only, lambda rng: (rng.standard_normal(3), -1), False),
    (store_after_the_loop_reads_it, lambda rng: (rng.standard_normal(4),), False),
    (carried_between_trips, lambda rng: (rng.uniform(0.5, 1.0, 3), 4), False),
]


@pytest.mark.parametrize(("fn", "make", "nothing_saved"), CASES,
                         ids=[f"{c[0].__name__}-{k}" for k, c in enumerate(CASES)])
def test_stores_into_new_arrays(fn, make, nothing_saved, jit, rng):
    args = make(rng)
    g = srcad.grad(fn, mode="source", jit=jit)
    check.compare(fn, args, [0], [g(*args)])
    if nothing_saved:
        text = srcad.source(g, *args)
        assert not re.search(r"_saves\d*\[\w+\] = [ag]\[", text), text
