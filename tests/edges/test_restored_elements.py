"""An element a loop overwrites and the reverse sweep reads is saved and put back where the
reverse sweep reverses the store: at the index the store used. An index the reverse sweep
recomputes (`k = i % 2`, a helper's parameter) was recomputed only before the adjoints reading
it, after the restore, so the restore wrote into the element of the trip reversed before and
every read after it was wrong (found by an attack: a counter array updated through a helper,
`add_into(cnt, idx[i], 1.0)`). Gradients against central finite differences on random inputs,
compiled and as Python."""

import numpy as np
import pytest

import srcad
from srcad import check


def doubled_in_turn(x, w):
    s = 0.0
    for i in range(6):
        k = i % 2
        s = s + w[k] * x[0] + x[1] * w[1 - k]
        w[k] = 2.0 * w[k] + x[1]
    return s


def add_into(g, k, v):
    g[k] += v


def counted(x, idx):
    counts = np.zeros(3)
    s = 0.0
    for i in range(x.shape[0]):
        s = s + x[i] * counts[idx[i]] + x[i] ** 2 * counts[(idx[i] + 1) % 3]
        add_into(counts, idx[i], 1.0)
    return s


def scaled_rows(x, idx):
    m = np.ones((3, 2))
    s = 0.0
    for i in range(x.shape[0]):
        r = idx[i]
        s = s + np.sum(m[r] * x[i])
        m[r, i % 2] = m[r, i % 2] * 1.5 + 0.25
    return s


CASES = [(doubled_in_turn, lambda r: (r.uniform(0.5, 1.5, 2), r.uniform(0.5, 1.5, 2))),
         (counted, lambda r: (r.uniform(-1.0, 1.0, 9), r.integers(0, 3, 9))),
         (scaled_rows, lambda r: (r.uniform(-1.0, 1.0, 8), r.integers(0, 3, 8)))]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn, make", CASES, ids=[c[0].__name__ for c in CASES])
def test_an_element_is_put_back_at_the_index_its_store_used(fn, make, jit, rng):
    for _ in range(2):
        args = make(rng)
        g = srcad.grad(fn, mode="source", jit=jit)(*[np.copy(a) for a in args])
        t = rng.normal(size=args[0].shape)
        expected = check.along(fn, [np.copy(a) for a in args], [t, None])
        assert np.sum(g * t) == pytest.approx(expected, rel=1e-6, abs=1e-9)
