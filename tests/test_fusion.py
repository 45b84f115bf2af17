"""Elementwise array statements fused into loops (compiler/fusion.py): the loops appear in the
generated source, and every gradient, fused or refused, matches finite differences, compiled
and as the generated Python, on random inputs of several lengths (empty ones included)."""

import ast
import re

import numpy as np
import pytest

import srcad
from srcad import check
from srcad.errors import UserCodeError


def rosenbrock(x):
    a = x[1:] - x[:-1] ** 2
    b = 1.0 - x[:-1]
    return np.sum(100.0 * a * a + b * b)


def stencil(u0, kappa):
    u = u0.copy()
    for _ in range(3):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + kappa * lap
    return 0.5 * np.sum(u * u)


def softplus_loss(w, y):
    z = w * y
    return np.sum(np.log1p(np.exp(-z))) + 0.5 * np.sum(w * w)


def gates(x, c):
    s = 1.0 / (1.0 + np.exp(-x))
    t = np.tanh(x * c)
    return np.sum(s * t + np.sqrt(x * x + 1.0))


def kept_after(x):
    y = np.sin(x) * 2.0
    z = y * y + x
    return np.sum(z) + y[0] * x[-1]


def sums_into_a_scalar(x, c):
    s = c * c
    s += np.sum(x * np.cos(x))
    s -= np.sum(x * c)
    return s


def added_at_offsets(x):
    d = x[2:] - 2.0 * x[1:-1] + x[:-2]
    return np.sum(d * d * d)


def two_arguments_of_one_shape(a, b):  # (one shape at the call: srcad.api.same_shapes)
    c = a * b
    d = c * a + b
    return np.sum(d * d)


def energy(x, y, z):  # (the return's elementwise gradients join the loop)
    return np.sum(2 * x**4 - y**3 + 3 * z**2)


def logistic_loss(w, X, y):
    z = X @ w
    return np.sum(np.log1p(np.exp(-y * z)))


FUSED = [rosenbrock, stencil, softplus_loss, gates, kept_after, sums_into_a_scalar,
         added_at_offsets, two_arguments_of_one_shape, energy, logistic_loss]


# ---- what must stay serial: each is right, fused or not --------------------------------------

def recurrence_through_slices(x):
    y = x.copy()
    y[1:] = y[1:] + y[:-1] * 0.5
    y[1:] = y[1:] * y[:-1]
    return np.sum(y * y)


def update_reads_another_offset(x):
    y = x * 1.0
    y[1:] += y[:-1] * 2.0
    return np.sum(y * np.sin(y))


def write_through_a_view(x):
    y = x * 1.0
    v = y[1:]
    y[:-1] = v * 2.0 + y[:-1]
    return np.sum(y * y)


def broadcast_column(a, b):
    c = a[:, None] * b
    d = c * c + a[:, None]
    return np.sum(d)


def integer_operand(x, k):
    y = x * k
    z = y * y + x
    return np.sum(z)


def sums_of_two_ranks(a, x):  # (each fill of np.sum's adjoint is of its own sum's shape)
    return np.sum(np.sin(a)) * np.sum(x * x) + np.sum(np.cos(x))


def shifted_store_then_read(x):
    y = np.zeros(x.shape[0] + 1)
    y[1:] = x * 2.0
    z = y[:-1] * y[1:]
    return np.sum(z * x)


# ---- wrong numbers a helper's attack found (each loop read the new array it was writing) ----

def rebound_from_itself(x):
    y = x * 2.0
    y = y[1:] + y[:-1]
    y = np.sin(y) * y
    return np.sum(y)


def updates_of_two_arrays(x):  # (z *= y is z = z * y)
    y = x * 2.0
    z = x * 3.0
    y += z
    z *= y
    return np.sum(y * z)


def subtract_then_divide_in_place(x):
    y = np.exp(x)
    y -= 1.0
    y /= (1.0 + x * x)
    return np.sum(y * y)


def _reciprocal(x):
    return 1.0 / x


def helper_result_named_then_summed(x):  # (the loop checked the shape of `d`, fused away)
    d = _reciprocal(x)
    return np.sum(d)


FOUND_BY_ATTACK = [rebound_from_itself, updates_of_two_arrays, subtract_then_divide_in_place,
                   helper_result_named_then_summed]


def read_then_bound_again(x):
    a = np.exp(x)
    total = 0.0
    for _ in range(3):
        c = a * x
        a = np.sin(x) * x + c  # (a new array under the name the loop read: both in one loop)
        total = total + np.sum(c * a)
    return total


def old_array_kept_by_another_name(x):
    a = x * 2.0
    b = a
    c = a * x
    a = c * 3.0
    return np.sum(b * a + c * np.cos(a))


def gated_rows(w, c0):
    c = c0.copy()
    n = c.shape[1]
    total = 0.0
    for i in range(c.shape[0]):
        f = 1.0 / (1.0 + np.exp(-(c[i] * w[:n])))
        g = np.tanh(c[i] * w[n:])
        c[i] = c[i] * f + (1.0 - f) * g
        total = total + np.sum(np.tanh(c[i]) * g)
    return total


BOUND_AGAIN = [read_then_bound_again, old_array_kept_by_another_name, gated_rows]


# found by an attack on loops of row updates (a loop's last run assigning an adjoint the next
# reversed trip reads; a statement after a restore split in two dropped; an array bound again)
def variance_steps(w, x):
    n = x.shape[1]
    p = np.ones(n)
    total = 0.0
    for _ in range(x.shape[0]):
        p = p * w[0:n] ** 2 + 0.1
        total += np.sum(np.log(p))
    return total


def filter_steps(w, x):
    n = x.shape[1]
    m, p = np.zeros(n), np.ones(n)
    total = 0.0
    for t in range(x.shape[0]):
        p = p * w[0:n] ** 2 + 0.1
        s = p + 1.0
        k = p / s
        r = x[t] - m * w[0:n]
        m = m * w[0:n] + k * r
        p = (1.0 - k) * p
        total += -0.5 * np.sum(np.log(s) + r * r / s)
    return total


def stacked_layers(w, x):
    n = x.shape[1]
    h = np.zeros((3, n))
    total = 0.0
    for t in range(x.shape[0]):
        for k in range(3):
            below = x[t] if k == 0 else h[k - 1]
            h[k] = np.tanh(below * w[0:n] + h[k] * w[n:2 * n])
            total += np.sum(np.exp(-h[k] * h[k]))
    return total


def rows_updated_in_place(w, x):
    n = x.shape[1]
    y = w[0:n].copy()
    h = np.zeros(x.shape)
    for t in range(x.shape[0]):
        y += x[t] * w[n:2 * n]
        y *= 0.9
        h[t] = y
        h[t] -= np.exp(-y * y)
        h[t] *= w[0:n]
    return np.sum(h ** 2) + np.sum(y)


ROW_LOOPS = [variance_steps, filter_steps, stacked_layers, rows_updated_in_place]

SERIAL = [recurrence_through_slices, update_reads_another_offset, write_through_a_view,
          broadcast_column, integer_operand, shifted_store_then_read, sums_of_two_ranks]


def _inputs(fn, n, rng):
    x = rng.uniform(-1.2, 1.2, n)
    return {
        helper_result_named_then_summed: lambda: (rng.uniform(0.5, 1.5, n),),
        stencil: lambda: (rng.uniform(-1, 1, (max(n, 1), n + 2)), 0.1),
        softplus_loss: lambda: (x, rng.choice([-1.0, 1.0], n)),
        logistic_loss: lambda: (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (n, 3)),
                                rng.choice([-1.0, 1.0], n)),
        gates: lambda: (x, 0.7),
        sums_into_a_scalar: lambda: (x, 0.3),
        broadcast_column: lambda: (x, rng.uniform(-1, 1, 3)),
        two_arguments_of_one_shape: lambda: (x, rng.uniform(-1, 1, n)),
        energy: lambda: (x, rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)),
        integer_operand: lambda: (x, rng.integers(-3, 4, n)),
        sums_of_two_ranks: lambda: (rng.uniform(-1, 1, (max(n, 1), n + 1)), x),
        gated_rows: lambda: (rng.uniform(-1, 1, 2 * n), rng.uniform(-1, 1, (3, n))),
        **{fn: lambda: (rng.uniform(-1, 1, 2 * n), rng.uniform(-1, 1, (3, n)))
           for fn in ROW_LOOPS},
    }.get(fn, lambda: (x,))()


def _wrt(args):
    return tuple(k for k, a in enumerate(args)
                 if isinstance(a, float) or isinstance(a, np.ndarray) and a.dtype.kind == "f")


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", FUSED + SERIAL + FOUND_BY_ATTACK + BOUND_AGAIN + ROW_LOOPS,
                         ids=lambda f: f.__name__)
def test_fused_and_refused_match_finite_differences(fn, jit, rng):
    for n in (5, 2, 1, 0) if fn is not kept_after else (5, 2, 1):
        args = _inputs(fn, n, rng)
        wrt = _wrt(args)
        value, grads = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12, atol=1e-12)
        check.compare(fn, args, list(wrt), grads if isinstance(grads, tuple) else (grads,),
                      rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", FUSED, ids=lambda f: f.__name__)
def test_elementwise_runs_become_loops(fn, rng):
    args = _inputs(fn, 4, rng)
    source = srcad.source(srcad.grad(fn, wrt=_wrt(args)), *args)
    assert re.search(r"for _i\d* in range\(_n\d*\)", source), source


def test_an_array_bound_again_after_the_loop_read_it_takes_a_new_name(rng):
    """The LSTM's reverse step read `bx` and then bound it again: its two loops became one,
    the new array named `bx_new` until the loop ends."""
    source = srcad.source(srcad.grad(read_then_bound_again), rng.uniform(size=4))
    assert re.search(r"^ *(\w+) = \1_new\d*$", source, re.MULTILINE), source


def test_the_adjoint_of_a_matrix_products_operand_joins_the_loop_of_its_values(rng):
    """The logistic loss's `z = X @ w`: the adjoint of z is computed in the loop that computes
    the loss from z, and handed to the product's adjoint as an array of that loop."""
    args = _inputs(logistic_loss, 6, rng)
    source = srcad.source(srcad.grad(logistic_loss, wrt=(0,)), *args)
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))
    assert code.count("for ") == 1, source
    assert re.search(r"rt\.matmul_adjoint_b\(_operand\w*, X, w\)", source), source


def test_rosenbrock_is_one_loop_without_temporary_arrays(rng):
    source = srcad.source(srcad.grad(rosenbrock), rng.uniform(size=5))
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))
    assert code.count("for ") == 1, source
    assert "np.empty" not in code and "np.sum" not in code, source


def test_energy_is_one_loop_returning_its_gradients(rng):
    args = _inputs(energy, 5, rng)
    source = srcad.source(srcad.grad(energy, wrt=(0, 1, 2)), *args)
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))
    assert code.count("for ") == 1 and "rt.unbroadcast" not in code, source


def test_a_partial_times_the_sums_adjoint_joins_the_loop(rng):
    """grad(energy) wrt x alone: the return's `kn.sum_adjoint(g, t, None) * (partial)` is g
    times the partial's element in the one loop (it was an array expression after the loop,
    and compiled in 1.4x the time)."""
    args = _inputs(energy, 5, rng)
    g = srcad.grad(energy)
    source = srcad.source(g, *args)
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))
    assert code.count("for ") == 1 and "sum_adjoint" not in code, source
    np.testing.assert_allclose(g(*args), 8 * args[0] ** 3, rtol=1e-12)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_arguments_of_other_shapes_get_their_own_gradient(jit, rng):
    """The gradient for arguments of one shape takes them to have it; a call whose arguments
    broadcast instead (or have other equal shapes) gets a gradient of its own, also on the
    fast path of a gradient object already called."""
    fn = two_arguments_of_one_shape
    grad = srcad.value_and_grad(fn, wrt=(0, 1), mode="source", jit=jit)
    n = 5
    calls = [(rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)),
             (rng.uniform(-1, 1, n), rng.uniform(-1, 1, 1)),
             (rng.uniform(-1, 1, 1), rng.uniform(-1, 1, n)),
             (rng.uniform(-1, 1, (3, n)), rng.uniform(-1, 1, n)[None, :].copy()),
             (rng.uniform(-1, 1, n), rng.uniform(-1, 1, n))]
    for args in calls + calls:
        value, grads = grad(*args)
        np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
        assert [g.shape for g in grads] == [a.shape for a in args]
        check.compare(fn, args, [0, 1], grads, rtol=1e-5, atol=1e-6)
    assert "rt.unbroadcast" in srcad.source(grad, *calls[1])
    assert "rt.unbroadcast" not in srcad.source(grad, *calls[0])


def _dependences(source):
    """The arrays a fused loop of `source` writes at one position and reads or writes at
    another (what the loop must never do, unless it only adds into them)."""
    found = []
    for loop in ast.walk(ast.parse(source)):
        if not (isinstance(loop, ast.For) and loop.target.id.startswith("_i")):
            continue
        accesses = {}
        for node in ast.walk(loop):
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
                node.target.added = isinstance(node.op, (ast.Add, ast.Sub))
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                accesses.setdefault(node.value.id, []).append(
                    (ast.dump(node.slice), isinstance(node.ctx, ast.Store),
                     getattr(node, "added", False)))
        for name, seen in accesses.items():
            if any(store for _, store, _ in seen) and \
                    not all(added for _, _, added in seen) and len({i for i, _, _ in seen}) > 1:
                found.append(name)
    return found


@pytest.mark.parametrize("fn", FUSED + SERIAL + FOUND_BY_ATTACK, ids=lambda f: f.__name__)
def test_no_loop_reads_an_element_it_overwrote(fn, rng):
    args = _inputs(fn, 4, rng)
    source = srcad.source(srcad.grad(fn, wrt=_wrt(args)), *args)
    assert not _dependences(source), source


def test_float32_is_computed_as_before(rng):
    x = rng.uniform(-1, 1, 6).astype(np.float32)
    value, grad = srcad.value_and_grad(rosenbrock)(x)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(value, rosenbrock(x.astype(np.float64)), rtol=1e-5)
    check.compare(rosenbrock, (x.astype(np.float64),), [0], (grad.astype(np.float64),),
                  rtol=1e-3, atol=1e-3)


# ---- found on the way by the same attack (outside the fusion pass) ---------------------------

def floor_divide_by_an_array_with_zeros(x, k):
    return np.sum(x * (k // (k * 0)) + x * (k % (k * 0)))


def test_integer_arrays_divided_by_zero_give_zero_as_numpy(rng):
    """Only a Python int divided by zero raises; NumPy's integer arrays give 0 (the check
    for scalars raised 'The truth value of an array ... is ambiguous' on arrays)."""
    x, k = rng.uniform(-1, 1, 3), np.array([1, 2, 3])
    with np.errstate(divide="ignore"):
        for jit in (True, False):
            value, grad = srcad.value_and_grad(floor_divide_by_an_array_with_zeros,
                                               mode="source", jit=jit)(x, k)
            assert value == 0.0 and np.all(grad == 0.0)


def float_added_into_an_integer_slice(x, k):
    k2 = k * 1
    k2[1:] += x[1:] * 0.5
    return np.sum(x * k2)


def float_added_into_an_integer_array(x, k):
    k2 = k * 1
    k2 += x
    return np.sum(x * k2)


def float_into_one_integer_element(x, k):
    k2 = k * 1
    k2[0] += x[0] * 0.7  # (a scalar store: NumPy truncates it)
    k2[1:] += 2
    return np.sum(x * k2)


@pytest.mark.parametrize("fn", [float_added_into_an_integer_slice,
                                float_added_into_an_integer_array], ids=lambda f: f.__name__)
def test_a_float_added_into_an_integer_array_is_numpys_error(fn, rng):
    x, k = rng.uniform(-1, 1, 3), np.array([1, 2, 3])
    with pytest.raises(TypeError):  # (NumPy's UFuncTypeError is a TypeError)
        fn(x, k.copy())
    with pytest.raises(UserCodeError, match="cannot be cast back"):
        srcad.grad(fn, mode="source")(x, k)


def test_a_float_stored_into_an_integer_element_is_truncated_as_numpy(rng):
    x, k = rng.uniform(-1, 1, 3), np.array([1, 2, 3])
    value, grad = srcad.value_and_grad(float_into_one_integer_element, mode="source")(x, k)
    assert value == float_into_one_integer_element(x, k.copy())
    check.compare(float_into_one_integer_element, (x, k), [0], (grad,))


def test_hessian_vector_products_are_fused_too(rng):
    """hvp differentiates the jvp's tangent code, whose tangents have their primals' shapes
    (srcad checks it before the call): no adjoint is summed back to a shape, and both sweeps
    are one loop (the adjoint's `np.zeros_like` of an array of the loop is a zero in it)."""
    x, v = rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 6)
    source = srcad.source(srcad.hvp(rosenbrock), x, v)
    assert "rt.unbroadcast" not in source and source.count("for _i") == 1, source
    for jit in (True, False):
        hv = srcad.hvp(rosenbrock, jit=jit)(x, v)
        grad = srcad.grad(rosenbrock, jit=False)
        fd = (grad(x + 1e-6 * v) - grad(x - 1e-6 * v)) / 2e-6
        np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        srcad.hvp(rosenbrock)(x, v[:-1])


def test_a_step_of_gates_reverses_in_one_loop(rng):
    """The hvp of an LSTM-like step reads c[i] as the step left it and as restored, recomputes
    the gates' `1.0 - f` and `d * f` where the reverse sweep reads them (not saved), and binds
    restored arrays it read before: the reverse step is one loop, and its numbers match
    differences of the gradient."""
    w, c0, v = rng.uniform(-1, 1, 8), rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, 8)
    source = srcad.source(srcad.hvp(gated_rows), w, c0, v)
    reverse_step = source.split("while i > 0:")[1]
    assert reverse_step.count("for _i") == 1, source
    grad = srcad.grad(gated_rows, jit=False)
    fd = (grad(w + 1e-6 * v, c0) - grad(w - 1e-6 * v, c0)) / 2e-6
    for jit in (True, False):
        np.testing.assert_allclose(srcad.hvp(gated_rows, jit=jit)(w, c0, v), fd, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("fn", [gated_rows] + ROW_LOOPS, ids=lambda f: f.__name__)
def test_hessian_vector_products_of_row_loops(fn, rng):
    for n in (4, 1):
        w, x = _inputs(fn, n, rng)
        v = rng.uniform(-1, 1, w.shape)
        grad = srcad.grad(fn, jit=False)
        fd = (grad(w + 1e-6 * v, x) - grad(w - 1e-6 * v, x)) / 2e-6
        np.testing.assert_allclose(srcad.hvp(fn)(w, x, v), fd, rtol=1e-5, atol=1e-6)


def columns_added_by_broadcasting(x, w):
    z = np.zeros((x.shape[0], 3))
    for k in range(3):
        z[:, k:] += x[:, None] * w[k:k + 1]
    return np.sum(z * z)


def test_a_product_read_for_its_shape_alone_saves_its_shape(rng):
    """The adjoint of `z[:, k:] += p` reads the product p only for the shape it is summed back
    to: each trip saves p's shape, not p, and the reverse sweep does not compute p again (the
    ADBench GMM's gradient did, over n x K x d, when arrays of one operation began to be
    recomputed)."""
    x, w = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 3)
    source = srcad.source(srcad.grad(columns_added_by_broadcasting, wrt=(0, 1)), x, w)
    reverse = source.split("# reverse sweep")[1]
    assert "rt.save_shape" in source and " * " not in "".join(
        line for line in reverse.splitlines() if re.match(r"\s*_t\d+ = ", line)), source
    grads = srcad.grad(columns_added_by_broadcasting, wrt=(0, 1))(x, w)
    check.compare(columns_added_by_broadcasting, (x, w), [0, 1], grads)


def normalised_outputs(w, seq):
    total = 0.0
    h = seq[0].copy()
    for t in range(seq.shape[0] - 1):
        h = np.tanh(h * w[0] + seq[t])
        y = h * w[1] + w[2]
        ynorm = y - np.log(2.0 + np.sum(np.exp(y)))
        total = total + np.sum(seq[t + 1] * ynorm)
    return total


def test_zeros_of_adjoints_and_saved_shapes_join_the_loop(rng):
    """The reverse of the LSTM's output layer: np.sum's adjoint spread over the shape saved for
    it, and np.zeros_like of an adjoint computed before the loop (by, the adjoints of y's
    operands), are elements of the loops; the step is two loops (the sum of exp(y) between
    them) and allocates no zeros."""
    w, seq = rng.uniform(-1, 1, (3, 5)), rng.uniform(-1, 1, (6, 5))
    source = srcad.source(srcad.grad(normalised_outputs), w, seq)
    step = source.split("while t > 0:")[1]
    assert step.count("for _i") == 2 and "zeros_like" not in step, source
    for jit in (True, False):
        check.compare(normalised_outputs, (w, seq), [0],
                      [srcad.grad(normalised_outputs, jit=jit)(w, seq)])


def rows_of_a_state(w, h0):
    h = h0.copy()
    x = h[0] * 1.0
    for i in range(h.shape[0]):
        h[i] = np.tanh(x * w + h[i])  # (x: the input, then the row before: apart from h[i])
        x = h[i]
    return np.sum(h * h)


def the_same_row(w, h0):
    h = h0.copy()
    for i in range(h.shape[0]):
        x = h[i]
        h[i] = np.tanh(x * w) * x  # (x is h[i] itself)
    return np.sum(h * h)


def a_window_shifted_by_one(w, v0, k):
    v = v0.copy()
    x = w * 1.0
    for _ in range(3):
        v[k + 1:k + 5] = np.tanh(x * w)  # (NumPy computes the right side whole first)
        x = v[k:k + 4]
    return np.sum(v * v)


def windows_of_one_array(w, v0, k):
    v = v0.copy()
    for _ in range(3):
        v[k + 1:k + 5] = np.tanh(v[k:k + 4] * w)
    return np.sum(v * v)


@pytest.mark.parametrize("fn", [rows_of_a_state, the_same_row])
def test_a_row_written_beside_another_view_of_its_array_joins_the_loop(fn, rng):
    """`h[i] = f(x)` where x views h too is fused: where x is not bound to h[i] in the loop's
    step, the loop checks at entry that x and h[i] are the same elements or share none (else
    the gradient without assumptions runs)."""
    w, h0 = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, (3, 4))
    forward = srcad.source(srcad.grad(fn), w, h0).split("# reverse sweep")[0]
    assert not re.search(r"h\[i\] = .*\*", forward), forward
    assert ("rt.identical_or_apart" in forward) == (fn is rows_of_a_state), forward
    for jit in (True, False):
        check.compare(fn, (w, h0), [0, 1], srcad.grad(fn, wrt=(0, 1), jit=jit)(w, h0))


@pytest.mark.parametrize("fn", [a_window_shifted_by_one, windows_of_one_array])
def test_views_that_overlap_in_part_run_without_the_assumption(fn, rng):
    """A name for a window of v beside another window written: checked at entry, and, as
    they overlap in part (a fused loop would read elements of x it had written), the gradient
    without assumptions runs. Two windows of one array are never fused (checked, they would
    hardly ever be one another or apart)."""
    w, v0 = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 8)
    checked = "rt.identical_or_apart" in srcad.source(srcad.grad(fn), w, v0, 2)
    assert checked == (fn is a_window_shifted_by_one)
    for jit in (True, False):
        check.compare(fn, (w, v0, 2), [0, 1], srcad.grad(fn, wrt=(0, 1), jit=jit)(w, v0, 2))


def test_identical_or_apart_compiled_and_as_python():
    from numba import njit

    from srcad import runtime as rt
    a = np.arange(24.0).reshape(4, 6)
    cases = [(a[1], a[1], True), (a[1], a[2], True), (a[0, 1:5], a[0, 2:6], False),
             (a[0], a[0, ::-1], False), (a[:, 0], a[0, :4], False), (a[:0], a[1:1], True),
             (a[:, 1:3], a[:, 1:3], True), (a[0:2, 0:3], a[2:4, 0:3], True),
             (a[0, 0:3], np.zeros(3), True)]
    compiled = njit(lambda x, y: rt.identical_or_apart(x, y))
    for x, y, expected in cases:
        assert rt.identical_or_apart(x, y) == compiled(x, y) == expected, (x, y)
