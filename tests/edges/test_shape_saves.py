"""An array the reverse sweep reads only for its shape (to sum a broadcast adjoint back to it) is
saved as its shape, not its values. The shapes must still be the ones of each trip: arrays
whose length changes from trip to trip, and broadcasting that differs per trip, are checked
against finite differences, compiled and as Python."""

import re

import numpy as np
import pytest

import srcad
from srcad import check


def growing_prefixes(x, w):
    s = 0.0
    for t in range(x.shape[0]):
        v = x[:t + 1] * w[t] + x[t]
        u = np.exp(-v) + v * w[0]
        s += np.sum(u * u)
    return s


def outer_products_per_trip(x, y):
    s = 0.0
    for k in range(1, x.shape[0] + 1):
        m = x[:k, None] * y[None, :k] + y[k - 1]
        s += np.sum(np.tanh(m))
    return s


def broadcast_then_not(x, y):
    s = 0.0
    for k in range(3):
        a = x[k:k + 2] if k != 1 else x[:1]
        b = a + y[:2] * x[k]
        s += np.sum(b * b)
    return s


def stencil(u0, kappa, steps):
    u = u0.copy()
    for _ in range(steps):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + kappa * lap
    return 0.5 * np.sum(u * u)


def loop_in_a_branch(x, flag):
    s = np.sum(x)
    if flag > 0:
        for j in range(3):
            t = x[:j + 1] * x[j]
            s += np.sum(t * t)
    return s


CASES = [
    (growing_prefixes, lambda rng: (rng.uniform(0.2, 1.0, 5), rng.uniform(0.2, 1.0, 5)), (0, 1)),
    (outer_products_per_trip, lambda rng: (rng.standard_normal(4), rng.standard_normal(4)),
     (0, 1)),
    (broadcast_then_not, lambda rng: (rng.standard_normal(4), rng.standard_normal(3)), (0, 1)),
    (stencil, lambda rng: (rng.standard_normal((6, 6)), 0.2, 3), (0, 1)),
    (loop_in_a_branch, lambda rng: (rng.standard_normal(4), 1.0), (0,)),
    (loop_in_a_branch, lambda rng: (rng.standard_normal(4), -1.0), (0,)),  # (helper's attack)
]


@pytest.mark.parametrize(("fn", "make", "wrt"), CASES,
                         ids=[f"{c[0].__name__}-{k}" for k, c in enumerate(CASES)])
def test_shapes_saved_per_trip(fn, make, wrt, jit, rng):
    args = make(rng)
    g = srcad.grad(fn, wrt=wrt, mode="source", jit=jit)
    check.compare(fn, args, list(wrt), list(g(*args)))


def stencil_with_aux(u0, kappa, steps):
    return stencil(u0, kappa, steps), steps


def test_the_stencil_saves_lap_alone():
    """Every temporary of a step has the shape of u[1:-1, 1:-1] (slices with constant bounds on
    both axes are one shape class), so no shape is saved; the interior u[1:-1, 1:-1] that each
    step overwrites is not needed (the step is linear in it): lap is the one save, for kappa's
    adjoint (with has_aux, which takes kappa's derivative in reverse mode too; without, it is
    carried forward and nothing is saved)."""
    text = srcad.source(srcad.grad(stencil_with_aux, wrt=(0, 1), mode="source", has_aux=True),
                        np.ones((5, 5)), 0.2, 2)
    assert text.count("rt.save_array(") == 1, text
    assert re.search(r"rt\.save_array\(_lap_stencil_saves, \w+, \w+, lap_stencil\)", text), text
    assert "save_shape" not in text and ".append(" not in text, text
    text = srcad.source(srcad.grad(stencil, wrt=(0, 1), mode="source"), np.ones((5, 5)), 0.2, 2)
    assert "stencil_jvp(" in text and "rt.save_array(" not in text, text
