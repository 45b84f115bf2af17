"""Elementwise statements that broadcast arrays of other shapes, lowered to loop nests
(compiler/broadcasts.py): the loops appear in the generated source, and every gradient
matches finite differences, compiled and as the generated Python, on random inputs whose
axes are of length 1 (where NumPy broadcasts at run time) or 0 as well; shapes that do not
broadcast raise NumPy's error."""

import re

import numpy as np
import pytest

import srcad
from srcad import check


def centred_distances(x, means, w):
    """The vectorised GMM's pattern: (n, 1, d) - (1, K, d), then scaled by a (1, K, d) view."""
    xc = x[:, None, :] - means[None, :, :]
    z = w[None, :, :] * xc
    return np.sum(z * z * 0.5) + np.sum(np.exp(-xc) * w[None, :, :])


def columns_added_in_place(x, means, icf):
    """The GMM's lower triangle, column by column: an update of a slice by a product of a
    (1, K, w) view and an (n, K, 1) one."""
    n, d = x.shape
    xc = x[:, None, :] - means[None, :, :]
    z = xc * 1.5
    idx = 0
    for c in range(d - 1):
        width = d - 1 - c
        z[:, :, c + 1:] += icf[None, :, idx:idx + width] * xc[:, :, c:c + 1]
        idx += width
    return np.sum(np.sin(z) * z)


def rows_and_columns(a, r, c):
    """Rank 2: a row vector and a column, scalars between, an update by a call's new array."""
    t = a * r[None, :] - c[:, None] / 3.0 + 2.0
    s = np.tanh(t) * a
    s -= np.maximum(t, 0.1) * c[:, None]
    return np.sum(s * t)


def four_axes(a, b):
    t = a[:, None, :, None] * b[None, :, None, :]
    u = np.exp(-t * t) + t
    return np.sum(u * u)


def update_reading_its_target(z, k):
    """`z[:, 1:] += z[:, :-1] * k`: NumPy computes the right side whole first; a loop over the
    target would read what it wrote (not lowered)."""
    y = z * 1.0
    y[:, 1:] += y[:, :-1] * k[None, :]
    y[1:, :] += y[:-1, :] * 0.5
    return np.sum(y * y)


def stored_into_slices(a, r, c):
    """`t[s] = t[s] + e` (an update) and `t[s] = e` (a store) of broadcast operands."""
    t = a * 1.0
    t[:, 1:] = t[:, 1:] + r[None, 1:] * c[:, None]
    t[1:, :] = np.tanh(c[1:, None] - r[None, :])
    return np.sum(t * a * t)


def int_and_float(x, counts):
    """An integer array among the operands: not lowered (its result is not float64)."""
    t = x[:, None] * counts[None, :] + x[:, None]
    return np.sum(t * t)


FUNCTIONS = {
    centred_distances: lambda rng, n, k, d: (rng.normal(size=(n, d)), rng.normal(size=(k, d)),
                                             rng.uniform(0.5, 1.5, (k, d))),
    columns_added_in_place: lambda rng, n, k, d: (rng.normal(size=(n, d)),
                                                  rng.normal(size=(k, d)),
                                                  rng.normal(size=(k, d * (d - 1) // 2))),
    rows_and_columns: lambda rng, n, k, d: (rng.normal(size=(n, k)), rng.normal(size=k),
                                            rng.normal(size=n)),
    four_axes: lambda rng, n, k, d: (rng.normal(size=(n, d)) * 0.5,
                                     rng.normal(size=(k, d)) * 0.5),
    update_reading_its_target: lambda rng, n, k, d: (rng.normal(size=(n, k)),
                                                     rng.normal(size=k - 1 if k > 1 else 0)),
    stored_into_slices: lambda rng, n, k, d: (rng.normal(size=(n, k)), rng.normal(size=k),
                                              rng.normal(size=n)),
    int_and_float: lambda rng, n, k, d: (rng.normal(size=n), rng.integers(0, 4, size=k)),
}
SHAPES = [(5, 3, 4), (1, 3, 2), (4, 1, 1), (3, 2, 1), (0, 2, 3)]


@pytest.mark.parametrize("fn", list(FUNCTIONS), ids=lambda f: f.__name__)
def test_broadcast_statements_match_finite_differences(fn, jit, rng):
    for n, k, d in SHAPES:
        args = FUNCTIONS[fn](rng, n, k, d)
        wrt = tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
        value, grads = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12, atol=1e-12)
        check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", list(FUNCTIONS), ids=lambda f: f.__name__)
def test_forward_mode_matches_directional_differences(fn, jit, rng):
    """Forward mode spreads tangents to their results' shapes (rt.broadcast_tangent): lowered
    as well."""
    for n, k, d in SHAPES[:3]:
        args = FUNCTIONS[fn](rng, n, k, d)
        tangents = [rng.normal(size=a.shape) if a.dtype.kind == "f" else None for a in args]
        value, tangent = srcad.jvp(fn, args, tangents, mode="source", jit=jit)
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tangent, check.along(fn, args, tangents, 1e-6),
                                   rtol=1e-5, atol=1e-6)


LOWERED = [centred_distances, columns_added_in_place, rows_and_columns, four_axes,
           stored_into_slices]


@pytest.mark.parametrize("fn", LOWERED, ids=lambda f: f.__name__)
def test_broadcast_statements_become_loops(fn, rng):
    args = FUNCTIONS[fn](rng, 4, 3, 3)
    source = srcad.source(srcad.grad(fn, wrt=tuple(range(len(args)))), *args)
    assert "np.broadcast_to(" in source and re.search(r"for _i\d* in range\(", source), source


def test_an_update_reading_its_target_is_left_to_numpy(rng):
    args = FUNCTIONS[update_reading_its_target](rng, 4, 3, 1)
    source = srcad.source(srcad.grad(update_reading_its_target), *args)
    assert "y[:, 1:] += y[:, :-1]" in source, source


def test_shapes_that_do_not_broadcast_raise_numpys_error(jit, rng):
    x, means, w = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    with pytest.raises(ValueError):
        np.sum(w[None, :, :] * (x[:, None, :] - means[None, :, :]))
    with pytest.raises(ValueError):
        srcad.grad(centred_distances, mode="source", jit=jit)(x, means, w)
    icf = rng.normal(size=(3, 3))  # (a row per component: 2 components, 3 rows)
    with pytest.raises(ValueError):
        srcad.grad(columns_added_in_place, mode="source", jit=jit)(x, means, icf)


def update_by_more_axes(z0, y):
    z = z0 * 1.0
    z[:, 1:] += y[None, :, :]
    return np.sum(z * z)


def store_of_more_axes(z0, y):
    z = z0 * 1.0
    z[:, 1:] = y[None, :, :]  # (legal: leading axes of 1 are dropped by a store)
    return np.sum(z ** 3)


def name_updated_by_more_axes(z0, y):
    z = z0 * 1.0
    z += y[None, :]
    return np.sum(z)


def test_updates_and_stores_by_values_of_more_axes(jit, rng):
    """Found by an attack: `z[:, 1:] += y[None]` was lowered to a store, which drops leading
    axes of 1, where NumPy raises; the adjoint of a value with such axes stored into a slice
    crashed in the generated Python; a name updated by more axes was reported as a variable
    changing type."""
    z0, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 3))
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        srcad.grad(update_by_more_axes, mode="source", jit=jit)(z0, y)
    for y in (rng.normal(size=(1, 1)), rng.normal(size=(1, 3)), rng.normal(size=(3, 3))):
        grads = srcad.grad(store_of_more_axes, wrt=(0, 1), mode="source", jit=jit)(z0, y)
        check.compare(store_of_more_axes, (z0, y), [0, 1], grads, rtol=1e-5, atol=1e-6)
    with pytest.raises(srcad.UnsupportedError, match="'z' is a float.1d. updated in place"):
        srcad.grad(name_updated_by_more_axes, mode="source", jit=jit)(z0[0], y[0])


def store_of_a_product_of_more_axes(z0, y):
    z = z0 * 1.0
    z[:, 1:] = y[None, :, :] * 2.0  # (a new array of three axes, stored into two)
    z[:, :1] = z[:, :1] + y[None, :, :1]
    return np.sum(z ** 3)


def test_a_new_array_of_more_axes_is_stored_as_numpy_does(jit, rng):
    """A store drops a value's leading axes of length 1; broadcasting the value to the target's
    shape would raise (a store by a new array is left to Numba)."""
    z0, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 3))
    grads = srcad.grad(store_of_a_product_of_more_axes, wrt=(0, 1), mode="source", jit=jit)(
        z0, y)
    check.compare(store_of_a_product_of_more_axes, (z0, y), [0, 1], grads, rtol=1e-5,
                  atol=1e-6)
