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


# From a helper's attack on the rule: the adjoint of the assignment itself reads the new
# array (`1 / x`, `2 ** x`, `x ** y`: their partials use the result), so a later store must
# still save what it overwrites.

def reciprocal_then_add(x):
    a = 1.0 / x
    a[0] += 1.0
    return np.sum(a * a)


def reciprocal_then_add_in_a_loop(x):
    a = 1.0 / x
    for i in range(len(x)):
        a[i] += x[i]
    return np.sum(a * a)


def quotient_by_the_argument(y, x):
    a = x / y
    a[1] += 2.0
    return np.sum(a * a)


def power_of_two_then_add(x):
    a = 2.0 ** x
    a[2] += 1.5
    return np.sum(a * a)


def power_then_scale(y, x):
    a = x ** y
    a[0] *= 3.0
    return np.sum(a)


def reciprocal_per_trip(x):
    s = 0.0
    for k in range(3):
        a = (k + 1.0) / x
        a[k] += s
        s += np.sum(a * a)
    return s


def reciprocal_rows(A):
    a = 1.0 / A
    a[0] += A[1]
    a[1, :] += 1.0
    return np.sum(a * a)


def power_read_then_stored(x):
    a = x ** x
    t = a[0] * 2.0
    a[0] = t
    return np.sum(a)


def reciprocal_whole_slice(x):
    a = 1.0 / x
    a[:] += 1.0
    return np.sum(a * a)


def inner_loop_on_a_new_quotient(x):
    s = 0.5
    for _ in range(3):
        a = 1.0 / (x + s)
        for i in range(len(x)):
            s = np.sin(s + x[i])
            a[i] += s
        s = s + np.sum(a * a)
    return s


# (wrong before the rule too: the reverse sweep put each saved element back at the while
# loop's final index, as the counter was not stepped back)

def while_counter_store(x):
    a = np.copy(x)
    s = np.sum(a * a)
    i = 0
    while i < 3:
        a[i] += 0.5
        i += 1
    return s + np.sum(a * a * a)


def while_break_store(x):
    a = 1.0 / x
    i = 0
    while i < 4:
        a[i] += 0.5
        i += 1
        if i > 2:
            break
    return np.sum(a * a)


def filled_then_scaled(x):  # (np.full_like was taken for a view of x and refused)
    a = np.full_like(x, 0.5)
    for i in range(x.shape[0]):
        a[i] = a[i] * x[i]
    return np.sum(a * x)


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
    (reciprocal_then_add, lambda rng: (rng.uniform(0.5, 1.5, 3),), False),
    (reciprocal_then_add_in_a_loop, lambda rng: (rng.uniform(0.5, 1.5, 4),), False),
    (quotient_by_the_argument, lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)),
     False),
    (power_of_two_then_add, lambda rng: (rng.uniform(0.5, 1.5, 3),), False),
    (power_then_scale, lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)), False),
    (reciprocal_per_trip, lambda rng: (rng.uniform(0.5, 1.5, 3),), False),
    (reciprocal_rows, lambda rng: (rng.uniform(0.5, 1.5, (2, 3)),), False),
    (power_read_then_stored, lambda rng: (rng.uniform(0.5, 1.5, 3),), False),
    (reciprocal_whole_slice, lambda rng: (rng.uniform(0.5, 1.5, 3),), False),
    (inner_loop_on_a_new_quotient, lambda rng: (rng.uniform(0.5, 1.5, 4),), False),
    (while_counter_store, lambda rng: (rng.uniform(0.5, 1.5, 4),), False),
    (while_break_store, lambda rng: (rng.uniform(0.5, 1.5, 4),), False),
    (filled_then_scaled, lambda rng: (rng.standard_normal(4),), False),
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
