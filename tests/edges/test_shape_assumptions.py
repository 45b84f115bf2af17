"""Arrays a function combines elementwise are assumed to have one shape: the reverse sweep
then needs no sums of broadcast adjoints and no saved shapes (the LSTM's gates,
`x * w[0:b] + h[t]`, whose slices have bounds that are not constants). The generated gradient
checks the assumption as it runs (`rt.assume_shape`); where arrays do broadcast, srcad runs
the gradient generated without it. Every case: the numbers against finite differences, with
shapes that broadcast and shapes that do not, in either order."""

import inspect
import warnings

import numpy as np
import pytest

import srcad
from srcad import api, check
from tests import programs

MODES = {"source+numba": {}, "source+python": {"jit": False}}


@pytest.fixture(params=list(MODES))
def kw(request):
    return MODES[request.param]


def gates(x, w, h):
    b = x.shape[0]
    s = 0.0
    for t in range(h.shape[0]):
        z = np.tanh(x * w[0:b] + h[t])
        s += np.sum(z * z)
    return s


def grown(x, v0):
    v = v0 * 1.0
    s = 0.0
    for k in range(3):
        v = v * x + 0.5
        s += np.sum(np.sin(v))
    return s


def triangular(x, y):
    n = x.shape[0]
    s = 0.0
    for k in range(n):
        s += np.sum(x[k:] * y[:n - k])
    return s


def outer(a, b):
    return np.sum(np.exp(a * b) + a)


def grads(fn, args, wrt, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        return srcad.grad(fn, wrt=wrt, mode="source", **options)(*args)


def test_assumed_shapes_need_no_unbroadcast(rng):
    args = rng.standard_normal(4), rng.standard_normal(6), rng.standard_normal((3, 4))
    source = srcad.source(srcad.grad(gates, wrt=(0, 1, 2)), *args)
    assert "rt.assume_shape(" in source and "unbroadcast" not in source
    check.compare(gates, args, [0, 1, 2], grads(gates, args, (0, 1, 2)))


@pytest.mark.parametrize("order", ["same first", "broadcasting first"])
def test_where_arrays_broadcast_the_gradient_without_the_assumption_runs(order, kw, rng):
    same = rng.standard_normal(4), rng.standard_normal(6), rng.standard_normal((3, 4))
    broadcasting = rng.standard_normal(1), rng.standard_normal(6), rng.standard_normal((3, 4))
    g = srcad.grad(gates, wrt=(0, 1, 2), mode="source", **kw)
    calls = [same, broadcasting] if order == "same first" else [broadcasting, same]
    for args in calls + calls:
        check.compare(gates, args, [0, 1, 2], g(*args))


@pytest.mark.parametrize("order", ["same first", "broadcasting first"])
def test_a_jvp_assumes_shapes_and_checks_them(order, kw, rng):
    same = rng.standard_normal(4), rng.standard_normal(6), rng.standard_normal((3, 4))
    broadcasting = rng.standard_normal(1), rng.standard_normal(6), rng.standard_normal((3, 4))
    source = srcad.source(srcad.jvp, gates, same, same)
    assert "rt.assume_shape(" in source and "for _i" in source  # (fused over the slices)
    calls = [same, broadcasting] if order == "same first" else [broadcasting, same]
    for args in calls + calls:
        tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
        value, tangent = srcad.jvp(gates, args, tangents, mode="source", **kw)
        assert value == pytest.approx(gates(*args), rel=1e-12)
        assert tangent == pytest.approx(check.along(gates, args, tangents), rel=1e-6)


def updated_copy(x, w):
    d = x.copy()
    d += 1.0
    e = np.sin(x[1:])
    e *= x[:-1]
    e -= 0.5
    return np.sum(d ** 2 * w) + np.sum(e * e)


def updated_sine(x):
    d = np.sin(x)
    d *= x
    return d ** 2


def test_a_new_array_updated_in_place_by_a_number(kw, rng):
    """(found by an attack: forward mode's fused loop checked the shape of `d` before `d = x.copy()`
    had bound it, in `d = x.copy(); d += 1.0`)"""
    x, w = rng.standard_normal(5), rng.standard_normal(5)
    tangents = rng.standard_normal(5), None
    _, tangent = srcad.jvp(updated_copy, (x, w), tangents, mode="source", **kw)
    assert tangent == pytest.approx(check.along(updated_copy, (x, w), tangents), rel=1e-6)
    jacobian = np.diag(2 * np.sin(x) * x * (np.cos(x) * x + np.sin(x)))
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(srcad.jacobian(updated_sine, mode=mode, **kw)(x), jacobian,
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shapes", [((4,), (4,)), ((4,), (1,)), ((1,), (4,)),
                                    ((3, 1), (1, 4)), ((3, 4), (3, 4)), ((1, 4), (3, 4))])
def test_elementwise_operands_of_any_shapes(shapes, kw, rng):
    a, b = (rng.standard_normal(s) * 0.5 for s in shapes)
    check.compare(outer, (a, b), [0, 1], grads(outer, (a, b), (0, 1), **kw))
    x, v0 = rng.uniform(0.5, 1.0, shapes[0]), rng.standard_normal(shapes[1])
    check.compare(grown, (x, v0), [0, 1], grads(grown, (x, v0), (0, 1), **kw))


def test_shapes_that_change_every_trip(kw, rng):
    x, y = rng.standard_normal(5), rng.standard_normal(5)
    check.compare(triangular, (x, y), [0, 1], grads(triangular, (x, y), (0, 1), **kw))
    # (slices whose bounds change every trip are never assumed to keep one shape)
    assert "assume_shape" not in srcad.source(srcad.grad(triangular, wrt=(0, 1)), x, y)


def test_value_and_grad_vjp_and_the_fast_path(rng):
    g = srcad.value_and_grad(outer, wrt=(0, 1))
    for shapes in [(4,), (1,)] * 3:  # the fast path of a call, then its fallback, in turn
        a, b = rng.standard_normal(4), rng.standard_normal(shapes)
        value, got = g(a, b)
        assert value == pytest.approx(outer(a, b))
        check.compare(outer, (a, b), [0, 1], got)
    a, b = rng.standard_normal((3, 1)), rng.standard_normal(4)

    def field(a, b):
        return np.tanh(a * b)
    _, pullback = srcad.vjp(field, a, b, wrt=(0, 1))
    cotangent = rng.standard_normal((3, 4))
    got = pullback(cotangent)
    check.compare(lambda a, b: np.sum(field(a, b) * cotangent), (a, b), [0, 1], got)


def writes_its_argument(x, w):
    x[:] = x * w
    return np.sum(x * x)


def test_a_function_writing_into_an_argument_assumes_nothing(rng):
    """(a second run would see the argument written by the first)"""
    x, w = rng.standard_normal(4), rng.standard_normal(1)
    source = srcad.source(srcad.grad(writes_its_argument, wrt=(0, 1)), x.copy(), w)
    assert "assume_shape" not in source
    got = grads(writes_its_argument, (x.copy(), w), (0, 1))
    check.compare(lambda x, w: writes_its_argument(x.copy(), w), (x, w), [0, 1], got)


# -- found by an attack on the above --------------------------------------------------------

CALLS = np.zeros(1)


def counts_its_calls(x, w, n):
    CALLS[0] += 1.0
    return np.sum(np.sin(x[:n] * w)) * CALLS[0]


def test_a_function_writing_a_global_runs_once_per_call(kw, rng):
    """(a gradient whose assumption failed ran again after the global was written)"""
    x, w = rng.standard_normal(4), rng.standard_normal(4)
    CALLS[0] = 0.0
    g = srcad.grad(counts_its_calls, wrt=1, mode="source", **kw)
    for n, calls in ((4, 1.0), (1, 2.0)):  # (x[:1] broadcasts against w)
        got = g(x, w, n)
        assert CALLS[0] == calls
        np.testing.assert_allclose(got, calls * np.cos(x[:n] * w) * x[:n] + 0 * w)
    CALLS[0] = 0.0
    # (on the tape: the source transform's pullback would run it, and write, again)
    with pytest.warns(srcad.FallbackWarning, match="which its pullback would do again"):
        value, pullback = srcad.vjp(counts_its_calls, x, w, 1, wrt=1)
    assert CALLS[0] == 1.0 and value == pytest.approx(np.sum(np.sin(x[0] * w)))
    for _ in range(2):
        np.testing.assert_allclose(pullback(1.0), np.cos(x[0] * w) * x[0], rtol=1e-13)
    assert CALLS[0] == 1.0


def writes_through_a_second_name(x, w, n):
    y = x
    y[0] += 1.0
    return np.sum(np.sin(y[:n] * w))


def test_a_write_through_a_second_name_leaves_the_callers_array(kw, rng):
    w = rng.standard_normal(4)
    for n in (4, 1):
        x = rng.standard_normal(4)
        kept = x.copy()
        value, got = srcad.value_and_grad(writes_through_a_second_name, wrt=(0, 1),
                                          mode="source", **kw)(x, w, n)
        np.testing.assert_array_equal(x, kept)
        assert value == pytest.approx(writes_through_a_second_name(kept.copy(), w, n))
        check.compare(lambda x, w, n=n: writes_through_a_second_name(x.copy(), w, n), (kept, w),
                      [0, 1], got)


def clipped_below(x, lo):
    return np.sum(x.clip(lo, None) * x) + np.sum(x.clip(None, 0.5))


def transposed_reshape(w, a):
    return np.sum(a * w.reshape(3, 2).T)


def test_clip_methods_with_one_bound_and_a_transposed_reshape(kw, rng):
    x, lo = rng.uniform(0.0, 1.0, 5), np.full(5, 0.4)
    check.compare(clipped_below, (x, lo), [0, 1], grads(clipped_below, (x, lo), (0, 1), **kw))
    w, a = rng.standard_normal(6), rng.standard_normal((2, 3))
    check.compare(transposed_reshape, (w, a), [0, 1],
                  grads(transposed_reshape, (w, a), (0, 1), **kw))


def slices_of_a_rebound_argument(x):
    a = x[1:]
    x = np.ones(7) * x[0]
    b = x[1:]
    return np.sum(a * b)


def slices_of_a_rebound_local(x, n):
    y = x * 1.0
    a = y[1:]
    if n > 2:
        y = np.ones(n) * x[0]
    b = y[1:]
    return np.sum(np.sin(a * b))


def test_slices_of_a_name_bound_to_arrays_of_two_shapes(kw, rng):
    """(x[1:] before and after `x = ...` were taken to have one shape: a's adjoint was not
    summed over the axis it was broadcast along, and the gradient raised)"""
    x = rng.standard_normal(2)
    check.compare(slices_of_a_rebound_argument, (x,), [0],
                  [grads(slices_of_a_rebound_argument, (x,), 0, **kw)])
    for n in (2, 7):
        check.compare(slices_of_a_rebound_local, (x, n), [0],
                      [grads(slices_of_a_rebound_local, (x, n), 0, **kw)])


def rows_updated(state, f, g):
    cell = state.copy()
    for i in range(cell.shape[0]):
        cell[i] = cell[i] * f + np.tanh(g)
    return np.sum(cell * cell)


def test_rows_stored_into_with_and_without_broadcasting(kw, rng):
    """(every row of an array has its shape[1:]: a store of a value of that class needs no
    sum of its adjoint; one broadcast into the row runs the gradient without the assumption)"""
    state = rng.standard_normal((3, 4))
    for f_shape, g_shape in [((4,), (4,)), ((1,), (4,)), ((4,), (1,)), ((1,), (1,))]:
        f, g = rng.standard_normal(f_shape), rng.standard_normal(g_shape)
        check.compare(rows_updated, (state, f, g), [0, 1, 2],
                      grads(rows_updated, (state, f, g), (0, 1, 2), **kw))


# -- a wrong assumption costs a second compile: none where the code shows it would be wrong ----

def pairwise(x, y):
    d = x[:, None] - y[None, :]
    row = y[None, :] + 2.0 * y[None, :]  # (a row made of rows only: it broadcasts too)
    return np.sum(np.exp(-d * d) * row) + \
        np.sum(np.sum(x[:, None] * d, axis=1, keepdims=True) * x)


def prefix_beside_the_whole(x):
    y = x * 1.0
    z = x[:3] * 3.0
    return np.sum(y * y) + np.sum(z * z)


@pytest.fixture
def generations(monkeypatch):
    """The `assume_shapes` of every gradient srcad generates while a test runs."""
    made = []
    original = api.Gradient._specialize

    def counting(self, *args, **kwargs):
        made.append(kwargs.get("assume_shapes", True))
        return original(self, *args, **kwargs)
    monkeypatch.setattr(api.Gradient, "_specialize", counting)
    return made


@pytest.mark.parametrize("transform", ["grad", "jvp"])
@pytest.mark.parametrize("fn", [pairwise, prefix_beside_the_whole] + programs.PROGRAMS,
                         ids=lambda f: f.__name__)
def test_no_derivative_is_generated_twice(fn, transform, generations, rng):
    """Arguments of different shapes at the call (`A + r`, r a row), axes added to broadcast
    (`x[:, None]`, keepdims), an array grown in a loop, a slice beside arrays it is not
    combined with: none is assumed to share a shape it does not have."""
    args = programs.make_inputs(fn, rng) if fn in programs.PROGRAMS else \
        (rng.standard_normal(4), rng.standard_normal(3))[:len(inspect.signature(fn).parameters)]
    wrt = tuple(programs.float_params(fn, args))
    if not wrt:
        return
    tangents = [rng.standard_normal(np.shape(a)) if k in wrt else None
                for k, a in enumerate(args)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if transform == "grad":
            got = srcad.grad(fn, wrt=wrt, jit=False, mode="source")(*args)
        else:
            got = srcad.jvp(fn, args, tangents, jit=False, mode="source")[1]
    assert False not in generations
    if fn in programs.PROGRAMS:
        return
    if transform == "grad":
        check.compare(fn, args, list(wrt), got if isinstance(got, tuple) else [got])
    else:
        assert got == pytest.approx(check.along(fn, args, tangents), rel=1e-6)
