"""A loop's temporaries allocated once (compiler/buffers.py): the gradient and the tangent of
code whose trips allocate arrays, against finite differences, where the arrays stay within
their trip (and are reused) and where a trip's array outlives it (kept by another name, a
list, a view, the next trip, the result, or a shape that changes) and must not be."""

import re

import numpy as np
import pytest

import srcad
from srcad import check


def stencil(u0, kappa, steps):  # (a nonlinear heat step: the Laplacian and its tangent)
    u = np.copy(u0)
    for _ in range(steps):
        lap = u[1:-1, :-2] + u[1:-1, 2:] + u[:-2, 1:-1] + u[2:, 1:-1] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] += kappa * np.tanh(lap)
    return np.sum(u ** 2)


def smoothing(x, a, steps):
    for _ in range(steps):
        d = x[1:] - x[:-1]
        x = x.copy()
        x[1:] = x[1:] - a * d
    return np.sum(x ** 3)


def kept_by_another_name(x, a, steps):
    previous = x
    total = 0.0
    for _ in range(steps):
        t = np.sin(x * a) + previous
        previous = t  # (the next trip reads this trip's array)
        total = total + np.sum(t * t)
    return total


def kept_in_a_list(x, a, steps):
    kept = []
    for _ in range(steps):
        t = np.cos(x * a) * x
        kept.append(t)
    total = 0.0
    for t in kept:
        total = total + np.sum(t * x)
    return total


def row_view_kept(m, a, steps):
    last = m[0]
    total = 0.0
    for _ in range(steps):
        t = m * a + 1.0
        total = total + np.sum(last * t[1])
        last = t[0]  # (a view of this trip's array, read in the next)
    return total


def kept_after_the_loop(x, a, steps):
    t = x
    for _ in range(steps):
        t = np.exp(x * a) - x
    return np.sum(t * t)


def growing(x, a, steps):
    total = 0.0
    for k in range(steps):
        t = np.tanh(x[: k + 1] * a)  # (another shape every trip)
        total = total + np.sum(t * t)
    return total


def nested(x, a, steps):
    total = 0.0
    for _ in range(steps):
        for j in range(2):
            t = x * (a + j) - np.sin(x)
            total = total + np.sum(t * x)
    return total


def in_a_while(x, a, steps):
    total = 0.0
    k = 0
    while k < steps:
        t = np.sin(x * a) * x
        total = total + np.sum(t * t)
        k += 1
    return total


def reduced_whole(x, a, steps):
    total = 0.0
    for _ in range(steps):
        t = np.exp(x * a)
        total = total + np.sum(t) * np.max(t)  # (calls that read the array whole)
    return total


def written_by_slices(x, a, steps):
    total = 0.0
    for _ in range(steps):
        t = np.empty(x.shape[0])
        t[:] = x * a
        t[1:] = t[1:] * t[:-1]
        total = total + np.sum(t * x)
    return total


def returned_from_the_last_trip(x, a, steps):
    out = x * 0.0
    for _ in range(steps):
        t = np.empty(x.shape[0])
        for i in range(x.shape[0]):
            t[i] = np.sin(x[i] * a)
        out = t
    return np.sum(out * x)


def diffusion(u0, a, steps):  # (the step's temporaries are operands of arithmetic, and copied)
    u = u0.copy()
    for _ in range(steps):
        u[1:-1] = u[1:-1] + a * (u[2:] - 2 * u[1:-1] + u[:-2]) - 0.1 * u[1:-1]
    return np.sum(u ** 3)


def rows_copied(x, a, steps):
    rows = np.zeros((steps, x.shape[0]))
    for k in range(steps):
        t = np.empty(x.shape[0])
        for i in range(x.shape[0]):
            t[i] = np.sin(x[i] * a + k)
        rows[k] = t  # (copied: the next trip's t may be this one's array)
        rows[k] = rows[k] + -t * 0.5
    return np.sum(rows * rows)


def gates(x, w, steps):  # (arrays the reverse sweep restores: each trip's from a buffer)
    h = x.copy()
    c = x * 0.5
    for _ in range(steps):
        g = 1.0 / (1.0 + np.exp(-(h * w + 0.1)))
        u = np.tanh(h * w[::-1])
        c = c * g + u * (1.0 - g)
        h = np.tanh(c) * g
    return np.sum(h * h)


def gates_per_row(m, w, steps):  # (each row's reverse sweep runs inside its trip)
    total = 0.0
    for i in range(m.shape[0]):
        h = m[i] * w
        c = m[i] * 0.5
        for _ in range(steps):
            g = 1.0 / (1.0 + np.exp(-(h * w + 0.1)))
            u = np.tanh(h * w[::-1])
            c = c * g + u * (1.0 - g)
            h = np.tanh(c) * g
        total += np.sum(h * h)
    return total


def gate_read_next_trip(x, w, steps):
    h = x.copy()
    last = x
    for _ in range(steps):
        g = 1.0 / (1.0 + np.exp(-(h * w)))
        u = np.tanh(h) * g
        h = u * last + g
        last = g  # (the next trip reads this gate after computing its own)
    return np.sum(h * h)


def widening_saves(x, a, steps):  # (an array saved per trip, one element longer each trip)
    t = x[:1] * a
    total = 0.0
    for k in range(steps):
        t = np.sin(np.concatenate((t, x[k:k + 1])) * a)
        total = total + np.sum(t * t)
    return total


def rows_fed_forward(x, a, steps):  # (the adjoint of inp is filled from the one before)
    h = np.zeros((steps, x.shape[0]))
    inp = x * 1.0
    for i in range(steps):
        h[i] = np.tanh(inp * a + h[i])
        inp = h[i]
    return np.sum(h * h)


CASES = [stencil, smoothing, kept_by_another_name, kept_in_a_list, row_view_kept,
         kept_after_the_loop, growing, nested, in_a_while, reduced_whole, written_by_slices,
         returned_from_the_last_trip, diffusion, rows_copied, gates, gates_per_row,
         gate_read_next_trip, widening_saves, rows_fed_forward]


def _args(fn, rng):
    if fn is stencil:
        return rng.uniform(-1, 1, (6, 7)), 0.2, 4
    if fn is row_view_kept:
        return rng.uniform(-1, 1, (3, 4)), 0.7, 3
    if fn in (gates, gate_read_next_trip):
        return rng.uniform(-1, 1, 5), rng.uniform(-1, 1, 5), 4
    if fn is gates_per_row:
        return rng.uniform(-1, 1, (3, 5)), rng.uniform(-1, 1, 5), 3
    if fn is widening_saves:
        return rng.uniform(-1, 1, 6), 0.7, 5
    return rng.uniform(-1, 1, 5), 0.7, 3


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_gradients_of_loops_that_allocate_match_finite_differences(fn, jit, rng):
    args = _args(fn, rng)
    value, grads = srcad.value_and_grad(fn, wrt=(0, 1), mode="source", jit=jit)(*args)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12, atol=1e-12)
    check.compare(fn, args, [0, 1], grads, rtol=1e-5, atol=1e-6)
    tangents = (rng.uniform(-1, 1, np.shape(args[0])), 0.3 + 0 * np.asarray(args[1]), None)
    value, tangent = srcad.jvp(fn, args, tangents, mode="source", jit=jit)
    np.testing.assert_allclose(tangent, check.along(fn, args, tangents), rtol=1e-5, atol=1e-6)


def test_a_stencils_temporaries_are_allocated_once(rng):
    args = _args(stencil, rng)
    gradient = srcad.source(srcad.value_and_grad(stencil, wrt=(0,)), *args)
    tangent = srcad.source(srcad.jvp, stencil, args, (args[0], 1.0, None))
    for source, count in ((gradient, 1), (tangent, 2)):  # (blap; tanh(lap) and its tangent)
        reused = re.findall(r"(\w+) = rt\.buffer\(\1, ", source)
        assert len(reused) == count, source
        for name in reused:
            assert f"{name} = np.empty((0, 0))" in source, source


def test_operands_of_arithmetic_and_copied_arrays_are_allocated_once(rng):
    u0 = rng.uniform(-1, 1, 8)
    tangent = srcad.source(srcad.jvp, diffusion, (u0, 0.2, 3), (None, 1.0, None))
    # (the step's value inside an array expression, and its tangent copied into du[1:-1])
    assert len(re.findall(r"(\w+) = rt\.buffer\(\1, ", tangent)) == 2, tangent


@pytest.mark.parametrize("fn", [gates, gates_per_row], ids=lambda f: f.__name__)
def test_arrays_the_reverse_sweep_restores_take_a_buffer_of_their_own(fn, rng):
    source = srcad.source(srcad.value_and_grad(fn, wrt=(0, 1)), *_args(fn, rng))
    for name in ("g", "u"):  # (each gate: saved into a row, then its trip's array reused)
        assert f"_{name}_buffer = rt.buffer(_{name}_buffer, " in source, source
        assert f"    {name} = _{name}_buffer\n" in source, source
    # (a vector saved into its row's slice in place, the buffer widened where it does not fit)
    assert re.search(r"if g\.shape\[0\] <= _g_saves\.shape\[1\]:\n +"
                     r"_g_saves\[\w+, :g\.shape\[0\]\] = g\n", source), source


def normalised_steps(x, a, steps):  # (an LSTM's output layer: exp(y) summed, then its adjoint)
    total = 0.0
    h = x
    for _ in range(steps):
        y = h * a + 0.1
        total = total + np.log(2.0 + np.sum(np.exp(y)))
        h = np.tanh(y)
    return total


def test_arrays_only_reduced_or_shaped_take_a_buffer_of_their_own(rng):
    # (np.sum(e) and the reverse sweep's kn.sum_adjoint(g, e, None) keep no reference to e)
    args = _args(normalised_steps, rng)
    grad = srcad.value_and_grad(normalised_steps, wrt=(0, 1), jit=False)
    source = srcad.source(grad, *args)
    assert re.search(r"\n +(\w+) = rt\.buffer\(\1, \(_n\w*,\)\)\n +\w+ = \1\n", source), source
    value, grads = grad(*args)
    assert value == pytest.approx(normalised_steps(*args), rel=1e-12)
    check.compare(normalised_steps, args, [0, 1], grads, rtol=1e-5, atol=1e-6)


def test_an_array_another_name_keeps_is_allocated_on_every_trip(rng):
    source = srcad.source(srcad.value_and_grad(gate_read_next_trip, wrt=(0, 1)),
                          *_args(gate_read_next_trip, rng))
    assert "_g_buffer" not in source, source


def test_an_array_handed_over_to_the_name_it_was_filled_from_alternates_two_buffers(rng):
    # (bx_new[i] = ... bx[i] ..., then bx = bx_new: an LSTM layer's input adjoint)
    source = srcad.source(srcad.grad(rows_fed_forward, wrt=(0, 1)), *_args(rows_fed_forward, rng))
    assert re.search(r"\n +(\w+) = (\w+)\n +\2 = (\w+)\n +\3 = \1\n", source), source
